// Raft paper §5.4, safety: §5.4.1 a voter refuses a candidate whose log is
// less up-to-date than its own, so only a node holding every committed entry
// can win; §5.4.2 a leader commits an entry of an earlier term only beneath
// one of its own term (the Figure 8 scenario); and (thesis §10.2.1) a leader
// counts itself towards a majority only once its own write is durable.

#include "tests/core/core_test_util.hpp"

#include <vector>

using namespace raft;
using namespace raft::core_test;

namespace {

/// Whether voter `v` (log [1:t1, 2:t1, 3:t2], term 2) grants a vote to a
/// candidate of term 3 whose log ends at (last_index, last_term).
bool grants(index_t last_index, term_t last_term) {
  auto v = make_core(1, {1, 2, 3}, hard_state{2, no_node}, log_of({1, 1, 2}));
  v.step(request_vote{3, 2, last_index, last_term, false});
  auto r = of_type<request_vote_reply>(drain(v).messages, 2);
  REQUIRE(r.size() == 1);
  CHECK(v.term() == 3); // the term is adopted either way
  CHECK(v.voted_for() == (r[0].vote_granted ? node_id{2} : no_node));
  return r[0].vote_granted;
}

} // namespace

TEST_CASE("§5.4.1 a node refuses to vote for a candidate whose log is less up-to-date",
          "[safety][election]") {
  // A lower last term loses however long the log.
  CHECK_FALSE(grants(10, 1));
  // The same last term with fewer entries loses.
  CHECK_FALSE(grants(2, 2));
  // The same last term and at least as many entries wins.
  CHECK(grants(3, 2));
  CHECK(grants(4, 2));
  // A higher last term wins however short the log.
  CHECK(grants(1, 3));
}

TEST_CASE("§5.4.1 a node missing committed entries cannot be elected", "[safety][election]") {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    INFO("seed " << seed);
    auto sim = make_sim(3, seed);
    auto leader = sim.elect();
    REQUIRE(leader != no_node);
    run_ticks(sim, 2);
    auto fs = others(sim, leader);
    auto behind = fs[0];
    auto current = fs[1];
    sim.cut(leader, behind);
    std::vector<proposal> ps;
    for (int i = 0; i < 3; ++i)
      ps.push_back(sim.put(leader, "k" + std::to_string(i), "v"));
    run_ticks(sim, 1);
    REQUIRE(sim.core(leader).log().committed() == ps.back().index);
    REQUIRE(sim.core(behind).log().last_index() < ps.front().index);
    sim.crash(leader);
    sim.heal();
    auto next = sim.elect(40 * election_ticks);
    // Only the node holding the committed entries can gather a majority.
    CHECK(next == current);
    CHECK(sim.core(next).log().last_index() >= ps.back().index);
  }
}

TEST_CASE("§5.4.2 a leader does not commit an entry of an earlier term by counting replicas",
          "[safety][commit]") {
  // Node 1 was leader of term 2 and wrote 2:t2 before losing leadership; it
  // is now leader of term 3 and has appended its no-op 3:t3.
  auto c = make_core(1, {1, 2, 3}, hard_state{2, no_node}, log_of({1, 2}),
                     [](raft_config& cfg) { cfg.pre_vote = false; });
  make_leader(c);
  REQUIRE(c.term() == 3);
  REQUIRE(terms_of(c.log()) == std::vector<term_t>{1, 2, 3});
  // Both followers hold 2:t2: replicated everywhere, yet not committable.
  ack(c, {2, 3}, 2);
  CHECK(c.log().committed() == 0);
  // Once the no-op of term 3 is on a majority, it commits, and 2:t2 beneath it.
  auto out = ack(c, {2}, 3);
  CHECK(c.log().committed() == 3);
  REQUIRE(out.committed.size() == 3);
  CHECK(out.committed[1].term == 2);
}

TEST_CASE("§5.4.2 the Figure 8 scenario: an old-term entry on a majority is not committed",
          "[safety][commit][figure8]") {
  // The paper's Figure 8, step by step, with servers S1..S5 as nodes 1..5.
  // Every entry here is a leader's no-op, so index i term t is what the
  // figure draws. Check-quorum is off: we drive each election by ticking only
  // the chosen candidate, and followers that last heard a leader would ignore
  // it for an election timeout (thesis §4.2.3). One entry per AppendEntries
  // lets us stop between 2:t2 and 3:t4 reaching S3.
  auto sim = make_sim(5, 8, [](raft_config& cfg) {
    cfg.check_quorum = false;
    cfg.max_entries_per_append = 1;
  });
  auto term_at = [&](node_id id, index_t i) { return sim.core(id).log().term_at(i); };

  // Term 1: S1 leads; 1:t1 is everywhere and committed.
  REQUIRE(campaign_until_leader(sim, 1));
  REQUIRE(sim.core(1).term() == 1);
  sim.deliver_all();
  REQUIRE(sim.core(1).log().committed() == 1);

  // (a) S1 leads term 2 and replicates 2:t2 to S2 only.
  sim.crash(1);
  sim.restart(1);
  REQUIRE(campaign_until_leader(sim, 1));
  REQUIRE(sim.core(1).term() == 2);
  sim.partition({{1, 2}, {3, 4, 5}});
  sim.deliver_all();
  for (node_id id : {1, 2})
    REQUIRE(term_at(id, 2) == 2);
  for (node_id id : {3, 4, 5})
    REQUIRE(sim.core(id).log().last_index() == 1);
  CHECK(sim.core(1).log().committed() < 2); // on 2 of 5 only

  // (b) S1 crashes; S5 wins term 3 with the votes of S3, S4 and itself and
  // writes 2:t3, then crashes before sending it.
  sim.heal();
  sim.crash(1);
  REQUIRE(campaign_until_leader(sim, 5));
  REQUIRE(sim.core(5).term() == 3);
  REQUIRE(term_at(5, 2) == 3);
  sim.crash(5);
  sim.deliver_all();

  // (c) S1 restarts and wins term 4 (S2, S3); S4 is out of reach. It appends
  // 3:t4 and replicates 2:t2 to S3: 2:t2 is now on S1, S2, S3, a majority.
  sim.restart(1);
  sim.cut(1, 4);
  REQUIRE(campaign_until_leader(sim, 1));
  REQUIRE(sim.core(1).term() == 4);
  REQUIRE(deliver_until(sim, [&] { return sim.core(1).progress_of(3)->match() == 2; }));
  for (node_id id : {1, 2, 3})
    REQUIRE(term_at(id, 2) == 2);
  // The heart of §5.4.2: on a majority, but of an earlier term: not committed.
  CHECK(sim.core(1).log().committed() < 2);
  CHECK(sim.checker().max_committed() < 2);
  REQUIRE(term_at(3, 3) == 0); // 3:t4 has not reached S3 yet

  SECTION("(d) S1 crashes; S5 is elected and overwrites 2:t2 -- which was right, "
          "since it was never committed") {
    sim.crash(1);
    sim.heal();
    sim.restart(5);
    // S5's last entry 2:t3 beats S3's 2:t2 and S4's 1:t1.
    REQUIRE(campaign_until_leader(sim, 5));
    CHECK(sim.core(5).term() == 5);
    sim.deliver_all();
    run_ticks(sim, 2);
    for (node_id id : {2, 3, 4, 5}) {
      INFO("S" << id);
      CHECK(term_at(id, 2) == 3);
      CHECK(terms_of(sim.core(id).log()) == terms_of(sim.core(5).log()));
    }
    // 2:t3 is now committed (beneath S5's 3:t5); had S1 committed 2:t2 in
    // (c), the invariant checker would have thrown here.
    CHECK(sim.core(5).log().committed() >= 2);
  }

  SECTION("(e) S1 first replicates 3:t4 to a majority: now 2:t2 commits beneath it and "
          "S5 can never win") {
    sim.deliver_all();
    REQUIRE(term_at(3, 3) == 4);
    CHECK(sim.core(1).log().committed() == 3);
    sim.crash(1);
    sim.heal();
    sim.restart(5);
    // S5 campaigns alone for a long time: S2 and S3 refuse it (3:t4 beats
    // 2:t3); S4's vote is not enough.
    for (int t = 0; t < 20 * election_ticks; ++t) {
      sim.tick(5);
      sim.deliver_all();
      REQUIRE(sim.core(5).role() != raft_role::leader);
    }
    // When everyone's clock runs, S2 or S3 wins and S5 is repaired.
    auto leader = sim.elect(40 * election_ticks);
    REQUIRE(leader != no_node);
    CHECK((leader == 2 || leader == 3));
    run_ticks(sim, 3);
    for (node_id id : {2, 3, 4, 5}) {
      INFO("S" << id);
      CHECK(term_at(id, 2) == 2);
      CHECK(term_at(id, 3) == 4);
    }
  }
}

TEST_CASE("§5.4.2 a leader counts itself towards a majority only once its own write is durable",
          "[safety][commit][persistence]") {
  // 3 nodes: one follower's ack plus the leader make a majority -- but only
  // if the leader's own copy is on its disk (thesis §10.2.1: the leader may
  // send before its write completes, not count before). 5 nodes: two acks.
  auto n = GENERATE(3, 5);
  INFO(n << " nodes");
  auto sim = make_sim(static_cast<std::size_t>(n), 21);
  auto leader = sim.elect();
  REQUIRE(leader != no_node);
  run_ticks(sim, 2);
  sim.auto_sync = false;
  auto fs = others(sim, leader);
  auto p = sim.put(leader, "x", "1");
  // Its AppendEntries left before its own write was synced.
  CHECK(on_wire<append_entries>(sim.in_flight(), leader).size() == fs.size());
  sim.deliver_all();
  // A majority minus the leader acknowledge, after syncing.
  auto ackers = static_cast<std::size_t>(n / 2);
  for (std::size_t k = 0; k < ackers; ++k)
    sim.sync(fs[k]);
  sim.deliver_all();
  for (std::size_t k = 0; k < ackers; ++k)
    REQUIRE(sim.core(leader).progress_of(fs[k])->match() == p.index);
  CHECK(sim.core(leader).log().stable() < p.index);
  CHECK(sim.core(leader).log().committed() < p.index);
  sim.sync(leader);
  CHECK(sim.core(leader).log().committed() == p.index);
}

TEST_CASE("§5.4.2 a leader whose own write is durable still needs followers' acks",
          "[safety][commit][persistence]") {
  auto sim = make_sim(3, 22);
  auto leader = sim.elect();
  REQUIRE(leader != no_node);
  run_ticks(sim, 2);
  sim.auto_sync = false;
  auto p = sim.put(leader, "x", "1");
  sim.sync(leader);
  sim.deliver_all(); // the followers append but have not synced: no acks
  CHECK(sim.core(leader).log().stable() == p.index);
  CHECK(sim.core(leader).log().committed() < p.index);
  sim.sync_all();
  sim.deliver_all();
  CHECK(sim.core(leader).log().committed() == p.index);
}
