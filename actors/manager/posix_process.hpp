#pragma once

// The POSIX pieces of launching raft-node processes: spawning a child with
// its output in a log file, free loopback ports, finding the binary. Plain
// C++ and POSIX; no CAF.

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace raft {

/// What to run, and where its output goes.
struct launch_spec {
  /// Absolute or relative path of the program (not looked up in PATH).
  std::string binary;
  /// Arguments after argv[0].
  std::vector<std::string> args;
  /// stdout and stderr are appended to this file; stdin is /dev/null.
  std::string log_path;
};

/// Result of spawn_child(): a pid, or a one-line reason.
struct spawn_result {
  pid_t pid = -1;
  std::string error;
};

/// Forks and execs `spec`. The child gets its own process group (a Ctrl-C
/// at the operator's terminal does not reach it), default signal
/// dispositions and an empty signal mask, no inherited descriptors beyond
/// 0-2, and PR_SET_PDEATHSIG(SIGTERM): it is told to stop when the *thread*
/// that spawned it ends -- call this from a thread that lives as long as the
/// child should (process_supervisor's own thread).
spawn_result spawn_child(const launch_spec& spec);

/// `n` distinct TCP ports on `host` (an IPv4 or IPv6 literal) that were free
/// a moment ago: all are bound to port 0 at once, read back, and closed.
/// Empty with `error` set on failure.
std::vector<uint16_t> pick_free_ports(const std::string& host, std::size_t n, std::string& error);

/// The raft-node binary to launch when none is configured: $RAFT_NODE if
/// set, else `raft-node` next to the running executable or one directory up
/// (build trees keep tools in app/<tool>/), else the path this library was
/// built against (RAFT_NODE_BUILD_PATH). Empty if none is executable.
std::string default_raft_node_binary();

/// "exited with code 3", "killed by signal 9 (Killed)".
std::string describe_wait_status(int status);

/// The bytes of `path` from `offset` on ("" if it cannot be read).
std::string read_from(const std::string& path, uint64_t offset);

/// The size of `path` (0 if it does not exist).
uint64_t file_size(const std::string& path);

} // namespace raft
