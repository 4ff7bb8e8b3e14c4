// Persist before you speak (DESIGN.md, "Rules no part may break"; Raft paper
// Figure 2, "persistent state ... updated on stable storage before
// responding to RPCs"): term and vote are durable before a vote is granted or
// a message of that term leaves; a follower's entries are durable before it
// acknowledges them. Only a leader's replication traffic may go out before its
// own write completes (thesis §10.2.1) -- and not when the batch carries a new
// term or vote.
//
// Also here: the invariant checker that every sim_cluster step runs must be
// able to fail. We feed it broken histories and expect invariant_violation.

#include "actors/node/invariant_checker.hpp"
#include "tests/core/core_test_util.hpp"

#include <string>
#include <vector>

using namespace raft;
using namespace raft::core_test;

namespace {

void no_pre_vote(raft_config& cfg) {
  cfg.pre_vote = false;
}

/// True if every message of the batch waits for its persist.
bool all_after_persist(const ready& rd) {
  return rd.send_now.empty() && !rd.send_after_persist.empty();
}

/// An established leader of {1, 2, 3}: elected, no-op committed, output taken.
raft_core established_leader() {
  auto l = make_core(1, {1, 2, 3}, hard_state{1, no_node}, log_of({1}));
  make_leader(l);
  ack(l, {2, 3}, l.log().last_index());
  REQUIRE(l.log().committed() == l.log().last_index());
  REQUIRE(l.take_ready().empty());
  return l;
}

/// Runs `f`, which must throw invariant_violation, and returns its message.
template <class F>
std::string violation(F&& f) {
  std::string what;
  REQUIRE_THROWS_AS(
    [&] {
      try {
        f();
      } catch (const invariant_violation& e) {
        what = e.what();
        throw;
      }
    }(),
    invariant_violation);
  return what;
}

} // namespace

// -- persist before you speak -------------------------------------------------

TEST_CASE("persist before speak: every vote reply waits for the persist", "[persist]") {
  SECTION("a granted vote, with its new term and vote") {
    auto v = make_core(1, {1, 2, 3}, hard_state{1, no_node}, {});
    v.step(request_vote{2, 2, 0, 0, false});
    auto rd = v.take_ready();
    CHECK(rd.has_state);
    CHECK(rd.state == hard_state{2, 2});
    REQUIRE(all_after_persist(rd));
    CHECK(std::get<request_vote_reply>(rd.send_after_persist[0].msg).vote_granted);
  }
  SECTION("a refused vote, with nothing new to persist") {
    auto v = make_core(1, {1, 2, 3}, hard_state{2, 3}, {});
    v.step(request_vote{2, 2, 0, 0, false});
    auto rd = v.take_ready();
    CHECK_FALSE(rd.has_state);
    REQUIRE(all_after_persist(rd));
    CHECK_FALSE(std::get<request_vote_reply>(rd.send_after_persist[0].msg).vote_granted);
  }
  SECTION("a pre-vote reply") {
    auto v = make_core(1, {1, 2, 3}, hard_state{2, no_node}, {});
    v.step(request_vote{3, 2, 0, 0, true});
    auto rd = v.take_ready();
    REQUIRE(all_after_persist(rd));
    CHECK(std::holds_alternative<request_vote_reply>(rd.send_after_persist[0].msg));
  }
}

TEST_CASE("persist before speak: every AppendEntries reply waits for the persist",
          "[persist]") {
  auto f = make_core(1, {1, 2, 3}, hard_state{2, no_node}, log_of({1}));
  drain(f);
  SECTION("an acknowledgement of new entries") {
    f.step(append_entries{2, 2, 1, 1, {entry(2, 2)}, 0, 0});
    auto rd = f.take_ready();
    CHECK(rd.entries.size() == 1);
    REQUIRE(all_after_persist(rd));
    CHECK(std::get<append_entries_reply>(rd.send_after_persist[0].msg).success);
  }
  SECTION("an answer to a heartbeat") {
    f.step(append_entries{2, 2, 1, 1, {}, 1, 0});
    REQUIRE(all_after_persist(f.take_ready()));
  }
  SECTION("a rejection") {
    f.step(append_entries{2, 2, 5, 2, {entry(6, 2)}, 0, 0});
    REQUIRE(all_after_persist(f.take_ready()));
  }
  SECTION("an answer to a stale leader") {
    f.step(append_entries{1, 3, 1, 1, {}, 0, 0});
    REQUIRE(all_after_persist(f.take_ready()));
  }
  SECTION("an acknowledgement that also adopts a new term") {
    f.step(append_entries{3, 2, 1, 1, {entry(2, 3)}, 0, 0});
    auto rd = f.take_ready();
    CHECK(rd.has_state);
    REQUIRE(all_after_persist(rd));
  }
}

TEST_CASE("persist before speak: a batch with a new term or vote sends nothing before the "
          "persist, not even leader traffic",
          "[persist]") {
  SECTION("a new candidate's vote requests") {
    auto c = make_core(1, {1, 2, 3}, hard_state{1, no_node}, {}, no_pre_vote);
    REQUIRE(ticks_until_campaign(c) > 0);
    auto rd = c.take_ready();
    CHECK(rd.has_state);
    CHECK(rd.state == hard_state{2, 1});
    REQUIRE(all_after_persist(rd));
    CHECK(of_type<request_vote>(rd.send_after_persist).size() == 2);
  }
  SECTION("a leader elected in the batch that carries its term") {
    auto c = make_core(1, {1, 2, 3}, hard_state{1, no_node}, {}, no_pre_vote);
    REQUIRE(ticks_until_campaign(c) > 0);
    c.step(request_vote_reply{2, 2, true, false});
    REQUIRE(c.role() == raft_role::leader);
    auto rd = c.take_ready();
    CHECK(rd.has_state);
    REQUIRE(all_after_persist(rd));
    CHECK(of_type<append_entries>(rd.send_after_persist).size() == 2);
  }
  SECTION("a leader's heartbeats of a turn in which it learns of a higher term") {
    auto l = established_leader();
    l.tick(); // heartbeats queued
    l.step(append_entries_reply{l.term() + 1, 2, false, 0, 0, 0, 0, 0});
    auto rd = l.take_ready();
    CHECK(rd.has_state);
    REQUIRE(all_after_persist(rd));
    CHECK(of_type<append_entries>(rd.send_after_persist).size() == 2);
  }
}

TEST_CASE("persist before speak: a leader's AppendEntries go out before its own write "
          "(thesis §10.2.1)",
          "[persist]") {
  auto l = established_leader();
  SECTION("new entries") {
    REQUIRE(l.propose("x").accepted);
    auto rd = l.take_ready();
    CHECK_FALSE(rd.has_state);
    CHECK(rd.entries.size() == 1);
    CHECK(of_type<append_entries>(rd.send_now).size() == 2);
    CHECK(rd.send_after_persist.empty());
  }
  SECTION("heartbeats") {
    l.tick();
    auto rd = l.take_ready();
    CHECK(of_type<append_entries>(rd.send_now).size() == 2);
    CHECK(rd.send_after_persist.empty());
  }
}

TEST_CASE("persist before speak: in a cluster, no vote or acknowledgement is on the wire "
          "before its sender's disk is synced",
          "[persist]") {
  auto sim = make_sim(3, 41, no_pre_vote);
  sim.auto_sync = false;
  REQUIRE(ticks_until_campaign(sim.core(1)) > 0); // candidate of term 1
  sim.tick(1);                                    // let the sim take its output
  CHECK(sim.in_flight().empty());                 // term and vote not yet durable
  sim.sync(1);
  CHECK(on_wire<request_vote>(sim.in_flight(), 1).size() == 2);
  sim.deliver_all();
  CHECK(on_wire<request_vote_reply>(sim.in_flight()).empty()); // voters not synced
  sim.sync(2);
  CHECK(on_wire<request_vote_reply>(sim.in_flight(), 2).size() == 1);
  REQUIRE(deliver_until(sim, [&] { return sim.core(1).role() == raft_role::leader; }));
  // The leader's no-op goes out before the leader's own sync.
  CHECK(on_wire<append_entries>(sim.in_flight(), 1).size() == 2);
  sim.deliver_all();
  CHECK(on_wire<append_entries_reply>(sim.in_flight()).empty()); // followers not synced
  sim.sync_all();
  CHECK(on_wire<append_entries_reply>(sim.in_flight()).size() == 2);
}

// -- the invariant checker can fail -------------------------------------------

TEST_CASE("the invariant checker rejects two leaders in one term (Election Safety)",
          "[checker]") {
  auto a = make_core(1, {1, 2, 3}, {}, {}, no_pre_vote);
  auto b = make_core(2, {1, 2, 3}, {}, {}, no_pre_vote);
  make_leader(a);
  make_leader(b);
  REQUIRE(a.term() == b.term());
  invariant_checker chk;
  chk.observe(a);
  CHECK_THAT(violation([&] { chk.observe(b); }), Catch::Contains("Election Safety"));
  // Leaders of different terms are fine.
  auto c = make_core(2, {1, 2, 3}, hard_state{1, no_node}, {}, no_pre_vote);
  make_leader(c);
  invariant_checker ok;
  ok.observe(a);
  CHECK_NOTHROW(ok.observe(c));
}

TEST_CASE("the invariant checker rejects applying an entry that is not the committed one "
          "(State Machine Safety)",
          "[checker]") {
  auto a = make_core(1, {1, 2, 3}, {}, {}, no_pre_vote);
  make_leader(a);
  ack(a, {2}, 1);
  REQUIRE(a.log().committed() == 1);
  REQUIRE(a.propose("uncommitted").accepted);
  invariant_checker chk;
  chk.observe(a);
  CHECK_NOTHROW(chk.observe_applied(1, a.log().at(1)));
  SECTION("a different entry at a committed index") {
    log_entry wrong{1, 1, entry_type::command, "x"};
    CHECK_THAT(violation([&] { chk.observe_applied(2, wrong); }),
               Catch::Contains("not the committed one"));
  }
  SECTION("an entry that is not committed") {
    CHECK_THAT(violation([&] { chk.observe_applied(1, a.log().at(2)); }),
               Catch::Contains("not the committed one"));
  }
  SECTION("entries out of order") {
    CHECK_THAT(violation([&] { chk.observe_applied(3, a.log().at(2)); }),
               Catch::Contains("out of order"));
  }
}

TEST_CASE("the invariant checker rejects two different entries with one index and term "
          "(Log Matching)",
          "[checker]") {
  auto x = make_core(1, {1, 2, 3}, hard_state{1, no_node},
                     {log_entry{1, 1, entry_type::command, "a"}});
  auto y = make_core(2, {1, 2, 3}, hard_state{1, no_node},
                     {log_entry{1, 1, entry_type::command, "b"}});
  invariant_checker chk;
  chk.observe(x);
  CHECK_THAT(violation([&] { chk.observe(y); }), Catch::Contains("Log Matching"));
}

TEST_CASE("the invariant checker rejects a leader lacking a committed entry "
          "(Leader Completeness)",
          "[checker]") {
  auto a = make_core(1, {1, 2, 3}, {}, {}, no_pre_vote);
  make_leader(a);
  ack(a, {2}, 1); // 1:t1 committed in term 1
  auto c = make_core(3, {1, 2, 3}, hard_state{1, no_node}, {}, no_pre_vote);
  make_leader(c); // leader of term 2 with only its own no-op 1:t2
  invariant_checker chk;
  chk.observe(a);
  CHECK_THAT(violation([&] { chk.observe(c); }), Catch::Contains("Leader Completeness"));
}

TEST_CASE("the invariant checker rejects a term going back", "[checker]") {
  invariant_checker chk;
  chk.observe(make_core(1, {1, 2, 3}, hard_state{5, no_node}));
  CHECK_THAT(violation([&] { chk.observe(make_core(1, {1, 2, 3}, hard_state{3, no_node})); }),
             Catch::Contains("term went back"));
}

namespace {

/// A follower of {1, 2, 3} holding `data` at indexes 1.. (term 1), all committed.
raft_core committed_follower(const std::vector<std::string>& data) {
  std::vector<log_entry> log;
  for (std::size_t k = 0; k < data.size(); ++k)
    log.push_back(log_entry{1, k + 1, entry_type::command, data[k]});
  auto n = log.size();
  auto f = make_core(1, {1, 2, 3}, hard_state{1, no_node}, std::move(log));
  f.step(append_entries{1, 2, n, 1, {}, n, 0});
  REQUIRE(f.log().committed() == n);
  return f;
}

} // namespace

TEST_CASE("the invariant checker rejects a change to a node's last committed entry",
          "[checker]") {
  invariant_checker chk;
  chk.observe(committed_follower({"a", "b", "c"}));
  CHECK_THAT(violation([&] { chk.observe(committed_follower({"a", "b", "X"})); }),
             Catch::Contains("committed entry 3 changed"));
}

TEST_CASE("the invariant checker rejects a change to a committed entry in the middle of a log",
          "[checker]") {
  invariant_checker chk;
  chk.observe(committed_follower({"a", "b", "c"}));
  REQUIRE_THROWS_AS(chk.observe(committed_follower({"a", "X", "c"})), invariant_violation);
}

TEST_CASE("the invariant checker accepts a correct history and counts its checks",
          "[checker]") {
  auto sim = make_sim(3, 43);
  auto before = sim.checker().checks();
  REQUIRE(sim.elect() != no_node);
  run_ticks(sim, 3);
  CHECK(sim.checker().checks() > before);
  CHECK(sim.checker().max_committed() >= 1);
}
