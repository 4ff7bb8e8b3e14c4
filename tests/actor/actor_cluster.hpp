#pragma once

// A cluster of real node actors (real storage actors over real files) in one
// actor system driven by CAF's test_coordinator: single-threaded, virtual
// time, deterministic. Peer links are pointed at the local node actors and
// can drop traffic (partitions). The invariant checker runs after every step
// of every node, through the node_observer hook.

#include "actors/node/invariant_checker.hpp"
#include "actors/node/node_actor.hpp"
#include "actors/node/raft_core.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace raft::test {

/// Runs the invariant checker over every step and keeps what each node did.
class checking_observer : public node_observer {
public:
  void stepped(const raft_core& core) override;
  void applied(node_id id, const log_entry& e) override;
  void snapshot_installed(node_id id, index_t index) override;

  invariant_checker checker;
  /// The latest status seen per node.
  std::map<node_id, node_status> latest;
  /// Per node and incarnation: the entries applied, in order.
  std::map<node_id, std::vector<log_entry>> applied_log;
  /// Snapshots installed from a leader, per node: their indexes.
  std::map<node_id, std::vector<index_t>> installed;
};

/// Where a client request stands.
using reply_slot = std::shared_ptr<std::optional<client_reply>>;

/// The deterministic actor-level cluster.
class actor_cluster {
public:
  using ms = std::chrono::milliseconds;

  /// Starts `n` nodes (ids 1..n) with fresh data directories. `tweak`
  /// adjusts the node options first (snapshot thresholds, ...).
  explicit actor_cluster(std::size_t n, uint64_t seed = 1,
                         const std::function<void(node_options&)>& tweak = {});
  ~actor_cluster();

  actor_cluster(const actor_cluster&) = delete;
  actor_cluster& operator=(const actor_cluster&) = delete;

  // -- time -------------------------------------------------------------------

  /// Runs every queued job (no time passes).
  void run();
  /// Lets `d` of virtual time pass, one tick at a time, running jobs between.
  void advance(caf::timespan d);
  /// Advances tick by tick until `pred` holds or `limit` of virtual time passed.
  bool run_until(const std::function<bool()>& pred, caf::timespan limit);
  /// Virtual time elapsed since the cluster started.
  caf::timespan now() const { return elapsed_; }

  // -- cluster ----------------------------------------------------------------

  /// The live leader of the highest term, as the nodes last reported.
  node_id leader() const;
  /// Waits up to `limit` for a leader.
  node_id wait_for_leader(caf::timespan limit = ms(2000));
  /// Kills a node actor (and with it its storage actor).
  void kill(node_id id);
  /// Spawns a killed node again over its data directory.
  void respawn(node_id id);
  /// Kills node `id` if alive and deletes its data directory.
  void wipe(node_id id);
  /// Adds node `id` to the running cluster as `raft-node --join` does: asks
  /// the leader to add it (as a learner) and, once that is committed,
  /// starts it with an empty disk and the configuration the cluster sent.
  /// Returns the reply to the add request.
  client_reply join(node_id id, caf::timespan limit = ms(5000));
  /// Asks the cluster to remove node `id` (dead or alive), following hints
  /// (a leader removing itself hands over first); returns the final reply.
  client_reply remove(node_id id, caf::timespan limit = ms(5000));
  /// The voters and learners the leader reports (empty without a leader).
  std::vector<node_id> voters() const;
  std::vector<node_id> learners() const;
  bool alive(node_id id) const { return nodes_.at(id).alive; }
  /// Only nodes in the same group exchange messages.
  void partition(const std::vector<std::vector<node_id>>& groups);
  void heal();
  const std::vector<node_id>& ids() const { return ids_; }
  node_actor handle(node_id id) const { return nodes_.at(id).actor; }

  // -- clients ----------------------------------------------------------------

  /// Sends a command to a node; the slot fills when the reply (or the
  /// client's timeout, reported as unknown) arrives.
  reply_slot send(node_id via, kv_command cmd, caf::timespan timeout = ms(2000));
  /// Sends and waits (in virtual time) for the reply.
  client_reply request(node_id via, kv_command cmd, caf::timespan timeout = ms(2000));
  /// A put through whichever node leads, following not_leader hints.
  client_reply put(const std::string& key, const std::string& value);
  /// Sends a command to the leader, following not_leader hints and
  /// retrying `unavailable` (busy) until `limit`.
  client_reply to_leader(kv_command cmd, caf::timespan limit = ms(5000));
  client_reply get(const std::string& key);

  // -- inspection -------------------------------------------------------------

  checking_observer& observer() { return *observer_; }
  /// Asks node `id` itself for its status (with its state digest and key
  /// count, which the observer's core view lacks); nothing if it is dead or
  /// does not answer.
  std::optional<node_status> query_status(node_id id);
  const node_status& status(node_id id) const { return observer_->latest.at(id); }
  /// Node options the cluster uses (tick 10 ms, timeouts 150-300 ms).
  const node_options& options() const { return base_; }

private:
  struct node_slot {
    node_actor actor;
    std::string dir;
    bool alive = false;
    std::map<node_id, peer_link_actor> links; // this node's link to each peer
    /// Bootstrap voters it starts with (the first nodes: all of them; a
    /// joined node: the configuration the cluster sent).
    std::vector<node_id> bootstrap;
  };

  void spawn(node_id id);
  /// The link from `from` to `to`, made on first use (node_options::connect).
  peer_link_actor link(node_id from, node_id to);

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  std::string root_;
  std::vector<node_id> ids_;
  std::map<node_id, node_slot> nodes_;
  node_options base_;
  std::shared_ptr<checking_observer> observer_;
  caf::timespan elapsed_{0};
  uint64_t seed_;
  /// The partition in force (group per node); empty: none.
  std::map<node_id, std::size_t> group_of_;
  bool partitioned_ = false;
};

} // namespace raft::test
