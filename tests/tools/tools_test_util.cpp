#include "tests/tools/tools_test_util.hpp"

#include "app/cluster_cli/output.hpp"

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace raft::tools_test {

void event_log::add(const std::string& line) {
  std::lock_guard<std::mutex> guard{mtx};
  lines.push_back(line);
}

bool event_log::contains(const std::string& text) {
  std::lock_guard<std::mutex> guard{mtx};
  for (const auto& l : lines)
    if (l.find(text) != std::string::npos)
      return true;
  return false;
}

std::string event_log::all() {
  std::lock_guard<std::mutex> guard{mtx};
  std::string out;
  for (const auto& l : lines)
    out += l + "\n";
  return out;
}

cluster_config test_config(std::size_t n, event_log* log) {
  auto cfg = cluster_config::local(n);
  const char* env = std::getenv("RAFT_NODE");
  cfg.raft_node_binary = env != nullptr && *env != '\0' ? env : RAFT_NODE_BINARY;
  cfg.log_level = "info";
  if (log != nullptr)
    cfg.supervision.log = [log](const std::string& line) { log->add(line); };
  return cfg;
}

bool wait_until(const std::function<bool()>& cond, ms limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto round = std::chrono::steady_clock::now();
    if (cond())
      return true;
    if (round >= deadline)
      return false;
    std::this_thread::sleep_until(round + 20ms); // polling live processes
  }
}

std::string status_text(cluster_manager& m) {
  auto reports = m.status();
  return cli::status_table(reports, evaluate_health(reports));
}

bool converged(cluster_manager& m) {
  return raft::converged(m.status());
}

namespace {

/// Reads what is available on `fd` into `out`; false at EOF.
bool drain(int fd, std::string& out) {
  char buf[4096];
  auto n = ::read(fd, buf, sizeof(buf));
  if (n > 0) {
    out.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  return n < 0 && errno == EINTR;
}

} // namespace

run_result run_cli(const std::vector<std::string>& args, const std::string& input, ms limit) {
  run_result res;
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
    return res;
  const char* env = std::getenv("CLUSTER_CLI");
  std::vector<std::string> strings{env != nullptr && *env != '\0' ? env : CLUSTER_CLI_BINARY};
  strings.insert(strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : strings)
    argv.push_back(s.data());
  argv.push_back(nullptr);
  auto pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  // Small scripts fit in the pipe; write all, then close (EOF ends the CLI).
  std::size_t written = 0;
  ::signal(SIGPIPE, SIG_IGN);
  while (written < input.size()) {
    auto n = ::write(in[1], input.data() + written, input.size() - written);
    if (n <= 0)
      break;
    written += static_cast<std::size_t>(n);
  }
  ::close(in[1]);
  auto deadline = std::chrono::steady_clock::now() + limit;
  bool out_open = true;
  bool err_open = true;
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<ms>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd fds[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(left.count())) <= 0)
      continue;
    if (out_open && (fds[0].revents & (POLLIN | POLLHUP)))
      out_open = drain(out[0], res.out);
    if (err_open && (fds[1].revents & (POLLIN | POLLHUP)))
      err_open = drain(err[0], res.err);
  }
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status))
    res.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    res.signal = WTERMSIG(status);
  return res;
}

} // namespace raft::tools_test
