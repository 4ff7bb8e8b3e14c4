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
  config = 2,  ///< a membership change: `data` is an encoded membership
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
  /// Set by a candidate that campaigns because its leader told it to
  /// (timeout_now, leadership transfer, thesis §3.10): voters then grant it
  /// even though they heard from that leader within the election timeout.
  bool transfer = false;
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

/// InstallSnapshot RPC (§7), sent in chunks: `data` holds the bytes of the
/// leader's snapshot file from `offset` on; `done` marks the last chunk.
/// The follower writes the chunks in order to a temporary file, verifies the
/// whole file when it is complete, and only then installs it.
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
  /// With done: the snapshot is installed (success) or was refused (e.g. it
  /// failed verification; the leader starts over). Without: chunk accepted
  /// up to next_offset (success), or out of order (the leader resends from
  /// next_offset).
  bool success = false;
  /// The snapshot is installed or refused: the transfer is over.
  bool done = false;
};

/// TimeoutNow (thesis §3.10): the leader tells an up-to-date voter to start
/// an election at once, to hand leadership over to it.
struct timeout_now {
  term_t term = 0;
  node_id leader_id = no_node;
};

/// One member of a cluster: its id and where its raft-node listens
/// ("host:port"; empty inside one process, where nodes find each other
/// without the network).
struct member {
  node_id id = no_node;
  std::string address;

  friend bool operator==(const member&, const member&) = default;
};

/// A cluster configuration (thesis §4): who votes, and who only receives
/// the log (learners: never counted in a quorum, never campaign). Every
/// node uses the newest configuration in its log, committed or not, or the
/// one its snapshot holds.
struct membership {
  std::vector<member> voters;
  std::vector<member> learners;

  friend bool operator==(const membership&, const membership&) = default;
};

} // namespace raft
