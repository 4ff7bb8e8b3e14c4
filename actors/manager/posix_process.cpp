#include "actors/manager/posix_process.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace raft {

namespace {

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

/// Only async-signal-safe calls between fork and exec: the parent has many
/// threads, and one of them may hold the allocator's lock.
[[noreturn]] void exec_child(const char* binary, char* const* argv, int log_fd, int null_fd,
                             pid_t parent) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) // the parent died before prctl
    ::_exit(127);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP)
      ::sigaction(sig, &dfl, nullptr);
  ::dup2(null_fd, 0);
  ::dup2(log_fd, 1);
  ::dup2(log_fd, 2);
  ::close_range(3, ~0U, 0);
  ::execv(binary, argv);
  static const char msg[] = "cluster manager: exec failed\n";
  [[maybe_unused]] auto n = ::write(2, msg, sizeof(msg) - 1);
  ::_exit(127);
}

bool executable(const std::string& path) {
  struct stat st;
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)
         && ::access(path.c_str(), X_OK) == 0;
}

} // namespace

spawn_result spawn_child(const launch_spec& spec) {
  spawn_result result;
  // Everything the child needs is prepared before fork (no allocation after).
  std::vector<std::string> strings;
  strings.push_back(spec.binary);
  strings.insert(strings.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& s : strings)
    argv.push_back(s.data());
  argv.push_back(nullptr);
  int log_fd = ::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    result.error = errno_text("cannot open log file " + spec.log_path);
    return result;
  }
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    result.error = errno_text("cannot open /dev/null");
    ::close(log_fd);
    return result;
  }
  auto parent = ::getpid();
  auto pid = ::fork();
  if (pid == 0)
    exec_child(strings.front().c_str(), argv.data(), log_fd, null_fd, parent);
  if (pid < 0)
    result.error = errno_text("fork failed");
  else
    result.pid = pid;
  ::close(log_fd);
  ::close(null_fd);
  return result;
}

std::vector<uint16_t> pick_free_ports(const std::string& host, std::size_t n, std::string& error) {
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  auto close_all = [&] {
    for (auto fd : fds)
      ::close(fd);
  };
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
  if (auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
      ::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    len = sizeof(sockaddr_in);
  } else if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
             ::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    family = AF_INET6;
    len = sizeof(sockaddr_in6);
  } else {
    error = "cannot pick a port on '" + host + "': not an IPv4 or IPv6 address";
    return {};
  }
  for (std::size_t i = 0; i < n; ++i) {
    int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = errno_text("socket");
      close_all();
      return {};
    }
    fds.push_back(fd);
    sockaddr_storage bound = addr; // port 0: the kernel picks
    if (::bind(fd, reinterpret_cast<sockaddr*>(&bound), len) != 0
        || ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
      error = errno_text("cannot bind a free port on " + host);
      close_all();
      return {};
    }
    auto port = family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                  : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port;
    ports.push_back(ntohs(port));
  }
  close_all();
  return ports;
}

std::string default_raft_node_binary() {
  if (const char* env = std::getenv("RAFT_NODE"); env != nullptr && executable(env))
    return env;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto dir : {self.parent_path(), self.parent_path().parent_path()}) {
      auto candidate = (dir / "raft-node").string();
      if (executable(candidate))
        return candidate;
    }
  }
#ifdef RAFT_NODE_BUILD_PATH
  if (executable(RAFT_NODE_BUILD_PATH))
    return RAFT_NODE_BUILD_PATH;
#endif
  return {};
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status))
    return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    auto sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return "killed by signal " + std::to_string(sig) + (name ? " (" + std::string{name} + ")" : "");
  }
  return "ended (wait status " + std::to_string(status) + ")";
}

std::string read_from(const std::string& path, uint64_t offset) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return out;
  char buf[4096];
  auto pos = static_cast<off_t>(offset);
  for (;;) {
    auto n = ::pread(fd, buf, sizeof(buf), pos);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    out.append(buf, static_cast<std::size_t>(n));
    pos += n;
  }
  ::close(fd);
  return out;
}

uint64_t file_size(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return 0;
  return static_cast<uint64_t>(st.st_size);
}

} // namespace raft
