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
  /// The node replaced its state machine by a snapshot through `index`.
  virtual void snapshot_installed(node_id, index_t) {}
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
  /// The cluster's name; a node started for another cluster cannot join
  /// (empty: not checked).
  std::string cluster_id;
  /// Makes a link to a member the configuration names and the node has no
  /// link to yet (it joined, or the configuration in the log names members
  /// the node was not started with). Called on the node's thread; may return
  /// a null handle (the member is then unreachable, as if cut off).
  std::function<peer_endpoint_actor(const member&)> connect;
  /// Called once a committed configuration no longer names `id`: the node
  /// dropped its link to it.
  std::function<void(node_id)> disconnect;
  /// Write a snapshot once this many entries were applied since the last
  /// one, or once the log holds this many bytes of entries (0: never).
  uint64_t snapshot_entries = 100'000;
  uint64_t snapshot_log_bytes = 64ull << 20;
  /// Entries kept in memory behind a snapshot, so that a follower a little
  /// behind catches up from the log rather than by a snapshot.
  uint64_t compaction_margin = 1'000;
  /// Bytes of key-value pairs per snapshot batch, and of file per
  /// install_snapshot chunk (both bound the memory a transfer takes).
  uint64_t snapshot_batch_bytes = 1u << 20;
  uint64_t snapshot_chunk_bytes = 1u << 20;
  /// Optional observer for tests.
  std::shared_ptr<node_observer> observer;
};

/// The peers of a node: where to send RPCs (and forward client commands)
/// for each other member -- usually a peer_link.
using peer_map = std::map<node_id, peer_endpoint_actor>;

/// Opens the node's storage (recovering term, vote and log from data_dir,
/// and the state from the newest valid snapshot there), spawns its storage
/// and snapshot actors and the node actor, linked so that one failing takes
/// the others down. Fails with a message naming the file and offset if the
/// data directory cannot be used -- also when the newest snapshot is corrupt
/// and the log no longer reaches back to an older one (the node must then
/// rejoin and be sent a snapshot by its peers); a corrupt snapshot that an
/// older one can replace is reported through opts.log.
caf::expected<node_actor> spawn_node(caf::actor_system& sys, node_options opts,
                                     peer_map peers);

} // namespace raft
