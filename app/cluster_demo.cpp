// cluster-demo: a local 5-node cluster of real raft-node processes on
// loopback, run through the failure scenarios and narrated with timings:
//
//   1. bootstrap and election
//   2. writes through the client library, and through the Redis port (what
//      redis-cli and every Redis client library speak): a SET through a
//      follower, read back from the leader
//   3. kill -9 of the leader: time to a new leader and to the next
//      acknowledged write; the manager's supervision restarts the process
//   4. a partition into a minority (with the leader) and a majority: the
//      minority cannot commit (the write's outcome is unknown), the majority
//      elects a leader and goes on
//   5. heal: the minority catches up; its unacknowledged write is gone
//   6. a crashed follower, restarted by the supervision, catches up
//   7. membership: a 6th node joins (raft-node --join) as a learner, is
//      sent a snapshot (the logs are compacted every 50 entries), promoted
//      to voter; then the leader is removed -- it hands leadership over
//      first -- and the cluster goes on with the other five
//   8. every node holds the same state (applied index and state digest)
//
// It uses raft::cluster_manager (actors/manager/) like any operator tool.
// Exit code 0 only if every check held. Timings are wall clock on this
// machine and for illustration; measured figures belong in benchmarks.

#include "actors/manager/cluster_manager.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace raft;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

const auto demo_start = steady_clock::now();
std::mutex print_mutex;

void say(const std::string& line) {
  std::lock_guard<std::mutex> guard{print_mutex};
  auto t = duration<double>(steady_clock::now() - demo_start).count();
  std::printf("[%6.2fs] %s\n", t, line.c_str());
  std::fflush(stdout);
}

long long ms_since(steady_clock::time_point t) {
  return duration_cast<milliseconds>(steady_clock::now() - t).count();
}

std::string ids(const std::vector<node_id>& xs) {
  std::string out;
  for (auto x : xs)
    out += (out.empty() ? "" : ",") + std::to_string(x);
  return "{" + out + "}";
}

/// Sends one command to a Redis port on loopback as a RESP array (what
/// redis-cli sends) and returns the raw reply, or "" if none came within 5 s.
std::string redis_command(uint16_t port, const std::vector<std::string>& args) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return {};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args)
      out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size())) {
      // Every reply this demo expects is one line, or a bulk header line and
      // a data line: read until the reply is complete or the time is up.
      auto deadline = steady_clock::now() + 5s;
      auto complete = [&] {
        auto first = reply.find("\r\n");
        if (first == std::string::npos)
          return false;
        if (reply[0] != '$' || reply.compare(0, 3, "$-1") == 0)
          return true;
        return reply.find("\r\n", first + 2) != std::string::npos;
      };
      while (!complete() && steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0)
          continue;
        char buf[4096];
        auto n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
          break;
        reply.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  return reply;
}

std::string printable(std::string s) {
  for (std::size_t i = 0; (i = s.find("\r\n", i)) != std::string::npos;)
    s.replace(i, 2, "\\r\\n");
  return s;
}

/// The checks of the run; the exit code is 0 only if all held.
struct checks {
  int passed = 0;
  std::vector<std::string> failed;

  bool operator()(bool ok, const std::string& what) {
    if (ok) {
      ++passed;
      say("   check: " + what + " -- ok");
    } else {
      failed.push_back(what);
      say("   CHECK FAILED: " + what);
    }
    return ok;
  }
};

/// Polls `cond` every 20 ms until it holds or `limit` passed.
template <class F>
bool wait_until(F cond, milliseconds limit) {
  auto deadline = steady_clock::now() + limit;
  for (;;) {
    auto round = steady_clock::now();
    if (cond())
      return true;
    if (round >= deadline)
      return false;
    std::this_thread::sleep_until(round + 20ms);
  }
}

/// Every node answers, follows one leader, and holds the same commit index,
/// applied index and state digest.
bool converged(cluster_manager& m) {
  return raft::converged(m.status());
}

kv_command put_cmd(const std::string& key, const std::string& value) {
  kv_command c;
  c.op = kv_op::put;
  c.key = key;
  c.value = value;
  return c;
}

/// Waits until node `id` runs again under a pid other than `old_pid`.
bool wait_restarted(cluster_manager& m, node_id id, pid_t old_pid, milliseconds limit) {
  return wait_until(
    [&] {
      auto p = m.process(id);
      return p && p->running && p->listening && p->pid != old_pid;
    },
    limit);
}

pid_t pid_of(cluster_manager& m, node_id id) {
  auto p = m.process(id);
  return p ? p->pid : -1;
}

void print_nodes(cluster_manager& m) {
  for (const auto& r : m.status()) {
    char line[256];
    if (!r.reachable) {
      std::snprintf(line, sizeof(line), "   node %llu  %-21s  DOWN (%s)",
                    static_cast<unsigned long long>(r.id), r.address.c_str(), r.error.c_str());
    } else {
      const auto& s = r.status;
      std::snprintf(line, sizeof(line),
                    "   node %llu  %-21s  %-13s term %-3llu commit %-4llu applied %-4llu keys "
                    "%-4llu digest %016llx",
                    static_cast<unsigned long long>(r.id), r.address.c_str(), to_string(s.role),
                    static_cast<unsigned long long>(s.term),
                    static_cast<unsigned long long>(s.commit_index),
                    static_cast<unsigned long long>(s.applied_index),
                    static_cast<unsigned long long>(s.keys),
                    static_cast<unsigned long long>(s.state_digest));
    }
    say(line);
  }
}

int run(checks& check) {
  auto cfg = cluster_config::local(5);
  // Small snapshot intervals, so that the node joining in step 7 is sent a
  // snapshot rather than the whole log.
  cfg.extra_args = {"--raft.snapshot-entries=50"};
  cfg.client_ports = true; // every node also speaks RESP (redis-cli -p PORT)
  cfg.supervision.log = [](const std::string& line) { say("   [supervisor] " + line); };
  cluster_manager m{cfg};

  // -- 1. bootstrap and election ------------------------------------------
  say("== 1. bootstrap: 5 raft-node processes on loopback, election timeout 150-300 ms, "
      "heartbeat 50 ms");
  auto t0 = steady_clock::now();
  if (auto ok = m.bootstrap(); !ok) {
    say("cannot bootstrap: " + describe(ok.error()));
    check(false, "bootstrap");
    return 1;
  }
  say("   all 5 listening after " + std::to_string(ms_since(t0)) + " ms; data and logs in "
      + m.data_dir());
  auto leader = m.wait_for_leader(10s);
  if (!check(leader != no_node, "a leader is elected"))
    return 1;
  say("   leader: node " + std::to_string(leader) + ", " + std::to_string(ms_since(t0))
      + " ms after launch");

  // -- 2. writes ------------------------------------------------------------
  say("== 2. writes: 100 keys through the client library (it follows leader hints)");
  t0 = steady_clock::now();
  int acked = 0;
  for (int i = 0; i < 100; ++i)
    acked += m.put("key" + std::to_string(i), "value" + std::to_string(i)).status
                 == reply_status::ok
               ? 1
               : 0;
  auto write_ms = ms_since(t0);
  say("   " + std::to_string(acked) + " of 100 writes acknowledged in "
      + std::to_string(write_ms) + " ms (one at a time, each fsynced by a majority)");
  check(acked == 100, "every write is acknowledged");

  // The same cluster through the Redis port of a follower and of the leader.
  node_id follower = no_node;
  uint16_t leader_redis = 0;
  uint16_t follower_redis = 0;
  for (const auto& nc : m.nodes()) {
    if (nc.id == leader)
      leader_redis = nc.client_port;
    else if (follower == no_node) {
      follower = nc.id;
      follower_redis = nc.client_port;
    }
  }
  say("   Redis ports: node " + std::to_string(leader) + " (leader) " + std::to_string(leader_redis)
      + ", node " + std::to_string(follower) + " " + std::to_string(follower_redis)
      + " -- try redis-cli -p " + std::to_string(follower_redis));
  t0 = steady_clock::now();
  auto set = redis_command(follower_redis, {"SET", "greeting", "hello from RESP"});
  auto got = redis_command(leader_redis, {"GET", "greeting"});
  auto key42 = redis_command(follower_redis, {"GET", "key42"});
  say("   SET greeting through node " + std::to_string(follower) + ": " + printable(set)
      + "; GET greeting from node " + std::to_string(leader) + ": " + printable(got)
      + "; GET key42 (written by the C++ client): " + printable(key42) + " ("
      + std::to_string(ms_since(t0)) + " ms)");
  check(set == "+OK\r\n", "a SET through a follower's Redis port is acknowledged");
  check(got == "$15\r\nhello from RESP\r\n", "the leader's Redis port reads it back");
  check(key42 == "$7\r\nvalue42\r\n", "the Redis port reads what the C++ client wrote");

  // -- 3. kill -9 the leader ------------------------------------------------
  auto term = m.health_details().term;
  auto old_pid = pid_of(m, leader);
  say("== 3. kill -9 the leader (node " + std::to_string(leader) + ", pid "
      + std::to_string(old_pid) + ", term " + std::to_string(term) + ")");
  auto old = leader;
  t0 = steady_clock::now();
  check(static_cast<bool>(m.kill(old)), "the leader's process is killed");
  leader = m.wait_for_leader(10s, term);
  auto elect_ms = ms_since(t0);
  check(leader != no_node && leader != old, "a new leader of a later term takes over");
  say("   new leader: node " + std::to_string(leader) + ", " + std::to_string(elect_ms)
      + " ms after the kill");
  client_reply r;
  int attempt = 0;
  do
    r = m.put("after-failover", std::to_string(++attempt));
  while (r.status != reply_status::ok && ms_since(t0) < 10'000);
  say("   next acknowledged write " + std::to_string(ms_since(t0)) + " ms after the kill");
  check(r.status == reply_status::ok, "writes go on after the failover");
  bool back = wait_restarted(m, old, old_pid, 10s);
  say("   node " + std::to_string(old) + " restarted by the supervision as pid "
      + std::to_string(pid_of(m, old)) + ", listening " + std::to_string(ms_since(t0))
      + " ms after the kill; it rejoins as a follower");
  check(back, "the killed leader's process is restarted");

  // -- 4. partition -----------------------------------------------------------
  leader = m.wait_for_leader(5s);
  term = m.health_details().term;
  std::vector<node_id> minority{leader};
  std::vector<node_id> majority;
  for (const auto& n : m.nodes())
    if (n.id != leader)
      (minority.size() < 2 ? minority : majority).push_back(n.id);
  say("== 4. partition: minority " + ids(minority) + " (with leader " + std::to_string(leader)
      + ") | majority " + ids(majority));
  check(static_cast<bool>(m.partition({minority, majority})), "every gateway takes the cut");
  t0 = steady_clock::now();
  auto new_leader = m.wait_for_leader(10s, term);
  bool in_majority = false;
  for (auto id : majority)
    in_majority = in_majority || id == new_leader;
  say("   majority elected node " + std::to_string(new_leader) + " "
      + std::to_string(ms_since(t0)) + " ms after the cut");
  check(in_majority, "the majority elects a leader of its own");
  auto w = m.send_to(leader, put_cmd("minority-write", "lost?"), 1500ms);
  say(std::string{"   write on the minority's (old) leader: "} + to_string(w.status)
      + (w.message.empty() ? "" : " (" + w.message + ")"));
  check(w.status != reply_status::ok, "the minority cannot commit (the outcome is not ok)");
  w = m.send_to(new_leader, put_cmd("majority-write", "kept"), 5s);
  say(std::string{"   write on the majority's leader: "} + to_string(w.status));
  check(w.status == reply_status::ok, "the majority goes on");
  say("   " + m.health_details().summary);

  // -- 5. heal --------------------------------------------------------------
  say("== 5. heal");
  check(static_cast<bool>(m.heal()), "every gateway heals");
  t0 = steady_clock::now();
  bool caught_up = wait_until([&] { return converged(m); }, 10s);
  say("   all 5 nodes hold the same state " + std::to_string(ms_since(t0))
      + " ms after the heal");
  check(caught_up, "the minority catches up");
  auto lost = m.get("minority-write");
  say(std::string{"   the minority's unacknowledged write: "} + to_string(lost.status));
  check(lost.status == reply_status::not_found, "the minority's write never committed");
  check(m.get("majority-write").value == "kept", "the majority's write survives");

  // -- 6. a crash, restarted by the supervision -----------------------------
  leader = m.wait_for_leader(5s);
  node_id victim = no_node;
  for (const auto& n : m.nodes())
    if (n.id != leader)
      victim = n.id;
  auto victim_pid = pid_of(m, victim);
  say("== 6. crash: kill -9 follower node " + std::to_string(victim) + " (pid "
      + std::to_string(victim_pid) + ") and watch the supervision bring it back");
  t0 = steady_clock::now();
  check(static_cast<bool>(m.kill(victim)), "the follower's process is killed");
  auto during = m.put("while-down", "yes");
  check(during.status == reply_status::ok, "writes go on while it is down");
  back = wait_restarted(m, victim, victim_pid, 10s);
  say("   node " + std::to_string(victim) + " back as pid " + std::to_string(pid_of(m, victim))
      + " after " + std::to_string(ms_since(t0)) + " ms");
  check(back, "the crashed node is restarted");
  caught_up = wait_until([&] { return converged(m); }, 10s);
  say("   caught up " + std::to_string(ms_since(t0)) + " ms after the crash");
  check(caught_up, "the restarted node catches up");

  // -- 7. membership -----------------------------------------------------------
  say("== 7. membership: node 6 joins, then the leader leaves");
  t0 = steady_clock::now();
  auto added = m.add_node(node_config{6, "127.0.0.1", 0});
  if (!added)
    say("   add_node failed: " + describe(added.error()));
  check(static_cast<bool>(added), "node 6 is admitted (raft-node --join)");
  bool promoted = m.wait_for_voter(6, 10s);
  say("   node 6 admitted as a learner and promoted to voter " + std::to_string(ms_since(t0))
      + " ms after it was started");
  check(promoted, "node 6 is promoted to voter once caught up");
  for (const auto& n : m.status())
    if (n.id == 6 && n.reachable)
      say("   node 6 holds " + std::to_string(n.status.keys) + " keys; log from index "
          + std::to_string(n.status.first_index) + ", snapshot through "
          + std::to_string(n.status.snapshot_index));
  leader = m.wait_for_leader(5s);
  t0 = steady_clock::now();
  auto removed = m.remove_node(leader);
  if (!removed)
    say("   remove_node failed: " + describe(removed.error()));
  check(static_cast<bool>(removed), "the leader is removed from the cluster");
  auto after = m.wait_for_leader(10s);
  say("   node " + std::to_string(leader) + " handed leadership to node " + std::to_string(after)
      + " and was removed " + std::to_string(ms_since(t0)) + " ms after the request");
  check(after != no_node && after != leader, "another node leads after the removal");
  check(m.put("after-removal", "yes").status == reply_status::ok, "writes go on with five voters");

  // -- 8. final check --------------------------------------------------------
  say("== 8. final state of every node");
  bool same = wait_until([&] { return converged(m); }, 5s);
  print_nodes(m);
  check(same, "every node holds the same state (applied index and state digest)");
  check(m.get("key42").value == "value42", "an early write reads back");
  m.stop();
  return 0;
}

} // namespace

int main(int argc, char**) {
  if (argc > 1) {
    std::printf("usage: cluster-demo\n  runs a local 5-node cluster of raft-node processes "
                "through failures and checks it (exit 0: every check held)\n  finds raft-node "
                "next to itself, or in $RAFT_NODE\n");
    return 0;
  }
  checks check;
  run(check);
  if (check.failed.empty()) {
    say("all " + std::to_string(check.passed) + " checks held");
    return 0;
  }
  say(std::to_string(check.failed.size()) + " check(s) FAILED:");
  for (const auto& f : check.failed)
    say("   " + f);
  return 1;
}
