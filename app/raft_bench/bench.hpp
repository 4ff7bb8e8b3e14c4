#pragma once

// raft-bench's benchmarks (writes.cpp, failover.cpp, join.cpp) and what they share:
// the cluster they launch and the actor system their clients run in.

#include "app/raft_bench/common.hpp"

#include "actors/manager/cluster_manager.hpp"
#include "messages/interfaces.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace raft::bench {

/// The cluster a benchmark launches (real raft-node processes on loopback,
/// through cluster_manager).
struct cluster_settings {
  int nodes = 3;
  /// Minimum election timeout (the maximum is twice this) and heartbeat.
  milliseconds election_timeout{150};
  milliseconds heartbeat{50};
  /// Parent of the run's data directory (a fresh raft-bench-XXXXXX in it).
  std::string data_parent = "/tmp";
  /// Keep the data directory (and the nodes' logs) after the run.
  bool keep_data = false;
  /// Threads of the benchmark's own actor system (the clients).
  std::size_t client_threads = 2;
  /// More raft-node options for every node (e.g. "--raft.snapshot-entries=N").
  std::vector<std::string> extra_args;
};

struct writes_options {
  cluster_settings cluster;
  std::vector<int> clients{1, 8, 32, 128};
  std::size_t value_size = 256;
  milliseconds duration{10'000};
  milliseconds warmup{2'000};
  /// Each client cycles over this many keys of its own ("c<i>-<n>").
  std::size_t keys_per_client = 1000;
  /// Give the clients addresses only, so that each learns the node ids with
  /// a status request per node (the library's default), instead of
  /// addresses with ids.
  bool learn_ids = false;
};

struct failover_options {
  cluster_settings cluster;
  int trials = 100;
  std::size_t value_size = 256;
  /// How often the status of the surviving nodes is polled.
  milliseconds poll{5};
  /// The continuous writer's timeout per attempt (one request to one node).
  milliseconds attempt_timeout{100};
  /// A trial whose leader or write has not come back by then has failed.
  milliseconds trial_timeout{10'000};
  /// Pause between a healthy, caught-up cluster and the next kill.
  milliseconds settle{500};
};

struct join_options {
  cluster_settings cluster;
  /// Keys written before the join (each once), and their values' size.
  std::size_t keys = 1'000'000;
  std::size_t value_size = 256;
  /// The fill: this many kv_client actors, each with this many puts in flight.
  int fill_clients = 8;
  int fill_pipeline = 32;
  /// The write workload of the windows (as in `writes`).
  int clients = 32;
  std::size_t keys_per_client = 1000;
  milliseconds warmup{2'000};
  milliseconds window{60'000};
  /// How often the nodes' status is polled while the node joins.
  milliseconds poll{20};
  /// The new node must be a caught-up voter by then.
  milliseconds join_timeout{600'000};
  /// How long take_snapshot may take.
  milliseconds snapshot_timeout{600'000};
  /// Run a third window once the new node is a caught-up voter.
  bool after = true;
};

/// Runs a benchmark, printing as it goes; `markdown` receives its report
/// section. Returns the process exit code (0: the run completed and every
/// reply was ok / every trial recovered).
// -- shared by the benchmarks --------------------------------------------------

/// Asks nodes for their status from the main thread (a scoped_actor in the
/// benchmark's actor system), all in parallel; reconnects to a node that
/// did not answer at the next round.
class status_poller {
public:
  status_poller(caf::actor_system& sys, std::vector<node_config> nodes, milliseconds timeout);

  /// Polls `n` too from the next round on.
  void add(const node_config& n);

  /// One round over every node but `skip` (reported unreachable, "killed").
  std::vector<node_report> round(node_id skip = no_node);

  /// Drops the connection to `id` (the next round connects again).
  void forget(node_id id);

  uint64_t rounds() const { return rounds_; }

private:
  caf::actor_system& sys_;
  std::vector<node_config> nodes_;
  std::vector<peer_endpoint_actor> handles_;
  milliseconds timeout_;
  uint64_t rounds_ = 0;
};

/// The report of node `id` in `rs`, or null.
const node_report* report_of(const std::vector<node_report>& rs, node_id id);

/// Non-ok replies by status, "not_leader 3, unknown 1" ("0" if none), and
/// their total.
std::string status_counts(const std::map<std::string, uint64_t>& m);
uint64_t total(const std::map<std::string, uint64_t>& m);

int run_writes(const writes_options& opts, const std::string& command_line,
               std::string& markdown);
int run_failover(const failover_options& opts, const std::string& command_line,
                 std::string& markdown);
int run_join(const join_options& opts, const std::string& command_line, std::string& markdown);

// -- shared by both -----------------------------------------------------------

/// The benchmark's own actor system: middleman (with heartbeats, like every
/// node), the wire protocol, a sharing scheduler (the default work stealing
/// spins idle threads, which would take CPU from the nodes).
class bench_config : public caf::actor_system_config {
public:
  explicit bench_config(std::size_t threads);
};

/// A launched cluster with its run directory; stops the nodes and removes
/// the directory (unless kept) when destroyed.
class bench_cluster {
public:
  /// Launches and waits for a leader; on failure `error` says why and
  /// manager() must not be used.
  bench_cluster(const cluster_settings& s, std::string& error);
  ~bench_cluster();

  bench_cluster(const bench_cluster&) = delete;
  bench_cluster& operator=(const bench_cluster&) = delete;

  cluster_manager& manager() { return *manager_; }
  const std::string& dir() const { return dir_; }
  /// The pid of node `id`'s current process (-1 if down).
  pid_t pid(node_id id) const;
  /// Every node's "host:port", in id order, with the ids.
  std::vector<node_config> nodes() const { return manager_->nodes(); }
  /// Stops the nodes now (idempotent).
  void stop();

private:
  cluster_settings settings_;
  std::string dir_;
  std::unique_ptr<cluster_manager> manager_;
};

/// CPU seconds of the cluster's processes and of this one, sampled twice.
struct cpu_sample {
  std::vector<double> nodes;
  double self = 0;
};
cpu_sample sample_cpu(const bench_cluster& c);
/// "node 1 (leader) 62%, node 2 31%, node 3 30%; bench 40%" (percent of one CPU).
std::string cpu_usage(const cpu_sample& before, const cpu_sample& after, double seconds,
                      const std::vector<node_config>& nodes, node_id leader);

/// Conditions for the markdown: date, machine, load, data dir and its filesystem.
std::string conditions_markdown(const std::string& command_line, const std::string& dir,
                                const std::string& load_before);

/// A value of `n` printable pseudo-random bytes.
std::string make_value(std::size_t n, uint64_t seed);

} // namespace raft::bench
