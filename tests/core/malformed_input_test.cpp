// Bad input never crashes a node and never loses data (DESIGN.md): malformed
// or impossible peer messages are dropped without changing the core's state.

#include "tests/core/core_test_util.hpp"

#include <catch2/catch.hpp>

using namespace raft;
using namespace raft::test;
using namespace raft::core_test;

namespace {

/// A 3-node cluster with a few committed entries, and one follower of it.
struct committed_cluster {
  sim_cluster sim = make_sim(3, 11);
  node_id leader = no_node;
  node_id follower = no_node;
  committed_cluster() {
    leader = sim.elect();
    REQUIRE(leader != no_node);
    for (int i = 0; i < 3; ++i)
      sim.put(leader, "k" + std::to_string(i), "v");
    sim.deliver_all();
    run_ticks(sim, 2);
    follower = others(sim, leader).front();
    REQUIRE(sim.core(follower).log().committed() == sim.core(leader).log().last_index());
  }
  /// A well-formed AppendEntries from the current leader, to be spoiled.
  append_entries from_leader() {
    auto& c = sim.core(follower);
    append_entries m;
    m.term = c.term();
    m.leader_id = leader;
    m.prev_log_index = c.log().last_index();
    m.prev_log_term = c.log().last_term();
    m.leader_commit = c.log().committed();
    m.entries.push_back(log_entry{c.term(), c.log().last_index() + 1, entry_type::command, "x"});
    return m;
  }
};

/// The follower's log and term, to compare before and after.
std::pair<std::vector<log_entry>, term_t> snapshot(raft_core& c) {
  std::vector<log_entry> out;
  for (index_t i = 1; i <= c.log().last_index(); ++i)
    out.push_back(c.log().at(i));
  return {out, c.term()};
}

} // namespace

TEST_CASE("malformed AppendEntries are dropped without touching the log", "[malformed]") {
  committed_cluster c;
  auto& core = c.sim.core(c.follower);
  auto before = snapshot(core);

  SECTION("entries that do not follow prev_log_index") {
    auto m = c.from_leader();
    m.entries[0].index += 5;
    core.step(m);
  }
  SECTION("an entry whose term exceeds the leader's") {
    auto m = c.from_leader();
    m.entries[0].term = m.term + 7;
    core.step(m);
  }
  SECTION("entry terms that go down") {
    auto m = c.from_leader();
    m.entries[0].term = 0;
    core.step(m);
  }
  SECTION("an entry contradicting a committed one") {
    auto m = c.from_leader();
    m.prev_log_index = 1;
    m.prev_log_term = core.log().term_at(1);
    m.entries = {log_entry{core.term(), 2, entry_type::command, "rewrite history"}};
    core.step(m);
  }
  SECTION("a message claiming to come from node 0 or from the node itself") {
    auto m = c.from_leader();
    m.leader_id = no_node;
    core.step(m);
    m.leader_id = c.follower;
    core.step(m);
  }
  REQUIRE(snapshot(core) == before);
  c.sim.check(); // and the invariants still hold
}

TEST_CASE("a reply claiming entries the leader never had is ignored", "[malformed]") {
  committed_cluster c;
  auto& leader = c.sim.core(c.leader);
  auto match_before = leader.progress_of(c.follower)->match();
  auto commit_before = leader.log().committed();
  append_entries_reply r;
  r.term = leader.term();
  r.follower_id = c.follower;
  r.success = true;
  r.match_index = leader.log().last_index() + 100;
  leader.step(r);
  REQUIRE(leader.progress_of(c.follower)->match() == match_before);
  REQUIRE(leader.log().committed() == commit_before);
}

TEST_CASE("a reply from a node that is not a member is ignored", "[malformed]") {
  committed_cluster c;
  auto& leader = c.sim.core(c.leader);
  append_entries_reply r;
  r.term = leader.term();
  r.follower_id = 99;
  r.success = true;
  r.match_index = leader.log().last_index();
  leader.step(r);
  REQUIRE(leader.progress_of(99) == nullptr);
  REQUIRE(leader.role() == raft_role::leader);
}
