#pragma once

// The Raft RPCs, named after the paper (Ongaro & Ousterhout, Figure 2).
//
// These are plain structs with no dependency beyond the standard library, so
// the pure Raft core (actors/node/) uses them directly and compiles without
// CAF. Their CAF inspect() functions live in messages/serialization.hpp.

#include <cstdint>
#include <string>
#include <vector>

namespace raft {

/// A node's identity within its cluster. 0 is never a valid id.
using node_id = uint64_t;
/// A Raft term. Terms start at 0 and only grow.
using term_t = uint64_t;
/// A position in the replicated log. The first entry has index 1; 0 means "none".
using index_t = uint64_t;

/// "No node", e.g. voted for nobody, or no known leader.
inline constexpr node_id no_node = 0;

/// What a log entry carries.
enum class entry_type : uint8_t {
  command = 0, ///< an encoded key-value command (actors/kv/command_codec.hpp)
  noop = 1,    ///< the empty entry a new leader appends (§5.4.2, §8)
  config = 2,  ///< a membership change (reserved for the membership work)
};

/// One entry of the replicated log.
struct log_entry {
  term_t term = 0;
  index_t index = 0;
  entry_type type = entry_type::command;
  std::string data;

  friend bool operator==(const log_entry&, const log_entry&) = default;
};

/// The state that must be durable before a node speaks (Figure 2,
/// "persistent state on all servers"; the log is persisted alongside).
struct hard_state {
  term_t current_term = 0;
  node_id voted_for = no_node;

  friend bool operator==(const hard_state&, const hard_state&) = default;
};

/// RequestVote RPC (§5.2), also used for the pre-vote phase (thesis §9.6):
/// with pre_vote set, `term` is the term the candidate *would* use, and
/// neither side changes its persistent state.
struct request_vote {
  term_t term = 0;
  node_id candidate_id = no_node;
  index_t last_log_index = 0;
  term_t last_log_term = 0;
  bool pre_vote = false;
};

/// Reply to request_vote.
struct request_vote_reply {
  term_t term = 0;
  node_id voter_id = no_node;
  bool vote_granted = false;
  bool pre_vote = false;
};

/// AppendEntries RPC (§5.3); with no entries it is a heartbeat.
struct append_entries {
  term_t term = 0;
  node_id leader_id = no_node;
  index_t prev_log_index = 0;
  term_t prev_log_term = 0;
  std::vector<log_entry> entries;
  index_t leader_commit = 0;
  /// The leader's heartbeat round when it sent this; echoed in the reply so
  /// the leader can confirm its leadership for ReadIndex (thesis §6.4).
  uint64_t read_seq = 0;
};

/// Reply to append_entries.
struct append_entries_reply {
  term_t term = 0;
  node_id follower_id = no_node;
  bool success = false;
  /// On success: the index of the last entry known to match the leader's log.
  index_t match_index = 0;
  /// On rejection: the prev_log_index that failed the consistency check.
  index_t rejected_index = 0;
  /// On rejection, fast backtracking (thesis §5.3): the first index the
  /// follower holds of `conflict_term`, or its last index + 1 when its log is
  /// too short (then conflict_term is 0).
  index_t conflict_index = 0;
  term_t conflict_term = 0;
  /// Echo of append_entries::read_seq.
  uint64_t read_seq = 0;
};

/// InstallSnapshot RPC (§7), sent in chunks. Its handling arrives with log
/// compaction; the shape is fixed now so the wire protocol does not change.
struct install_snapshot {
  term_t term = 0;
  node_id leader_id = no_node;
  index_t last_included_index = 0;
  term_t last_included_term = 0;
  uint64_t offset = 0;
  std::string data;
  bool done = false;
};

/// Reply to install_snapshot.
struct install_snapshot_reply {
  term_t term = 0;
  node_id follower_id = no_node;
  index_t last_included_index = 0;
  /// The byte offset the follower expects next (flow control and resume).
  uint64_t next_offset = 0;
  bool success = false;
};

} // namespace raft
