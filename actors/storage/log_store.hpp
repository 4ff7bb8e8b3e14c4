#pragma once

// log_store: the durable write-ahead log of one node (Raft log + hard state).
//
// Design
// ------
// * Write-ahead and append-only. The store lives in one directory holding a
//   LOCK file and segment files `log-<6-digit seq>.seg`. Sequence numbers
//   grow by one per new segment and the existing segments have no gaps; the
//   first is 000001 until compaction deletes segments from the front. Bytes
//   already on disk are never rewritten; the only in-place change is cutting
//   a torn tail off the last segment at open.
// * A segment starts with a 16-byte header: "CAFRAFTL", u32 format version
//   (1), u32 reserved. Then records, each framed as
//   [u32 payload_len][u32 crc32c of the 4 length bytes][u32 crc32c of the
//   payload][payload] (segment_format.hpp). The payload is a Boost binary
//   archive (no archive header) starting with our own record version: a
//   hard_state, a run of log entries, a log reset, or a segment start
//   (record_codec.hpp).
// * append() only encodes into a memory buffer; sync() writes the buffer and
//   makes it durable with one fdatasync, so callers batch (group commit, see
//   storage_actor.hpp). A segment rolls to a new file at a sync boundary once
//   it has reached segment_bytes, so a record never spans two files; the
//   sync that creates a file also fsyncs the directory so the file itself
//   survives a crash.
// * Every segment but the very first begins with a segment_start record: the
//   hard state and the log's last (index, term) as of its creation. So any
//   suffix of the segments is readable on its own, which is what makes
//   compaction possible without ever rewriting a file.
// * Replay applies the records in order: a hard_state record replaces the
//   state; an entries record whose first index is at or below the current
//   last index first cuts the log back (the same rule as append(), §5.3), so
//   overwriting a follower's conflicting suffix is just another append; a
//   log_reset record empties the log and moves its base (§7: a follower
//   installed a snapshot).
// * The log has a base (base_index, base_term): its entries start at
//   base_index + 1. The base is 0 for a log that was never compacted or
//   reset; a log_reset record sets it; after compaction it is what precedes
//   the first entry still stored. Invariant:
//     base_index <= last_index, and entries base_index+1 .. last_index are
//     all held (contiguous).
// * Compaction (compact()) deletes whole segment files from the front, never
//   the one being appended to, and only a segment whose entries a snapshot
//   covers (all <= the index given) or which a later log_reset superseded,
//   and only if the segment after it begins with a segment_start (so no hard
//   state is lost with it). The oldest goes first, each removal fsync'd
//   before the next, so a crash midway leaves a contiguous suffix that
//   recovers like any other.
// * Recovery (DESIGN.md: bad input never crashes a node and never loses
//   data). A torn write at the tail of the last segment is cut off with
//   ftruncate + fsync: it was never acknowledged, because acknowledgements
//   wait for the fdatasync. See scan_segment() for exactly what counts as
//   torn. A last segment left holding no record at all (only part or all of
//   its header) is removed: its creation was cut short. Any other damage
//   (bad magic or version, a length checksum mismatch, a payload checksum
//   mismatch followed by more data, any damage in an earlier segment, a
//   missing segment, a record that does not fit the log) throws
//   storage_error naming the file and offset, and leaves every file as it
//   was: the node stops, an operator looks.
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
  /// The log's base: `entries` start at base_index + 1 (0 for a log that was
  /// never compacted or reset). Entries at or below base_index are gone from
  /// the log: a snapshot must cover them.
  index_t base_index = 0;
  /// The term of entry base_index when the log knows it (after a log reset,
  /// or from a segment's start record); 0 if unknown or base_index is 0.
  term_t base_term = 0;
  /// The log: contiguous, first index base_index + 1 (empty if the log holds
  /// no entries; it then ends at base_index).
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

  /// Buffers one persist_request (log reset, hard state and/or entries); NOT
  /// durable until sync(). With reset_index set the whole log is discarded
  /// first and continues at reset_index + 1 (base (reset_index, reset_term)).
  /// Entries must be contiguous and start after base_index() and at or below
  /// last_index() + 1; if they start at or below last_index(), everything
  /// from their first index on is superseded. Throws std::logic_error (a
  /// caller bug) on a gap, non-contiguous entries, or entries at or below the
  /// base (compacted: a snapshot covers them, so they are committed and
  /// cannot change), leaving the store unchanged; storage_error if the store
  /// failed before.
  void append(const persist_request& req);

  /// Writes the buffered records and makes them durable with one fdatasync
  /// (plus a directory fsync when a segment file was created). A no-op with
  /// nothing buffered. Throws storage_error on I/O failure, after which the
  /// store refuses further use.
  void sync();

  /// Deletes the segment files all of whose entries are <= `upto` (a
  /// snapshot through `upto` is durable), oldest first, never the segment
  /// being appended to; see the design notes for the exact rule. Only what
  /// is durable is considered: buffered appends are not. Returns the first
  /// index still stored (last_index() + 1 if the log holds no entries), the
  /// new first_index(). Throws storage_error if a removal fails (the segments
  /// removed before stay removed; the store remains usable).
  index_t compact(index_t upto);

  /// The log's base: entries start at base_index() + 1.
  index_t base_index() const {
    return base_index_;
  }

  /// The term of entry base_index(), 0 if unknown.
  term_t base_term() const {
    return base_term_;
  }

  /// Index of the first entry held (last_index() + 1 if none).
  index_t first_index() const {
    return base_index_ + 1;
  }

  /// Index of the last entry appended so far (base_index() if none; 0 for
  /// an empty log).
  index_t last_index() const {
    return base_index_ + terms_.size();
  }

  /// Term of the last entry appended so far (base_term() if none).
  term_t last_term() const {
    return terms_.empty() ? base_term_ : terms_.back();
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

  /// Sequence numbers of the segment files, oldest first.
  std::vector<uint64_t> segment_seqs() const;

private:
  /// What compaction needs to know about one segment file.
  struct segment_info {
    uint64_t seq = 0;
    /// Readable without the segments before it: it begins with a
    /// segment_start record, or it began at an empty log.
    bool self_contained = false;
    /// It holds a log_reset record (everything before it is superseded).
    bool has_reset = false;
    /// The smallest first index of an entries record after its last
    /// log_reset (0: none).
    index_t min_index = 0;
    /// The largest index of any entry in it (0: none).
    index_t max_index = 0;
  };

  /// Where recovery stands while replaying the segments in order.
  struct replay_context;

  void lock_dir();
  void recover();
  /// Replays one segment; returns its size after recovery, or nothing if
  /// it was removed (its creation was cut short).
  std::optional<uint64_t> replay_segment(const std::string& path,
                                         const std::string& bytes,
                                         bool is_last, replay_context& ctx);
  void replay_record(const std::string& path, const scanned_record& rec,
                     replay_context& ctx);
  /// Replays an entries record; `where` names the record for errors.
  template <class Where>
  void replay_entries(Where where, std::vector<log_entry>& entries,
                      replay_context& ctx);
  /// During recovery: replaces the whole log by an empty one after
  /// (index, term).
  void replay_reset(index_t index, term_t term);
  /// Widens `info` by the index range of `entries`.
  static void note_entries(segment_info& info,
                           const std::vector<log_entry>& entries);
  void open_segment_for_append(uint64_t seq, uint64_t size);
  void start_new_segment();
  void check_usable() const;
  std::string segment_path(uint64_t seq) const;

  std::string dir_;
  log_store_options opts_;
  posix::unique_fd lock_fd_;
  recovered_state recovered_;
  hard_state state_;
  /// The log's base: entries start at base_index_ + 1; base_term_ is the
  /// term of entry base_index_ (0 if unknown).
  index_t base_index_ = 0;
  term_t base_term_ = 0;
  /// terms_[i] is the term of entry base_index_ + 1 + i: enough to answer
  /// last_term() after a suffix is cut, without keeping the entries.
  std::vector<term_t> terms_;
  /// Framed records appended since the last sync.
  std::string pending_;
  /// What the records in pending_ add to the segment they will land in.
  segment_info pending_info_;
  /// The segment files on disk, oldest first; the last is the one being
  /// appended to. Describes durable records only.
  std::vector<segment_info> segments_;
  /// The hard state and last (index, term) as of the last sync: what a new
  /// segment's segment_start record holds.
  hard_state synced_state_;
  index_t synced_last_index_ = 0;
  term_t synced_last_term_ = 0;
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
