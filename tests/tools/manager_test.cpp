// cluster_manager over real raft-node processes on loopback: bootstrap,
// election, key-value commands, supervision across processes (kill -9 and
// restart), partitions through the gateways, honest add/remove, attach mode.

#include "tests/tools/tools_test_util.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <csignal>
#include <filesystem>

using namespace raft;
using namespace raft::tools_test;

namespace {

kv_command put_cmd(std::string key, std::string value) {
  kv_command c;
  c.op = kv_op::put;
  c.key = std::move(key);
  c.value = std::move(value);
  return c;
}

node_id some_follower(cluster_manager& m, node_id leader) {
  for (const auto& n : m.nodes())
    if (n.id != leader)
      return n.id;
  return no_node;
}

bool process_gone(pid_t pid) {
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

} // namespace

TEST_CASE("cluster_manager launches 3 raft-node processes that elect a leader and serve "
          "put/get/del, and stop() ends every process",
          "[manager][process]") {
  event_log events;
  cluster_manager m{test_config(3, &events)};
  auto ok = m.bootstrap();
  INFO(events.all());
  REQUIRE(ok);
  auto dir = m.data_dir();
  CHECK(std::filesystem::exists(dir + "/node-1.log"));
  auto leader = m.wait_for_leader(10s);
  REQUIRE(leader != no_node);

  CHECK(m.put("k1", "v1").status == reply_status::ok);
  auto got = m.get("k1");
  CHECK(got.status == reply_status::ok);
  CHECK(got.value == "v1");
  CHECK(m.del("k1").status == reply_status::ok);
  CHECK(m.get("k1").status == reply_status::not_found);
  CHECK(m.cas("k2", "", "x").status != reply_status::ok); // absent key: no match

  CHECK(wait_until([&] { return converged(m); }, 5s));
  CHECK(m.health() == cluster_health::healthy);
  auto reports = m.status();
  REQUIRE(reports.size() == 3);
  for (const auto& r : reports) {
    INFO("node " << r.id << ": " << r.error);
    CHECK(r.reachable);
    CHECK(r.status.id == r.id);
    CHECK(r.status.peers.size() == 2);
  }

  std::vector<pid_t> pids;
  for (const auto& n : m.nodes()) {
    auto p = m.process(n.id);
    REQUIRE(p);
    CHECK(p->running);
    pids.push_back(p->pid);
  }
  m.stop();
  for (auto pid : pids)
    CHECK(process_gone(pid));
  CHECK_FALSE(std::filesystem::exists(dir)); // a temporary directory is removed
  CHECK(events.contains("stopped (exited with code 0)")); // SIGTERM: a clean exit
}

TEST_CASE("a node killed with SIGKILL is restarted by the manager's supervision and catches "
          "up, and killing the leader elects a new one",
          "[manager][process]") {
  event_log events;
  cluster_manager m{test_config(3, &events)};
  REQUIRE(m.bootstrap());
  auto leader = m.wait_for_leader(10s);
  REQUIRE(leader != no_node);
  for (int i = 0; i < 20; ++i)
    REQUIRE(m.put("key" + std::to_string(i), "value" + std::to_string(i)).status
            == reply_status::ok);

  auto follower = some_follower(m, leader);
  auto before = m.process(follower);
  REQUIRE(before);
  REQUIRE(m.kill(follower));
  // The process comes back under a new pid and serves again.
  CHECK(wait_until(
    [&] {
      auto p = m.process(follower);
      return p && p->running && p->listening && p->pid != before->pid && p->restarts == 1;
    },
    10s));
  INFO(events.all());
  CHECK(events.contains("killed by signal 9"));
  // Writes go on meanwhile, and the restarted node catches up with them.
  {
    // The manager's client held a proxy to the killed process; it must not
    // time out on it (CAF 0.17 swallows messages to a dead proxy).
    auto wr = m.put("while-restarting", "yes");
    INFO(to_string(wr.status) << " " << wr.message);
    CHECK(wr.status == reply_status::ok);
  }
  CHECK(wait_until([&] { return converged(m); }, 10s));

  // Kill -9 of the leader: a new leader of a later term.
  auto term = m.status()[0].status.term;
  REQUIRE(m.kill(leader));
  auto next = m.wait_for_leader(10s, term);
  CHECK(next != no_node);
  // A write may end `unknown` (sent to the dying leader); retry until one
  // is acknowledged.
  client_reply r;
  CHECK(wait_until([&] { return (r = m.put("after-failover", "yes")).status == reply_status::ok; },
                   10s));
  INFO("put after the failover: " << to_string(r.status) << " " << r.message);
  CHECK(wait_until([&] { return converged(m); }, 10s));
  INFO(status_text(m));
  CHECK(m.get("key7").value == "value7");
  CHECK(m.get("after-failover").status == reply_status::ok);
}

TEST_CASE("partition through the gateways: an isolated leader cannot commit, the majority "
          "elects a new leader and goes on, and after heal every node converges",
          "[manager][process]") {
  cluster_manager m{test_config(3)};
  REQUIRE(m.bootstrap());
  auto leader = m.wait_for_leader(10s);
  REQUIRE(leader != no_node);
  REQUIRE(m.put("before", "1").status == reply_status::ok);
  auto term = m.health_details().term;

  REQUIRE(m.partition({{leader}}));
  // The old leader alone cannot commit: the outcome is not "ok" (it is
  // unknown -- the entry may sit in its log -- or refused once it stepped down).
  auto minority = m.send_to(leader, put_cmd("minority", "x"), 1500ms);
  CHECK(minority.status != reply_status::ok);
  auto next = m.wait_for_leader(10s, term);
  REQUIRE(next != no_node);
  CHECK(next != leader);
  CHECK(m.send_to(next, put_cmd("majority", "y"), 5s).status == reply_status::ok);
  auto h = m.health_details();
  INFO(h.summary);
  CHECK(h.health == cluster_health::degraded);
  CHECK(h.leader == next);

  REQUIRE(m.heal());
  CHECK(wait_until([&] { return converged(m); }, 10s));
  CHECK(m.get("majority").value == "y");
  CHECK(m.get("minority").status == reply_status::not_found); // never committed

  // Bad groups are refused before any gateway is told.
  CHECK_FALSE(m.partition({{1}, {1, 2}}));
  CHECK_FALSE(m.partition({{42}}));
  CHECK_FALSE(m.partition({{}}));
}

TEST_CASE("add_node starts a process but says it cannot become a voter, remove_node stops "
          "one and says it stays a voter (adding it again restarts it), attach mode starts and "
          "kills nothing",
          "[manager][process]") {
  cluster_manager m{test_config(3)};
  REQUIRE(m.bootstrap());
  REQUIRE(m.wait_for_leader(10s) != no_node);

  node_config extra;
  extra.id = 4;
  auto added = m.add_node(extra);
  REQUIRE_FALSE(added);
  INFO(describe(added.error()));
  CHECK(describe(added.error()).find("NOT a voter") != std::string::npos);
  auto p4 = m.process(4);
  REQUIRE(p4);
  CHECK(p4->running);
  CHECK_FALSE(m.is_voter(4));
  CHECK(m.status().size() == 4);
  CHECK(m.put("with-4", "ok").status == reply_status::ok); // the three still serve
  CHECK(m.remove_node(4)); // never a voter: removing it is complete
  CHECK_FALSE(m.process(4));
  CHECK(process_gone(p4->pid));

  // Attach mode: status and commands, but no processes to start or kill.
  {
    auto a = cluster_manager::attach(m.addresses());
    REQUIRE(a.bootstrap());
    CHECK_FALSE(a.launched());
    auto reports = a.status();
    REQUIRE(reports.size() == 3);
    for (const auto& r : reports)
      CHECK(r.id != no_node); // learned
    CHECK(a.get("with-4").value == "ok");
    CHECK_FALSE(a.kill(1));
    CHECK_FALSE(a.add_node(extra));
    CHECK_FALSE(a.remove_node(1));
  }

  auto removed = m.remove_node(3);
  REQUIRE_FALSE(removed);
  CHECK(describe(removed.error()).find("stays a voter") != std::string::npos);
  CHECK_FALSE(m.process(3));
  // Two of three voters still form a majority.
  CHECK(m.put("after-remove", "ok").status == reply_status::ok);
  CHECK(m.health() == cluster_health::degraded);
  // Still a voter for the others: adding it again restarts it where they
  // expect it, and it catches up.
  node_config elsewhere;
  elsewhere.id = 3;
  elsewhere.raft_port = 1;
  CHECK_FALSE(m.add_node(elsewhere));
  node_config back;
  back.id = 3;
  REQUIRE(m.add_node(back));
  CHECK(m.is_voter(3));
  CHECK(wait_until([&] { return converged(m); }, 10s));
}

TEST_CASE("bootstrap reports a node that cannot start, naming it and quoting its log",
          "[manager][process]") {
  auto cfg = test_config(2);
  // Both nodes on one port: the second cannot listen.
  auto ports_error = std::string{};
  auto ports = pick_free_ports("127.0.0.1", 1, ports_error);
  REQUIRE(ports.size() == 1);
  cfg.nodes[0].raft_port = ports[0];
  cfg.nodes[1].raft_port = ports[0];
  {
    cluster_manager m{cfg};
    auto ok = m.bootstrap();
    REQUIRE_FALSE(ok);
    CHECK(describe(ok.error()).find("two nodes on") != std::string::npos);
  }
  cfg = test_config(1);
  cfg.raft_node_binary = "/nonexistent/raft-node";
  {
    cluster_manager m{cfg};
    auto ok = m.bootstrap();
    REQUIRE_FALSE(ok);
    CHECK(describe(ok.error()).find("not executable") != std::string::npos);
  }
  cfg = test_config(1);
  cfg.log_level = "loud"; // raft-node rejects it and exits 1
  {
    cluster_manager m{cfg};
    auto ok = m.bootstrap();
    REQUIRE_FALSE(ok);
    INFO(describe(ok.error()));
    CHECK(describe(ok.error()).find("node 1 did not start: exited with code 1") != std::string::npos);
    CHECK(describe(ok.error()).find("log-level") != std::string::npos);
  }
}

