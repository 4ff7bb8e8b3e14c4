// Raft paper §7 / Ongaro's thesis chapter 5, log compaction: a node writes a
// snapshot of its state machine through its applied index and drops the log
// up to there; a leader whose follower needs compacted entries sends it the
// snapshot instead (ready.snapshots_to_send; the shell sends it and reports
// the outcome with an install_snapshot_reply); the follower replaces its log
// by the snapshot unless its log already holds the snapshot's last entry,
// in which case it keeps the entries after it. A transfer that stalls is
// given up and retried. A node restarts from its snapshot and the log after
// it. sim_cluster checks the Figure 3 invariants after every step (the
// checker knows about compacted logs and installed snapshots).

#include "tests/core/cluster_change_util.hpp"

#include <string>
#include <vector>

using namespace raft;
using namespace raft::core_test;

namespace {

/// Runs until `id` applied everything `leader` holds.
bool run_until_caught_up(sim_cluster& sim, node_id leader, node_id id, int max_ticks = 300) {
  return sim.run_until(
    [&] {
      const auto& ll = sim.core(leader).log();
      return ll.committed() == ll.last_index() && sim.core(id).log().applied() == ll.last_index();
    },
    max_ticks);
}

bool is_snapshot(const test::wire_message& w) {
  return std::holds_alternative<install_snapshot>(w.msg);
}

} // namespace

TEST_CASE("§7 a follower behind the compacted log gets the snapshot, installs it and catches up "
          "with the log after it",
          "[compaction]") {
  auto sim = make_sim(3, 40);
  auto l = stable_leader(sim);
  auto fs = others(sim, l);
  auto f = fs[0];
  put_many(sim, l, 10, "a");
  run_ticks(sim, 2);
  sim.crash(f);
  auto p = put_many(sim, l, 30, "b");
  REQUIRE(run_until_committed(sim, l, p.index));
  run_ticks(sim, 1);
  sim.compact(l);
  sim.compact(fs[1]);
  auto snap = sim.core(l).log().snapshot_index();
  REQUIRE(snap >= p.index);
  CHECK(sim.core(l).log().first_index() == snap + 1);
  CHECK(sim.node(l).disk_snap.index == snap);
  CHECK(sim.node(l).disk_log.empty());
  auto q = put_many(sim, l, 5, "c"); // entries after the snapshot
  REQUIRE(run_until_committed(sim, l, q.index));

  sim.record_sent = true;
  sim.restart(f);
  REQUIRE(f != l);
  // At its next heartbeat round the leader finds that what f needs next was
  // compacted away, and puts it in snapshot mode.
  REQUIRE(sim.run_until([&] {
    const auto* pr = sim.core(l).progress_of(f);
    return pr && pr->state() == progress::mode::snapshot;
  }, 5));
  CHECK(sim.core(l).progress_of(f)->pending_snapshot() == snap);
  REQUIRE(run_until_caught_up(sim, l, f));

  auto sent = on_wire<install_snapshot>(sim.sent_log, l, f);
  REQUIRE(!sent.empty());
  CHECK(sent[0].last_included_index == snap);
  CHECK(sent[0].done);
  CHECK(sim.node(f).restores == std::vector<bool>{true});
  CHECK(sim.core(f).log().snapshot_index() == snap);
  CHECK(sim.core(f).log().last_index() == sim.core(l).log().last_index());
  CHECK(sim.node(f).disk_snap.index == snap);
  CHECK(sim.node(f).kv.read("a0").value == "v0");
  CHECK(sim.node(f).kv.read("b29").value == "v29");
  CHECK(sim.node(f).kv.read("c4").value == "v4");
  CHECK(sim.node(f).kv.digest() == sim.node(l).kv.digest());
  CHECK(sim.core(l).progress_of(f)->match() == sim.core(l).log().last_index());

  // It restarts from the snapshot it installed.
  sim.crash(f);
  sim.restart(f);
  CHECK(sim.core(f).log().snapshot_index() == snap);
  CHECK(sim.node(f).kv.read("b29").value == "v29");
  REQUIRE(run_until_caught_up(sim, l, f));
  CHECK(sim.node(f).kv.digest() == sim.node(l).kv.digest());
}

TEST_CASE("§7 a follower whose log conflicts with the snapshot replaces its whole log",
          "[compaction]") {
  auto sim = make_sim(3, 41);
  auto old = stable_leader(sim);
  auto fs = others(sim, old);
  // The old leader, cut off, appends entries nobody else will ever hold.
  sim.partition({{old}, fs});
  put_many(sim, old, 80, "x");
  auto ml = no_node;
  REQUIRE(sim.run_until([&] {
    for (auto id : fs)
      if (sim.core(id).role() == raft_role::leader)
        ml = id;
    return ml != no_node;
  }));
  auto p = put_many(sim, ml, 50, "y");
  REQUIRE(run_until_committed(sim, ml, p.index));
  run_ticks(sim, 1);
  for (auto id : fs)
    sim.compact(id);
  auto snap = sim.core(ml).log().snapshot_index();
  auto snap_term = sim.core(ml).log().snapshot_term();
  // The old leader holds an entry at the snapshot's index, of another term.
  REQUIRE(sim.core(old).log().last_index() > snap);
  REQUIRE(sim.core(old).log().term_at(snap) != snap_term);
  REQUIRE(sim.core(old).log().committed() < snap);

  sim.heal();
  REQUIRE(run_until_caught_up(sim, ml, old));
  REQUIRE(!sim.node(old).restores.empty());
  CHECK(sim.node(old).restores[0]);
  CHECK(sim.core(old).log().snapshot_index() >= snap);
  CHECK(sim.core(old).log().last_index() == sim.core(ml).log().last_index());
  CHECK(sim.node(old).kv.read("x0").status == reply_status::not_found);
  CHECK(sim.node(old).kv.read("y49").value == "v49");
  CHECK(sim.node(old).kv.digest() == sim.node(ml).kv.digest());
  // Its disk holds the snapshot and the leader's entries after it only.
  CHECK(sim.node(old).disk_snap.index == sim.core(old).log().snapshot_index());
  for (const auto& e : sim.node(old).disk_log)
    CHECK(e.term >= snap_term);
  // And it restarts from there.
  sim.crash(old);
  sim.restart(old);
  CHECK(sim.node(old).kv.read("y49").value == "v49");
  CHECK(sim.core(old).log().last_index() == sim.core(ml).log().last_index());
}

TEST_CASE("§7 a follower that holds the snapshot's last entry keeps its log and the entries "
          "after it",
          "[compaction]") {
  auto sim = make_sim(3, 42);
  auto l = stable_leader(sim);
  auto fs = others(sim, l);
  auto f = fs[0];
  // f receives everything, but its acknowledgements are lost: the leader
  // knows nothing of what it holds.
  // (Delivered without a tick: the messages f gets carry the commit index
  // of when they were sent, so f does not learn that they committed.)
  sim.cut_one_way(f, l);
  auto p = put_many(sim, l, 30, "a");
  sim.deliver_all();
  REQUIRE(sim.core(l).log().committed() >= p.index);
  sim.compact(l);
  auto snap = sim.core(l).log().snapshot_index();
  REQUIRE(snap >= p.index);
  REQUIRE(sim.core(f).log().last_index() >= snap);
  REQUIRE(sim.core(f).log().term_at(snap) == sim.core(l).log().snapshot_term());
  REQUIRE(sim.core(f).log().committed() < snap);
  auto f_last = sim.core(f).log().last_index();
  auto applied_before = sim.node(f).applied.size();

  // At a heartbeat round the leader sees the stream to f stalled and probes
  // from what it knows matched -- compacted away: snapshot mode.
  sim.record_sent = true;
  for (int t = 0; t < 3 && sim.core(l).progress_of(f)->state() != progress::mode::snapshot; ++t)
    sim.tick(l);
  REQUIRE(sim.core(l).progress_of(f)->state() == progress::mode::snapshot);
  sim.heal();
  auto q = sim.put(l, "b", "1");
  REQUIRE(run_until_caught_up(sim, l, f));
  CHECK(!on_wire<install_snapshot>(sim.sent_log, l, f).empty());
  REQUIRE(!sim.node(f).restores.empty());
  CHECK(!sim.node(f).restores[0]);
  // Nothing was reset: its log still starts at 1, and it applied the
  // entries below the snapshot from its own log, one by one.
  CHECK(sim.core(f).log().snapshot_index() == 0);
  CHECK(sim.core(f).log().first_index() == 1);
  CHECK(sim.node(f).disk_snap.index == 0);
  CHECK(sim.core(f).log().last_index() >= f_last);
  CHECK(sim.node(f).applied.size() > applied_before);
  CHECK(sim.node(f).applied.back().index == q.index);
  CHECK(sim.node(f).kv.digest() == sim.node(l).kv.digest());
}

TEST_CASE("§7 a snapshot transfer that stalls is given up and retried", "[compaction]") {
  auto sim = make_sim(3, 43);
  auto l = stable_leader(sim);
  auto f = others(sim, l)[0];
  sim.crash(f);
  auto p = put_many(sim, l, 20, "a");
  REQUIRE(run_until_committed(sim, l, p.index));
  run_ticks(sim, 1);
  sim.compact(l);
  sim.restart(f);

  // Every snapshot is lost on the way; everything else gets through.
  std::vector<int> sent_at;
  const auto& cfg = sim.core(l).config();
  auto stall = cfg.snapshot_stall_elections * cfg.election_ticks;
  int t = 0;
  for (; t < 3 * stall && sent_at.size() < 3; ++t) {
    sim.tick_all();
    for (;;) {
      auto lost = sim.drop_if(is_snapshot);
      for (std::size_t k = 0; k < lost; ++k)
        sent_at.push_back(t);
      if (!sim.deliver_one())
        break;
    }
    REQUIRE(sim.core(l).role() == raft_role::leader);
  }
  REQUIRE(sent_at.size() >= 2);
  // Not resent before the stall limit, and resent soon after it.
  for (std::size_t k = 1; k < sent_at.size(); ++k) {
    CHECK(sent_at[k] - sent_at[k - 1] >= stall - cfg.heartbeat_ticks);
    CHECK(sent_at[k] - sent_at[k - 1] <= stall + 2 * cfg.heartbeat_ticks);
  }
  CHECK(sim.core(f).log().applied() == 0);

  // Once one gets through, the follower catches up.
  REQUIRE(run_until_caught_up(sim, l, f, 2 * stall));
  CHECK(sim.node(f).restores == std::vector<bool>{true});
  CHECK(sim.node(f).kv.digest() == sim.node(l).kv.digest());
}

TEST_CASE("§7 heartbeats to a follower whose match was compacted away do not flood it",
          "[compaction]") {
  auto sim = make_sim(3, 44);
  auto l = stable_leader(sim);
  auto f = others(sim, l)[0];
  put_many(sim, l, 5, "a");
  run_ticks(sim, 2);
  sim.cut(l, f);
  auto p = put_many(sim, l, 20, "b");
  REQUIRE(run_until_committed(sim, l, p.index));
  run_ticks(sim, 1);
  auto match = sim.core(l).progress_of(f)->match();
  REQUIRE(match > 0);
  sim.compact(l);
  REQUIRE(sim.core(l).log().snapshot_index() > match); // the follower's match is compacted
  sim.heal();

  // Each heartbeat round sends the follower a heartbeat and, once, the
  // snapshot -- not a message per take_ready().
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    sim.drop_in_flight();
    sim.tick(l);
    REQUIRE(on_wire<append_entries>(sim.in_flight(), l, f).size() <= 2);
    REQUIRE(on_wire<install_snapshot>(sim.in_flight(), l, f).size() <= 1);
    REQUIRE(sim.in_flight().size() <= 6);
  }
  REQUIRE(run_until_caught_up(sim, l, f));
  CHECK(sim.node(f).kv.digest() == sim.node(l).kv.digest());
}

TEST_CASE("§7 a node restarts from its snapshot and the log after it", "[compaction]") {
  auto sim = make_sim(3, 45);
  auto l = stable_leader(sim);
  put_many(sim, l, 10, "a");
  run_ticks(sim, 2);
  for (auto id : sim.ids())
    sim.compact(id);
  auto p = put_many(sim, l, 5, "b");
  REQUIRE(run_until_committed(sim, l, p.index));
  run_ticks(sim, 2);
  auto snap = sim.core(l).log().snapshot_index();
  REQUIRE(snap > 0);

  for (auto id : sim.ids()) {
    INFO("node " << id);
    REQUIRE(sim.node(id).disk_snap.index > 0);
    REQUIRE(sim.node(id).disk_log.front().index == sim.node(id).disk_snap.index + 1);
  }
  // Everyone restarts, the leader too.
  for (auto id : sim.ids())
    sim.crash(id);
  for (auto id : sim.ids()) {
    sim.restart(id);
    INFO("node " << id);
    CHECK(sim.core(id).log().snapshot_index() == sim.node(id).disk_snap.index);
    CHECK(sim.core(id).log().last_index() == p.index);
    CHECK(sim.core(id).log().applied() == sim.node(id).disk_snap.index);
    CHECK(sim.node(id).kv.applied_index() == sim.node(id).disk_snap.index);
    CHECK(sim.node(id).kv.read("a9").value == "v9");
  }
  auto nl = stable_leader(sim);
  for (auto id : sim.ids()) {
    INFO("node " << id);
    CHECK(sim.node(id).kv.read("b4").value == "v4");
    CHECK(sim.node(id).kv.digest() == sim.node(nl).kv.digest());
  }
}

TEST_CASE("§7 a learner joining a compacted cluster gets the snapshot, catches up and is "
          "promoted",
          "[compaction][membership]") {
  auto sim = make_sim(3, 46);
  auto l = stable_leader(sim);
  put_many(sim, l, 20, "a");
  run_ticks(sim, 2);
  for (auto id : sim.ids())
    sim.compact(id);
  sim.add_node(4);
  sim.record_sent = true;
  auto c = sim.add_learner(l, 4);
  REQUIRE(c.result == change_outcome::kind::accepted);
  REQUIRE(sim.run_until([&] {
    return is_voter(sim.core(l).configuration(), 4)
           && sim.core(l).log().committed() >= sim.core(l).configuration_index()
           && sim.core(4).log().applied() == sim.core(l).log().last_index();
  }));
  CHECK(on_wire<install_snapshot>(sim.sent_log, l, 4).size() == 1);
  CHECK(sim.node(4).restores == std::vector<bool>{true});
  CHECK(sim.node(4).kv.digest() == sim.node(l).kv.digest());
  // The snapshot carried the configuration the learner needs.
  CHECK(is_voter(sim.core(4).configuration(), 4));
}

TEST_CASE("§7 restore: replaced log, reset reported, only entries after the snapshot applied",
          "[compaction]") {
  auto f = make_core(2, {1, 2, 3}, hard_state{2, no_node}, log_of({1, 1, 2}));
  f.step(append_entries{2, 1, 3, 2, {}, 0, 0});
  drain(f);
  REQUIRE(f.leader() == 1);
  f.step(install_snapshot{3, 1, 10, 3, 0, "", true});
  auto out = drain(f);
  CHECK(f.term() == 3);
  CHECK(f.leader() == 1);
  // The shell then restores (log does not hold (10, 3)).
  auto cfg = members({1, 2, 3, 4});
  REQUIRE(f.restore(10, 3, cfg));
  CHECK(f.log().snapshot_index() == 10);
  CHECK(f.log().last_index() == 10);
  CHECK(f.log().committed() == 10);
  CHECK(f.log().applied() == 10);
  CHECK(f.configuration() == cfg);
  CHECK(f.voters().size() == 4);
  auto rd = f.take_ready();
  CHECK(rd.reset_index == 10);
  CHECK(rd.reset_term == 3);
  CHECK(rd.committed.empty());
  // Entries after it arrive and are applied from 11 on.
  f.step(append_entries{3, 1, 10, 3, {log_entry{3, 11, entry_type::noop, {}}}, 11, 0});
  auto more = drain(f);
  REQUIRE(more.committed.size() == 1);
  CHECK(more.committed[0].index == 11);
  // The same snapshot again (a duplicate) changes nothing.
  CHECK(!f.restore(10, 3, cfg));
  CHECK(f.log().last_index() == 11);
  CHECK(f.take_ready().reset_index == 0);
}

TEST_CASE("§7 an install_snapshot of a stale term is refused with the current term",
          "[compaction]") {
  auto f = make_core(2, {1, 2, 3}, hard_state{5, no_node}, log_of({1, 1}));
  f.step(install_snapshot{4, 1, 10, 4, 0, "", true});
  auto out = drain(f);
  auto replies = of_type<append_entries_reply>(out.messages, 1);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].term == 5);
  CHECK(!replies[0].success);
  CHECK(f.leader() == no_node);
  CHECK(f.log().last_index() == 2);
}
