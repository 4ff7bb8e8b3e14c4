#pragma once

// A deterministic simulated cluster of pure Raft cores: an in-memory network
// that can drop, duplicate, reorder and delay messages and cut any
// partition; per node a "disk" whose unsynced writes a crash loses; a
// key-value state machine per node; and the invariant checker run after
// every step. Used by the per-section core tests and the randomized
// simulation. Everything is driven by one seeded generator, so a seed
// replays a run exactly.

#include "actors/kv/kv_store.hpp"
#include "actors/node/invariant_checker.hpp"
#include "actors/node/raft_core.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace raft::test {

/// Fault injection knobs (probabilities per message, 0..1).
struct network_faults {
  double drop = 0;
  double duplicate = 0;
  /// Deliver a random in-flight message instead of the oldest.
  bool reorder = false;
};

/// One simulated node.
struct sim_node {
  std::unique_ptr<raft_core> core;
  bool up = true;
  // The disk: what survives a crash.
  hard_state disk_state;
  std::vector<log_entry> disk_log;
  // Writes handed to the disk but not synced, each with the messages that
  // must wait for it (persist before you speak).
  struct pending_write {
    ready batch;
  };
  std::vector<pending_write> unsynced;
  // Messages waiting behind unsynced writes that had nothing to persist.
  kv_store kv;
  std::vector<log_entry> applied; // this incarnation's applied entries
  std::vector<read_state> reads;  // confirmed reads
};

/// A message on the simulated wire.
struct wire_message {
  node_id from;
  node_id to;
  raft_message msg;
};

/// The simulated cluster.
class sim_cluster {
public:
  /// `ids` are the voters; `base` supplies the timing; seed drives everything.
  sim_cluster(std::vector<node_id> ids, raft_config base, uint64_t seed);

  // -- driving --------------------------------------------------------------

  /// Ticks every live node once and handles its output.
  void tick_all();
  /// Ticks one node.
  void tick(node_id id);
  /// Delivers one in-flight message (the oldest, or a random one with
  /// reordering). Returns false if none is in flight.
  bool deliver_one();
  /// Delivers until nothing is in flight (bounded; returns messages delivered).
  std::size_t deliver_all(std::size_t limit = 1'000'000);
  /// Makes all of a node's unsynced writes durable and releases what waited.
  void sync(node_id id);
  /// Syncs every node.
  void sync_all();
  /// Ticks and delivers (and syncs, when auto_sync) until `pred` or `max_ticks`.
  template <class Pred>
  bool run_until(Pred pred, int max_ticks = 1000) {
    for (int i = 0; i < max_ticks; ++i) {
      if (pred())
        return true;
      tick_all();
      deliver_all(100'000); // bounded: a message storm is a failure, not a hang
    }
    return pred();
  }
  /// Runs until some node leads (returns it) or gives up (no_node).
  node_id elect(int max_ticks = 1000);

  /// With auto_sync (the default), writes are synced as soon as handed out.
  bool auto_sync = true;
  network_faults faults;

  // -- faults ---------------------------------------------------------------

  /// Stops a node; its unsynced writes and its in-flight messages are lost.
  void crash(node_id id);
  /// Starts a crashed node again from its disk.
  void restart(node_id id);
  /// Only nodes in the same group can talk; nodes in no group are isolated.
  void partition(const std::vector<std::vector<node_id>>& groups);
  /// Cuts the link between two nodes, both ways.
  void cut(node_id a, node_id b);
  /// Cuts only messages from a to b.
  void cut_one_way(node_id from, node_id to);
  /// Reconnects everything.
  void heal();
  /// Drops every message in flight.
  void drop_in_flight() { wire_.clear(); }

  // -- clients --------------------------------------------------------------

  /// Proposes a put through `id`; returns the proposal.
  proposal put(node_id id, const std::string& key, const std::string& value);
  /// Proposes raw data through `id` and handles the output.
  proposal propose(node_id id, std::string data);
  /// Asks `id` for a linearizable read with context `ctx`.
  bool read(node_id id, uint64_t ctx);
  /// True if the entry proposed as (index, term) was applied somewhere with
  /// that term: an acknowledged write.
  bool acknowledged(const proposal& p) const;

  // -- inspection -----------------------------------------------------------

  sim_node& node(node_id id) { return nodes_.at(id); }
  raft_core& core(node_id id) { return *nodes_.at(id).core; }
  const std::vector<node_id>& ids() const { return ids_; }
  /// The live leader with the highest term, or no_node.
  node_id leader() const;
  /// Messages currently in flight.
  const std::vector<wire_message>& in_flight() const { return wire_; }
  /// Every message ever sent through the wire, if recording.
  std::vector<wire_message> sent_log;
  bool record_sent = false;
  invariant_checker& checker() { return checker_; }
  std::mt19937_64& rng() { return rng_; }
  /// Runs the invariant checker over every live node.
  void check();

private:
  void handle_ready(node_id id);
  void release(node_id id, std::vector<outgoing>& msgs);
  void apply(node_id id, ready& rd);
  bool connected(node_id from, node_id to) const;
  void make_core(node_id id);

  std::vector<node_id> ids_;
  raft_config base_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  std::map<node_id, sim_node> nodes_;
  std::vector<wire_message> wire_;
  std::set<std::pair<node_id, node_id>> cut_;
  std::map<node_id, uint64_t> incarnation_;
  std::map<std::pair<index_t, term_t>, bool> applied_any_;
  invariant_checker checker_;
};

} // namespace raft::test
