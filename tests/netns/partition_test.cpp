// Hosts in network namespaces (issue #3): five raft-node processes, each in
// its own network namespace with its own address, joined by a bridge; real
// packet drops with nftables inside the hosts' namespaces isolate the
// leader, split the cluster 2/3 and heal it, while a client writes
// continuously. Afterwards every node holds the same state and every
// acknowledged write is there with its value.
//
// Needs root, ip (iproute2) and nft (nftables); without them every test
// fails saying so. Leave the suite out with `ctest -LE netns`.

#include "tests/netns/lab_cluster.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>

using namespace raft;
using namespace raft::netns_test;
using namespace std::chrono_literals;
using process_test::wait_until;

namespace {

std::vector<node_id> without(const std::vector<node_id>& ids, const std::vector<node_id>& gone) {
  std::vector<node_id> r;
  for (auto id : ids)
    if (std::find(gone.begin(), gone.end(), id) == gone.end())
      r.push_back(id);
  return r;
}

std::vector<std::size_t> hosts(const std::vector<node_id>& ids) {
  return {ids.begin(), ids.end()};
}

std::string list(const std::vector<node_id>& ids) {
  std::string r;
  for (auto id : ids)
    r += (r.empty() ? "" : ",") + std::to_string(id);
  return r;
}

bool definitely_refused(reply_status s) {
  return s == reply_status::not_leader || s == reply_status::unavailable;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

/// Which nodes end up in the minority, given the leader before the cut.
using minority_picker = std::vector<node_id> (*)(node_id leader, const std::vector<node_id>& ids);

/// Five nodes under a client workload: cut `pick(leader)` off from the
/// rest, check that the minority never acknowledges a write and the
/// majority goes on; heal; check that all five converge and hold every
/// acknowledged write.
void partition_under_load(const std::string& prefix, minority_picker pick) {
  auto start = std::chrono::steady_clock::now();
  lab_cluster c(5);
  INFO(c.lab().describe());
  auto ids = c.ids();
  REQUIRE(c.wait_for_leader(ids, 0, 15s) != no_node);

  client_options wopts;
  wopts.request_timeout = 1500ms; // a write timed out is unknown: recorded, not asserted
  wopts.overall_timeout = 5s;
  workload w(c.system(), c.addresses(ids), prefix, wopts);
  REQUIRE(w.wait_acked(20, 15s));

  // -- the cut ---------------------------------------------------------------
  // The minority is chosen around the leader of the moment. Right after the
  // cut, that node must still be at the term it led: had an election slipped
  // in just before the cut (a stalled process on a loaded machine), the cut
  // would not be the one this test claims, so it is undone and made again
  // around the new leader (at most 3 times). Only the setup is repeated;
  // every check below runs on the cut that was made.
  node_id leader = no_node;
  term_t first_term = 0;
  std::vector<node_id> minority;
  std::vector<node_id> majority;
  for (int attempt = 1;; ++attempt) {
    leader = c.wait_for_leader(ids, 0, 15s, &first_term);
    REQUIRE(leader != no_node);
    minority = pick(leader, ids);
    majority = without(ids, minority);
    c.lab().partition({hosts(minority), hosts(majority)});
    auto after = c.statuses();
    auto i = after.find(leader);
    if (i != after.end() && i->second.term == first_term)
      break;
    std::cout << "netns " << prefix << ": leader " << leader << " of term " << first_term
              << " was no longer leader when cut off; statuses:\n"
              << render(after);
    REQUIRE(attempt < 3);
    c.lab().heal();
  }
  auto cut_at = std::chrono::steady_clock::now();
  bool leader_cut_off = std::find(minority.begin(), minority.end(), leader) != minority.end();
  INFO("leader " << leader << " at term " << first_term << "; minority " << list(minority)
                 << ", majority " << list(majority));

  // Writes through the minority at once, while it may still believe in a
  // leader: never acknowledged (they cannot reach a majority). Every check
  // is a REQUIRE, so that a failure prints the nodes' output (~lab_cluster).
  client_options probe;
  probe.request_timeout = 1s;
  probe.overall_timeout = 3s;
  probe.max_attempts = 5;
  std::vector<write_record> probes;
  auto probe_minority = [&](const std::string& phase) {
    for (auto id : minority) {
      write_record p;
      p.key = prefix + phase + "-via-" + std::to_string(id);
      p.value = "must-not-be-acknowledged";
      auto r = c.write_through(id, p.key, p.value, probe);
      p.status = r.status;
      p.message = r.message;
      INFO("write " << p.key << " through minority node " << id << ": " << to_string(r.status)
                    << " " << r.message);
      REQUIRE(r.status != reply_status::ok);
      probes.push_back(p);
    }
  };
  probe_minority("early");

  // The majority has (or elects) a leader and acknowledges writes.
  auto next = c.wait_for_leader(majority, leader_cut_off ? first_term : 0, 15s);
  {
    INFO("no leader among the majority; statuses:\n" << render(c.statuses()));
    REQUIRE(next != no_node);
  }
  auto elected_after = seconds_since(cut_at);
  auto acked_before = w.acked();
  {
    INFO("the majority acknowledged no writes; statuses:\n" << render(c.statuses()));
    REQUIRE(w.wait_acked(acked_before + 20, 20s));
  }

  // The minority knows no leader (check-quorum deposed the old one, pre-vote
  // keeps the others from electing one) and refuses writes outright.
  bool settled = wait_until(
    [&] {
      auto all = c.statuses();
      for (auto id : minority) {
        auto i = all.find(id);
        if (i == all.end() || i->second.role == raft_role::leader
            || i->second.leader != no_node)
          return false;
      }
      return true;
    },
    15s, 50ms);
  {
    INFO("the minority still follows or is a leader; statuses:\n" << render(c.statuses()));
    REQUIRE(settled);
  }
  auto probes_before = probes.size();
  probe_minority("settled");
  for (auto i = probes_before; i < probes.size(); ++i) {
    INFO("write " << probes[i].key << ": " << to_string(probes[i].status) << " "
                  << probes[i].message);
    REQUIRE(definitely_refused(probes[i].status));
  }

  // The packets really were dropped, in every host's namespace.
  for (auto id : ids) {
    INFO("host " << id << " dropped no packets");
    REQUIRE(wait_until([&] { return c.lab().dropped_packets(id) > 0; }, 5s, 50ms));
  }

  // -- the heal --------------------------------------------------------------
  c.lab().heal();
  auto acked_at_heal = w.acked();
  {
    INFO("no writes acknowledged after the heal; statuses:\n" << render(c.statuses()));
    REQUIRE(w.wait_acked(acked_at_heal + 20, 20s));
  }
  w.stop();
  REQUIRE(w.error().empty());
  {
    INFO("not every node reconnected to every peer after the heal; statuses:\n"
         << render(c.statuses()));
    REQUIRE(c.wait_all_connected(20s));
  }
  std::string why;
  {
    bool converged = c.wait_converged(30s, why);
    INFO(why);
    REQUIRE(converged);
  }

  // -- every acknowledged write, and nothing refused -------------------------
  auto history = w.history();
  history.insert(history.end(), probes.begin(), probes.end());
  std::size_t ok = 0, unknown = 0, refused = 0;
  for (const auto& h : history) {
    if (h.status == reply_status::ok)
      ++ok;
    else if (definitely_refused(h.status))
      ++refused;
    else
      ++unknown;
  }
  client_options ropts;
  ropts.request_timeout = 2s;
  blocking_client reader(c.system(), c.addresses(ids), ropts);
  std::size_t present = 0;
  auto problems = check_writes(reader, history, present);
  {
    std::string lines;
    for (std::size_t i = 0; i < problems.size() && i < 20; ++i)
      lines += "  " + problems[i] + "\n";
    INFO(problems.size() << " keys hold what their writes do not allow:\n" << lines);
    REQUIRE(problems.empty());
  }
  // No key that nobody wrote: the state holds exactly the keys read back.
  auto final_status = c.statuses();
  REQUIRE(final_status.size() == ids.size());
  for (const auto& [id, s] : final_status) {
    INFO("node " << id << " holds " << s.keys << " keys, " << present << " read back");
    REQUIRE(s.keys == present);
  }
  std::cout << "netns " << prefix << ": minority " << list(minority) << " (leader was " << leader
            << "), majority leader " << next << " seen " << elected_after
            << " s after the cut; writes " << history.size() << ": " << ok << " ok, " << unknown
            << " unknown, " << refused << " refused; " << present << " keys; "
            << seconds_since(start) << " s\n";
}

std::vector<node_id> leader_alone(node_id leader, const std::vector<node_id>&) {
  return {leader};
}

std::vector<node_id> leader_and_one(node_id leader, const std::vector<node_id>& ids) {
  auto others = without(ids, {leader});
  return {leader, others.front()};
}

std::vector<node_id> two_followers(node_id leader, const std::vector<node_id>& ids) {
  auto others = without(ids, {leader});
  return {others[0], others[1]};
}

} // namespace

TEST_CASE("netns: the isolated leader acknowledges nothing, the other four elect a new leader "
          "and go on, after the heal all five converge with every acknowledged write",
          "[netns]") {
  partition_under_load("isolated-", leader_alone);
}

TEST_CASE("netns: split 2/3 with the leader in the minority, the minority acknowledges nothing, "
          "the majority elects a leader and goes on, after the heal all converge",
          "[netns]") {
  partition_under_load("split-leader-minority-", leader_and_one);
}

TEST_CASE("netns: split 2/3 with the leader in the majority, the minority acknowledges nothing, "
          "the majority goes on, after the heal all converge",
          "[netns]") {
  partition_under_load("split-leader-majority-", two_followers);
}

TEST_CASE("netns: the lab cleans up its namespaces, veths and bridge, also when a test fails",
          "[netns]") {
  struct planned_failure {};
  std::string describe;
  std::vector<std::string> names;
  try {
    netns_lab lab(2);
    describe = lab.describe();
    names = {lab.netns(1), lab.netns(2)};
    lab.partition({{1}, {2}});
    throw planned_failure{}; // unwinds through ~netns_lab like a failed REQUIRE
  } catch (const planned_failure&) {
    // expected
  }
  INFO(describe);
  auto netns = must_run({find_program("ip"), "netns", "list"});
  for (const auto& n : names)
    CHECK(netns.find(n) == std::string::npos);
  auto links = must_run({find_program("ip"), "-o", "link", "show"});
  auto prefix = names.front().substr(0, names.front().size() - 2); // rlab<pid>
  CHECK(links.find(prefix) == std::string::npos);
}
