#pragma once

// The byte layout of a snapshot file, and the reader that checks it.
//
//   file    = header meta-record pairs-record* trailer-record
//   header  = "CAFRAFTS" (8 bytes) | u32 format version (1) | u32 reserved (0)
//   record  = u32 payload_len | u32 crc32c(the 4 length bytes)
//           | u32 crc32c(payload) | payload           (as in segment_format.hpp)
//   payload = Boost binary archive (no archive header) of
//             u8 record version (1) | u8 record type | body
//   bodies  meta:    u64 index, u64 term, membership (voters then learners,
//                    each a u64 count and id + address per member),
//                    u64 keys, u64 digest
//           pairs:   u64 count, then key and value of each pair
//           trailer: u64 number of pairs in the file, u64 end marker
//
// Header integers are little-endian. Nothing may follow the trailer, and
// the trailer's count must match the pairs before it and the meta's key
// count: a file cut short at a record boundary is as invalid as one cut
// inside a record. The file's name says which snapshot it is
// (snapshot_file_name()); a file whose meta disagrees with its name is
// invalid too.

#include "actors/storage/posix_file.hpp"
#include "messages/raft_rpc.hpp"
#include "messages/snapshot_messages.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace raft {

/// The first eight bytes of every snapshot file.
inline constexpr std::string_view snapshot_magic = "CAFRAFTS";
/// The version of the file layout described above.
inline constexpr uint32_t snapshot_format_version = 1;
/// Size of the snapshot file header in bytes.
inline constexpr size_t snapshot_header_size = 16;
/// The layout version of record payloads; bump it with any change to them.
inline constexpr uint8_t snapshot_record_version = 1;
/// The trailer's end marker ("SNAPDONE" read as a little-endian u64).
inline constexpr uint64_t snapshot_end_marker = 0x454E4F4450414E53ull;
/// A pairs record is closed once its keys and values reach this many bytes,
/// which bounds the memory a reader needs per record.
inline constexpr size_t snapshot_record_bytes = 1 << 20;

/// What a snapshot record holds.
enum class snapshot_record_type : uint8_t {
  meta = 1,    ///< the snapshot's metadata; always the first record
  pairs = 2,   ///< a batch of key-value pairs
  trailer = 3, ///< the end of the file: the number of pairs before it
};

/// One decoded snapshot record. Only the member its type names is
/// meaningful.
struct snapshot_record {
  snapshot_record_type type = snapshot_record_type::meta;
  /// meta (its `bytes` is 0: the file size is not stored).
  snapshot_meta meta;
  /// pairs.
  std::vector<kv_pair> pairs;
  /// trailer.
  uint64_t pair_count = 0;
};

/// The header every snapshot file starts with.
std::string make_snapshot_header();

/// The payload of the meta record of `meta` (`bytes` is not written).
std::string encode_snapshot_meta_record(const snapshot_meta& meta);

/// The payload of a record holding `pairs`.
std::string encode_snapshot_pairs_record(std::span<const kv_pair> pairs);

/// The payload of the trailer record of a file holding `pair_count` pairs.
std::string encode_snapshot_trailer_record(uint64_t pair_count);

/// Parses a payload produced by an encode function above. Throws
/// std::runtime_error (a reason, no file name) on a wrong version, an
/// unknown type, a bad end marker, trailing bytes or malformed data.
snapshot_record decode_snapshot_record(std::string_view payload);

/// The file name of snapshot (index, term):
/// "snap-<20-digit index>-<20-digit term>.snap".
std::string snapshot_file_name(index_t index, term_t term);

/// The (index, term) in a snapshot file name, if `name` is one.
std::optional<std::pair<index_t, term_t>>
parse_snapshot_file_name(std::string_view name);

/// Reads the records of a snapshot file one after the other, checking the
/// header at construction and each record's framing and checksums as it
/// goes. Every problem throws storage_error "corrupt snapshot <path> at
/// offset <n>: <what>".
class snapshot_record_reader {
public:
  /// Reads from `fd` (which must stay open), a file of `size` bytes at
  /// `path`; checks the header.
  snapshot_record_reader(std::string path, int fd, uint64_t size);

  /// The next record, or nothing at the end of the file.
  std::optional<snapshot_record> next();

  /// Where the next record starts.
  uint64_t offset() const {
    return offset_;
  }

  /// Continues reading at `offset` (an offset() seen before).
  void seek(uint64_t offset) {
    offset_ = offset;
  }

  /// Throws the storage_error for a problem at `offset`.
  [[noreturn]] void fail(uint64_t offset, const std::string& what) const;

private:
  /// `n` bytes at `offset` (within the file), valid until the next call.
  std::string_view bytes(uint64_t offset, size_t n);

  std::string path_;
  int fd_;
  uint64_t size_;
  uint64_t offset_ = snapshot_header_size;
  /// A window of the file, read ahead to spare a syscall per record.
  std::string window_;
  uint64_t window_start_ = 0;
};

/// Checks the whole snapshot file at `path`: header, every record's framing
/// and checksum, record order, the trailer and the end of the file, that the
/// meta's key count matches the pairs, and that the meta says (index, term).
/// Returns the meta with `bytes` set to the file size. Throws storage_error
/// naming the file.
snapshot_meta verify_snapshot_file(const std::string& path, index_t index,
                                   term_t term);

/// The same, reading the file through `fd` (open for reading).
snapshot_meta verify_snapshot_file(const std::string& path, int fd,
                                   index_t index, term_t term);

} // namespace raft
