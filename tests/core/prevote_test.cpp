// Pre-vote (Ongaro's thesis §9.6): before raising its term a node asks
// whether it could win. Neither side changes its term or vote for a pre-vote,
// so a node that was cut off and rejoins cannot force a new term on a healthy
// cluster and depose its leader.

#include "tests/core/core_test_util.hpp"

#include <vector>

using namespace raft;
using namespace raft::core_test;

TEST_CASE("§9.6 a timed-out node becomes a pre-candidate without raising its term or voting",
          "[prevote]") {
  auto c = make_core(1, {1, 2, 3}, hard_state{4, 3}, log_of({1, 4}));
  drain(c);
  REQUIRE(ticks_until_campaign(c) > 0);
  CHECK(c.role() == raft_role::pre_candidate);
  CHECK(c.term() == 4);
  CHECK(c.voted_for() == 3);
  auto out = drain(c);
  for (const auto& rd : out.batches)
    CHECK_FALSE(rd.has_state); // nothing to persist
  for (node_id peer : {2, 3}) {
    INFO("peer " << peer);
    auto rv = of_type<request_vote>(out.messages, peer);
    REQUIRE(rv.size() == 1);
    CHECK(rv[0].pre_vote);
    CHECK(rv[0].term == 5); // the term it would campaign in
    CHECK(rv[0].last_log_index == 2);
    CHECK(rv[0].last_log_term == 4);
  }
}

TEST_CASE("§9.6 a pre-vote does not change the voter's term or vote", "[prevote]") {
  // The voter is in term 3 and voted for node 2; it knows no live leader.
  auto v = make_core(1, {1, 2, 3}, hard_state{3, 2}, log_of({1, 3}));
  drain(v);
  auto answer = [&](const request_vote& m) {
    v.step(m);
    auto out = drain(v);
    for (const auto& rd : out.batches)
      CHECK_FALSE(rd.has_state);
    auto r = of_type<request_vote_reply>(out.messages, m.candidate_id);
    REQUIRE(r.size() == 1);
    CHECK(r[0].pre_vote);
    return r[0];
  };
  SECTION("a pre-vote it grants") {
    auto r = answer(request_vote{4, 3, 2, 3, true});
    CHECK(r.vote_granted);
    CHECK(r.term == 4); // the term the candidate asked about
  }
  SECTION("a pre-vote it refuses (the candidate's log is behind)") {
    auto r = answer(request_vote{4, 3, 5, 1, true});
    CHECK_FALSE(r.vote_granted);
  }
  CHECK(v.term() == 3);
  CHECK(v.voted_for() == 2);
  CHECK(v.role() == raft_role::follower);
  CHECK(v.current_state() == hard_state{3, 2});
}

TEST_CASE("§9.6 a pre-candidate that wins the pre-vote proceeds to a real election",
          "[prevote]") {
  auto c = make_core(1, {1, 2, 3, 4, 5}, hard_state{2, no_node}, log_of({1, 2}));
  REQUIRE(ticks_until_campaign(c) > 0);
  REQUIRE(c.role() == raft_role::pre_candidate);
  drain(c);
  c.step(request_vote_reply{3, 2, true, true});
  CHECK(c.role() == raft_role::pre_candidate); // 2 of 5
  CHECK(c.term() == 2);
  c.step(request_vote_reply{3, 3, true, true});
  // 3 of 5: now a real candidate, in a new term, voting for itself.
  REQUIRE(c.role() == raft_role::candidate);
  CHECK(c.term() == 3);
  CHECK(c.voted_for() == 1);
  auto out = drain(c);
  REQUIRE_FALSE(out.batches.empty());
  CHECK(out.batches[0].has_state);
  for (node_id peer : {2, 3, 4, 5}) {
    INFO("peer " << peer);
    auto rv = of_type<request_vote>(out.messages, peer);
    REQUIRE(rv.size() == 1);
    CHECK_FALSE(rv[0].pre_vote);
    CHECK(rv[0].term == 3);
  }
  // Pre-votes do not count in the real election.
  c.step(request_vote_reply{3, 2, true, true});
  c.step(request_vote_reply{3, 3, true, true});
  CHECK(c.role() == raft_role::candidate);
  c.step(request_vote_reply{3, 2, true, false});
  c.step(request_vote_reply{3, 3, true, false});
  CHECK(c.role() == raft_role::leader);
}

TEST_CASE("§9.6 a pre-candidate refused by a majority goes back to follower in its term",
          "[prevote]") {
  auto c = make_core(1, {1, 2, 3}, hard_state{2, no_node}, log_of({1}));
  REQUIRE(ticks_until_campaign(c) > 0);
  c.step(request_vote_reply{2, 2, false, true});
  c.step(request_vote_reply{2, 3, false, true});
  CHECK(c.role() == raft_role::follower);
  CHECK(c.term() == 2);
}

TEST_CASE("§9.6 a partitioned node that rejoins does not raise its term or depose the leader",
          "[prevote]") {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    INFO("seed " << seed);
    auto sim = make_sim(5, seed);
    auto leader = sim.elect();
    REQUIRE(leader != no_node);
    run_ticks(sim, 2);
    auto term = sim.core(leader).term();
    auto loner = others(sim, leader).front();
    auto rest = others(sim, loner);
    sim.partition({{loner}, rest});
    // Cut off for many election timeouts, it keeps campaigning -- and keeps
    // its term, because nobody grants it a pre-vote.
    run_ticks(sim, 10 * election_ticks);
    CHECK(sim.core(loner).term() == term);
    CHECK(sim.core(loner).role() != raft_role::leader);
    // Meanwhile the majority goes on committing.
    auto p = sim.put(leader, "x", "1");
    run_ticks(sim, 2);
    CHECK(sim.acknowledged(p));
    sim.heal();
    run_ticks(sim, 5 * election_ticks);
    CHECK(sim.leader() == leader);
    CHECK(sim.core(leader).term() == term);
    CHECK(sim.core(loner).term() == term);
    CHECK(sim.core(loner).leader() == leader);
    CHECK(sim.core(loner).log().committed() >= p.index);
  }
}

TEST_CASE("§9.6 without pre-vote the rejoining node does raise its term and depose the leader "
          "(what pre-vote prevents)",
          "[prevote]") {
  // The same scenario with pre-vote off shows the test above can fail.
  auto sim = make_sim(5, 1, [](raft_config& cfg) { cfg.pre_vote = false; });
  auto leader = sim.elect();
  REQUIRE(leader != no_node);
  run_ticks(sim, 2);
  auto term = sim.core(leader).term();
  auto loner = others(sim, leader).front();
  sim.partition({{loner}, others(sim, loner)});
  run_ticks(sim, 10 * election_ticks);
  CHECK(sim.core(loner).term() > term);
  sim.heal();
  run_ticks(sim, 5 * election_ticks);
  REQUIRE(sim.leader() != no_node);
  CHECK(sim.core(sim.leader()).term() > term);
}
