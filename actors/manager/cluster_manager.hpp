#pragma once

// cluster_manager: the operator's embedding API -- launch a cluster of
// raft-node processes on this host and keep them alive, or attach to a
// running cluster by address; then ask for status and health, cut and heal
// partitions, kill nodes, change the membership, move leadership, take
// snapshots, and read and write keys.
//
//   raft::cluster_manager m{raft::cluster_config::local(3)};
//   if (auto ok = m.bootstrap(); !ok) { ... raft::describe(ok.error()) ... }
//   auto leader = m.wait_for_leader(std::chrono::seconds(5));
//   m.put("k", "v");                        // client_reply{ok}
//   m.kill(leader);                         // SIGKILL; supervision restarts it
//   m.partition({{1}, {2, 3}});             // node 1 cut off from 2 and 3
//   m.heal();
//   m.add_node({4});                        // joins as a learner ...
//   m.wait_for_voter(4, std::chrono::seconds(10)); // ... promoted once caught up
//   m.remove_node(1);                       // leaves the configuration; stopped
//   m.transfer_leader(2);                   // node 2 leads
//   m.snapshot(2);                          // node 2 writes a snapshot now
//   m.stop();                               // also done by the destructor
//
// Launch mode starts one raft-node child process per node, with its output
// in <data_dir>/node-<id>.log and its data in <data_dir>/node-<id>/, and
// supervises them (process_supervisor.hpp): a node that dies without being
// stopped is restarted with the same arguments after a short backoff,
// within a budget. Every launched process is stopped by stop() and by the
// destructor, on every path; if this process dies without running them,
// PR_SET_PDEATHSIG stops the nodes.
//
// Attach mode manages a cluster someone else started: it reads, writes,
// asks for status and partitions, changes the membership and moves
// leadership, but starts, kills and stops no process. It follows the
// membership: members the cluster reports are managed as they appear.
//
// Membership (thesis §4, one server at a time) goes through the log like
// everything else: add_member / remove_member / transfer_leader commands
// (messages/kv_messages.hpp) sent to any node and forwarded to the leader.
// "Is X a voter" is always the cluster's answer (its reported
// configuration), never a list kept here. A change is answered `ok` once
// committed; while another change is pending, or a new leader has not
// committed an entry of its term, the cluster answers `unavailable`, and
// the manager asks again until cluster_config::change_timeout.
//
// The manager talks to each node's published gateway_actor through CAF's
// middleman (its own actor system, with heartbeats on). Key-value commands
// go through raft_client's blocking_client (leader hints, retries, and
// `unknown` for a write whose request timed out after it was sent).
//
// Not thread-safe: one thread at a time calls a manager.

#include "actors/client/client_options.hpp"
#include "actors/manager/cluster_health.hpp"
#include "actors/manager/process_supervisor.hpp"
#include "messages/kv_messages.hpp"
#include "messages/status.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace raft {

/// One node of a cluster.
struct node_config {
  node_id id = no_node;
  /// The address its gateway listens on (IPv4 or IPv6 literal).
  std::string address = "127.0.0.1";
  /// Its port; 0: pick a free one at launch.
  uint16_t raft_port = 0;
  /// Its Redis-protocol client port (raft-node --raft.client-port, on
  /// `address`); 0: none, unless cluster_config::client_ports picks one.
  uint16_t client_port = 0;

  /// "host:port" (IPv6 hosts in brackets).
  std::string endpoint() const;
};

/// What a launched cluster looks like.
struct cluster_config {
  std::vector<node_config> nodes;
  /// Minimum election timeout; the maximum is twice this.
  std::chrono::milliseconds election_timeout{150};
  /// Heartbeat interval; at most a third of election_timeout.
  std::chrono::milliseconds heartbeat_timeout{50};
  /// Where node data and logs go; empty: a fresh temporary directory,
  /// removed again by stop().
  std::string data_dir;
  /// The raft-node program; empty: default_raft_node_binary() ($RAFT_NODE,
  /// or next to the running executable).
  std::string raft_node_binary;
  /// raft-node's --raft.log-level (quiet, info, debug).
  std::string log_level = "info";
  /// How long bootstrap() and add_node() wait for nodes to listen (a
  /// joining node listens once the cluster has committed its admission).
  std::chrono::milliseconds startup_timeout{15'000};
  /// How long add_node(), remove_node() and transfer_leader() keep asking
  /// a busy cluster (another change pending, a new leader not ready yet).
  std::chrono::milliseconds change_timeout{15'000};
  /// Give every launched node a Redis-protocol client port (free ports are
  /// picked for nodes whose client_port is 0), so that redis-cli and any
  /// Redis client library can talk to the cluster.
  bool client_ports = false;
  /// More raft-node options for every launched node, e.g.
  /// "--raft.snapshot-entries=100" or "--raft.cluster-id=blue".
  std::vector<std::string> extra_args;
  /// Restart budget and backoff; `log` gets one line per start, death,
  /// restart and stop (from the supervisor's thread).
  supervision_options supervision;
  /// The key-value client's timeouts.
  client_options client;

  /// `n` nodes with ids 1..n on 127.0.0.1, ports picked at launch.
  static cluster_config local(std::size_t n);
};

/// Manages a cluster of raft-node processes; see above.
class cluster_manager {
public:
  /// Launch mode: this manager starts (and supervises) one raft-node child
  /// process per node on this host, in bootstrap().
  explicit cluster_manager(cluster_config cfg);

  /// Attach mode: manage an already running cluster by addresses
  /// ("host:port"). Node ids are learned from their status replies, and
  /// members the cluster's configuration names that were not given (nodes
  /// that joined later, say) are managed too from the first status round
  /// that reports them.
  static cluster_manager attach(std::vector<std::string> addresses, client_options opts = {});

  cluster_manager(cluster_manager&&) noexcept;
  cluster_manager& operator=(cluster_manager&&) noexcept;
  /// stop().
  ~cluster_manager();

  /// Whether this manager launched its nodes (false: attached).
  bool launched() const;

  /// Launch mode: checks the configuration, picks free ports, launches
  /// every node and waits (at most startup_timeout) until each listens.
  /// On failure every launched node is stopped again and the error names
  /// the node and quotes its log. Attach mode: connects to every address
  /// and learns the node ids; fails if no node answers.
  caf::expected<void> bootstrap();

  /// Polls the status of every node every ~20 ms until a leader is followed
  /// by a majority of its voters (evaluate_health) -- with a term above
  /// `newer_than`, if given -- and returns it; no_node on timeout.
  node_id wait_for_leader(std::chrono::milliseconds timeout, term_t newer_than = 0);

  /// Asks every node for its status, in parallel (each at most
  /// `timeout`). Nodes that do not answer are reported unreachable.
  std::vector<node_report> status(std::chrono::milliseconds timeout
                                  = std::chrono::milliseconds(1000));

  /// health_report(...).health of one status round.
  cluster_health health();
  /// The verdict of one status round, with its reasons.
  health_report health_details();

  /// Cuts the cluster into `groups` (node ids). Nodes named in no group form
  /// one more group together, so partition({{1}}) isolates node 1. Every
  /// gateway is told which peers to cut (it drops their traffic both ways).
  /// Fails on unknown or repeated ids, or if a gateway could not be told
  /// (the others keep the partition). A restarted process starts healed.
  caf::expected<void> partition(const std::vector<std::vector<node_id>>& groups);
  /// Tells every gateway to cut nobody.
  caf::expected<void> heal();

  /// Launch mode: SIGKILL to node `id`, and waits (at most 2 s) until the
  /// process is reaped; supervision then restarts it.
  caf::expected<void> kill(node_id id);

  /// Adds node `n` to the cluster's configuration, as a learner; the leader
  /// promotes it to voter once it has caught up (wait_for_voter()).
  ///
  /// Launch mode: starts a raft-node for `n` (free port if 0) with
  /// --raft.join=<every managed node's address>, under supervision, and
  /// waits (startup_timeout) until it listens -- which it does only after
  /// the cluster committed its admission -- and until the cluster reports it
  /// as a member. A node joins with an EMPTY data directory: if
  /// <data_dir>/node-<id>/ holds state from an earlier incarnation (an id
  /// removed before and now added again), that directory is wiped first --
  /// a removed node must rejoin empty, never with its old log. Fails (and
  /// stops the process again) if the cluster refuses it (the id is a
  /// member already, another cluster id), quoting the node's log.
  ///
  /// Attach mode: starts nothing. `n` must name the address the new node
  /// listens on (raft_port != 0); the manager sends add_member to the
  /// cluster and returns once it is committed, and manages that address
  /// from then on. The operator runs `raft-node --raft.id=<id>
  /// --raft.port=<port> --raft.join=<members> --raft.data-dir=<empty dir>`
  /// on the new host, before or after: a join for a member already added at
  /// the same address is answered with the configuration.
  caf::expected<void> add_node(node_config n);

  /// Waits until the cluster's leader reports `id` as a voter in a
  /// committed configuration; false on timeout.
  bool wait_for_voter(node_id id, std::chrono::milliseconds timeout);

  /// Removes node `id` (voter or learner) from the cluster's configuration:
  /// sends remove_member to the cluster (any node; it goes to the leader,
  /// and a leader asked to remove itself hands leadership over first) and
  /// waits until the change is committed, asking again while the cluster is
  /// busy. The node may be dead: the others commit without it. Then launch
  /// mode stops its process for good (no restart) and forgets it; attach
  /// mode forgets its address (its process, no longer replicated to, stays
  /// idle until the operator stops it). Its data directory is kept (a later
  /// add_node of the same id wipes it). Refused if it is the last voter or
  /// not a member.
  caf::expected<void> remove_node(node_id id);

  /// Hands leadership to voter `id` (no_node: the most up-to-date other
  /// voter) and waits until a majority follows the new leader (for a named
  /// target: until it is `id`). Returns the new leader.
  caf::expected<node_id> transfer_leader(node_id id = no_node);

  /// Asks node `id` itself (not forwarded) to write a snapshot of its state
  /// now and compact its log. The reply's message describes the snapshot
  /// ("snapshot through index 42 (term 3, 10 keys, 512 bytes)").
  client_reply snapshot(node_id id, std::chrono::milliseconds timeout
                                    = std::chrono::milliseconds(10'000));

  /// The configuration the cluster reports (one status round: the leader's
  /// view, else the newest any node reports); nullopt if no node answered.
  std::optional<reported_config> configuration();

  /// Key-value commands through the client library (any node; leader hints
  /// are followed; a write whose outcome cannot be known is `unknown`).
  client_reply put(const std::string& key, const std::string& value);
  client_reply get(const std::string& key);
  client_reply del(const std::string& key);
  client_reply cas(const std::string& key, const std::string& expected,
                   const std::string& value);

  /// Sends `cmd` to node `id` only: no retry, no client-side hint
  /// following (the node itself may forward it to its leader once). A write
  /// that timed out after it was sent is `unknown`; a node that cannot be
  /// reached gives `unavailable`.
  client_reply send_to(node_id id, kv_command cmd, std::chrono::milliseconds timeout);

  /// The nodes as managed: ids (attach mode: as learned so far, else
  /// no_node), addresses and ports (picked ports filled in).
  std::vector<node_config> nodes() const;
  /// The "host:port" of every node, in order.
  std::vector<std::string> addresses() const;
  /// Whether node `id` is a voter in the configuration the cluster reports
  /// (one status round; a learner is not). False if no node answers.
  bool is_voter(node_id id) const;
  /// Launch mode: the process behind node `id` (pid, restarts, ...).
  std::optional<child_info> process(node_id id) const;
  /// Launch mode: waits until node `id`'s process (the current one or a
  /// restart) listens.
  bool wait_until_listening(node_id id, std::chrono::milliseconds timeout) const;
  /// The data directory (launch mode; "" before bootstrap and in attach mode).
  std::string data_dir() const;

  /// Launch mode: SIGTERM to every node, up to 5 s for them to end, then
  /// SIGKILL; removes a temporary data directory. Attach mode: drops the
  /// connections. Idempotent.
  void stop();

  struct impl;

private:
  cluster_manager();
  std::unique_ptr<impl> impl_;
};

/// The text of an error made by the manager (or CAF's rendering of others).
std::string describe(const caf::error& err);

} // namespace raft
