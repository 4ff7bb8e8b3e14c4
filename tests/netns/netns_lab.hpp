#pragma once

// netns_lab: hosts in Linux network namespaces, joined by a bridge, for the
// netns tests (DESIGN.md, testing layer 5).
//
//   root namespace:  bridge rlab<pid>br  10.<a>.<b>.254/24   (the test process)
//                      |-- veth rlab<pid>v1 <-> eth0 in netns rlab<pid>n1  10.<a>.<b>.1
//                      |-- ...
//                      `-- veth rlab<pid>vN <-> eth0 in netns rlab<pid>nN  10.<a>.<b>.N
//
// Every namespace has its loopback up (raft-node relays through an internal
// 127.0.0.1 port) and no default route; the addresses exist only on the
// bridge, no NAT and no real interface is attached: no packet leaves the
// machine. The subnet is picked so that it overlaps no route or address of
// the machine.
//
// Partitions are nftables rules inside the hosts' namespaces (table ip
// raftlab): a host drops every packet to and from the hosts it is cut from,
// silently for established connections (as a real partition would), while
// a NEW connection (a SYN) is refused at once with a TCP reset. Why: CAF
// 0.17 connects with a blocking connect(); a silently dropped SYN keeps it
// waiting through the kernel's SYN retransmissions (up to about two
// minutes), and links reconnect only when a retransmitted SYN happens to
// get through after the heal (measured: 13 s after healing a 25 s cut).
// Those seconds say nothing about Raft, so the tests refuse new connections
// instead. The bridge address (the test process) stays reachable from every
// host. See rules() in netns_lab.cpp.
//
// The lab is RAII: its destructor kills the processes it started and
// deletes the namespaces, veths and the bridge, also when a test fails.
// Leftovers of earlier runs that crashed (names rlab<pid>..., whose <pid>
// no longer runs) are deleted when a lab starts. One lab per process at a
// time.
//
// Every ip/nft command that fails throws std::runtime_error naming the
// command, its exit code and its stderr.

#include "tests/process/process_harness.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace raft::netns_test {

using process_test::child_process;
using process_test::ms;
using process_test::temp_dir;

/// What a finished command printed.
struct command_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// The command line as one string, for messages.
std::string join_command(const std::vector<std::string>& argv);

/// Runs argv (argv[0] an absolute path) to its end, at most `limit`
/// (throws if it runs longer: the command is killed).
command_result run_command(const std::vector<std::string>& argv, ms limit = ms{10000});

/// Runs argv; throws std::runtime_error with the command, exit code and
/// stderr unless it exits 0. Returns its stdout.
std::string must_run(const std::vector<std::string>& argv, ms limit = ms{10000});

/// Absolute path of `program` in PATH or the sbin directories; "" if absent.
std::string find_program(const std::string& program);

/// Empty if this process can run the lab (root, ip and nft present);
/// otherwise what is missing and how to install it or leave the suite out.
std::string missing_prerequisites();

class netns_lab {
public:
  /// Creates the bridge and `hosts` namespaces (hosts 1..n). Throws
  /// std::runtime_error (after undoing what it made) if anything fails or a
  /// prerequisite is missing.
  explicit netns_lab(std::size_t hosts);
  /// Kills the processes, deletes namespaces, veths and the bridge.
  ~netns_lab();

  netns_lab(const netns_lab&) = delete;
  netns_lab& operator=(const netns_lab&) = delete;

  std::size_t hosts() const { return hosts_; }
  /// Name of host i's network namespace (i = 1..hosts).
  std::string netns(std::size_t i) const;
  /// IPv4 address of host i.
  std::string address(std::size_t i) const;
  /// The bridge's address: the test process, as the hosts see it.
  std::string bridge_address() const;
  /// One line describing the lab (names, subnet), for messages.
  std::string describe() const;

  /// Starts argv inside host i's namespace (`ip netns exec`), stdout and
  /// stderr to the given files. The lab kills it at the latest when it goes.
  child_process& spawn(std::size_t i, const std::vector<std::string>& argv,
                       const std::string& out_path, const std::string& err_path);
  /// Kills every process the lab started (SIGKILL, reaped).
  void kill_processes();

  /// Cuts the hosts into `groups` (hosts 1..n; every host in exactly one
  /// group): a host drops all traffic to and from hosts of other groups.
  /// Replaces any earlier partition. The bridge address stays reachable.
  void partition(const std::vector<std::vector<std::size_t>>& groups);
  /// Flushes every host's rules: all hosts reach each other again.
  void heal();
  /// Packets host i's rules dropped or refused since they were installed.
  uint64_t dropped_packets(std::size_t i);

private:
  void setup();
  void teardown() noexcept;
  /// Installs host -> ruleset, all hosts at once.
  void nft(const std::map<std::size_t, std::string>& rulesets);

  std::size_t hosts_;
  std::string prefix_; // rlab<pid>
  std::string subnet_; // "10.a.b." (append the host number)
  std::string ip_;
  std::string nft_;
  std::unique_ptr<temp_dir> dir_; // rule files
  std::vector<std::string> made_netns_;
  std::vector<std::string> made_links_;
  std::vector<std::unique_ptr<child_process>> procs_;
};

} // namespace raft::netns_test
