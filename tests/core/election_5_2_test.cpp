// Raft paper §5.2, leader election: a follower that hears no leader within a
// randomized election timeout campaigns; a candidate that wins a majority of
// votes leads; every node votes at most once per term; randomized timeouts
// make split votes rare and resolve them.

#include "tests/core/core_test_util.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <vector>

using namespace raft;
using namespace raft::core_test;

namespace {

void no_pre_vote(raft_config& cfg) {
  cfg.pre_vote = false;
}

} // namespace

TEST_CASE("§5.2 a follower that hears no leader within its election timeout becomes a candidate",
          "[election]") {
  auto c = make_core(1, {1, 2, 3}, hard_state{1, no_node}, log_of({1}), no_pre_vote);
  // Within the minimum timeout nothing happens.
  for (int t = 1; t < election_ticks; ++t)
    c.tick();
  CHECK(c.role() == raft_role::follower);
  CHECK(drain(c).messages.empty());
  // Within the maximum it campaigns: new term, a vote for itself, and a
  // RequestVote for everyone else carrying its last log position.
  for (int t = 0; t < election_ticks && c.role() == raft_role::follower; ++t)
    c.tick();
  REQUIRE(c.role() == raft_role::candidate);
  CHECK(c.term() == 2);
  CHECK(c.voted_for() == 1);
  auto out = drain(c);
  for (node_id peer : {2, 3}) {
    INFO("peer " << peer);
    auto rv = of_type<request_vote>(out.messages, peer);
    REQUIRE(rv.size() == 1);
    CHECK(rv[0].term == 2);
    CHECK(rv[0].candidate_id == 1);
    CHECK(rv[0].last_log_index == 1);
    CHECK(rv[0].last_log_term == 1);
    CHECK_FALSE(rv[0].pre_vote);
  }
}

TEST_CASE("§5.2 a candidate that wins votes from a majority becomes leader and appends a no-op "
          "of its term",
          "[election]") {
  auto c = make_core(1, {1, 2, 3, 4, 5}, hard_state{1, no_node}, log_of({1}), no_pre_vote);
  make_candidate(c);
  REQUIRE(c.term() == 2);
  c.step(request_vote_reply{2, 2, true, false});
  CHECK(c.role() == raft_role::candidate); // 2 of 5
  c.step(request_vote_reply{2, 3, false, false});
  CHECK(c.role() == raft_role::candidate); // 2 of 5, one refusal
  c.step(request_vote_reply{2, 2, true, false});
  CHECK(c.role() == raft_role::candidate); // the same voter twice is one vote
  c.step(request_vote_reply{2, 4, true, false});
  REQUIRE(c.role() == raft_role::leader); // 3 of 5
  CHECK(c.leader() == 1);
  REQUIRE(c.log().last_index() == 2);
  CHECK(c.log().at(2).term == 2);
  CHECK(c.log().at(2).type == entry_type::noop);
  // It announces itself to every follower with the no-op.
  auto out = drain(c);
  for (node_id peer : {2, 3, 4, 5}) {
    INFO("peer " << peer);
    auto ae = of_type<append_entries>(out.messages, peer);
    REQUIRE_FALSE(ae.empty());
    CHECK(ae[0].term == 2);
    CHECK(ae[0].leader_id == 1);
  }
}

TEST_CASE("§5.2 a candidate refused by a majority stops campaigning", "[election]") {
  auto c = make_core(1, {1, 2, 3}, hard_state{1, no_node}, {}, no_pre_vote);
  make_candidate(c);
  c.step(request_vote_reply{2, 2, false, false});
  CHECK(c.role() == raft_role::candidate); // 1 yes, 1 no of 3
  c.step(request_vote_reply{2, 3, false, false});
  CHECK(c.role() == raft_role::follower);
  CHECK(c.term() == 2);
}

TEST_CASE("§5.2 a node votes for at most one candidate per term, first come first served",
          "[election]") {
  auto c = make_core(1, {1, 2, 3}, hard_state{1, no_node}, log_of({1}));
  auto granted = [&](node_id to) {
    auto r = of_type<request_vote_reply>(drain(c).messages, to);
    REQUIRE(r.size() == 1);
    return r[0].vote_granted;
  };
  c.step(request_vote{2, 2, 1, 1, false});
  CHECK(granted(2));
  CHECK(c.voted_for() == 2);
  c.step(request_vote{2, 3, 5, 1, false}); // a better log, but too late
  CHECK_FALSE(granted(3));
  CHECK(c.voted_for() == 2);
  c.step(request_vote{2, 2, 1, 1, false}); // a retransmission gets the same answer
  CHECK(granted(2));
  // The next term is a new vote.
  c.step(request_vote{3, 3, 1, 1, false});
  CHECK(granted(3));
  CHECK(c.voted_for() == 3);
}

TEST_CASE("§5.2 a vote cast survives a restart", "[election]") {
  // The vote is part of the hard state; a node restarted from it must not
  // vote again in the same term.
  auto c = make_core(1, {1, 2, 3}, hard_state{2, 2}, log_of({1}));
  c.step(request_vote{2, 3, 1, 1, false});
  auto r = of_type<request_vote_reply>(drain(c).messages, 3);
  REQUIRE(r.size() == 1);
  CHECK_FALSE(r[0].vote_granted);
  CHECK(c.voted_for() == 2);
}

TEST_CASE("§5.2 election timeouts are drawn at random from election_ticks up to "
          "2 * election_ticks - 1",
          "[election]") {
  auto e = GENERATE(3, 10);
  std::map<int, int> first_histogram;
  std::map<int, int> second_histogram;
  int nodes_disagree = 0;
  constexpr int seeds = 300;
  for (uint64_t seed = 0; seed < seeds; ++seed) {
    INFO("election_ticks " << e << ", seed " << seed);
    std::vector<int> firsts;
    for (node_id id : {1, 2, 3}) {
      INFO("node " << id);
      auto c = make_core(id, {1, 2, 3}, {}, {}, [&](raft_config& cfg) {
        cfg.election_ticks = e;
        cfg.seed = seed;
      });
      auto first = ticks_until_campaign(c, 3 * e);
      REQUIRE(first >= e);
      REQUIRE(first < 2 * e);
      firsts.push_back(first);
      ++first_histogram[first];
      // Nobody answers the pre-vote; the next attempt draws a new timeout.
      REQUIRE(c.role() == raft_role::pre_candidate);
      drain(c);
      int second = 0;
      while (second < 3 * e) {
        c.tick();
        ++second;
        if (!of_type<request_vote>(drain(c).messages).empty())
          break;
      }
      REQUIRE(second >= e);
      REQUIRE(second < 2 * e);
      ++second_histogram[second];
    }
    if (!std::equal(firsts.begin() + 1, firsts.end(), firsts.begin()))
      ++nodes_disagree;
  }
  INFO("election_ticks " << e);
  // The whole range is used, both ends included.
  CHECK(first_histogram.size() == static_cast<std::size_t>(e));
  CHECK(first_histogram.begin()->first == e);
  CHECK(first_histogram.rbegin()->first == 2 * e - 1);
  CHECK(second_histogram.size() == static_cast<std::size_t>(e));
  // Nodes sharing a seed still draw different timeouts (the id is mixed in).
  CHECK(nodes_disagree > seeds / 2);
}

TEST_CASE("§5.2 a candidate that hears from a leader of its own term becomes a follower",
          "[election]") {
  SECTION("candidate") {
    auto c = make_core(1, {1, 2, 3}, hard_state{1, no_node}, {}, no_pre_vote);
    make_candidate(c);
    auto t = c.term();
    c.step(append_entries{t, 3, 0, 0, {}, 0, 0});
    CHECK(c.role() == raft_role::follower);
    CHECK(c.term() == t);
    CHECK(c.leader() == 3);
    CHECK(c.voted_for() == 1); // its vote in this term stands
    auto replies = of_type<append_entries_reply>(drain(c).messages, 3);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].success);
  }
  SECTION("pre-candidate") {
    auto c = make_core(1, {1, 2, 3}, hard_state{1, no_node}, {});
    REQUIRE(ticks_until_campaign(c) > 0);
    REQUIRE(c.role() == raft_role::pre_candidate);
    c.step(append_entries{1, 3, 0, 0, {}, 0, 0});
    CHECK(c.role() == raft_role::follower);
    CHECK(c.leader() == 3);
  }
}

TEST_CASE("§5.2 a split vote is resolved by randomized timeouts", "[election]") {
  // Four nodes; 1 and 2 campaign in the same term, and the links 1-4 and 2-3
  // are cut, so 3 votes for 1 and 4 votes for 2: 2 votes each, 3 needed.
  // Pre-vote is off so both really stand in term 1.
  auto sim = make_sim(4, 11, no_pre_vote);
  REQUIRE(ticks_until_campaign(sim.core(1)) > 0);
  REQUIRE(ticks_until_campaign(sim.core(2)) > 0);
  // The cores were ticked directly; let the sim carry out their output.
  sim.tick(1);
  sim.tick(2);
  REQUIRE(sim.core(1).role() == raft_role::candidate);
  REQUIRE(sim.core(2).role() == raft_role::candidate);
  REQUIRE(sim.core(1).term() == 1);
  REQUIRE(sim.core(2).term() == 1);
  sim.cut(1, 4);
  sim.cut(2, 3);
  sim.deliver_all();
  CHECK(sim.core(3).voted_for() == 1);
  CHECK(sim.core(4).voted_for() == 2);
  CHECK(count_leaders(sim) == 0);
  CHECK(sim.core(1).role() == raft_role::candidate);
  CHECK(sim.core(2).role() == raft_role::candidate);

  sim.heal();
  auto leader = sim.elect(20 * election_ticks);
  REQUIRE(leader != no_node);
  CHECK(sim.core(leader).term() >= 2);
  run_ticks(sim, election_ticks);
  CHECK(count_leaders(sim) == 1);
}

TEST_CASE("§5.2 clusters of 3, 5 and 7 nodes elect exactly one leader", "[election]") {
  auto n = GENERATE(3, 5, 7);
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    INFO(n << " nodes, seed " << seed);
    auto sim = make_sim(static_cast<std::size_t>(n), seed);
    auto leader = sim.elect(20 * election_ticks);
    REQUIRE(leader != no_node);
    run_ticks(sim, 2 * election_ticks);
    REQUIRE(count_leaders(sim) == 1);
    CHECK(sim.leader() == leader);
    auto noop = sim.core(leader).log().last_index();
    for (auto id : sim.ids()) {
      INFO("node " << id);
      CHECK(sim.core(id).leader() == leader);
      CHECK(sim.core(id).term() == sim.core(leader).term());
      CHECK(sim.core(id).log().committed() == noop);
    }
  }
}

TEST_CASE("§5.2 a leader's heartbeats keep its followers from starting elections",
          "[election]") {
  auto sim = make_sim(5, 3);
  auto leader = sim.elect();
  REQUIRE(leader != no_node);
  auto term = sim.core(leader).term();
  for (int t = 0; t < 20 * election_ticks; ++t) {
    INFO("tick " << t);
    run_ticks(sim, 1);
    for (auto id : others(sim, leader))
      REQUIRE(sim.core(id).role() == raft_role::follower);
  }
  CHECK(sim.leader() == leader);
  CHECK(sim.core(leader).term() == term);
}
