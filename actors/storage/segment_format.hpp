#pragma once

// The byte layout of a segment file, and the scanner that checks it.
//
//   segment = header record*
//   header  = "CAFRAFTL" (8 bytes) | u32 format version | u32 reserved (0)
//   record  = u32 payload_len | u32 crc32c(the 4 length bytes)
//           | u32 crc32c(payload) | payload (payload_len bytes)
//
// All integers are little-endian. The length has its own checksum so that a
// damaged length is recognised as damage, instead of sending the reader to a
// random offset.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace raft {

/// The first eight bytes of every segment file.
inline constexpr std::string_view segment_magic = "CAFRAFTL";
/// The version of the segment layout described above.
inline constexpr uint32_t segment_format_version = 1;
/// Size of the segment header in bytes.
inline constexpr size_t segment_header_size = 16;
/// Size of a record header in bytes.
inline constexpr size_t record_header_size = 12;

/// The header every new segment starts with.
std::string make_segment_header();

/// Appends one framed record (header + payload) to `out`.
void append_frame(std::string& out, std::string_view payload);

/// Appends `x` to `out` as 4 little-endian bytes.
void put_u32_le(std::string& out, uint32_t x);

/// The little-endian u32 at `pos` of `bytes` (which must hold 4 bytes there).
uint32_t get_u32_le(std::string_view bytes, size_t pos);

/// A record found by scan_segment; `payload` points into the scanned bytes.
struct scanned_record {
  uint64_t offset = 0; ///< where the record header starts in the file
  std::string_view payload;
};

/// What scan_segment found.
struct segment_scan {
  std::vector<scanned_record> records; ///< the intact records, in order
  /// Length of the intact prefix of the file; less than the file's size when
  /// a torn tail follows it.
  uint64_t valid_end = 0;
  /// The file is (a prefix of) a bare segment header: a segment whose
  /// creation was cut short. Holds no records; only possible if is_last.
  bool torn_header = false;
};

/// Checks the segment at `path` whose contents are `bytes`.
///
/// In the last segment (`is_last`), a torn tail is accepted and reported as
/// valid_end < bytes.size(): an incomplete record header, a payload that runs
/// past the end of the file, a payload checksum mismatch on a record that
/// ends exactly at the end of the file, or an all-zero tail (a crash after
/// the file grew but before its data reached the disk). None of these can
/// hold an acknowledged write, because an acknowledgement follows the
/// fdatasync that would have completed them.
///
/// Everything else throws storage_error naming `path` and the byte offset:
/// a bad magic or format version, a length checksum mismatch, a payload
/// checksum mismatch with more data after it, and any damage at all in a
/// segment that is not the last.
segment_scan scan_segment(const std::string& path, std::string_view bytes,
                          bool is_last);

} // namespace raft
