#pragma once

// process_supervisor: keeps the raft-node processes of a cluster_manager
// alive -- the level above a raft-node's own in-process supervisor
// (DESIGN.md, Supervision).
//
// One background thread owns every child: it forks them (so their
// PR_SET_PDEATHSIG is tied to a thread that lives as long as supervision),
// reaps them with waitpid(pid, WNOHANG) every few milliseconds (only its own
// pids: other children of the process are left alone), notices when a
// child has printed its "listening on" line, and restarts a child that
// ended without being asked to -- same arguments, same log file (appended),
// after a backoff that doubles per recent restart -- within a budget (by
// default 5 restarts in 60 s per child). Past the budget the child stays
// down ("gave up").
//
// Callers on any thread post commands to that thread and wait for them.
// Plain C++ and POSIX; no CAF.

#include "actors/manager/posix_process.hpp"

#include "messages/raft_rpc.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace raft {

/// The restart policy.
struct supervision_options {
  /// At most this many restarts per child within `window`.
  int max_restarts = 5;
  std::chrono::milliseconds window{60'000};
  /// Pause before the first restart; doubles per restart still inside the
  /// window, up to `max_backoff`.
  std::chrono::milliseconds backoff{100};
  std::chrono::milliseconds max_backoff{2'000};
  /// How often the thread reaps and scans logs.
  std::chrono::milliseconds poll{5};
  /// One line per start, death, restart and give-up; called from the
  /// supervisor's thread. None if empty.
  std::function<void(const std::string&)> log;
};

/// What the supervisor knows about one child.
struct child_info {
  node_id id = no_node;
  /// The current pid, or -1 while down.
  pid_t pid = -1;
  bool running = false;
  /// The current incarnation printed its "listening on" line.
  bool listening = false;
  /// Restarts so far (in total, not only within the window).
  int restarts = 0;
  /// Ran out of restarts; stays down.
  bool gave_up = false;
  /// How the last incarnation ended ("" if none ended yet).
  std::string last_exit;
  std::string log_path;
  /// When the current incarnation was started.
  std::chrono::steady_clock::time_point started{};
};

/// Supervises raft-node processes; see above.
class process_supervisor {
public:
  explicit process_supervisor(supervision_options opts = {});
  /// Stops every child (stop_all with a 5 s grace) and the thread.
  ~process_supervisor();

  process_supervisor(const process_supervisor&) = delete;
  process_supervisor& operator=(const process_supervisor&) = delete;

  /// Starts `spec` as child `id` under supervision. `listen_line` is the
  /// text the child prints once it serves. Fails with a reason if the id is
  /// taken or fork fails.
  std::string start(node_id id, launch_spec spec, std::string listen_line);

  /// Sends `sig` to child `id` (e.g. SIGKILL). Supervision stays on: if it
  /// dies, it is restarted. False if there is no such running child.
  bool signal(node_id id, int sig);

  /// Stops child `id` on purpose: SIGTERM, up to `grace` for it to end,
  /// then SIGKILL; it is not restarted and leaves supervision. False if
  /// there is no such child.
  bool stop(node_id id, std::chrono::milliseconds grace);

  /// stop() for every child, in parallel (one grace period for all).
  void stop_all(std::chrono::milliseconds grace);

  /// The child's state, if it is supervised.
  std::optional<child_info> info(node_id id) const;

  /// Waits until child `id` runs and has printed its listen line (true), or
  /// until `deadline`, or until it gave up or left supervision (false).
  bool wait_listening(node_id id, std::chrono::steady_clock::time_point deadline) const;

  /// Waits until `pred(info)` holds for child `id` or `deadline` passes.
  bool wait_for(node_id id, std::chrono::steady_clock::time_point deadline,
                const std::function<bool(const child_info&)>& pred) const;

private:
  struct child {
    child_info info;
    launch_spec spec;
    std::string listen_line;
    /// Size of the log when the current incarnation started.
    uint64_t log_offset = 0;
    /// Being stopped on purpose: do not restart.
    bool stopping = false;
    /// Restarts within the window.
    std::deque<std::chrono::steady_clock::time_point> recent;
    /// When the pending restart is due (if the child is down and not given up).
    std::optional<std::chrono::steady_clock::time_point> restart_at;
  };

  void run();
  /// Runs `f` on the supervisor's thread and waits for it.
  void call(std::function<void()> f);
  // The following run on the supervisor's thread with mutex_ held.
  void launch(child& c);
  void reap();
  void restart_due();
  void scan_logs();
  /// Queues a line for opts_.log (written by the thread without the lock).
  void log(const std::string& line);
  /// SIGTERM to `ids`, up to `grace`, SIGKILL, reap, and drop them.
  void stop_all_of(const std::vector<node_id>& ids, std::chrono::milliseconds grace);

  supervision_options opts_;
  mutable std::mutex mutex_;
  /// Signals every state change (children and commands).
  mutable std::condition_variable changed_;
  std::map<node_id, child> children_;
  std::deque<std::function<void()>> commands_;
  std::vector<std::string> pending_log_;
  bool quit_ = false;
  std::thread thread_;
};

} // namespace raft
