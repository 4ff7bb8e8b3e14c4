#pragma once

// Status of one node, as reported to operators and tests.

#include "messages/raft_rpc.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace raft {

/// A node's role (§5.1, plus the pre-vote phase of thesis §9.6).
enum class raft_role : uint8_t {
  follower = 0,
  pre_candidate = 1,
  candidate = 2,
  leader = 3,
};

/// Printable name of a role.
inline const char* to_string(raft_role r) {
  switch (r) {
    case raft_role::follower: return "follower";
    case raft_role::pre_candidate: return "pre_candidate";
    case raft_role::candidate: return "candidate";
    case raft_role::leader: return "leader";
  }
  return "invalid";
}

/// One peer as a node sees it.
struct peer_info {
  node_id id = no_node;
  /// host:port, if known.
  std::string address;
  /// Whether the link to it is connected (always true for local links).
  bool connected = false;
  /// Milliseconds since the node last received a message from it; -1: never.
  int64_t last_contact_ms = -1;
  /// Client commands passed on to it (the node forwards to its leader)
  /// still waiting for its answer.
  uint64_t commands_in_flight = 0;
};

/// What a peer link reports about itself.
struct link_status {
  node_id peer = no_node;
  std::string address;
  bool connected = false;
  bool dropping = false;
  uint64_t forwarded = 0;
  uint64_t dropped = 0;
  /// Milliseconds since the link last became connected; -1: never.
  int64_t last_connected_ms = -1;
  /// Client commands passed on and not yet answered.
  uint64_t commands_in_flight = 0;
};

/// A snapshot of one node's Raft state.
struct node_status {
  node_id id = no_node;
  raft_role role = raft_role::follower;
  term_t term = 0;
  node_id leader = no_node;
  index_t last_index = 0;
  index_t commit_index = 0;
  index_t applied_index = 0;
  std::vector<node_id> voters;
  /// Members that receive the log but do not vote (yet).
  std::vector<node_id> learners;
  /// The newest configuration in the log, with addresses.
  membership config;
  /// Index of the entry that holds `config` (0: bootstrap configuration).
  index_t config_index = 0;
  /// The newest snapshot: the log is compacted up to (not beyond) it.
  index_t snapshot_index = 0;
  /// The first index still held in the log (entries below it are in the
  /// snapshot only).
  index_t first_index = 1;
  /// Digest of the key-value state (equal on nodes that applied the same log).
  uint64_t state_digest = 0;
  /// Number of keys in the key-value state.
  uint64_t keys = 0;
  /// The other members.
  std::vector<peer_info> peers;
};

} // namespace raft
