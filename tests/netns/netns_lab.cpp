#include "tests/netns/netns_lab.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace raft::netns_test {

using process_test::read_file;
using process_test::wait_until;
using namespace std::chrono_literals;

namespace fs = std::filesystem;

namespace {

/// Only one lab per process: names carry the pid, not a lab number.
std::atomic<bool> lab_exists{false};

constexpr const char* name_prefix = "rlab";

/// Where `ip netns` keeps its namespace handles.
constexpr const char* netns_dir = "/var/run/netns";

bool process_alive(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

/// The pid in a name made by a lab (rlab<pid>...), if it is one.
std::optional<pid_t> owner_pid(const std::string& name) {
  std::string p = name_prefix;
  if (name.rfind(p, 0) != 0)
    return std::nullopt;
  std::size_t i = p.size();
  std::size_t digits = 0;
  long pid = 0;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])) && digits < 9) {
    pid = pid * 10 + (name[i] - '0');
    ++i;
    ++digits;
  }
  if (digits == 0 || i == name.size() || pid <= 0)
    return std::nullopt;
  return static_cast<pid_t>(pid);
}

/// Every IPv4 prefix ("a.b.c.d" or "a.b.c.d/len") found in `text`.
std::vector<std::pair<uint32_t, int>> ipv4_prefixes(const std::string& text) {
  std::vector<std::pair<uint32_t, int>> r;
  std::istringstream in(text);
  std::string tok;
  while (in >> tok) {
    auto slash = tok.find('/');
    auto addr = tok.substr(0, slash);
    int len = 32;
    if (slash != std::string::npos) {
      char* end = nullptr;
      auto l = std::strtol(tok.c_str() + slash + 1, &end, 10);
      if (end == tok.c_str() + slash + 1 || *end != '\0' || l < 0 || l > 32)
        continue;
      len = static_cast<int>(l);
    }
    in_addr a{};
    if (::inet_pton(AF_INET, addr.c_str(), &a) != 1)
      continue;
    r.emplace_back(ntohl(a.s_addr), len);
  }
  return r;
}

bool overlaps(uint32_t a, int alen, uint32_t b, int blen) {
  auto len = std::min(alen, blen);
  if (len == 0)
    return false; // a default route is no clash: a /24 is more specific
  uint32_t mask = len == 32 ? 0xFFFFFFFFu : ~(0xFFFFFFFFu >> len);
  return (a & mask) == (b & mask);
}

} // namespace

// -- commands -----------------------------------------------------------------

std::string join_command(const std::vector<std::string>& argv) {
  std::string r;
  for (const auto& a : argv) {
    if (!r.empty())
      r += ' ';
    r += a;
  }
  return r;
}

command_result run_command(const std::vector<std::string>& argv, ms limit) {
  temp_dir dir;
  auto out = dir.path() + "/out";
  auto err = dir.path() + "/err";
  command_result r;
  {
    child_process p(argv, out, err);
    auto code = p.wait_exit(limit);
    if (!code) {
      p.kill9();
      throw std::runtime_error("command did not finish within " + std::to_string(limit.count())
                               + " ms (killed): " + join_command(argv));
    }
    r.exit_code = *code;
  }
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

std::string must_run(const std::vector<std::string>& argv, ms limit) {
  auto r = run_command(argv, limit);
  if (r.exit_code != 0) {
    auto why = r.err.empty() ? r.out : r.err;
    while (!why.empty() && (why.back() == '\n' || why.back() == ' '))
      why.pop_back();
    throw std::runtime_error("command failed (exit code " + std::to_string(r.exit_code)
                             + "): " + join_command(argv) + "\n  " + why);
  }
  return r.out;
}

std::string find_program(const std::string& program) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/sbin:/usr/bin:/bin";
  std::istringstream dirs(path);
  std::string d;
  while (std::getline(dirs, d, ':')) {
    if (d.empty())
      continue;
    auto candidate = d + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return "";
}

std::string missing_prerequisites() {
  std::vector<std::string> missing;
  if (::geteuid() != 0)
    missing.push_back("root (network namespaces, veths, a bridge and nftables rules need "
                      "CAP_NET_ADMIN and CAP_SYS_ADMIN; this runs as uid "
                      + std::to_string(::geteuid()) + ")");
  if (find_program("ip").empty())
    missing.push_back("the program 'ip' (Debian package iproute2)");
  if (find_program("nft").empty())
    missing.push_back("the program 'nft' (Debian package nftables)");
  if (missing.empty())
    return "";
  std::string r = "the netns tests cannot run here; missing:";
  for (const auto& m : missing)
    r += "\n  - " + m;
  r += "\nInstall the packages with scripts/install-deps.sh (as root: apt-get install iproute2 "
       "nftables) and run as root, or leave this suite out: ctest -LE netns";
  return r;
}

// -- netns_lab ----------------------------------------------------------------

netns_lab::netns_lab(std::size_t hosts) : hosts_(hosts) {
  if (auto why = missing_prerequisites(); !why.empty())
    throw std::runtime_error(why);
  if (hosts == 0 || hosts > 250)
    throw std::runtime_error("netns_lab: 1 to 250 hosts");
  if (lab_exists.exchange(true))
    throw std::runtime_error("netns_lab: only one lab per process at a time");
  ip_ = find_program("ip");
  nft_ = find_program("nft");
  prefix_ = name_prefix + std::to_string(::getpid());
  try {
    dir_ = std::make_unique<temp_dir>();
    setup();
  } catch (...) {
    teardown();
    lab_exists = false;
    throw;
  }
}

netns_lab::~netns_lab() {
  teardown();
  lab_exists = false;
}

std::string netns_lab::netns(std::size_t i) const {
  return prefix_ + "n" + std::to_string(i);
}

std::string netns_lab::address(std::size_t i) const {
  return subnet_ + std::to_string(i);
}

std::string netns_lab::bridge_address() const {
  return subnet_ + "254";
}

std::string netns_lab::describe() const {
  return "netns lab " + prefix_ + ": bridge " + prefix_ + "br " + bridge_address() + "/24, hosts "
         + netns(1) + ".." + netns(hosts_) + " at " + address(1) + ".." + address(hosts_);
}

void netns_lab::setup() {
  // Leftovers of earlier runs that died without cleaning up (SIGKILL, a
  // crash): namespaces and links named rlab<pid>... whose pid is gone. Our
  // own pid counts as gone too: this process has no lab yet.
  auto stale = [&](const std::string& name) {
    auto pid = owner_pid(name);
    return pid && (*pid == ::getpid() || !process_alive(*pid));
  };
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(netns_dir, ec)) {
    auto name = e.path().filename().string();
    if (!stale(name))
      continue;
    // Processes still inside (none, normally: raft-node dies with its
    // parent) would keep the namespace, and its veth, alive.
    auto pids = run_command({ip_, "netns", "pids", name});
    std::istringstream in(pids.out);
    long pid = 0;
    while (in >> pid)
      if (pid > 0)
        ::kill(static_cast<pid_t>(pid), SIGKILL);
    std::cerr << "netns_lab: deleting namespace " << name << " left by an earlier run\n";
    must_run({ip_, "netns", "del", name});
  }
  std::vector<std::string> links;
  for (const auto& e : fs::directory_iterator("/sys/class/net", ec))
    links.push_back(e.path().filename().string());
  for (const auto& name : links) {
    if (!stale(name) || !fs::exists("/sys/class/net/" + name))
      continue; // a veth may have gone with its namespace meanwhile
    std::cerr << "netns_lab: deleting link " << name << " left by an earlier run\n";
    auto r = run_command({ip_, "link", "del", name});
    if (r.exit_code != 0 && fs::exists("/sys/class/net/" + name))
      throw std::runtime_error("cannot delete stale link " + name + ": " + r.err);
  }

  // A /24 that overlaps no address or route of this machine (nor a
  // parallel run's bridge): 10.201.<b>.0/24, starting at the pid.
  std::string taken = must_run({ip_, "-o", "-4", "addr", "show"})
                      + must_run({ip_, "-4", "route", "show", "table", "all"});
  auto prefixes = ipv4_prefixes(taken);
  for (int k = 0; k < 256 && subnet_.empty(); ++k) {
    auto b = static_cast<uint32_t>((::getpid() + k) % 256);
    uint32_t net = (10u << 24) | (201u << 16) | (b << 8);
    bool clash = false;
    for (const auto& [a, len] : prefixes)
      clash = clash || overlaps(a, len, net, 24);
    if (!clash)
      subnet_ = "10.201." + std::to_string(b) + ".";
  }
  if (subnet_.empty())
    throw std::runtime_error("netns_lab: every 10.201.x.0/24 overlaps a route or address");

  auto bridge = prefix_ + "br";
  must_run({ip_, "link", "add", bridge, "type", "bridge"});
  made_links_.push_back(bridge);
  must_run({ip_, "addr", "add", bridge_address() + "/24", "dev", bridge});
  must_run({ip_, "link", "set", bridge, "up"});
  for (std::size_t i = 1; i <= hosts_; ++i) {
    auto ns = netns(i);
    auto veth = prefix_ + "v" + std::to_string(i);
    must_run({ip_, "netns", "add", ns});
    made_netns_.push_back(ns);
    must_run({ip_, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns});
    made_links_.push_back(veth);
    must_run({ip_, "link", "set", veth, "master", bridge});
    must_run({ip_, "link", "set", veth, "up"});
    must_run({ip_, "-n", ns, "addr", "add", address(i) + "/24", "dev", "eth0"});
    must_run({ip_, "-n", ns, "link", "set", "eth0", "up"});
    must_run({ip_, "-n", ns, "link", "set", "lo", "up"});
  }
}

void netns_lab::teardown() noexcept {
  kill_processes();
  auto report = [](const std::string& what) {
    std::cerr << "netns_lab cleanup: " << what << "\n";
  };
  try {
    for (const auto& ns : made_netns_) {
      auto r = run_command({ip_, "netns", "del", ns});
      if (r.exit_code != 0)
        report("ip netns del " + ns + " failed: " + r.err);
    }
    made_netns_.clear();
    // A veth goes with its namespace (asynchronously); the bridge stays
    // until deleted. Delete whatever is still there, veths first.
    for (auto i = made_links_.rbegin(); i != made_links_.rend(); ++i) {
      auto sys = "/sys/class/net/" + *i;
      if (*i != prefix_ + "br")
        wait_until([&] { return !fs::exists(sys); }, 2s, 10ms);
      if (!fs::exists(sys))
        continue;
      auto r = run_command({ip_, "link", "del", *i});
      if (r.exit_code != 0 && fs::exists(sys))
        report("ip link del " + *i + " failed: " + r.err);
    }
    made_links_.clear();
  } catch (const std::exception& e) {
    report(e.what());
  }
  dir_.reset();
}

child_process& netns_lab::spawn(std::size_t i, const std::vector<std::string>& argv,
                                const std::string& out_path, const std::string& err_path) {
  std::vector<std::string> full{ip_, "netns", "exec", netns(i)};
  full.insert(full.end(), argv.begin(), argv.end());
  procs_.push_back(std::make_unique<child_process>(full, out_path, err_path));
  return *procs_.back();
}

void netns_lab::kill_processes() {
  for (auto& p : procs_)
    p->kill9();
  procs_.clear();
}

void netns_lab::nft(const std::map<std::size_t, std::string>& rulesets) {
  // One nft run per host, all at once: the cut (or heal) takes effect on
  // every host within milliseconds of each other, not one host after the
  // other.
  struct run {
    std::vector<std::string> argv;
    std::string out, err;
    std::unique_ptr<child_process> proc;
  };
  std::vector<run> runs;
  for (const auto& [host, ruleset] : rulesets) {
    auto base = dir_->path() + "/host-" + std::to_string(host);
    {
      std::ofstream out(base + ".nft", std::ios::trunc);
      out << ruleset;
      if (!out)
        throw std::runtime_error("cannot write " + base + ".nft");
    }
    run r;
    r.argv = {ip_, "netns", "exec", netns(host), nft_, "-f", base + ".nft"};
    r.out = base + ".out";
    r.err = base + ".err";
    runs.push_back(std::move(r));
  }
  for (auto& r : runs)
    r.proc = std::make_unique<child_process>(r.argv, r.out, r.err);
  std::string failures;
  for (auto& r : runs) {
    auto code = r.proc->wait_exit(10s);
    if (!code) {
      r.proc->kill9();
      failures += "\n  did not finish within 10 s (killed): " + join_command(r.argv);
    } else if (*code != 0) {
      failures += "\n  exit code " + std::to_string(*code) + ": " + join_command(r.argv) + "\n    "
                  + read_file(r.err);
    }
  }
  if (!failures.empty())
    throw std::runtime_error("nft failed:" + failures);
}

namespace {

/// Host rules that cut it off from `peers` (addresses), in one atomic nft
/// transaction that replaces any earlier rules.
///
/// * Established connections: every packet from and to a peer is dropped
///   silently, like a real partition; CAF's heartbeats then time out.
/// * New connections: a SYN to a peer is refused at once with a reset
///   (output chain; the reset is delivered over loopback, which the input
///   rules leave alone). A SYN from a peer (a host whose rules are not in
///   place yet, or already gone, during the moments partition() and heal()
///   take) gets a reset too, and that reset may leave (the output rule for
///   resets): no connect ever waits for a SYN timeout. A reset from here
///   is dropped by the peer's own input rules once both sides are cut.
/// * Counters on the refusing and dropping rules: dropped_packets().
std::string rules(const std::vector<std::string>& peers) {
  std::string r = "table ip raftlab\ndelete table ip raftlab\ntable ip raftlab {\n";
  std::string set;
  for (const auto& p : peers)
    set += (set.empty() ? "" : ", ") + p;
  r += "  chain input {\n    type filter hook input priority filter; policy accept;\n";
  if (!peers.empty()) {
    r += "    iifname \"eth0\" ip saddr { " + set
         + " } tcp flags syn / syn,ack counter reject with tcp reset\n";
    r += "    iifname \"eth0\" ip saddr { " + set + " } counter drop\n";
  }
  r += "  }\n  chain output {\n    type filter hook output priority filter; policy accept;\n";
  if (!peers.empty()) {
    r += "    oifname \"eth0\" ip daddr { " + set
         + " } tcp flags syn / syn,ack counter reject with tcp reset\n";
    r += "    oifname \"eth0\" ip daddr { " + set + " } tcp flags rst accept\n";
    r += "    oifname \"eth0\" ip daddr { " + set + " } counter drop\n";
  }
  r += "  }\n}\n";
  return r;
}

} // namespace

void netns_lab::partition(const std::vector<std::vector<std::size_t>>& groups) {
  std::vector<int> group_of(hosts_ + 1, -1);
  for (std::size_t g = 0; g < groups.size(); ++g)
    for (auto h : groups[g]) {
      if (h < 1 || h > hosts_ || group_of[h] != -1)
        throw std::runtime_error("netns_lab::partition: host " + std::to_string(h)
                                 + " unknown or in two groups");
      group_of[h] = static_cast<int>(g);
    }
  for (std::size_t h = 1; h <= hosts_; ++h)
    if (group_of[h] == -1)
      throw std::runtime_error("netns_lab::partition: host " + std::to_string(h)
                               + " is in no group");
  std::map<std::size_t, std::string> rulesets;
  for (std::size_t h = 1; h <= hosts_; ++h) {
    std::vector<std::string> cut;
    for (std::size_t p = 1; p <= hosts_; ++p)
      if (group_of[p] != group_of[h])
        cut.push_back(address(p));
    rulesets[h] = rules(cut);
  }
  nft(rulesets);
}

void netns_lab::heal() {
  std::map<std::size_t, std::string> rulesets;
  for (std::size_t h = 1; h <= hosts_; ++h)
    rulesets[h] = "table ip raftlab\nflush table ip raftlab\n";
  nft(rulesets);
}

uint64_t netns_lab::dropped_packets(std::size_t i) {
  auto r = run_command({ip_, "netns", "exec", netns(i), nft_, "list", "table", "ip", "raftlab"});
  if (r.exit_code != 0)
    return 0; // no table: nothing installed yet
  uint64_t total = 0;
  std::istringstream in(r.out);
  std::string tok;
  while (in >> tok)
    if (tok == "packets") {
      uint64_t n = 0;
      if (in >> n)
        total += n;
    }
  return total;
}

} // namespace raft::netns_test
