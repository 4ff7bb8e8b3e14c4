#pragma once

// What a leader knows about one follower's log (§5.3 nextIndex/matchIndex),
// and how it paces AppendEntries to it.

#include "messages/raft_rpc.hpp"

#include <cstddef>
#include <deque>

namespace raft {

/// Replication progress of one follower, kept by the leader.
///
/// Three modes:
///  - probe: the leader does not know where the logs match. It sends one
///    AppendEntries at a time and waits for the answer (or the next heartbeat)
///    before the next, backing off with the follower's conflict hint.
///  - replicate: the logs match up to `match`; the leader streams entries,
///    advancing `next` optimistically, with at most `max_inflight` messages
///    outstanding (pipelining).
///  - snapshot: the entries the follower needs next were compacted away; the
///    leader's shell sends it a snapshot and nothing else is sent until the
///    transfer ends (§7).
///
/// Invariant: match < next.
class progress {
public:
  enum class mode { probe, replicate, snapshot };

  progress(index_t next, std::size_t max_inflight)
    : next_(next), max_inflight_(max_inflight) {
  }

  index_t match() const { return match_; }
  index_t next() const { return next_; }
  mode state() const { return mode_; }

  /// True if no further AppendEntries with entries may be sent now.
  bool paused() const;

  /// Records that an AppendEntries ending at `last` was sent.
  void sent(index_t last, bool had_entries);

  /// A success reply says the logs match up to `m`. Returns true if that is news.
  bool update(index_t m);

  /// A rejection of the AppendEntries whose prev_log_index was `rejected`,
  /// with the leader-side retry index `hint` worked out from the conflict
  /// hint. Returns false if the rejection is stale (an older message).
  bool decrease_to(index_t rejected, index_t hint);

  /// Falls back to probing from match + 1.
  void become_probe();
  /// Starts streaming after the first success in probe mode.
  void become_replicate();
  /// Waits for a snapshot through `index` to reach the follower.
  void become_snapshot(index_t index);
  /// The snapshot transfer ended: installed through `index` (ok), or not.
  /// Either way the leader probes again from what is known to match.
  void snapshot_done(bool ok, index_t index);
  /// The index of the snapshot being sent (snapshot mode).
  index_t pending_snapshot() const { return pending_snapshot_; }
  /// Lets a paused probe send again (a heartbeat round went by or a reply came).
  void resume() { probe_sent_ = false; }

  /// Whether we heard from this follower since the last check-quorum round.
  bool recent_active = false;
  /// Whether match advanced since the last heartbeat round (stall detection).
  bool progressed = false;
  /// Heartbeat rounds since the follower last answered a snapshot chunk
  /// (snapshot mode): a transfer that stalls this long is given up.
  int snapshot_idle = 0;
  /// The highest read round this follower acknowledged (ReadIndex).
  uint64_t acked_read_seq = 0;
  /// The commit index the last message sent lets this follower reach.
  index_t sent_commit = 0;

private:
  void become_probe_at(index_t next);

  index_t match_ = 0;
  index_t next_;
  index_t pending_snapshot_ = 0;
  mode mode_ = mode::probe;
  bool probe_sent_ = false;
  std::size_t max_inflight_;
  /// Last index of each AppendEntries in flight, oldest first (replicate mode).
  std::deque<index_t> inflight_;
};

} // namespace raft
