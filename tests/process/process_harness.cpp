#include "tests/process/process_harness.hpp"

#include "messages/registration.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <arpa/inet.h>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace raft::process_test {

const char* raft_node_binary() {
  return RAFT_NODE_BINARY;
}

// -- temp_dir -----------------------------------------------------------------

temp_dir::temp_dir() {
  auto pattern = (std::filesystem::temp_directory_path() / "caf-raft-proc-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// -- helpers ------------------------------------------------------------------

std::vector<uint16_t> free_ports(std::size_t n) {
  // Hold every socket until all are picked, so the ports are distinct.
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  for (std::size_t i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    socklen_t len = sizeof(sa);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0
        || ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
      throw std::runtime_error("cannot pick a free port");
    fds.push_back(fd);
    ports.push_back(ntohs(sa.sin_port));
  }
  for (int fd : fds)
    ::close(fd);
  return ports;
}

bool wait_until(const std::function<bool()>& cond, ms limit, ms step) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (cond())
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(step); // polling real processes
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// -- child_process ------------------------------------------------------------

child_process::child_process(const std::vector<std::string>& argv, const std::string& out_path,
                             const std::string& err_path) {
  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed (the test has threads).
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0)
    throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0)
      ::_exit(126);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

child_process::~child_process() {
  if (running())
    kill9();
}

bool child_process::running() {
  if (status_)
    return false;
  int st = 0;
  auto r = ::waitpid(pid_, &st, WNOHANG);
  if (r == 0)
    return true;
  if (r == pid_)
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  else
    status_ = -1; // not our child any more: treat as gone
  return false;
}

void child_process::signal(int sig) {
  if (running())
    ::kill(pid_, sig);
}

std::optional<int> child_process::wait_exit(ms limit) {
  wait_until([this] { return !running(); }, limit, 10ms);
  return status_;
}

void child_process::kill9() {
  if (!running())
    return;
  ::kill(pid_, SIGKILL);
  int st = 0;
  if (::waitpid(pid_, &st, 0) == pid_)
    status_ = 128 + SIGKILL;
}

run_result run_program(const std::vector<std::string>& argv, ms limit) {
  temp_dir out_dir;
  auto out = out_dir.path() + "/out";
  auto err = out_dir.path() + "/err";
  run_result r;
  {
    child_process p(argv, out, err);
    r.exit_code = p.wait_exit(limit);
  }
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

run_result run_raft_node(const std::vector<std::string>& args, ms limit) {
  std::vector<std::string> argv{raft_node_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, limit);
}

// -- test_client --------------------------------------------------------------

test_client::test_client() : cfg_(std::make_unique<caf::actor_system_config>()) {
  register_message_types(*cfg_);
  cfg_->load<caf::io::middleman>();
  cfg_->set("logger.verbosity", caf::atom("quiet"));
  // The nodes close connections that stay silent for their
  // middleman.connection-timeout: send heartbeats like they do.
  cfg_->set("middleman.heartbeat-interval", caf::timespan{500ms});
  sys_ = std::make_unique<caf::actor_system>(*cfg_);
}

test_client::~test_client() {
  gateways_.clear();
  sys_.reset();
}

std::optional<gateway_actor> test_client::gateway(uint16_t port) {
  if (auto i = gateways_.find(port); i != gateways_.end())
    return i->second;
  // Blocking is fine here (not inside an actor); loopback connects either
  // succeed or are refused at once.
  auto gw = sys_->middleman().remote_actor<gateway_actor>("127.0.0.1", port);
  if (!gw)
    return std::nullopt;
  gateways_.emplace(port, *gw);
  return *gw;
}

std::optional<node_status> test_client::status(uint16_t port, ms timeout) {
  auto gw = gateway(port);
  if (!gw)
    return std::nullopt;
  std::optional<node_status> result;
  caf::scoped_actor self{*sys_};
  self->request(*gw, timeout, status_atom::value)
    .receive([&](node_status& s) { result = std::move(s); },
             [&](caf::error&) { gateways_.erase(port); }); // reconnect next time
  return result;
}

bool test_client::partition(uint16_t port, std::vector<node_id> peers, ms timeout) {
  auto gw = gateway(port);
  if (!gw)
    return false;
  bool done = false;
  caf::scoped_actor self{*sys_};
  self->request(*gw, timeout, partition_atom::value, std::move(peers))
    .receive([&](bool applied) { done = applied; }, [&](caf::error&) { gateways_.erase(port); });
  return done;
}

std::optional<client_reply> test_client::command(uint16_t port, kv_command cmd, ms timeout) {
  auto gw = gateway(port);
  if (!gw)
    return std::nullopt;
  std::optional<client_reply> result;
  caf::scoped_actor self{*sys_};
  self->request(*gw, timeout, std::move(cmd))
    .receive([&](client_reply& r) { result = std::move(r); },
             [&](caf::error&) { gateways_.erase(port); });
  return result;
}

// -- test_cluster -------------------------------------------------------------

test_cluster::test_cluster(std::size_t n, test_client& client) : client_(client) {
  auto ports = free_ports(n);
  for (std::size_t i = 0; i < n; ++i)
    ports_.emplace(static_cast<node_id>(i + 1), ports[i]);
}

test_cluster::~test_cluster() {
  procs_.clear(); // kills what still runs before the directory goes
}

std::vector<node_id> test_cluster::ids() const {
  std::vector<node_id> r;
  for (const auto& [id, port] : ports_)
    r.push_back(id);
  return r;
}

std::string test_cluster::data_dir(node_id id) const {
  return dir_.path() + "/node-" + std::to_string(id);
}

std::string test_cluster::stdout_path(node_id id) const {
  auto i = starts_.find(id);
  auto run = i == starts_.end() ? 0 : i->second;
  return dir_.path() + "/node-" + std::to_string(id) + "-run" + std::to_string(run) + ".out";
}

std::vector<std::string> test_cluster::args(node_id id) const {
  std::string peers = "[";
  for (const auto& [pid, port] : ports_) {
    if (joined_.contains(pid))
      continue; // not one of the bootstrap members
    if (peers.size() > 1)
      peers += ",";
    peers += "\"" + std::to_string(pid) + "=127.0.0.1:" + std::to_string(port) + "\"";
  }
  peers += "]";
  std::vector<std::string> a{raft_node_binary(),
                             "--raft.id=" + std::to_string(id),
                             "--raft.port=" + std::to_string(ports_.at(id)),
                             "--raft.data-dir=" + data_dir(id)};
  if (auto j = joined_.find(id); j != joined_.end()) {
    std::string seeds = "[";
    for (auto via : j->second)
      seeds += (seeds.size() > 1 ? ",\"127.0.0.1:" : "\"127.0.0.1:")
               + std::to_string(ports_.at(via)) + "\"";
    a.push_back("--raft.join=" + seeds + "]");
  } else {
    a.push_back("--raft.peers=" + peers);
  }
  a.insert(a.end(), extra_args.begin(), extra_args.end());
  if (auto i = node_args.find(id); i != node_args.end())
    a.insert(a.end(), i->second.begin(), i->second.end());
  return a;
}

bool test_cluster::start(node_id id, ms limit) {
  procs_.erase(id); // a previous incarnation, if any, is dead or killed here
  ++starts_[id];
  auto out = stdout_path(id);
  auto err = out.substr(0, out.size() - 4) + ".err";
  procs_[id] = std::make_unique<child_process>(args(id), out, err);
  auto line = "raft-node " + std::to_string(id) + " listening on";
  auto& proc = *procs_[id];
  bool ok = wait_until(
    [&] { return read_file(out).find(line) != std::string::npos || !proc.running(); }, limit);
  return ok && proc.running();
}

bool test_cluster::join(node_id id, const std::vector<node_id>& via, ms limit) {
  if (!ports_.contains(id)) {
    uint16_t port = 0;
    do {
      port = free_ports(1).front();
    } while (std::any_of(ports_.begin(), ports_.end(),
                         [port](const auto& p) { return p.second == port; }));
    ports_.emplace(id, port);
  }
  joined_[id] = via;
  return start(id, limit);
}

void test_cluster::wipe(node_id id) {
  std::error_code ec;
  std::filesystem::remove_all(data_dir(id), ec);
}

bool test_cluster::start_all(ms limit) {
  for (auto id : ids())
    if (!start(id, limit))
      return false;
  return true;
}

void test_cluster::kill9(node_id id) {
  if (auto i = procs_.find(id); i != procs_.end())
    i->second->kill9();
}

std::optional<int> test_cluster::terminate(node_id id, ms limit) {
  auto i = procs_.find(id);
  if (i == procs_.end())
    return std::nullopt;
  i->second->signal(SIGTERM);
  return i->second->wait_exit(limit);
}

bool test_cluster::running(node_id id) {
  auto i = procs_.find(id);
  return i != procs_.end() && i->second->running();
}

pid_t test_cluster::pid(node_id id) const {
  auto i = procs_.find(id);
  return i == procs_.end() ? -1 : i->second->pid();
}

node_id test_cluster::wait_for_leader(const std::vector<node_id>& among, ms limit) {
  node_id leader = no_node;
  wait_until(
    [&] {
      term_t top = 0;
      node_id candidate = no_node;
      for (auto id : among) {
        auto s = client_.status(port(id));
        if (!s)
          continue;
        if (s->term > top) {
          top = s->term;
          candidate = no_node;
        }
        if (s->role == raft_role::leader && s->term == top)
          candidate = id;
      }
      leader = candidate;
      return leader != no_node;
    },
    limit);
  return leader;
}

std::optional<client_reply> test_cluster::until_definite(node_id via, const kv_command& cmd,
                                                         ms limit) {
  std::optional<client_reply> last;
  wait_until(
    [&] {
      last = client_.command(port(via), cmd);
      if (!last)
        return false;
      switch (last->status) {
        case reply_status::not_leader:
        case reply_status::unavailable:
        case reply_status::no_quorum:
        case reply_status::unknown:
          return false; // an election or a restart in progress: try again
        default:
          return true;
      }
    },
    limit);
  return last;
}

bool test_cluster::put(node_id via, const std::string& key, const std::string& value,
                       ms limit) {
  kv_command cmd;
  cmd.op = kv_op::put;
  cmd.key = key;
  cmd.value = value;
  auto r = until_definite(via, cmd, limit);
  return r && r->status == reply_status::ok;
}

std::optional<std::string> test_cluster::get(node_id via, const std::string& key, ms limit) {
  kv_command cmd;
  cmd.op = kv_op::get;
  cmd.key = key;
  auto r = until_definite(via, cmd, limit);
  if (r && r->status == reply_status::ok)
    return r->value;
  return std::nullopt;
}

bool test_cluster::wait_caught_up(node_id id, node_id leader, ms limit) {
  return wait_until(
    [&] {
      auto l = client_.status(port(leader));
      auto s = client_.status(port(id));
      return l && s && s->applied_index >= l->commit_index && l->applied_index == l->commit_index
             && s->state_digest == l->state_digest;
    },
    limit);
}

} // namespace raft::process_test
