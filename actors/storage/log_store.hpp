#pragma once

// log_store: the durable write-ahead log of one node (Raft log + hard state).
//
// Design
// ------
// * Write-ahead and append-only. The store lives in one directory holding a
//   LOCK file and segment files `log-<6-digit seq>.seg` (seq from 000001, no
//   gaps). Bytes already on disk are never rewritten; the only in-place
//   change is cutting a torn tail off the last segment at open.
// * A segment starts with a 16-byte header: "CAFRAFTL", u32 format version
//   (1), u32 reserved. Then records, each framed as
//   [u32 payload_len][u32 crc32c of the 4 length bytes][u32 crc32c of the
//   payload][payload] (segment_format.hpp). The payload is a Boost binary
//   archive (no archive header) starting with our own record version: either
//   a hard_state or a run of log entries (record_codec.hpp).
// * append() only encodes into a memory buffer; sync() writes the buffer and
//   makes it durable with one fdatasync, so callers batch (group commit, see
//   storage_actor.hpp). A segment rolls to a new file at a sync boundary once
//   it has reached segment_bytes, so a record never spans two files; the
//   sync that creates a file also fsyncs the directory so the file itself
//   survives a crash.
// * Replay applies the records in order: a hard_state record replaces the
//   state; an entries record whose first index is at or below the current
//   last index first cuts the log back (the same rule as append(), §5.3), so
//   overwriting a follower's conflicting suffix is just another append.
// * Recovery (DESIGN.md: bad input never crashes a node and never loses
//   data). A torn write at the tail of the last segment is cut off with
//   ftruncate + fsync: it was never acknowledged, because acknowledgements
//   wait for the fdatasync. See scan_segment() for exactly what counts as
//   torn. A last segment holding only part of its header is removed. Any
//   other damage (bad magic or version, a length checksum mismatch, a
//   payload checksum mismatch followed by more data, any damage in an
//   earlier segment, a missing segment, a record that does not fit the log)
//   throws storage_error naming the file and offset, and leaves every file
//   as it was: the node stops, an operator looks.
// * After an I/O error in sync() the store refuses all further use: after a
//   failed fdatasync the kernel may have dropped the dirty pages, so a retry
//   that "succeeds" would prove nothing.
// * One process at a time: an exclusive flock on LOCK (released when the
//   store is destroyed, or by the kernel when the process dies).
//
// Not thread-safe: one owner (the storage actor) uses it at a time.

#include "actors/storage/posix_file.hpp"
#include "actors/storage/segment_format.hpp"
#include "actors/storage/storage_error.hpp"
#include "messages/raft_rpc.hpp"
#include "messages/storage_messages.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace raft {

/// Tuning of a log_store.
struct log_store_options {
  /// Roll to a new segment file at the next sync once a segment is this big.
  uint64_t segment_bytes = 64ull << 20;
};

/// What a log_store found on disk when it was opened.
struct recovered_state {
  /// The last hard state written (all zero if none).
  hard_state state;
  /// The log: contiguous, first index 1 (no compaction yet).
  std::vector<log_entry> entries;
};

/// The durable write-ahead log of one node. See the design notes above.
class log_store {
public:
  /// Opens (creating if needed) the store in `dir`, takes an exclusive flock
  /// on its LOCK file (a second open of the same dir fails with a
  /// storage_error naming it), and recovers. Throws storage_error.
  explicit log_store(std::string dir, log_store_options opts = {});

  /// Closes the files and releases the lock. Unsynced appends are dropped:
  /// nobody was told they were durable.
  ~log_store();

  log_store(const log_store&) = delete;
  log_store& operator=(const log_store&) = delete;

  /// What was on disk at open.
  const recovered_state& recovered() const {
    return recovered_;
  }

  /// Moves what was on disk at open out of the store, so the log is not
  /// kept twice in memory once its owner (the node's core) holds it.
  /// recovered() is empty afterwards.
  recovered_state take_recovered() {
    return std::exchange(recovered_, recovered_state{});
  }

  /// Buffers one persist_request (hard state and/or entries); NOT durable
  /// until sync(). Entries must be contiguous and start at or below
  /// last_index() + 1; if they start at or below last_index(), everything
  /// from their first index on is superseded. Throws std::logic_error (a
  /// caller bug) on a gap or non-contiguous entries, leaving the store
  /// unchanged; storage_error if the store failed before.
  void append(const persist_request& req);

  /// Writes the buffered records and makes them durable with one fdatasync
  /// (plus a directory fsync when a segment file was created). A no-op with
  /// nothing buffered. Throws storage_error on I/O failure, after which the
  /// store refuses further use.
  void sync();

  /// Index of the last entry appended so far (0 for an empty log).
  index_t last_index() const {
    return terms_.size();
  }

  /// Term of the last entry appended so far (0 for an empty log).
  term_t last_term() const {
    return terms_.empty() ? 0 : terms_.back();
  }

  /// The hard state as of everything appended so far.
  const hard_state& state() const {
    return state_;
  }

  /// Number of fdatasync calls sync() made on segment data so far.
  uint64_t sync_count() const {
    return sync_count_;
  }

  /// The directory of this store.
  const std::string& dir() const {
    return dir_;
  }

private:
  void lock_dir();
  void recover();
  /// Replays one segment; returns its size after recovery, or nothing if
  /// it was removed (a torn header).
  std::optional<uint64_t> replay_segment(const std::string& path,
                                         const std::string& bytes,
                                         bool is_last);
  void replay_record(const std::string& path, const scanned_record& rec);
  void open_segment_for_append(uint64_t seq, uint64_t size);
  void start_new_segment();
  void check_usable() const;
  std::string segment_path(uint64_t seq) const;

  std::string dir_;
  log_store_options opts_;
  posix::unique_fd lock_fd_;
  recovered_state recovered_;
  hard_state state_;
  /// terms_[i] is the term of entry i + 1: enough to answer last_term()
  /// after a suffix is cut, without keeping the entries themselves.
  std::vector<term_t> terms_;
  /// Framed records appended since the last sync.
  std::string pending_;
  /// The segment being appended to (invalid until the first sync of a new
  /// store), its sequence number and size in bytes.
  posix::unique_fd segment_fd_;
  uint64_t segment_seq_ = 0;
  uint64_t segment_size_ = 0;
  uint64_t sync_count_ = 0;
  /// Set by a failed sync(); from then on every call throws.
  bool failed_ = false;
};

} // namespace raft
