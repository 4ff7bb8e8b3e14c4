#pragma once

// The in-memory view of a node's replicated log: every entry, which of them
// are durable, which are committed and which were handed out to be applied.

#include "messages/raft_rpc.hpp"

#include <cstddef>
#include <optional>
#include <vector>

namespace raft {

/// The log of one node. Entries up to snapshot_index() were compacted away
/// (a snapshot holds their effect, §7); the log holds the entries after it.
///
/// Invariants:
///   snapshot_index <= applied <= committed <= last_index
///                                             (applied: handed out to apply)
///   stable <= last_index                      (stable: known durable locally)
///   persist_from <= last_index + 1            (first index not yet handed to storage)
///   terms never decrease along the log
class raft_log {
public:
  /// Starts from the entries recovered from storage (all durable), which
  /// follow a snapshot of (snapshot_index, snapshot_term) -- (0, 0): none.
  /// The snapshot's entries count as committed and applied.
  explicit raft_log(std::vector<log_entry> durable = {}, index_t snapshot_index = 0,
                    term_t snapshot_term = 0);

  /// Index of the last entry (of the snapshot if the log holds none).
  index_t last_index() const { return snap_index_ + entries_.size(); }
  /// Term of the last entry.
  term_t last_term() const { return term_at(last_index()); }
  /// The first index the log holds an entry for.
  index_t first_index() const { return snap_index_ + 1; }
  /// The last compacted entry and its term.
  index_t snapshot_index() const { return snap_index_; }
  term_t snapshot_term() const { return snap_term_; }

  /// Term of the entry at `i`; 0 for i == 0; the snapshot's term at its
  /// index; nullopt past the end or if compacted away.
  std::optional<term_t> term(index_t i) const;
  /// Term of the entry at `i`, or 0 if unknown.
  term_t term_at(index_t i) const;
  /// True if the log holds an entry at `i` of term `t` (i == 0 matches t == 0).
  bool matches(index_t i, term_t t) const { return term(i) == t; }
  /// The entry at `i` (first_index() <= i <= last_index()).
  const log_entry& at(index_t i) const { return entries_[i - snap_index_ - 1]; }

  /// §5.4.1: a candidate's log is at least as up-to-date as ours if its last
  /// term is higher, or equal with an index at least as high.
  bool is_up_to_date(index_t last_idx, term_t last_t) const;

  /// The first index holding `t`, searching backwards from `from` while the
  /// term stays `t` (used for the conflict hint of a rejection).
  index_t first_index_of_term(index_t from) const;
  /// The last index <= `from` whose term is `t`, or 0 if none.
  index_t last_index_of_term(term_t t, index_t from) const;

  /// Appends one entry at last_index() + 1 (leader path).
  void append(log_entry e);

  /// Follower path (§5.3): merges entries that follow `prev`. Entries already
  /// present with the same term are kept (a duplicate or reordered message must
  /// not cut the log); at the first conflict the suffix is cut and the rest is
  /// appended. Returns the index of the last entry of the message.
  index_t merge(index_t prev, const std::vector<log_entry>& entries);

  /// Up to `max_count` entries (at least one if any) from `lo`
  /// (>= first_index()), stopping at `max_bytes` of payload.
  std::vector<log_entry> slice(index_t lo, std::size_t max_count,
                               std::size_t max_bytes) const;

  index_t committed() const { return committed_; }
  /// Raises the commit index (never lowers it; a bug if past the last entry).
  void commit_to(index_t i);

  /// Entries appended or rewritten since the last call, to be persisted.
  std::vector<log_entry> take_unpersisted();
  /// Storage made everything up to (i, t) durable; ignored if the entry at `i`
  /// has since been replaced by one of another term.
  void stable_to(index_t i, term_t t);
  index_t stable() const { return stable_; }

  /// Committed entries not handed out yet; marks them as handed out.
  std::vector<log_entry> take_committed();
  index_t applied() const { return applied_; }

  /// Drops the entries up to `i` (<= applied()): a snapshot covers them.
  void compact_to(index_t i);
  /// Replaces the whole log by a snapshot of (i, t) that a leader sent
  /// (§7: the follower's log does not hold it, so none of it is kept). The
  /// snapshot is durable and counts as committed, applied and stable.
  void reset_to_snapshot(index_t i, term_t t);
  /// Bytes of entry payload held (for deciding when to compact).
  std::size_t payload_bytes() const { return payload_bytes_; }

private:
  void truncate_from(index_t i);

  std::vector<log_entry> entries_; // entries_[k] has index snap_index_ + 1 + k
  index_t snap_index_ = 0;
  term_t snap_term_ = 0;
  std::size_t payload_bytes_ = 0;
  index_t committed_ = 0;
  index_t applied_ = 0;
  index_t stable_ = 0;
  index_t persist_from_ = 1;
};

} // namespace raft
