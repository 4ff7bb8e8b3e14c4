// Raft paper §5.1, Raft basics: terms act as a logical clock. A node that
// sees a higher term adopts it and becomes a follower; a message of a stale
// term is rejected, and the answer carries the current term so its sender
// learns it is behind.

#include "tests/core/core_test_util.hpp"

#include <string>
#include <utility>
#include <vector>

using namespace raft;
using namespace raft::core_test;

namespace {

/// A node in `role` in a 3-node cluster (voters 1, 2, 3), term >= 2, log
/// [1:t1]. Check-quorum is off: a follower that just heard from its leader
/// would otherwise ignore vote requests on purpose (thesis §4.2.3, see
/// check_quorum_test.cpp), which is not what §5.1 is about.
raft_core node_in_role(raft_role role) {
  bool pre_vote = role == raft_role::pre_candidate;
  auto c = make_core(1, {1, 2, 3}, hard_state{2, no_node}, log_of({1}),
                     [&](raft_config& cfg) {
                       cfg.check_quorum = false;
                       cfg.pre_vote = pre_vote;
                     });
  switch (role) {
    case raft_role::follower:
      break;
    case raft_role::pre_candidate:
      REQUIRE(ticks_until_campaign(c) > 0);
      break;
    case raft_role::candidate:
      make_candidate(c);
      break;
    case raft_role::leader:
      make_leader(c);
      break;
  }
  drain(c);
  REQUIRE(c.role() == role);
  return c;
}

/// One message of every kind, all carrying term `t`, from node 2 or 3.
std::vector<std::pair<std::string, raft_message>> every_message(term_t t) {
  return {
    {"append_entries", append_entries{t, 2, 0, 0, {}, 0, 0}},
    {"append_entries_reply", append_entries_reply{t, 3, false, 0, 1, 1, 0, 0}},
    // A vote request this node must refuse (its log is longer), so the only
    // effect to see is the term.
    {"request_vote", request_vote{t, 3, 0, 0, false}},
    {"request_vote_reply", request_vote_reply{t, 3, false, false}},
    {"install_snapshot", install_snapshot{t, 2, 0, 0, 0, {}, false}},
    {"install_snapshot_reply", install_snapshot_reply{t, 3, 0, 0, false}},
  };
}

} // namespace

TEST_CASE("§5.1 a node that sees a higher term in any message adopts it and becomes follower",
          "[terms]") {
  auto role = GENERATE(raft_role::follower, raft_role::pre_candidate, raft_role::candidate,
                       raft_role::leader);
  for (auto& [name, msg] : every_message(100)) {
    INFO("role " << to_string(role) << ", message " << name);
    auto c = node_in_role(role);
    REQUIRE(c.term() < 100);
    c.step(msg);
    CHECK(c.term() == 100);
    CHECK(c.role() == raft_role::follower);
    // A new term starts with no vote cast in it.
    CHECK(c.voted_for() == no_node);
    // The new term is handed to storage before anything is said in it.
    auto rd = c.take_ready();
    CHECK(rd.has_state);
    CHECK(rd.state == hard_state{100, no_node});
  }
}

TEST_CASE("§5.1 a node that adopts a higher term from leader traffic learns the leader",
          "[terms]") {
  auto c = node_in_role(raft_role::candidate);
  c.step(append_entries{50, 3, 0, 0, {}, 0, 0});
  CHECK(c.term() == 50);
  CHECK(c.leader() == 3);
  // A higher-term vote request names no leader.
  auto d = node_in_role(raft_role::follower);
  d.step(request_vote{50, 3, 0, 0, false});
  CHECK(d.term() == 50);
  CHECK(d.leader() == no_node);
}

TEST_CASE("§5.1 an AppendEntries of a stale term is rejected and answered with the current term",
          "[terms]") {
  auto c = make_core(1, {1, 2, 3}, hard_state{5, no_node}, log_of({1}));
  append_entries stale{3, 2, 1, 1, {entry(2, 3)}, 2, 0};
  c.step(stale);
  CHECK(c.term() == 5);
  CHECK(c.log().last_index() == 1); // nothing appended
  CHECK(c.log().committed() == 0);  // its leader_commit was not believed
  CHECK(c.leader() == no_node);     // the stale sender is not our leader
  auto out = drain(c);
  auto replies = of_type<append_entries_reply>(out.messages, 2);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].term == 5);
  CHECK_FALSE(replies[0].success);
}

TEST_CASE("§5.1 an AppendEntries of a stale term does not reset the election timer",
          "[terms][election]") {
  // Two identical nodes (same config and seed, so the same random timeout);
  // one hears a stale leader every tick. Both must campaign at the same tick.
  auto quiet = make_core(1, {1, 2, 3}, hard_state{5, no_node}, log_of({1}));
  auto pestered = make_core(1, {1, 2, 3}, hard_state{5, no_node}, log_of({1}));
  int quiet_ticks = ticks_until_campaign(quiet);
  REQUIRE(quiet_ticks > 0);
  int t = 0;
  while (pestered.role() == raft_role::follower && t < 4 * election_ticks) {
    pestered.step(append_entries{4, 2, 1, 1, {}, 1, 0});
    pestered.tick();
    ++t;
  }
  CHECK(t == quiet_ticks);
}

TEST_CASE("§5.1 a RequestVote of a stale term is refused and changes nothing", "[terms]") {
  auto c = make_core(1, {1, 2, 3}, hard_state{5, no_node}, log_of({1}));
  drain(c);
  SECTION("a real vote request is refused") {
    c.step(request_vote{4, 2, 10, 4, false}); // its log would be up to date
    CHECK(c.voted_for() == no_node);
    CHECK(c.term() == 5);
    auto out = drain(c);
    for (const auto& r : of_type<request_vote_reply>(out.messages))
      CHECK_FALSE(r.vote_granted);
    CHECK(c.current_state() == hard_state{5, no_node});
  }
  SECTION("a pre-vote request is refused with the current term") {
    c.step(request_vote{4, 2, 10, 4, true});
    auto out = drain(c);
    auto replies = of_type<request_vote_reply>(out.messages, 2);
    REQUIRE(replies.size() == 1);
    CHECK_FALSE(replies[0].vote_granted);
    CHECK(replies[0].pre_vote);
    CHECK(replies[0].term == 5);
    CHECK(c.term() == 5);
  }
}

TEST_CASE("§5.1 a candidate does not count a vote granted in a stale term", "[terms]") {
  auto c = make_core(1, {1, 2, 3}, hard_state{2, no_node}, log_of({1}),
                     [](raft_config& cfg) { cfg.pre_vote = false; });
  make_candidate(c);
  REQUIRE(c.term() == 3);
  c.step(request_vote_reply{2, 2, true, false}); // from an election of term 2
  CHECK(c.role() == raft_role::candidate);
  c.step(request_vote_reply{3, 2, true, false}); // the real one
  CHECK(c.role() == raft_role::leader);
}

TEST_CASE("§5.1 a leader does not count an acknowledgement of a stale term", "[terms]") {
  auto c = make_core(1, {1, 2, 3}, hard_state{2, no_node}, log_of({1}),
                     [](raft_config& cfg) { cfg.pre_vote = false; });
  make_leader(c);
  auto noop = c.log().last_index();
  // Node 2 acknowledges the no-op, but with the term of an older leadership.
  append_entries_reply old{c.term() - 1, 2, true, noop, 0, 0, 0, 0};
  c.step(old);
  drain(c);
  CHECK(c.log().committed() < noop);
  ack(c, {2}, noop);
  CHECK(c.log().committed() == noop);
}

TEST_CASE("§5.1 a stale leader that hears of a higher term steps down", "[terms]") {
  // Check-quorum off, so the deposed leader keeps believing it leads until a
  // message tells it otherwise (check-quorum would make it step down on its
  // own; see check_quorum_test.cpp).
  auto sim = make_sim(3, 7, [](raft_config& cfg) { cfg.check_quorum = false; });
  auto old_leader = sim.elect();
  REQUIRE(old_leader != no_node);
  run_ticks(sim, 3);
  auto old_term = sim.core(old_leader).term();
  auto rest = others(sim, old_leader);
  sim.partition({{old_leader}, rest});
  // The stale leader accepts a write it can never commit.
  auto stale = sim.put(old_leader, "x", "stale");
  REQUIRE(stale.accepted);
  // The majority side elects a leader of a higher term.
  REQUIRE(sim.run_until([&] {
    for (auto id : rest)
      if (sim.core(id).role() == raft_role::leader)
        return true;
    return false;
  }));
  node_id new_leader = no_node;
  for (auto id : rest)
    if (sim.core(id).role() == raft_role::leader)
      new_leader = id;
  REQUIRE(sim.core(new_leader).term() > old_term);
  // Cut off, the old leader still believes it leads: two nodes claim to
  // lead, in different terms.
  REQUIRE(sim.core(old_leader).role() == raft_role::leader);
  REQUIRE(sim.core(old_leader).term() == old_term);

  sim.heal();
  run_ticks(sim, 2);
  CHECK(sim.core(old_leader).role() == raft_role::follower);
  CHECK(sim.core(old_leader).term() == sim.core(new_leader).term());
  CHECK(sim.core(old_leader).leader() == new_leader);
  CHECK(count_leaders(sim) == 1);
  // Its uncommitted write of the old term was replaced, never applied.
  run_ticks(sim, 3);
  CHECK_FALSE(sim.acknowledged(stale));
  CHECK(terms_of(sim.core(old_leader).log()) == terms_of(sim.core(new_leader).log()));
}
