#pragma once

// Configuration of the pure Raft core. Time is counted in ticks: the shell
// calls raft_core::tick() at a fixed interval (see node_actor).

#include "messages/raft_rpc.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace raft {

/// Settings of one raft_core.
struct raft_config {
  /// This node's id (never no_node).
  node_id id = no_node;
  /// The bootstrap configuration: the voting members of a new cluster, this
  /// node included if it votes. Used only while neither the log nor a
  /// snapshot holds a configuration; empty for a node that joins a running
  /// cluster (it learns the configuration from the leader).
  std::vector<node_id> voters;
  /// Addresses of the bootstrap voters (host:port), where known.
  std::map<node_id, std::string> addresses;
  /// The leader promotes a learner to voter once the learner's log is within
  /// this many entries of its own (thesis §4.2.1: close enough that the new
  /// voter cannot hold up commitment for long).
  uint64_t promote_lag = 512;
  /// A snapshot transfer to a follower that answers no chunk for this many
  /// election timeouts is given up; the leader probes and starts over.
  int snapshot_stall_elections = 3;
  /// Base election timeout in ticks; each term draws a timeout uniformly from
  /// [election_ticks, election_ticks_max) (§5.2: randomized so that split
  /// votes are rare). Check-quorum and the vote lease use election_ticks.
  int election_ticks = 10;
  /// Upper end (exclusive) of the randomized election timeout; 0 means
  /// 2 * election_ticks.
  int election_ticks_max = 0;
  /// A leader sends heartbeats every heartbeat_ticks; must be < election_ticks.
  int heartbeat_ticks = 1;
  /// Pre-vote (thesis §9.6): a node first asks whether it could win before it
  /// raises its term, so a rejoining node cannot depose a healthy leader.
  bool pre_vote = true;
  /// Check-quorum (thesis §6.2): a leader that has not heard from a majority
  /// within an election timeout steps down; followers that hear from a leader
  /// ignore vote requests for that long (§4.2.3, disruptive servers).
  bool check_quorum = true;
  /// Upper bound on AppendEntries in flight per follower (pipelining).
  std::size_t max_inflight = 64;
  /// Upper bounds on one AppendEntries message.
  std::size_t max_entries_per_append = 512;
  std::size_t max_bytes_per_append = 1u << 20;
  /// Seed of the random generator for election timeouts (mixed with id).
  uint64_t seed = 0;
};

} // namespace raft
