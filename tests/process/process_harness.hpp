#pragma once

// Harness for the process tests: real raft-node processes on loopback.
//
// * temp_dir: a mkdtemp directory, removed with everything in it.
// * child_process: fork/exec with stdout/stderr to files; killed (SIGKILL)
//   and reaped by its destructor, so a failing test leaves no process
//   behind (and PR_SET_PDEATHSIG kills it if the test process dies).
// * test_client: an actor system with the middleman in the test process,
//   talking to the nodes' gateways like any client (requests with timeouts).
// * test_cluster: n nodes with ids 1..n on free loopback ports.
//
// Every wait polls a condition until it holds or a deadline passes; there
// are no fixed sleeps.

#include "messages/interfaces.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace raft::process_test {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

/// Path of the raft-node binary under test.
const char* raft_node_binary();

/// A fresh directory under the system's temporary directory.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

/// `n` distinct loopback ports that were free a moment ago.
std::vector<uint16_t> free_ports(std::size_t n);

/// Polls `cond` every `step` until it holds (true) or `limit` passed (false).
bool wait_until(const std::function<bool()>& cond, ms limit, ms step = 25ms);

/// The whole content of a file ("" if it cannot be read).
std::string read_file(const std::string& path);

/// A child process running a program with stdout and stderr in files.
class child_process {
public:
  child_process(const std::vector<std::string>& argv, const std::string& out_path,
                const std::string& err_path);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  /// Whether it still runs (reaps it if it ended).
  bool running();
  /// Sends `sig`.
  void signal(int sig);
  /// Waits up to `limit` for it to end: its exit code (128 + signal if
  /// killed by one), or nullopt if it still runs.
  std::optional<int> wait_exit(ms limit);
  /// SIGKILL, then reap.
  void kill9();

private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// What a program run to its end printed.
struct run_result {
  std::optional<int> exit_code; // nullopt: it did not end within the limit
  std::string out;
  std::string err;
};

/// Runs `argv` (argv[0] a path) until it ends (at most `limit`).
run_result run_program(const std::vector<std::string>& argv, ms limit = 10s);

/// Runs raft-node with `args` until it ends (at most `limit`).
run_result run_raft_node(const std::vector<std::string>& args, ms limit = 10s);

/// A client in the test process: its own actor system with the middleman.
class test_client {
public:
  test_client();
  ~test_client();

  /// The node's status, or nullopt if it does not answer in time.
  std::optional<node_status> status(uint16_t port, ms timeout = 500ms);
  /// Tells the node's gateway to cut itself off from `peers` (empty: heal).
  bool partition(uint16_t port, std::vector<node_id> peers, ms timeout = 1s);
  /// Sends one command; nullopt if no reply arrived in time.
  std::optional<client_reply> command(uint16_t port, kv_command cmd, ms timeout = 3s);

  caf::actor_system& system() { return *sys_; }

private:
  std::optional<gateway_actor> gateway(uint16_t port);

  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::map<uint16_t, gateway_actor> gateways_;
};

/// n raft-node processes, ids 1..n, on free loopback ports, each with its
/// data directory under one temp_dir.
class test_cluster {
public:
  test_cluster(std::size_t n, test_client& client);
  ~test_cluster();

  std::vector<node_id> ids() const;
  uint16_t port(node_id id) const { return ports_.at(id); }
  std::string data_dir(node_id id) const;
  std::string stdout_path(node_id id) const;

  /// Starts (or restarts) node `id`; true once it printed its listening line.
  bool start(node_id id, ms limit = 10s);
  /// Starts node `id` (a new id gets a free port) with --raft.join at the
  /// nodes `via` instead of a peer list, like an operator adding a host:
  /// true once it printed its listening line (raft-node prints it only
  /// after the cluster admitted it). Later start()s of `id` use the same
  /// arguments.
  bool join(node_id id, const std::vector<node_id>& via, ms limit = 20s);
  /// Removes node `id`'s data directory (stop it first).
  void wipe(node_id id);
  /// The stdout of node `id`'s latest run.
  std::string output(node_id id) const { return read_file(stdout_path(id)); }
  bool start_all(ms limit = 10s);
  /// kill -9.
  void kill9(node_id id);
  /// SIGTERM and wait: the exit code, or nullopt if it did not end in time.
  std::optional<int> terminate(node_id id, ms limit = 10s);
  bool running(node_id id);
  /// The process id of node `id` (-1 if never started).
  pid_t pid(node_id id) const;

  /// The leader among `among`: a node reporting itself leader at a term no
  /// lower than any other answer. no_node if none within `limit`.
  node_id wait_for_leader(const std::vector<node_id>& among, ms limit = 10s);

  /// Writes key=value through node `via` (never redirected elsewhere),
  /// retrying while the answer is not_leader, unavailable or unknown; true
  /// once acknowledged (ok) within `limit`.
  bool put(node_id via, const std::string& key, const std::string& value, ms limit = 10s);
  /// Reads key through node `via`, retrying as put does; the value if found.
  std::optional<std::string> get(node_id via, const std::string& key, ms limit = 10s);

  /// Waits until node `id` has applied everything `leader` has committed
  /// and both hold the same state digest.
  bool wait_caught_up(node_id id, node_id leader, ms limit = 10s);

  /// Sends `cmd` through `via` until the answer is definite (not
  /// not_leader, unavailable or unknown) or `limit` passed; the last answer.
  std::optional<client_reply> until_definite(node_id via, const kv_command& cmd, ms limit);

  /// Extra arguments for every start (e.g. a config file).
  std::vector<std::string> extra_args;
  /// Extra arguments for the starts of one node (e.g. its client port).
  std::map<node_id, std::vector<std::string>> node_args;

private:
  std::vector<std::string> args(node_id id) const;

  test_client& client_;
  temp_dir dir_;
  std::map<node_id, uint16_t> ports_;
  std::map<node_id, std::unique_ptr<child_process>> procs_;
  std::map<node_id, int> starts_;
  /// Nodes started with --raft.join, and at whom.
  std::map<node_id, std::vector<node_id>> joined_;
};

} // namespace raft::process_test
