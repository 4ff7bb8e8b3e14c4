#pragma once

// lab_cluster: raft-node processes, one per host of a netns_lab, each
// listening on its own address (port 7100 everywhere), plus the test's
// client side: an actor system with the middleman in the root namespace
// that reaches every node over the bridge through the project's client
// library (blocking_client). workload: a thread that writes continuously
// through a blocking_client and records every outcome.
//
// Node i always runs on host i. The first `members` hosts start as the
// cluster (each given the others as peers); the hosts above wait for
// join(), which starts a node there with --raft.join, like an operator
// adding a host to a running cluster.
//
// Every wait polls a condition with a bounded timeout; no fixed sleeps.

#include "actors/client/blocking_client.hpp"
#include "actors/client/client_options.hpp"
#include "messages/interfaces.hpp"
#include "tests/netns/netns_lab.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace raft::netns_test {

/// One line per node: role, term, leader, indexes, digest, voters and
/// learners, snapshot, peers (+ up, - down).
std::string render(const std::map<node_id, node_status>& statuses);

/// The shape of a lab_cluster.
struct lab_cluster_options {
  /// Hosts in the lab (1..hosts).
  std::size_t hosts = 5;
  /// Nodes 1..members start at once, as the cluster; members <= hosts.
  std::size_t members = 5;
  /// Appended to every node's command line (e.g. "--raft.snapshot-entries=200").
  std::vector<std::string> extra_args;
};

class lab_cluster {
public:
  static constexpr uint16_t port = 7100;

  /// Creates the lab and starts node i on host i (ids 1..n); throws if a
  /// node does not print its listening line within 15 s.
  explicit lab_cluster(std::size_t n);
  /// Creates a lab of shape.hosts hosts and starts nodes 1..shape.members.
  explicit lab_cluster(const lab_cluster_options& shape);
  /// Stops the clients, then the processes, then the lab. If it runs while
  /// an exception (e.g. a failed REQUIRE) unwinds, prints the tail of every
  /// node's output first.
  ~lab_cluster();

  lab_cluster(const lab_cluster&) = delete;
  lab_cluster& operator=(const lab_cluster&) = delete;

  netns_lab& lab() { return *lab_; }
  caf::actor_system& system() { return *sys_; }
  /// The nodes started so far (the members, then those that joined).
  std::vector<node_id> ids() const;
  /// "host:port" of node id's published gateway.
  std::string address(node_id id) const;
  std::vector<std::string> addresses(const std::vector<node_id>& ids) const;

  /// Starts node `id` on host `id` (a host no node runs on yet) with an
  /// empty data directory and --raft.join at the nodes `via`; waits until
  /// it prints its listening line, which raft-node does only once the
  /// cluster admitted it (as a learner). Returns "" then; otherwise why not
  /// (it exited, e.g. "cannot join: ...", or did not admit it within
  /// `limit`), with its output.
  std::string join(node_id id, const std::vector<node_id>& via, ms limit);

  /// The status of every node that answered.
  std::map<node_id, node_status> statuses();

  /// The leader among `among` at a term above `above`: a node reporting
  /// itself leader at a term no lower than any other answer of `among`.
  /// no_node if none within `limit`. Its term goes to `*term` if given.
  node_id wait_for_leader(const std::vector<node_id>& among, term_t above, ms limit,
                          term_t* term = nullptr);

  /// Waits until every node started reports every other one connected.
  bool wait_all_connected(ms limit);

  /// Waits until all nodes started answer, a leader has applied all it
  /// committed, and every node has applied exactly that far with the same
  /// state digest and key count. On failure `why` holds the last statuses.
  bool wait_converged(ms limit, std::string& why);

  /// One write through node `via` only (a client that knows no other
  /// endpoint: it is neither redirected nor forwarded elsewhere by the
  /// client; the node itself may forward to the leader it knows).
  client_reply write_through(node_id via, const std::string& key, const std::string& value,
                             client_options opts);

  /// Everything node `id` printed on stdout so far.
  std::string output(node_id id) const;

  /// The last `lines` lines of every node's stdout and stderr.
  std::string output_tails(std::size_t lines = 40) const;

private:
  std::vector<std::string> node_args(node_id id) const;

  std::unique_ptr<netns_lab> lab_;
  std::unique_ptr<temp_dir> dir_;
  lab_cluster_options opts_;
  /// Nodes started, in order.
  std::vector<node_id> started_;
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<blocking_client> observer_;
};

/// One write a client made and what it was told.
struct write_record {
  std::string key;
  std::string value;
  reply_status status = reply_status::unknown;
  std::string message;
};

/// A thread writing continuously, one command after the other, through a
/// blocking_client that knows every node: mostly distinct keys, every
/// fourth write overwrites one of five "hot" keys.
class workload {
public:
  workload(caf::actor_system& sys, std::vector<std::string> addresses, std::string prefix,
           client_options opts);
  /// Stops and joins.
  ~workload();

  workload(const workload&) = delete;
  workload& operator=(const workload&) = delete;

  /// Writes acknowledged (ok) so far.
  std::size_t acked() const { return acked_.load(); }
  /// Waits until `n` writes are acknowledged in all (false after `limit`,
  /// or if the thread ended).
  bool wait_acked(std::size_t n, ms limit);
  /// Stops after the command in progress and joins.
  void stop();
  /// Every write and its outcome (complete after stop()).
  std::vector<write_record> history();
  /// Why the thread ended early ("" if it did not).
  std::string error();

private:
  void run(caf::actor_system& sys, std::vector<std::string> addresses);

  std::string prefix_;
  client_options opts_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> ended_{false};
  std::atomic<std::size_t> acked_{0};
  std::mutex mtx_;
  std::vector<write_record> history_;
  std::string error_;
  std::thread thread_;
};

/// What the writes in `history` allow each key to hold at the end, checked
/// by reading every key through `reader`:
///   - a key's last acknowledged value, or the value of any write to it
///     whose outcome was unknown (it may have been applied, even late);
///   - absent, if no write to it was acknowledged (and no unknown one
///     applied);
///   - never the value of a refused write (not_leader, unavailable:
///     nothing was applied).
/// Returns one line per violation (empty: all good) and sets `present` to
/// the number of keys that hold a value.
std::vector<std::string> check_writes(blocking_client& reader,
                                      const std::vector<write_record>& history,
                                      std::size_t& present);

} // namespace raft::netns_test
