// Ongaro's thesis chapter 4, cluster membership changes: configurations
// travel through the log as config entries and take effect when appended
// (the newest in the log is used, committed or not, §4.1); one single-server
// change at a time, and a new leader changes nothing before it committed an
// entry of its own term (the fix to the single-server bug); new servers join
// as learners that are replicated to but never counted and never campaign,
// and are promoted once caught up (§4.2.1); a removed server is no longer
// replicated to and cannot disrupt the cluster (§4.2.3, with pre-vote and
// check-quorum); a leader asked to remove itself hands leadership over first
// (§4.2.2, §3.10); the configuration survives restarts, from the log and from
// a snapshot.

#include "tests/core/cluster_change_util.hpp"

#include <vector>

using namespace raft;
using namespace raft::core_test;

namespace {

using kind = change_outcome::kind;

/// Ticks (and delivers) until `id` is a voter in `leader`'s committed
/// configuration, or gives up.
bool run_until_voter(sim_cluster& sim, node_id leader, node_id id, int max_ticks = 200) {
  return sim.run_until(
    [&] {
      auto& c = sim.core(leader);
      return is_voter(c.configuration(), id) && c.log().committed() >= c.configuration_index();
    },
    max_ticks);
}

} // namespace

TEST_CASE("§4.2.1 a new server joins as a learner, catches up, is promoted automatically, "
          "then counts in the quorum",
          "[membership]") {
  auto sim = make_sim(3, 11);
  auto l = stable_leader(sim);
  put_many(sim, l, 30, "a");
  run_ticks(sim, 2);

  sim.add_node(4);
  auto ch = sim.add_learner(l, 4);
  REQUIRE(ch.result == kind::accepted);
  // In force at once, on the leader, before it commits (§4.1).
  CHECK(sim.core(l).configuration_index() == ch.index);
  CHECK(is_learner(sim.core(l).configuration(), 4));
  CHECK(sim.core(l).voters().size() == 3);
  REQUIRE(sim.core(l).progress_of(4) != nullptr);

  // It catches up: it holds and applied everything, state included.
  REQUIRE(run_until_committed(sim, l, ch.index));
  REQUIRE(sim.run_until([&] {
    return sim.core(4).log().applied() >= ch.index;
  }));
  CHECK(sim.node(4).kv.read("a29").value == "v29");
  CHECK(sim.core(4).role() == raft_role::follower);

  // Promoted without anyone asking, through a config entry of its own.
  REQUIRE(run_until_voter(sim, l, 4));
  CHECK(sim.core(l).configuration_index() > ch.index);
  CHECK(sorted_voters(sim, l) == std::vector<node_id>{1, 2, 3, 4});
  CHECK(sim.core(l).learners().empty());
  REQUIRE(sim.run_until([&] { return sorted_voters(sim, 4) == sorted_voters(sim, l); }));

  // Four voters: a majority is three. With one old follower down, the
  // leader and the other old follower (two) are not enough: the entry
  // commits only once node 4's acknowledgement arrives.
  auto fs = others(sim, l);
  fs.erase(std::find(fs.begin(), fs.end(), node_id{4}));
  sim.crash(fs[0]);
  auto p = sim.put(l, "x", "1");
  REQUIRE(p.accepted);
  sim.cut_one_way(4, l); // its acknowledgements are lost for now
  sim.deliver_all();     // (no tick: check-quorum is not involved)
  REQUIRE(sim.core(l).progress_of(fs[1])->match() >= p.index);
  CHECK(sim.core(l).log().committed() < p.index);
  sim.heal();
  CHECK(run_until_committed(sim, l, p.index, 3));
}

TEST_CASE("§4.2.1 learners are replicated to but never counted: three voters with two down "
          "commit nothing however many learners are up",
          "[membership]") {
  auto sim = make_sim(3, 12);
  auto l = stable_leader(sim);
  auto fs = others(sim, l);

  // Learner 4 joins while cut off: the change commits (the voters have it),
  // but 4 matches nothing yet, so it is not promoted.
  sim.add_node(4);
  sim.cut(l, 4);
  auto c4 = sim.add_learner(l, 4);
  REQUIRE(c4.result == kind::accepted);
  REQUIRE(run_until_committed(sim, l, c4.index));

  // Two voters go down. Learner 5 is added: that change cannot commit, so
  // it stays pending and no learner is promoted while it does.
  sim.crash(fs[0]);
  sim.crash(fs[1]);
  sim.add_node(5);
  auto c5 = sim.add_learner(l, 5);
  REQUIRE(c5.result == kind::accepted);
  sim.heal();
  CHECK(sim.core(l).voters().size() == 3);
  CHECK(sim.core(l).learners().size() == 2);

  // Leader and both learners hold the entry: three of five members, but
  // only one of three voters.
  auto p = sim.put(l, "x", "1");
  REQUIRE(p.accepted);
  run_ticks(sim, election_ticks - 2); // before check-quorum may depose it
  REQUIRE(sim.core(l).role() == raft_role::leader);
  for (node_id id : {node_id{4}, node_id{5}}) {
    INFO("learner " << id);
    CHECK(sim.core(id).log().last_index() >= p.index); // replicated to
    CHECK(sim.core(id).log().committed() < c5.index);  // but nothing committed
  }
  CHECK(sim.core(l).log().committed() < c5.index);

  // However long it goes on, learners never campaign and nothing commits.
  for (int t = 0; t < 10 * election_ticks; ++t) {
    run_ticks(sim, 1);
    for (node_id id : {node_id{4}, node_id{5}})
      REQUIRE(sim.core(id).role() == raft_role::follower);
  }
  for (auto id : {l, node_id{4}, node_id{5}})
    CHECK(sim.core(id).log().committed() < c5.index);
}

TEST_CASE("§4.1 one change at a time: a change while another is uncommitted is refused busy",
          "[membership]") {
  auto sim = make_sim(3, 13);
  auto l = stable_leader(sim);
  auto f = others(sim, l)[0];
  sim.add_node(4);
  sim.add_node(5);
  auto first = sim.add_learner(l, 4);
  REQUIRE(first.result == kind::accepted);
  auto last = sim.core(l).log().last_index();

  auto second = sim.add_learner(l, 5);
  CHECK(second.result == kind::busy);
  CHECK(second.hint == l);
  CHECK(sim.remove(l, f).result == kind::busy);
  CHECK(sim.core(l).log().last_index() == last); // nothing appended
  CHECK(!is_member(sim.core(l).configuration(), 5));

  // Once the first change (and the promotion it leads to) committed, the
  // next one is accepted.
  REQUIRE(run_until_voter(sim, l, 4));
  CHECK(sim.add_learner(l, 5).result == kind::accepted);
}

TEST_CASE("§4.1 a new leader accepts no change before it commits an entry of its own term",
          "[membership]") {
  auto sim = make_sim(3, 14);
  auto old = stable_leader(sim);
  put_many(sim, old, 3, "a");
  run_ticks(sim, 2);
  sim.crash(old);
  auto next = elect_stopping_at_win(sim);
  REQUIRE(next != no_node);
  REQUIRE(sim.core(next).log().term_at(sim.core(next).log().committed())
          < sim.core(next).term());

  sim.add_node(4);
  auto ch = sim.add_learner(next, 4);
  CHECK(ch.result == kind::not_ready);
  CHECK(ch.hint == next);
  CHECK(sim.remove(next, old).result == kind::not_ready);
  CHECK(!is_member(sim.core(next).configuration(), 4));

  // Its no-op commits; now it may.
  auto noop = sim.core(next).log().last_index();
  REQUIRE(run_until_committed(sim, next, noop));
  CHECK(sim.add_learner(next, 4).result == kind::accepted);
}

TEST_CASE("§4.1 changes that do not fit the configuration are refused as invalid",
          "[membership]") {
  SECTION("in a cluster of three") {
    auto sim = make_sim(3, 15);
    auto l = stable_leader(sim);
    auto f = others(sim, l)[0];
    auto last = sim.core(l).log().last_index();
    auto before = sim.core(l).configuration();

    auto again = sim.add_learner(l, f);
    CHECK(again.result == kind::invalid);
    CHECK(!again.message.empty());
    CHECK(sim.remove(l, 99).result == kind::invalid);
    CHECK(sim.propose_change(l, config_change{config_change::kind::promote, member{f, ""}}).result
          == kind::invalid);
    CHECK(sim.propose_change(l, config_change{config_change::kind::add_learner, member{0, ""}})
            .result
          == kind::invalid);
    CHECK(sim.core(l).configuration() == before);
    CHECK(sim.core(l).log().last_index() == last);
    // Adding a learner twice (cut off, so it stays a learner).
    sim.add_node(4);
    sim.cut(l, 4);
    auto c = sim.add_learner(l, 4);
    REQUIRE(c.result == kind::accepted);
    REQUIRE(run_until_committed(sim, l, c.index));
    before = sim.core(l).configuration();
    last = sim.core(l).log().last_index();
    REQUIRE(is_learner(before, 4));
    CHECK(sim.add_learner(l, 4).result == kind::invalid);
    CHECK(sim.core(l).configuration() == before);
    CHECK(sim.core(l).log().last_index() == last);
  }
  SECTION("the last voter") {
    auto sim = make_sim(1, 16);
    auto l = stable_leader(sim);
    REQUIRE(l == 1);
    auto r = sim.remove(1, 1);
    CHECK(r.result == kind::invalid);
    // The last voter still, with a learner beside it (cut off, so it
    // stays a learner).
    sim.add_node(2);
    sim.cut(1, 2);
    auto c = sim.add_learner(1, 2);
    REQUIRE(c.result == kind::accepted);
    REQUIRE(run_until_committed(sim, 1, c.index));
    REQUIRE(is_learner(sim.core(1).configuration(), 2));
    CHECK(sim.remove(1, 1).result == kind::invalid);
    CHECK(sorted_voters(sim, 1) == std::vector<node_id>{1});
    CHECK(sim.core(1).role() == raft_role::leader);
  }
  SECTION("not the leader") {
    auto sim = make_sim(3, 17);
    auto l = stable_leader(sim);
    auto f = others(sim, l)[0];
    auto r = sim.add_learner(f, 4);
    CHECK(r.result == kind::not_leader);
    CHECK(r.hint == l);
  }
}

TEST_CASE("§4.2.3 a removed follower is no longer replicated to and cannot disrupt the cluster",
          "[membership]") {
  auto sim = make_sim(3, 18);
  auto l = stable_leader(sim);
  auto f = others(sim, l)[0];
  auto ch = sim.remove(l, f);
  REQUIRE(ch.result == kind::accepted);
  CHECK(sorted_voters(sim, l).size() == 2);
  CHECK(sim.core(l).progress_of(f) == nullptr);
  REQUIRE(run_until_committed(sim, l, ch.index));

  auto term = sim.core(l).term();
  sim.drop_in_flight();
  sim.record_sent = true;
  bool campaigned = false;
  for (int t = 0; t < 20 * election_ticks; ++t) {
    run_ticks(sim, 1);
    campaigned = campaigned || sim.core(f).role() != raft_role::follower;
    if (t % 10 == 0)
      REQUIRE(sim.put(l, "k" + std::to_string(t), "v").accepted);
  }
  // It times out and campaigns (it never learned it was removed)...
  CHECK(campaigned);
  CHECK(count_sent<request_vote>(sim, f) > 0);
  // ...but the leader sends it nothing, and nobody raises the term.
  CHECK(on_wire<append_entries>(sim.sent_log, l, f).empty());
  CHECK(sim.core(l).role() == raft_role::leader);
  for (auto id : sim.ids())
    CHECK(sim.core(id).term() == term);
  // The cluster of two goes on committing.
  auto p = sim.put(l, "last", "1");
  CHECK(run_until_committed(sim, l, p.index, 5));
}

TEST_CASE("§4.2.3 a member that is down can be removed, and the rest commit without it",
          "[membership]") {
  auto sim = make_sim(5, 19);
  auto l = stable_leader(sim);
  auto fs = others(sim, l);
  sim.crash(fs[0]);
  auto ch = sim.remove(l, fs[0]);
  REQUIRE(ch.result == kind::accepted);
  REQUIRE(run_until_committed(sim, l, ch.index));
  // Four voters now: with another one down, three still commit.
  sim.crash(fs[1]);
  auto p = sim.put(l, "x", "1");
  CHECK(run_until_committed(sim, l, p.index, 5));
  CHECK(sorted_voters(sim, l).size() == 4);
}

TEST_CASE("§4.2.2 a leader asked to remove itself hands leadership over first, then the new "
          "leader removes it",
          "[membership][transfer]") {
  auto sim = make_sim(3, 20);
  auto l = stable_leader(sim);
  auto term = sim.core(l).term();
  auto r = sim.remove(l, l);
  REQUIRE(r.result == kind::transferring);
  auto target = r.hint;
  CHECK(target != l);
  CHECK(is_voter(sim.core(l).configuration(), target));
  CHECK(is_voter(sim.core(l).configuration(), l)); // nothing removed yet

  // The target wins at once (one election round), without waiting for a timeout.
  REQUIRE(sim.run_until([&] { return sim.core(target).role() == raft_role::leader; },
                        election_ticks - 1));
  CHECK(sim.core(target).term() == term + 1);
  CHECK(sim.core(l).role() == raft_role::follower);

  // The new leader removes the old one, once its own no-op committed.
  REQUIRE(run_until_committed(sim, target, sim.core(target).log().last_index()));
  auto ch = sim.remove(target, l);
  REQUIRE(ch.result == kind::accepted);
  REQUIRE(run_until_committed(sim, target, ch.index));
  CHECK(!is_member(sim.core(target).configuration(), l));
  CHECK(sorted_voters(sim, target).size() == 2);
  // The old leader does not disturb the two that remain.
  run_ticks(sim, 10 * election_ticks);
  CHECK(sim.core(target).role() == raft_role::leader);
  CHECK(sim.core(target).term() == term + 1);
}

TEST_CASE("§4.1 a config entry in an uncommitted suffix that is overwritten is rolled back",
          "[membership]") {
  auto sim = make_sim(5, 21);
  auto l = stable_leader(sim);
  auto fs = others(sim, l);
  auto before = sim.core(l).configuration();
  REQUIRE(sim.core(fs[0]).configuration() == before);
  REQUIRE(sim.core(fs[0]).configuration_index() == 0); // the bootstrap configuration

  // The leader and one follower are cut off from the other three; the
  // leader appends a change the minority cannot commit.
  sim.add_node(6);
  sim.partition({{l, fs[0]}, {fs[1], fs[2], fs[3]}});
  auto ch = sim.add_learner(l, 6);
  REQUIRE(ch.result == kind::accepted);
  run_ticks(sim, 1);
  REQUIRE(sim.core(fs[0]).log().last_index() >= ch.index);
  // The follower uses it already, uncommitted as it is.
  CHECK(sim.core(fs[0]).configuration_index() == ch.index);
  CHECK(is_learner(sim.core(fs[0]).configuration(), 6));
  CHECK(sim.core(fs[0]).log().committed() < ch.index);

  // The majority elects a leader and writes over index ch.index.
  auto ml = no_node;
  REQUIRE(sim.run_until([&] {
    for (auto id : {fs[1], fs[2], fs[3]})
      if (sim.core(id).role() == raft_role::leader)
        ml = id;
    return ml != no_node;
  }));
  put_many(sim, ml, 3, "m");
  run_ticks(sim, 2);
  REQUIRE(sim.core(ml).log().committed() >= ch.index);

  sim.heal();
  REQUIRE(sim.run_until([&] {
    return sim.core(fs[0]).log().last_index() == sim.core(ml).log().last_index()
           && sim.core(l).log().last_index() == sim.core(ml).log().last_index()
           && sim.core(l).log().committed() == sim.core(ml).log().committed();
  }));
  // Both fell back to the configuration before the overwritten entry.
  for (auto id : {l, fs[0]}) {
    INFO("node " << id);
    CHECK(sim.core(id).log().term_at(ch.index) != ch.term);
    CHECK(sim.core(id).configuration() == before);
    CHECK(sim.core(id).configuration_index() == 0);
    CHECK(!is_member(sim.core(id).configuration(), 6));
  }
}

TEST_CASE("§4.1 the configuration is recovered on restart, from the log and from a snapshot",
          "[membership][compaction]") {
  auto sim = make_sim(3, 22);
  auto l = stable_leader(sim);
  sim.add_node(4);
  REQUIRE(sim.add_learner(l, 4).result == kind::accepted);
  REQUIRE(run_until_voter(sim, l, 4));
  put_many(sim, l, 5, "a");
  REQUIRE(sim.run_until([&] {
    for (auto id : sim.ids())
      if (sim.core(id).log().applied() != sim.core(l).log().last_index())
        return false;
    return true;
  }));
  const std::vector<node_id> four{1, 2, 3, 4};
  auto cfg_index = sim.core(l).configuration_index();
  REQUIRE(cfg_index > 0);

  // A bootstrap voter (whose raft_config still lists 1, 2, 3) and the node
  // that joined (whose raft_config lists nobody) both restart.
  auto f = others(sim, l)[0] == 4 ? others(sim, l)[1] : others(sim, l)[0];
  for (auto id : {f, node_id{4}}) {
    INFO("node " << id);
    sim.crash(id);
    sim.restart(id);
    CHECK(sorted_voters(sim, id) == four);
    CHECK(sim.core(id).configuration_index() == cfg_index);
    CHECK(sim.core(id).configuration() == sim.core(l).configuration());
    // (It learns the commit index again from the leader, applies, and then
    // can snapshot.)
    REQUIRE(sim.run_until([&] {
      return sim.core(id).log().applied() == sim.core(l).log().last_index();
    }));

    // From its snapshot: the config entry is compacted away.
    sim.compact(id);
    REQUIRE(sim.core(id).log().snapshot_index() >= cfg_index);
    sim.crash(id);
    sim.restart(id);
    CHECK(sim.core(id).log().snapshot_index() >= cfg_index);
    CHECK(sorted_voters(sim, id) == four);
    CHECK(sim.core(id).configuration() == sim.core(l).configuration());
    CHECK(sim.core(id).configuration_at(sim.core(id).log().snapshot_index())
          == sim.core(l).configuration());
    CHECK(sim.node(id).kv.read("a4").value == "v4");
  }
  // The restarted joiner campaigns as a voter: leader down, it can win.
  sim.crash(l);
  REQUIRE(sim.run_until([&] { return sim.leader() != no_node; }));
  auto p = sim.put(sim.leader(), "after", "1");
  CHECK(run_until_committed(sim, sim.leader(), p.index));
}
