#pragma once

// session: what cluster-cli does with a command -- one per line in
// interactive mode, or a single one with --connect. It owns the
// cluster_manager (launched by `init`, or attached by `connect`/--connect)
// and prints results for people or, with --json, one JSON object per
// command on stdout.
//
// Exit codes of a command: 0 done (a get found its key), 1 the command ran
// but did not succeed (not_found, unknown, unavailable, a refused kill,
// ...), 2 bad usage (unknown command, wrong arguments; the command's usage
// is printed), 3 the cluster cannot be reached.

#include "actors/manager/cluster_manager.hpp"

#include <deque>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace raft::cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failed = 1;
inline constexpr int exit_usage = 2;
inline constexpr int exit_unreachable = 3;

/// Settings of a session.
struct session_options {
  /// Print JSON instead of text.
  bool json = false;
  /// The raft-node program `init` launches ("" = the manager's default).
  std::string raft_node_binary;
  /// Commands as in `cluster-cli --connect ... COMMAND`: only those marked
  /// one_shot are allowed.
  bool one_shot = false;
};

/// Lines the manager's supervision reported (from its thread).
struct event_queue {
  std::mutex mtx;
  std::deque<std::string> lines;
};

/// Runs cluster-cli's commands; see above.
class session {
public:
  session(std::ostream& out, std::ostream& err, session_options opts);
  /// Stops a launched cluster.
  ~session();

  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// Attaches to the cluster at `addresses`; an exit code.
  int connect(const std::vector<std::string>& addresses);

  /// Splits and runs one line; an exit code (0 for a blank line).
  int execute_line(const std::string& line);

  /// Runs one command (words[0] is its name); an exit code.
  int execute(const std::vector<std::string>& words);

  /// `quit` was given.
  bool quit_requested() const noexcept { return quit_; }

  /// Prints what supervision reported since the last call.
  void flush_events();

  /// A cluster is managed (launched or attached).
  bool has_cluster() const noexcept { return manager_ != nullptr; }

private:
  int usage_error(const std::string& error, const std::string& usage_line);
  int failure(const std::string& command, const std::string& message,
              int code = exit_failed);
  int success(const std::string& command, const std::string& text);
  int need_cluster(const std::string& command);

  int cmd_init(const std::vector<std::string>& w);
  int cmd_connect(const std::vector<std::string>& w);
  int cmd_status();
  int cmd_leader();
  int cmd_kv(const std::vector<std::string>& w);
  int cmd_add(const std::vector<std::string>& w);
  int cmd_remove(const std::vector<std::string>& w);
  int cmd_transfer(const std::vector<std::string>& w);
  int cmd_snapshot(const std::vector<std::string>& w);
  int cmd_partition(const std::vector<std::string>& w);
  int cmd_heal();
  int cmd_kill(const std::vector<std::string>& w);
  int cmd_stop();
  int cmd_help(const std::vector<std::string>& w);

  std::ostream& out_;
  std::ostream& err_;
  session_options opts_;
  std::unique_ptr<cluster_manager> manager_;
  std::shared_ptr<event_queue> events_;
  bool quit_ = false;
};

} // namespace raft::cli
