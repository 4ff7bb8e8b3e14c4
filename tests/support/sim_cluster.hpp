#pragma once

// A deterministic simulated cluster of pure Raft cores: an in-memory network
// that can drop, duplicate, reorder and delay messages and cut any
// partition; per node a "disk" (hard state, a snapshot, the log after it)
// whose unsynced writes a crash loses; a key-value state machine per node;
// and the invariant checker run after every step. Nodes can join at run time
// (add_node) and be removed through the log (propose_change); a node's state
// can be compacted into its disk snapshot (compact), and a leader's
// ready.snapshots_to_send go out as one install_snapshot message each, over
// the same faulty wire. Used by the per-section core tests and the randomized
// simulation. Everything is driven by one seeded generator, so a seed
// replays a run exactly.

#include "actors/kv/kv_store.hpp"
#include "actors/node/invariant_checker.hpp"
#include "actors/node/raft_core.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
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

/// A node's durable snapshot (§7): the state machine through `index`.
struct disk_snapshot {
  index_t index = 0; ///< 0: none
  term_t term = 0;
  membership config;
  std::map<std::string, std::string> kv;
};

/// The bytes of an install_snapshot message in the sim: the configuration
/// and the key-value contents, each string u64-length-prefixed (little
/// endian), the pairs preceded by their count.
std::string encode_snapshot_data(const membership& config,
                                 const std::map<std::string, std::string>& kv);
/// Decodes encode_snapshot_data(); false if the bytes are not one.
bool decode_snapshot_data(const std::string& data, membership& config,
                          std::map<std::string, std::string>& kv);

/// One simulated node.
struct sim_node {
  std::unique_ptr<raft_core> core;
  bool up = true;
  /// Started by add_node(): it joins a running cluster, so it has no
  /// bootstrap voters (it learns the configuration from the leader).
  bool joined = false;
  // The disk: what survives a crash. disk_log holds the entries after
  // disk_snap.index, in order.
  hard_state disk_state;
  disk_snapshot disk_snap;
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
  /// What restore() answered for each complete snapshot this node accepted
  /// from its leader (true: the log was replaced), oldest first.
  std::vector<bool> restores;
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
  /// `ids` are the bootstrap voters; `base` supplies the timing; seed drives
  /// everything.
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
  /// Throws std::runtime_error on a message storm: 100,000 messages
  /// delivered after one tick and still more in flight.
  template <class Pred>
  bool run_until(Pred pred, int max_ticks = 1000) {
    constexpr std::size_t storm = 100'000;
    for (int i = 0; i < max_ticks; ++i) {
      if (pred())
        return true;
      tick_all();
      // Bounded: a message storm is a failure, not a hang.
      if (deliver_all(storm) == storm && !wire_.empty())
        throw std::runtime_error("sim: message storm (" + std::to_string(storm)
                                 + " messages after one tick, more in flight)");
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
  /// Drops the messages in flight for which `pred` holds; returns how many.
  std::size_t drop_if(const std::function<bool(const wire_message&)>& pred);

  // -- membership and snapshots ---------------------------------------------

  /// Starts node `id` with an empty disk and no bootstrap voters: it joins
  /// the cluster once a leader adds it (propose_change); until then nobody
  /// sends to it. An existing id is crashed first, its disk wiped and the
  /// messages of its previous incarnation still in flight dropped (a
  /// removed server that comes back as a new one).
  void add_node(node_id id);
  /// Asks `leader` for a membership change and handles the output.
  change_outcome propose_change(node_id leader, const config_change& c);
  /// Shorthands for propose_change.
  change_outcome add_learner(node_id leader, node_id id);
  change_outcome remove(node_id leader, node_id id);
  /// Asks `leader` to hand leadership to `target` and handles the output.
  change_outcome transfer(node_id leader, node_id target);
  /// Snapshots node `id`'s state machine at its applied index into its disk
  /// snapshot (durable at once), then compacts its log (core and disk) up to
  /// there. No-op if nothing was applied since the last snapshot.
  void compact(node_id id);

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
  /// Every node the sim runs: the bootstrap voters, then those added.
  const std::vector<node_id>& ids() const { return ids_; }
  /// True if the sim runs (or ran) a node of that id.
  bool has_node(node_id id) const { return nodes_.contains(id); }
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
  void send_snapshot(node_id leader, node_id to, ready& rd);
  void receive_snapshot(node_id id, const install_snapshot& m);
  void after_unsynced(node_id id, outgoing o);

  std::vector<node_id> ids_;
  std::vector<node_id> bootstrap_;
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
