// cluster_manager over real raft-node processes on loopback: bootstrap,
// election, key-value commands, supervision across processes (kill -9 and
// restart), partitions through the gateways, membership changes (add a
// node, remove the leader, remove a dead node), leadership transfer,
// snapshots, attach mode.

#include "tests/tools/tools_test_util.hpp"

#include "app/cluster_cli/output.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
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

TEST_CASE("add_node joins a 4th node to a launched 3-node cluster: it is admitted as a "
          "learner, the leader promotes it, and it holds what was written before it joined",
          "[manager][process][membership]") {
  event_log events;
  cluster_manager m{test_config(3, &events)};
  REQUIRE(m.bootstrap());
  REQUIRE(m.wait_for_leader(10s) != no_node);
  for (int i = 0; i < 20; ++i)
    REQUIRE(m.put("key" + std::to_string(i), "value" + std::to_string(i)).status
            == reply_status::ok);
  CHECK_FALSE(m.is_voter(4));

  node_config extra;
  extra.id = 4;
  auto added = m.add_node(extra);
  INFO(events.all());
  REQUIRE(added);
  auto p4 = m.process(4);
  REQUIRE(p4);
  CHECK(p4->running);
  auto c = m.configuration();
  REQUIRE(c);
  CHECK(has_member(c->config, 4)); // a learner or already a voter
  REQUIRE(m.wait_for_voter(4, 15s));
  CHECK(m.is_voter(4));
  CHECK(wait_until([&] { return m.health_details().voters == std::vector<node_id>{1, 2, 3, 4}; },
                   5s));
  // It holds the state: its digest equals the others' once converged, and
  // a read through it answers.
  CHECK(wait_until([&] { return converged(m); }, 10s));
  INFO(status_text(m));
  kv_command get7;
  get7.op = kv_op::get;
  get7.key = "key7";
  auto via4 = m.send_to(4, get7, 5s);
  INFO(to_string(via4.status) << " " << via4.message);
  CHECK(via4.status == reply_status::ok);
  CHECK(via4.value == "value7");
  bool has_keys = false;
  for (const auto& r : m.status())
    if (r.id == 4)
      has_keys = r.reachable && r.status.keys == 20;
  CHECK(has_keys);
  // Four voters: a majority is 3, so one may fail and writes go on.
  CHECK(m.put("after-join", "yes").status == reply_status::ok);
  // The id is taken now.
  CHECK_FALSE(m.add_node(extra));
}

TEST_CASE("a joining learner catches up from the leader's snapshot when the log it needs "
          "is compacted away",
          "[manager][process][membership][snapshot]") {
  auto cfg = test_config(3);
  cfg.extra_args = {"--raft.snapshot-entries=10"};
  cluster_manager m{cfg};
  REQUIRE(m.bootstrap());
  REQUIRE(m.wait_for_leader(10s) != no_node);
  // raft-node keeps 1,000 entries behind its newest snapshot (for slow
  // followers): write past that, so the log really starts later.
  for (int i = 0; i < 1'100; ++i)
    REQUIRE(m.put("key" + std::to_string(i), "value" + std::to_string(i)).status
            == reply_status::ok);
  // Every node compacted: entry 1 is gone from the logs.
  std::string last_status;
  bool compacted = wait_until(
    [&] {
      auto reports = m.status();
      last_status = cli::status_table(reports, evaluate_health(reports));
      for (const auto& r : reports)
        if (!r.reachable || r.status.snapshot_index == 0 || r.status.first_index <= 1)
          return false;
      return true;
    },
    10s);
  INFO(last_status);
  CHECK(compacted);
  node_config extra;
  extra.id = 4;
  REQUIRE(m.add_node(extra));
  REQUIRE(m.wait_for_voter(4, 15s));
  CHECK(wait_until([&] { return converged(m); }, 10s));
  kv_command get;
  get.op = kv_op::get;
  get.key = "key3";
  CHECK(m.send_to(4, get, 5s).value == "value3");
  // It got the state as a snapshot: its own log starts after entry 1.
  bool from_snapshot = false;
  for (const auto& r : m.status())
    if (r.id == 4)
      from_snapshot = r.reachable && r.status.first_index > 1 && r.status.keys == 1'100;
  CHECK(from_snapshot);
}

TEST_CASE("remove_node of the leader: it hands leadership over first, the change commits, "
          "a new leader of 3 voters takes writes, and the old leader's process is stopped",
          "[manager][process][membership]") {
  cluster_manager m{test_config(4)};
  REQUIRE(m.bootstrap());
  auto leader = m.wait_for_leader(10s);
  REQUIRE(leader != no_node);
  REQUIRE(m.put("before", "1").status == reply_status::ok);
  auto p = m.process(leader);
  REQUIRE(p);

  auto removed = m.remove_node(leader);
  INFO((removed ? std::string{"removed"} : describe(removed.error())));
  REQUIRE(removed);
  CHECK_FALSE(m.process(leader));
  CHECK(process_gone(p->pid));
  CHECK(m.nodes().size() == 3);
  auto next = m.wait_for_leader(10s);
  REQUIRE(next != no_node);
  CHECK(next != leader);
  health_report h;
  CHECK(wait_until([&] { return (h = m.health_details()).health == cluster_health::healthy; },
                   5s));
  INFO(h.summary);
  CHECK(h.voters.size() == 3);
  CHECK(std::find(h.voters.begin(), h.voters.end(), leader) == h.voters.end());
  CHECK_FALSE(m.is_voter(leader));
  auto w = m.put("after", "2");
  INFO(to_string(w.status) << " " << w.message);
  CHECK(w.status == reply_status::ok);
  CHECK(m.get("before").value == "1");
  CHECK(wait_until([&] { return converged(m); }, 10s));

  // Not a member any more: refused with a reason.
  auto again = m.remove_node(leader);
  REQUIRE_FALSE(again);
  CHECK(describe(again.error()).find("no node") != std::string::npos);
}

TEST_CASE("remove_node of a dead follower: the others commit it without that node, and "
          "adding the id again starts a fresh node that joins empty",
          "[manager][process][membership]") {
  event_log events;
  auto cfg = test_config(3, &events);
  cfg.supervision.max_restarts = 0; // a killed node stays dead
  cluster_manager m{cfg};
  REQUIRE(m.bootstrap());
  auto leader = m.wait_for_leader(10s);
  REQUIRE(leader != no_node);
  REQUIRE(m.put("k", "v").status == reply_status::ok);
  auto follower = some_follower(m, leader);
  REQUIRE(m.kill(follower));
  REQUIRE(wait_until(
    [&] {
      auto p = m.process(follower);
      return p && !p->running && p->gave_up;
    },
    5s));
  // (A loaded machine can delay a heartbeat past an election timeout: the
  // verdict of one round may be a moment's; wait for the settled one.)
  std::string summary;
  CHECK(wait_until(
    [&] {
      auto h = m.health_details();
      summary = h.summary;
      return h.health == cluster_health::degraded;
    },
    5s));
  INFO(summary);

  auto removed = m.remove_node(follower);
  INFO(events.all());
  INFO((removed ? std::string{"removed"} : describe(removed.error())));
  REQUIRE(removed);
  CHECK_FALSE(m.process(follower));
  CHECK_FALSE(m.is_voter(follower));
  health_report h;
  // Every remaining member is up.
  CHECK(wait_until([&] { return (h = m.health_details()).health == cluster_health::healthy; },
                   5s));
  INFO(h.summary);
  CHECK(h.voters.size() == 2);
  CHECK(m.put("k2", "v2").status == reply_status::ok);

  // Back under the same id: its old data directory is wiped, and it joins
  // like any new node.
  REQUIRE(std::filesystem::exists(m.data_dir() + "/node-" + std::to_string(follower)));
  node_config back;
  back.id = follower;
  auto added = m.add_node(back);
  INFO(events.all());
  REQUIRE(added);
  CHECK(events.contains("wiped"));
  REQUIRE(m.wait_for_voter(follower, 15s));
  CHECK(wait_until([&] { return converged(m); }, 10s));
  CHECK(m.health_details().voters.size() == 3);
}

TEST_CASE("transfer_leader hands leadership to the chosen voter, or to any other, and "
          "snapshot has a node write a snapshot whose index the reply names",
          "[manager][process][membership][snapshot]") {
  cluster_manager m{test_config(3)};
  REQUIRE(m.bootstrap());
  auto leader = m.wait_for_leader(10s);
  REQUIRE(leader != no_node);
  for (int i = 0; i < 10; ++i)
    REQUIRE(m.put("key" + std::to_string(i), "v").status == reply_status::ok);

  auto target = some_follower(m, leader);
  auto moved = m.transfer_leader(target);
  INFO((moved ? std::string{"moved"} : describe(moved.error())));
  REQUIRE(moved);
  CHECK(*moved == target);
  CHECK(wait_until([&] { return m.health_details().leader == target; }, 5s));
  CHECK(m.put("after-transfer", "1").status == reply_status::ok);
  // To the leader itself: nothing to do.
  auto same = m.transfer_leader(target);
  REQUIRE(same);
  CHECK(*same == target);
  // Anywhere else.
  auto any = m.transfer_leader();
  REQUIRE(any);
  CHECK(*any != target);
  // Not a voter: refused.
  CHECK_FALSE(m.transfer_leader(9));

  auto snap = m.snapshot(target);
  INFO(to_string(snap.status) << " " << snap.message);
  CHECK(snap.status == reply_status::ok);
  CHECK(snap.message.find("index") != std::string::npos);
  CHECK(wait_until(
    [&] {
      for (const auto& r : m.status())
        if (r.id == target)
          return r.reachable && r.status.snapshot_index > 0;
      return false;
    },
    5s));
  auto nobody = m.snapshot(9);
  CHECK(nobody.status == reply_status::unavailable);
  CHECK(nobody.message.find("no node 9") != std::string::npos);
}

TEST_CASE("attach mode: add_node needs the new node's address and only asks the cluster to "
          "admit it, remove_node takes it out again, and nothing is started or killed",
          "[manager][process][membership]") {
  cluster_manager m{test_config(3)};
  REQUIRE(m.bootstrap());
  REQUIRE(m.wait_for_leader(10s) != no_node);
  REQUIRE(m.put("k", "v").status == reply_status::ok);

  auto a = cluster_manager::attach(m.addresses());
  REQUIRE(a.bootstrap());
  CHECK_FALSE(a.launched());
  auto reports = a.status();
  REQUIRE(reports.size() == 3);
  for (const auto& r : reports)
    CHECK(r.id != no_node); // learned
  CHECK(a.get("k").value == "v");
  CHECK_FALSE(a.kill(1));
  // Attached to one address, a manager learns the other members from the
  // configuration the cluster reports.
  {
    auto one = cluster_manager::attach({m.addresses()[1]});
    REQUIRE(one.bootstrap());
    auto all = one.status();
    CHECK(all.size() == 3);
    for (const auto& r : all)
      CHECK(r.reachable);
    CHECK(one.addresses().size() == 3);
  }

  node_config no_address;
  no_address.id = 5;
  auto refused = a.add_node(no_address);
  REQUIRE_FALSE(refused);
  CHECK(describe(refused.error()).find("address") != std::string::npos);

  // Admit node 5 at an address where nobody listens yet (the operator
  // would start raft-node --raft.join there): a learner, never promoted.
  std::string error;
  auto free = pick_free_ports("127.0.0.1", 1, error);
  REQUIRE(free.size() == 1);
  node_config five;
  five.id = 5;
  five.raft_port = free[0];
  auto added = a.add_node(five);
  INFO((added ? std::string{"added"} : describe(added.error())));
  REQUIRE(added);
  CHECK_FALSE(a.process(5));
  auto c = a.configuration();
  REQUIRE(c);
  CHECK(has_learner(c->config, 5));
  CHECK_FALSE(a.is_voter(5));
  // A learner that is down costs no majority.
  health_report h;
  CHECK(wait_until([&] { return (h = a.health_details()).leader != no_node; }, 5s));
  INFO(h.summary);
  CHECK(h.learners == std::vector<node_id>{5});
  CHECK(h.voters.size() == 3);
  CHECK(a.put("with-learner", "1").status == reply_status::ok);

  REQUIRE(a.remove_node(5));
  c = a.configuration();
  REQUIRE(c);
  CHECK_FALSE(has_member(c->config, 5));
  CHECK(a.nodes().size() == 3);
  CHECK_FALSE(a.remove_node(42));
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

