#pragma once

// node_actor: the thin CAF shell around one raft_core.
//
// It turns timer messages into tick(), peer messages into step(), client
// commands into propose() / read_index(), and carries out the core's output:
// sends through the peer links, persists through the storage actor (and
// holds back what must wait for durability), applies committed entries to
// the key-value state machine and answers the waiting clients.

#include "actors/node/raft_config.hpp"
#include "messages/interfaces.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace raft {

class raft_core;

/// Sees every step of a node (tests run the invariant checker through it).
/// Called on the node's own thread, after each handled message: first
/// `stepped` with the core, then `applied` for each entry it applies.
class node_observer {
public:
  virtual ~node_observer() = default;
  /// The core after a step, before its committed entries are applied.
  virtual void stepped(const raft_core& core) = 0;
  /// An entry the node hands to its state machine.
  virtual void applied(node_id id, const log_entry& e) = 0;
};

/// Everything a node needs to start.
struct node_options {
  /// Raft settings: id, voters, timeouts in ticks.
  raft_config raft;
  /// Real time of one tick. With the defaults (election_ticks 15,
  /// heartbeat_ticks 5) a 10 ms tick gives 150-300 ms election timeouts and
  /// 50 ms heartbeats.
  caf::timespan tick_interval = std::chrono::milliseconds(10);
  /// Where term, vote and log live.
  std::string data_dir;
  /// Segment size of the log files.
  uint64_t segment_bytes = 64ull << 20;
  /// Run the storage actor on its own thread (real processes: fsync blocks).
  /// Must be false under the deterministic test scheduler.
  bool detached_storage = true;
  /// How long a client request may wait for its outcome before the node
  /// answers `unknown` (writes) or `unavailable` (reads).
  caf::timespan client_timeout = std::chrono::seconds(5);
  /// Receives one line per role or term change (and errors); none if empty.
  std::function<void(const std::string&)> log;
  /// Optional observer for tests.
  std::shared_ptr<node_observer> observer;
};

/// The peers of a node: where to send RPCs (and forward client commands)
/// for each other member -- usually a peer_link.
using peer_map = std::map<node_id, peer_endpoint_actor>;

/// Opens the node's storage (recovering term, vote and log from data_dir),
/// spawns its storage actor and the node actor, linked so that one failing
/// takes the other down. Fails with a message naming the file and offset if
/// the data directory cannot be used.
caf::expected<node_actor> spawn_node(caf::actor_system& sys, node_options opts,
                                     peer_map peers);

} // namespace raft
