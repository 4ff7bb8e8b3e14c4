#include "actors/storage/segment_format.hpp"

#include "actors/storage/crc32c.hpp"
#include "actors/storage/storage_error.hpp"

#include <algorithm>

namespace raft {

namespace {

[[noreturn]] void fail(const std::string& path, uint64_t offset,
                       const std::string& what) {
  throw storage_error("corrupt segment " + path + " at offset "
                      + std::to_string(offset) + ": " + what);
}

[[noreturn]] void fail_record(const std::string& path, uint64_t offset,
                              const std::string& what) {
  throw storage_error("corrupt record in " + path + " at offset "
                      + std::to_string(offset) + ": " + what);
}

bool all_zero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(),
                     [](char c) { return c == '\0'; });
}

/// Checks the segment header; returns false if the file is a torn header.
bool check_header(const std::string& path, std::string_view bytes,
                  bool is_last) {
  auto expected = make_segment_header();
  if (bytes.size() < segment_header_size) {
    // A segment is created with its header in one write; a crash during that
    // write leaves a prefix of it, which holds nothing.
    if (is_last && expected.compare(0, bytes.size(), bytes) == 0)
      return false;
    fail(path, 0, "file too short for a segment header ("
                    + std::to_string(bytes.size()) + " bytes)");
  }
  if (bytes.substr(0, segment_magic.size()) != segment_magic)
    fail(path, 0, "bad magic (not a caf-raft log segment)");
  auto version = get_u32_le(bytes, segment_magic.size());
  if (version != segment_format_version)
    fail(path, segment_magic.size(),
         "unsupported segment format version: found " + std::to_string(version)
           + ", expected " + std::to_string(segment_format_version));
  return true;
}

/// What check_record() found at one offset.
struct record_check {
  bool torn = false;        ///< a torn tail starts here; stop the scan
  std::string_view payload; ///< the intact record's payload otherwise
};

/// Checks the record at `pos`. Returns it if intact; reports a torn tail
/// where the rules allow one (see scan_segment); throws otherwise.
record_check check_record(const std::string& path, std::string_view bytes,
                          size_t pos, bool is_last) {
  auto rest = bytes.substr(pos);
  auto torn = [&](const std::string& what) {
    if (!is_last)
      fail_record(path, pos, what + " (in a segment that is not the last)");
    return record_check{true, {}};
  };
  if (rest.size() < record_header_size)
    return torn("incomplete record header");
  if (crc32c(rest.substr(0, 4)) != get_u32_le(rest, 4)) {
    if (is_last && all_zero(rest))
      return {true, {}};
    fail_record(path, pos, "length checksum mismatch");
  }
  auto len = get_u32_le(rest, 0);
  if (len > rest.size() - record_header_size)
    return torn("record of " + std::to_string(len)
                + " bytes extends past the end of the file");
  auto payload = rest.substr(record_header_size, len);
  if (crc32c(payload) != get_u32_le(rest, 8)) {
    // Only the very last bytes of the file can be a torn write: damage with
    // data after it hit bytes that were already durable.
    if (record_header_size + len != rest.size())
      fail_record(path, pos, "payload checksum mismatch (more data follows)");
    return torn("payload checksum mismatch");
  }
  return {false, payload};
}

} // namespace

void put_u32_le(std::string& out, uint32_t x) {
  for (int shift = 0; shift < 32; shift += 8)
    out.push_back(static_cast<char>((x >> shift) & 0xFFu));
}

uint32_t get_u32_le(std::string_view bytes, size_t pos) {
  uint32_t x = 0;
  for (size_t i = 4; i-- > 0;)
    x = (x << 8) | static_cast<unsigned char>(bytes[pos + i]);
  return x;
}

std::string make_segment_header() {
  std::string header{segment_magic};
  put_u32_le(header, segment_format_version);
  put_u32_le(header, 0); // reserved
  return header;
}

void append_frame(std::string& out, std::string_view payload) {
  std::string len;
  put_u32_le(len, static_cast<uint32_t>(payload.size()));
  out += len;
  put_u32_le(out, crc32c(len));
  put_u32_le(out, crc32c(payload));
  out += payload;
}

segment_scan scan_segment(const std::string& path, std::string_view bytes,
                          bool is_last) {
  segment_scan scan;
  if (!check_header(path, bytes, is_last)) {
    scan.torn_header = true;
    return scan;
  }
  size_t pos = segment_header_size;
  while (pos < bytes.size()) {
    auto rec = check_record(path, bytes, pos, is_last);
    if (rec.torn)
      break;
    scan.records.push_back({pos, rec.payload});
    pos += record_header_size + rec.payload.size();
  }
  scan.valid_end = pos;
  return scan;
}

} // namespace raft
