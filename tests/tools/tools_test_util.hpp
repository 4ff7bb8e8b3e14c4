#pragma once

// Shared helpers of the tools tests: a manager configuration for the
// raft-node under test, condition polling with deadlines (no fixed sleeps),
// a convergence check, and running cluster-cli as a child process.

#include "actors/manager/cluster_manager.hpp"

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace raft::tools_test {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

/// What the supervisor said, collected from its thread.
struct event_log {
  std::mutex mtx;
  std::vector<std::string> lines;
  void add(const std::string& line);
  bool contains(const std::string& text);
  std::string all();
};

/// `n` local nodes running the raft-node under test ($RAFT_NODE if set,
/// else the build tree's); events go to `log`.
cluster_config test_config(std::size_t n, event_log* log = nullptr);

/// Polls `cond` every 20 ms until it holds (true) or `limit` passed.
bool wait_until(const std::function<bool()>& cond, ms limit);

/// The status table of one round (for failure messages).
std::string status_text(cluster_manager& m);

/// One status round: every node answered, all follow one leader, and all
/// hold the same commit index, applied index and state digest.
bool converged(cluster_manager& m);

/// The output and exit code of a finished child.
struct run_result {
  int exit_code = -1;       ///< -1 if it did not exit normally
  int signal = 0;           ///< the signal that ended it, if any
  std::string out;          ///< stdout
  std::string err;          ///< stderr
};

/// Runs cluster-cli ($CLUSTER_CLI if set, else the build tree's) with `args`, feeding `input` on stdin; kills it after
/// `limit` (then signal == SIGKILL).
run_result run_cli(const std::vector<std::string>& args, const std::string& input = "",
                   ms limit = 30s);

} // namespace raft::tools_test
