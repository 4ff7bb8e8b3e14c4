#include "actors/storage/snapshot_format.hpp"

#include "actors/storage/boost_serialization.hpp"
#include "actors/storage/crc32c.hpp"
#include "actors/storage/memory_buffer.hpp"
#include "actors/storage/segment_format.hpp"
#include "actors/storage/storage_error.hpp"

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>

namespace raft {

namespace {

constexpr auto archive_flags = boost::archive::no_header;

/// How much of the file one read fetches ahead.
constexpr size_t read_ahead = 1 << 20;

/// Encodes the record version, `type`, then whatever `write_body` writes.
template <class WriteBody>
std::string encode_with(snapshot_record_type type, WriteBody write_body) {
  std::ostringstream out(std::ios::binary);
  {
    boost::archive::binary_oarchive ar(out, archive_flags);
    auto version = snapshot_record_version;
    auto type_byte = static_cast<uint8_t>(type);
    ar << version << type_byte;
    write_body(ar);
  } // the archive flushes on destruction
  return std::move(out).str();
}

template <class Archive>
void load_pairs(Archive& ar, std::vector<kv_pair>& pairs) {
  uint64_t count = 0;
  ar >> count;
  // No reserve(count): a bogus count must fail on missing data, not on a
  // huge allocation.
  for (uint64_t i = 0; i < count; ++i) {
    kv_pair p;
    ar >> p;
    pairs.push_back(std::move(p));
  }
}

/// Parses `digits` (exactly 20 decimal digits) into a u64.
std::optional<uint64_t> parse_u64(std::string_view digits) {
  if (digits.size() != 20
      || !std::all_of(digits.begin(), digits.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  uint64_t x = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), x);
  if (ec != std::errc{} || end != digits.data() + digits.size())
    return std::nullopt; // out of range
  return x;
}

} // namespace

std::string make_snapshot_header() {
  std::string header{snapshot_magic};
  put_u32_le(header, snapshot_format_version);
  put_u32_le(header, 0); // reserved
  return header;
}

std::string encode_snapshot_meta_record(const snapshot_meta& meta) {
  return encode_with(snapshot_record_type::meta, [&](auto& ar) {
    ar << meta.index << meta.term << meta.config << meta.keys << meta.digest;
  });
}

std::string encode_snapshot_pairs_record(std::span<const kv_pair> pairs) {
  return encode_with(snapshot_record_type::pairs, [&](auto& ar) {
    uint64_t count = pairs.size();
    ar << count;
    for (const auto& p : pairs)
      ar << p;
  });
}

std::string encode_snapshot_trailer_record(uint64_t pair_count) {
  return encode_with(snapshot_record_type::trailer, [&](auto& ar) {
    auto marker = snapshot_end_marker;
    ar << pair_count << marker;
  });
}

snapshot_record decode_snapshot_record(std::string_view payload) {
  memory_buffer buf{payload};
  snapshot_record rec;
  try {
    boost::archive::binary_iarchive ar(buf, archive_flags);
    uint8_t version = 0;
    uint8_t type = 0;
    ar >> version;
    if (version != snapshot_record_version)
      throw std::runtime_error("record version " + std::to_string(version)
                               + ", expected "
                               + std::to_string(snapshot_record_version));
    ar >> type;
    rec.type = static_cast<snapshot_record_type>(type);
    switch (rec.type) {
      case snapshot_record_type::meta: {
        auto& m = rec.meta;
        ar >> m.index >> m.term >> m.config >> m.keys >> m.digest;
        break;
      }
      case snapshot_record_type::pairs:
        load_pairs(ar, rec.pairs);
        break;
      case snapshot_record_type::trailer: {
        uint64_t marker = 0;
        ar >> rec.pair_count >> marker;
        if (marker != snapshot_end_marker)
          throw std::runtime_error("bad end marker in the trailer record");
        break;
      }
      default:
        throw std::runtime_error("unknown record type "
                                 + std::to_string(type));
    }
  } catch (const boost::archive::archive_exception& e) {
    throw std::runtime_error(std::string{"undecodable record: "} + e.what());
  }
  if (buf.remaining() != 0)
    throw std::runtime_error(std::to_string(buf.remaining())
                             + " trailing bytes after the record");
  return rec;
}

std::string snapshot_file_name(index_t index, term_t term) {
  char name[64];
  std::snprintf(name, sizeof(name), "snap-%020llu-%020llu.snap",
                static_cast<unsigned long long>(index),
                static_cast<unsigned long long>(term));
  return name;
}

std::optional<std::pair<index_t, term_t>>
parse_snapshot_file_name(std::string_view name) {
  // "snap-" 20 digits "-" 20 digits ".snap"
  constexpr std::string_view prefix = "snap-";
  constexpr std::string_view suffix = ".snap";
  if (name.size() != prefix.size() + 20 + 1 + 20 + suffix.size()
      || !name.starts_with(prefix) || !name.ends_with(suffix)
      || name[prefix.size() + 20] != '-')
    return std::nullopt;
  auto index = parse_u64(name.substr(prefix.size(), 20));
  auto term = parse_u64(name.substr(prefix.size() + 21, 20));
  if (!index || !term)
    return std::nullopt;
  return std::make_pair(*index, *term);
}

// -- snapshot_record_reader ---------------------------------------------------

snapshot_record_reader::snapshot_record_reader(std::string path, int fd,
                                               uint64_t size)
  : path_(std::move(path)), fd_(fd), size_(size) {
  if (size_ < snapshot_header_size)
    fail(0, "file too short for a snapshot header (" + std::to_string(size_)
              + " bytes)");
  auto header = bytes(0, snapshot_header_size);
  if (header.substr(0, snapshot_magic.size()) != snapshot_magic)
    fail(0, "bad magic (not a caf-raft snapshot)");
  auto version = get_u32_le(header, snapshot_magic.size());
  if (version != snapshot_format_version)
    fail(snapshot_magic.size(),
         "unsupported snapshot format version: found " + std::to_string(version)
           + ", expected " + std::to_string(snapshot_format_version));
  if (get_u32_le(header, snapshot_magic.size() + 4) != 0)
    fail(snapshot_magic.size() + 4, "reserved header field is not 0");
}

std::optional<snapshot_record> snapshot_record_reader::next() {
  if (offset_ == size_)
    return std::nullopt;
  auto start = offset_;
  if (size_ - start < record_header_size)
    fail(start, "incomplete record header (file cut short?)");
  auto head = bytes(start, record_header_size);
  auto len = get_u32_le(head, 0);
  auto stored_len_crc = get_u32_le(head, 4);
  auto stored_crc = get_u32_le(head, 8);
  if (crc32c(head.substr(0, 4)) != stored_len_crc)
    fail(start, "length checksum mismatch");
  if (len > size_ - start - record_header_size)
    fail(start, "record of " + std::to_string(len)
                  + " bytes extends past the end of the file (cut short?)");
  auto payload = bytes(start + record_header_size, len);
  if (crc32c(payload) != stored_crc)
    fail(start, "payload checksum mismatch");
  snapshot_record rec;
  try {
    rec = decode_snapshot_record(payload);
  } catch (const std::exception& e) {
    // The checksum matched: a format this build cannot read.
    fail(start, e.what());
  }
  offset_ = start + record_header_size + len;
  return rec;
}

void snapshot_record_reader::fail(uint64_t offset,
                                  const std::string& what) const {
  throw storage_error("corrupt snapshot " + path_ + " at offset "
                      + std::to_string(offset) + ": " + what);
}

std::string_view snapshot_record_reader::bytes(uint64_t offset, size_t n) {
  if (offset < window_start_ || offset + n > window_start_ + window_.size()) {
    // Read ahead, but never past the end: a small file costs a small read.
    auto want = std::max<uint64_t>(n, std::min<uint64_t>(read_ahead,
                                                         size_ - offset));
    window_ = posix::read_at(fd_, offset, static_cast<size_t>(want), path_);
    window_start_ = offset;
    if (window_.size() < n)
      fail(offset, "the file shrank while being read");
  }
  return std::string_view{window_}.substr(offset - window_start_, n);
}

// -- verification -------------------------------------------------------------

snapshot_meta verify_snapshot_file(const std::string& path, index_t index,
                                   term_t term) {
  auto fd = posix::open_file(path, O_RDONLY);
  return verify_snapshot_file(path, fd.get(), index, term);
}

snapshot_meta verify_snapshot_file(const std::string& path, int fd,
                                   index_t index, term_t term) {
  auto size = posix::file_size(fd, path);
  snapshot_record_reader reader{path, fd, size};
  auto first = reader.next();
  if (!first)
    reader.fail(snapshot_header_size, "no meta record (file cut short?)");
  if (first->type != snapshot_record_type::meta)
    reader.fail(snapshot_header_size, "the first record is not a meta record");
  auto meta = std::move(first->meta);
  if (meta.index != index || meta.term != term)
    throw storage_error("snapshot " + path + " holds index "
                        + std::to_string(meta.index) + " term "
                        + std::to_string(meta.term) + " but is named for index "
                        + std::to_string(index) + " term "
                        + std::to_string(term));
  uint64_t pairs = 0;
  for (;;) {
    auto at = reader.offset();
    auto rec = reader.next();
    if (!rec)
      reader.fail(at, "the file ends without a trailer record (cut short?)");
    if (rec->type == snapshot_record_type::meta)
      reader.fail(at, "a second meta record");
    if (rec->type == snapshot_record_type::pairs) {
      pairs += rec->pairs.size();
      continue;
    }
    // The trailer: it must count the pairs before it and end the file.
    if (rec->pair_count != pairs)
      reader.fail(at, "the trailer counts " + std::to_string(rec->pair_count)
                        + " pairs but the file holds " + std::to_string(pairs));
    if (reader.offset() != size)
      reader.fail(reader.offset(), "data after the trailer record");
    break;
  }
  if (meta.keys != pairs)
    throw storage_error("snapshot " + path + " says it holds "
                        + std::to_string(meta.keys) + " keys but holds "
                        + std::to_string(pairs) + " pairs");
  meta.bytes = size;
  return meta;
}

} // namespace raft
