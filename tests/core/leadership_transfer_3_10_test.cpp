// Ongaro's thesis §3.10, leadership transfer: the leader stops accepting
// proposals, brings the target's log up to date, then sends it TimeoutNow;
// the target campaigns at once (without pre-vote, and its RequestVote says
// it is a transfer, so voters in the leader's lease grant it) and wins
// within one election round. Only a voter can take over; a transfer that
// does not complete within an election timeout is abandoned and the leader
// accepts proposals again.

#include "tests/core/cluster_change_util.hpp"

#include <vector>

using namespace raft;
using namespace raft::core_test;

namespace {

using kind = change_outcome::kind;

} // namespace

TEST_CASE("§3.10 a target that is behind is brought up to date, then gets TimeoutNow and wins "
          "within one election round",
          "[transfer]") {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    INFO("seed " << seed);
    auto sim = make_sim(5, 30 + seed);
    auto l = stable_leader(sim);
    auto target = others(sim, l)[seed % 4];
    // The target misses a stretch of the log.
    sim.cut(l, target);
    auto p = put_many(sim, l, 20, "a");
    REQUIRE(run_until_committed(sim, l, p.index));
    REQUIRE(sim.core(target).log().last_index() < p.index);
    sim.heal();
    auto term = sim.core(l).term();

    sim.record_sent = true;
    auto r = sim.transfer(l, target);
    REQUIRE(r.result == kind::accepted);
    CHECK(r.hint == target);
    CHECK(sim.core(l).transferee() == target);
    // Not yet: it lacks entries.
    CHECK(on_wire<timeout_now>(sim.in_flight()).empty());
    // Meanwhile the leader takes no proposals and no changes.
    CHECK(!sim.put(l, "refused", "1").accepted);
    CHECK(sim.add_learner(l, 9).result == kind::busy);

    // TimeoutNow goes out only once the target matches the whole log.
    bool sent_when_caught_up = false;
    int ticks = 0;
    auto has_timeout_now = [&] { return !on_wire<timeout_now>(sim.in_flight()).empty(); };
    while (ticks < election_ticks && !has_timeout_now()) {
      if (!deliver_until(sim, has_timeout_now)) {
        sim.tick_all();
        ++ticks;
      }
    }
    REQUIRE(has_timeout_now());
    sent_when_caught_up
      = sim.core(l).progress_of(target)->match() == sim.core(l).log().last_index();
    CHECK(sent_when_caught_up);

    // It wins at once: one term up, before any election timeout ran out.
    REQUIRE(sim.run_until([&] { return sim.core(target).role() == raft_role::leader; },
                          election_ticks - ticks));
    CHECK(sim.core(target).term() == term + 1);
    CHECK(sim.core(l).role() == raft_role::follower);
    CHECK(sim.core(target).log().last_index() > p.index); // all of it, and its no-op
    auto votes = on_wire<request_vote>(sim.sent_log, target);
    REQUIRE(!votes.empty());
    for (const auto& v : votes) {
      CHECK(v.transfer);
      CHECK(!v.pre_vote);
    }
    // And it works as a leader.
    auto q = sim.put(target, "after", "1");
    REQUIRE(q.accepted);
    CHECK(run_until_committed(sim, target, q.index));
  }
}

TEST_CASE("§3.10 a target already up to date gets TimeoutNow at once", "[transfer]") {
  auto sim = make_sim(3, 35);
  auto l = stable_leader(sim);
  auto target = others(sim, l)[1];
  auto r = sim.transfer(l, target);
  REQUIRE(r.result == kind::accepted);
  auto tn = on_wire<timeout_now>(sim.in_flight(), l, target);
  REQUIRE(tn.size() == 1);
  CHECK(tn[0].term == sim.core(l).term());
  sim.deliver_all();
  sim.deliver_all();
  CHECK(sim.core(target).role() == raft_role::leader);
}

TEST_CASE("§3.10 leadership can be handed only to a voter", "[transfer]") {
  auto sim = make_sim(3, 36);
  auto l = stable_leader(sim);
  // A learner (cut off, so it is not promoted).
  sim.add_node(4);
  sim.cut(l, 4);
  auto c = sim.add_learner(l, 4);
  REQUIRE(c.result == kind::accepted);
  REQUIRE(run_until_committed(sim, l, c.index));
  REQUIRE(is_learner(sim.core(l).configuration(), 4));

  auto r = sim.transfer(l, 4);
  CHECK(r.result == kind::invalid);
  CHECK(!r.message.empty());
  CHECK(sim.transfer(l, 99).result == kind::invalid);
  CHECK(sim.core(l).transferee() == no_node);
  CHECK(sim.put(l, "still", "1").accepted); // nothing was started

  // A learner told to time out anyway does not campaign.
  sim.core(4).step(timeout_now{sim.core(l).term(), l});
  CHECK(sim.core(4).role() == raft_role::follower);

  // A follower is not asked.
  auto f = others(sim, l)[0];
  auto nf = sim.transfer(f, l);
  CHECK(nf.result == kind::not_leader);
  CHECK(nf.hint == l);
}

TEST_CASE("§3.10 a transfer that does not complete is abandoned after an election timeout",
          "[transfer]") {
  auto sim = make_sim(3, 37);
  auto l = stable_leader(sim);
  auto target = others(sim, l)[0];
  sim.crash(target);
  auto term = sim.core(l).term();
  auto r = sim.transfer(l, target);
  REQUIRE(r.result == kind::accepted);
  REQUIRE(sim.core(l).transferee() == target);

  int t = 0;
  for (; t < election_ticks - 1; ++t) {
    run_ticks(sim, 1);
    INFO("tick " << t);
    REQUIRE(sim.core(l).transferee() == target);
    REQUIRE(!sim.put(l, "refused" + std::to_string(t), "1").accepted);
    REQUIRE(sim.remove(l, target).result == kind::busy);
  }
  run_ticks(sim, 1);
  CHECK(sim.core(l).transferee() == no_node);
  // Still the leader of the same term, and it takes proposals again.
  CHECK(sim.core(l).role() == raft_role::leader);
  CHECK(sim.core(l).term() == term);
  auto p = sim.put(l, "again", "1");
  REQUIRE(p.accepted);
  CHECK(run_until_committed(sim, l, p.index));
}

TEST_CASE("§3.10 with no target named, the most up-to-date other voter is chosen",
          "[transfer]") {
  auto sim = make_sim(3, 38);
  auto l = stable_leader(sim);
  auto fs = others(sim, l);
  sim.cut(l, fs[0]); // fs[0] falls behind
  auto p = put_many(sim, l, 5, "a");
  REQUIRE(run_until_committed(sim, l, p.index));
  sim.heal();
  auto r = sim.transfer(l, no_node);
  REQUIRE(r.result == kind::accepted);
  CHECK(r.hint == fs[1]);
  CHECK(sim.core(l).transferee() == fs[1]);
}
