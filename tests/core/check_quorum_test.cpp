// Check-quorum (Ongaro's thesis §6.2): a leader that has not heard from a
// majority within an election timeout steps down, so a leader cut off in a
// minority stops acting as one. Its companion (§4.2.3, disruptive servers): a
// follower that heard from a leader within the minimum election timeout
// ignores vote requests, even of a higher term.

#include "tests/core/core_test_util.hpp"

#include <vector>

using namespace raft;
using namespace raft::core_test;

namespace {

/// Ticks until `id` no longer leads; the number of ticks, or -1.
int ticks_until_step_down(sim_cluster& sim, node_id id, int limit) {
  for (int t = 1; t <= limit; ++t) {
    run_ticks(sim, 1);
    if (sim.core(id).role() != raft_role::leader)
      return t;
  }
  return -1;
}

} // namespace

TEST_CASE("§6.2 a leader cut off from a majority steps down within two election timeouts",
          "[check_quorum]") {
  auto with_follower = GENERATE(false, true);
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    INFO("seed " << seed << (with_follower ? ", leader with one follower" : ", leader alone"));
    auto sim = make_sim(5, seed);
    auto leader = sim.elect();
    REQUIRE(leader != no_node);
    run_ticks(sim, static_cast<int>(seed)); // vary where in its check cycle the cut falls
    auto term = sim.core(leader).term();
    auto fs = others(sim, leader);
    std::vector<node_id> minority{leader};
    if (with_follower)
      minority.push_back(fs[0]);
    std::vector<node_id> majority;
    for (auto f : fs)
      if (f != minority.back())
        majority.push_back(f);
    sim.partition({minority, majority});
    auto t = ticks_until_step_down(sim, leader, 10 * election_ticks);
    CHECK(t >= election_ticks);
    CHECK(t <= 2 * election_ticks);
    CHECK(sim.core(leader).role() == raft_role::follower);
    CHECK(sim.core(leader).term() == term); // stepping down is not a new term
    CHECK(sim.core(leader).leader() == no_node);
  }
}

TEST_CASE("§6.2 without check-quorum a leader cut off from a majority goes on leading "
          "(what check-quorum prevents)",
          "[check_quorum]") {
  auto sim = make_sim(5, 1, [](raft_config& cfg) { cfg.check_quorum = false; });
  auto leader = sim.elect();
  REQUIRE(leader != no_node);
  sim.partition({{leader}, others(sim, leader)});
  run_ticks(sim, 10 * election_ticks);
  CHECK(sim.core(leader).role() == raft_role::leader);
}

TEST_CASE("§6.2 a leader that hears from a majority keeps leading", "[check_quorum]") {
  auto sim = make_sim(5, 4);
  auto leader = sim.elect();
  REQUIRE(leader != no_node);
  auto term = sim.core(leader).term();
  auto fs = others(sim, leader);
  // Two followers are cut off; the leader and two others are a majority.
  sim.partition({{leader, fs[0], fs[1]}, {fs[2]}, {fs[3]}});
  for (int t = 0; t < 10 * election_ticks; ++t) {
    INFO("tick " << t);
    run_ticks(sim, 1);
    REQUIRE(sim.core(leader).role() == raft_role::leader);
  }
  CHECK(sim.core(leader).term() == term);
}

TEST_CASE("§4.2.3 a follower that heard from a leader recently ignores RequestVote of a higher "
          "term",
          "[check_quorum]") {
  auto pre_vote = GENERATE(false, true);
  INFO((pre_vote ? "pre-vote request" : "vote request"));
  auto f = make_core(1, {1, 2, 3}, hard_state{2, no_node}, log_of({1, 2}));
  f.step(append_entries{2, 2, 2, 2, {}, 0, 0});
  REQUIRE(f.leader() == 2);
  drain(f);
  request_vote rv{5, 3, 9, 4, pre_vote}; // a much better log and term
  // Until the minimum election timeout has passed since the leader spoke:
  for (int t = 1; t < election_ticks; ++t)
    f.tick();
  f.step(rv);
  CHECK(f.term() == 2);
  CHECK(f.voted_for() == no_node);
  CHECK(f.leader() == 2);
  CHECK(of_type<request_vote_reply>(drain(f).messages).empty()); // not even an answer
  // One tick later the lease is over and the request is heard.
  f.tick();
  drain(f);
  f.step(rv);
  auto r = of_type<request_vote_reply>(drain(f).messages, 3);
  REQUIRE(r.size() == 1);
  CHECK(r[0].vote_granted);
  if (!pre_vote) {
    CHECK(f.term() == 5);
    CHECK(f.voted_for() == 3);
  }
}

TEST_CASE("§4.2.3 without check-quorum a follower grants a higher-term vote at once "
          "(what the lease prevents)",
          "[check_quorum]") {
  auto f = make_core(1, {1, 2, 3}, hard_state{2, no_node}, log_of({1, 2}),
                     [](raft_config& cfg) { cfg.check_quorum = false; });
  f.step(append_entries{2, 2, 2, 2, {}, 0, 0});
  drain(f);
  f.step(request_vote{5, 3, 9, 4, false});
  CHECK(f.term() == 5);
  CHECK(f.voted_for() == 3);
}
