// Raft paper §5.3, log replication: a leader appends proposals to its log and
// replicates them; a follower accepts an AppendEntries only if its log holds
// prev_log_index at prev_log_term (the consistency check), deletes a
// conflicting suffix and appends; the leader backs up nextIndex on rejection
// (here with the conflict hint of thesis §5.3 / paper p.7, "fast
// backtracking"), pipelines AppendEntries to followers that match and probes
// one at a time after a rejection, and batches the proposals of one turn.

#include "tests/core/core_test_util.hpp"

#include <map>
#include <set>
#include <string>
#include <vector>

using namespace raft;
using namespace raft::core_test;

namespace {

/// The number of distinct terms in `follower` after the longest prefix it
/// shares with `leader`: the rounds of fast backtracking a divergence costs.
std::size_t conflicting_terms(const std::vector<term_t>& leader,
                              const std::vector<term_t>& follower) {
  std::size_t common = 0;
  while (common < leader.size() && common < follower.size()
         && leader[common] == follower[common])
    ++common;
  return std::set<term_t>(follower.begin() + static_cast<std::ptrdiff_t>(common),
                          follower.end())
    .size();
}

/// Rejections each follower sent in term `t`, from a recording sim.
std::map<node_id, std::vector<append_entries_reply>>
rejections(const sim_cluster& sim, term_t t) {
  std::map<node_id, std::vector<append_entries_reply>> out;
  for (const auto& w : sim.sent_log)
    if (const auto* r = std::get_if<append_entries_reply>(&w.msg); r && !r->success && r->term == t)
      out[w.from].push_back(*r);
  return out;
}

/// An elected 3-node cluster, quiet, with every follower in replicate mode.
struct steady_cluster {
  sim_cluster sim;
  node_id leader = no_node;
  explicit steady_cluster(uint64_t seed, const std::function<void(raft_config&)>& tweak = {})
    : sim(make_sim(3, seed, tweak)) {
    leader = sim.elect();
    REQUIRE(leader != no_node);
    run_ticks(sim, 3);
    for (auto f : others(sim, leader))
      REQUIRE(sim.core(leader).progress_of(f)->state() == progress::mode::replicate);
  }
};

} // namespace

TEST_CASE("§5.3 a proposal is replicated to every follower, committed and applied everywhere",
          "[replication]") {
  auto n = GENERATE(3, 5);
  INFO(n << " nodes");
  auto sim = make_sim(static_cast<std::size_t>(n), 5);
  auto leader = sim.elect();
  REQUIRE(leader != no_node);
  run_ticks(sim, 2);
  auto p = sim.put(leader, "x", "1");
  REQUIRE(p.accepted);
  CHECK(p.term == sim.core(leader).term());
  sim.deliver_all();
  CHECK(sim.core(leader).log().committed() == p.index);
  for (auto id : sim.ids()) {
    INFO("node " << id);
    REQUIRE(sim.core(id).log().last_index() >= p.index);
    CHECK(sim.core(id).log().at(p.index) == sim.core(leader).log().at(p.index));
  }
  // Followers learn the commit index from the next AppendEntries.
  run_ticks(sim, 1);
  CHECK(sim.acknowledged(p));
  for (auto id : sim.ids()) {
    INFO("node " << id);
    CHECK(sim.core(id).log().applied() >= p.index);
    CHECK(sim.node(id).kv.read("x").value == "1");
  }
}

TEST_CASE("§5.3 a follower learns a commit from the leader without waiting for a heartbeat",
          "[replication]") {
  // Once the leader commits, followers hear of it right away (an empty
  // AppendEntries), so they apply without waiting a heartbeat interval.
  steady_cluster c(5);
  auto& sim = c.sim;
  auto p = sim.put(c.leader, "x", "1");
  sim.deliver_all(); // no tick
  REQUIRE(sim.core(c.leader).log().committed() == p.index);
  for (auto id : others(sim, c.leader)) {
    INFO("node " << id);
    CHECK(sim.core(id).log().committed() == p.index);
  }
}

TEST_CASE("§5.3 a follower rejects AppendEntries whose prev_log_index/prev_log_term it does not "
          "hold, with a conflict hint",
          "[replication]") {
  // Follower log: [1:t1, 2:t1, 3:t2, 4:t2]; leader of term 3.
  auto c = make_core(1, {1, 2, 3}, hard_state{3, no_node}, log_of({1, 1, 2, 2}));
  auto reply_to = [&](const append_entries& m) {
    c.step(m);
    auto r = of_type<append_entries_reply>(drain(c).messages, 2);
    REQUIRE(r.size() == 1);
    return r[0];
  };
  SECTION("the term at prev_log_index differs") {
    auto r = reply_to(append_entries{3, 2, 4, 3, {entry(5, 3)}, 0, 0});
    CHECK_FALSE(r.success);
    CHECK(r.rejected_index == 4);
    CHECK(r.conflict_term == 2);  // the term it holds at 4 ...
    CHECK(r.conflict_index == 3); // ... and where that term starts
    CHECK(c.log().last_index() == 4);
    CHECK(terms_of(c.log()) == std::vector<term_t>{1, 1, 2, 2});
  }
  SECTION("prev_log_index is past its last entry") {
    auto r = reply_to(append_entries{3, 2, 9, 3, {entry(10, 3)}, 0, 0});
    CHECK_FALSE(r.success);
    CHECK(r.rejected_index == 9);
    CHECK(r.conflict_term == 0);
    CHECK(r.conflict_index == 5); // its last index + 1
    CHECK(c.log().last_index() == 4);
  }
  SECTION("a match is accepted") {
    auto r = reply_to(append_entries{3, 2, 2, 1, {entry(3, 3)}, 0, 0});
    CHECK(r.success);
    CHECK(r.match_index == 3);
  }
}

TEST_CASE("§5.3 a follower deletes a conflicting suffix and takes the leader's entries",
          "[replication]") {
  auto c = make_core(1, {1, 2, 3}, hard_state{3, no_node}, log_of({1, 1, 2, 2, 2}));
  drain(c);
  // The leader of term 3 agrees up to index 2 and has a term-3 entry at 3.
  c.step(append_entries{3, 2, 2, 1, {entry(3, 3)}, 0, 0});
  CHECK(terms_of(c.log()) == std::vector<term_t>{1, 1, 3});
  auto out = drain(c);
  // The rewrite is handed to storage from the first changed index.
  REQUIRE(out.batches.size() >= 1);
  REQUIRE_FALSE(out.batches[0].entries.empty());
  CHECK(out.batches[0].entries.front().index == 3);
  auto r = of_type<append_entries_reply>(out.messages, 2);
  REQUIRE(r.size() == 1);
  CHECK(r[0].success);
  CHECK(r[0].match_index == 3);
}

TEST_CASE("§5.3 a follower commits min(leader_commit, index of its last new entry)",
          "[replication]") {
  // Figure 2, AppendEntries rule 5: a heartbeat that only vouches for index 1
  // must not commit the stale 3:t2 the follower still holds, whatever the
  // leader's commit index.
  auto c = make_core(1, {1, 2, 3}, hard_state{3, no_node}, log_of({1, 1, 2}));
  c.step(append_entries{3, 2, 1, 1, {}, 3, 0});
  CHECK(c.log().committed() == 1);
  c.step(append_entries{3, 2, 1, 1, {entry(2, 1)}, 3, 0});
  CHECK(c.log().committed() == 2);
  CHECK(c.log().last_index() == 3); // 2:t1 matched; nothing was cut
}

TEST_CASE("§5.3 the Figure 7 followers are repaired with few rejections (fast backtracking)",
          "[replication]") {
  // The leader of term 8 and followers (a)-(f) of the paper's Figure 7.
  const std::vector<term_t> leader_log{1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
  const std::map<node_id, std::vector<term_t>> followers{
    {2, {1, 1, 1, 4, 4, 5, 5, 6, 6}},       // (a) one short
    {3, {1, 1, 1, 4}},                      // (b) far behind
    {4, {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}}, // (c) one extra uncommitted entry
    {5, {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}}, // (d) two extra of term 7
    {6, {1, 1, 1, 4, 4, 4, 4}},             // (e) diverged in term 4
    {7, {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}}, // (f) diverged in terms 2 and 3
  };
  auto sim = make_sim(7, 1);
  load_disk(sim, 1, hard_state{7, no_node}, log_of(leader_log));
  for (const auto& [id, terms] : followers)
    load_disk(sim, id, hard_state{7, no_node}, log_of(terms));
  sim.record_sent = true;
  // Only node 1's clock runs: it wins with the votes of a, b, e, f.
  REQUIRE(campaign_until_leader(sim, 1));
  REQUIRE(sim.core(1).term() == 8);
  sim.deliver_all(); // no tick: every repair is driven by replies alone

  auto expected = leader_log;
  expected.push_back(8); // the leader's no-op
  auto rejected = rejections(sim, 8);
  std::size_t naive = 0;
  for (const auto& [id, terms] : followers) {
    INFO("follower " << id);
    CHECK(terms_of(sim.core(id).log()) == expected);
    auto bound = conflicting_terms(leader_log, terms) + 1;
    CHECK(rejected[id].size() <= bound);
    std::size_t common = 0;
    while (common < terms.size() && common < leader_log.size()
           && terms[common] == leader_log[common])
      ++common;
    naive += leader_log.size() - common;
  }
  // (f) first says "I hold term 3 at 10, from index 7"; the leader holds no
  // term 3, so it skips the whole term.
  REQUIRE_FALSE(rejected[7].empty());
  CHECK(rejected[7][0].rejected_index == 10);
  CHECK(rejected[7][0].conflict_term == 3);
  CHECK(rejected[7][0].conflict_index == 7);
  // Where the leader retried tells which hint it used: for (e) it holds
  // term 4 itself, so it retries right after its own last 4 (prev 5), not
  // from the follower's first 4 (prev 3) -- (e)'s 4:t4 and 5:t4 are not
  // sent again; for (f) it holds neither 3 nor 2, so it skips both terms.
  auto probes_to = [&](node_id id) {
    std::vector<index_t> prevs;
    for (const auto& w : sim.sent_log)
      if (const auto* m = std::get_if<append_entries>(&w.msg); m && w.to == id && m->term == 8)
        prevs.push_back(m->prev_log_index);
    return prevs;
  };
  CHECK(probes_to(6) == std::vector<index_t>{10, 7, 5});
  CHECK(probes_to(7) == std::vector<index_t>{10, 6, 3});
  // One entry at a time would have cost far more.
  std::size_t total = 0;
  for (const auto& [id, r] : rejected)
    total += r.size();
  CHECK(total < naive);
  CHECK(sim.core(1).log().committed() == expected.size());
}

TEST_CASE("§5.3 a follower far behind or diverged is repaired in few round trips",
          "[replication]") {
  struct scenario {
    const char* name;
    std::vector<term_t> leader;
    std::vector<term_t> follower;
  };
  std::vector<term_t> long_log(200, 1);
  std::vector<term_t> diverged_leader{1};
  std::vector<term_t> diverged_follower{1};
  for (int i = 0; i < 100; ++i) {
    diverged_leader.push_back(3);
    diverged_follower.push_back(2);
  }
  std::vector<term_t> staircase_leader{1, 10, 10, 10, 10, 10, 10};
  std::vector<term_t> staircase_follower{1, 2, 3, 4, 5};
  auto s = GENERATE_COPY(scenario{"empty follower, 200 entries behind", long_log, {}},
                         scenario{"100 entries of a stale term", diverged_leader,
                                  diverged_follower},
                         scenario{"one entry of each of four stale terms", staircase_leader,
                                  staircase_follower});
  INFO(s.name);
  // Node 1 leads; node 2 holds the leader's log; node 3 is the one repaired.
  auto sim = make_sim(3, 2);
  auto top = std::max(s.leader.back(), s.follower.empty() ? term_t{0} : s.follower.back());
  load_disk(sim, 1, hard_state{top, no_node}, log_of(s.leader));
  load_disk(sim, 2, hard_state{top, no_node}, log_of(s.leader));
  load_disk(sim, 3, hard_state{top, no_node}, log_of(s.follower));
  sim.record_sent = true;
  REQUIRE(campaign_until_leader(sim, 1));
  sim.deliver_all();
  auto expected = s.leader;
  expected.push_back(sim.core(1).term());
  CHECK(terms_of(sim.core(3).log()) == expected);
  auto rejected = rejections(sim, sim.core(1).term());
  CHECK(rejected[3].size() <= conflicting_terms(s.leader, s.follower) + 1);
  CHECK(rejected[2].empty());
}

TEST_CASE("§5.3 a leader pipelines AppendEntries to a follower, at most max_inflight at once",
          "[replication][pipeline]") {
  steady_cluster c(9, [](raft_config& cfg) { cfg.max_inflight = 4; });
  auto& sim = c.sim;
  auto follower = others(sim, c.leader).front();
  std::vector<proposal> ps;
  for (int i = 0; i < 10; ++i) {
    ps.push_back(sim.put(c.leader, "k" + std::to_string(i), "v"));
    // Each turn's proposal goes out at once, without waiting for replies.
    auto to_follower = on_wire<append_entries>(sim.in_flight(), c.leader, follower);
    CHECK(to_follower.size() == std::min<std::size_t>(ps.size(), 4));
  }
  // Nothing has been answered yet.
  CHECK(on_wire<append_entries_reply>(sim.in_flight()).empty());
  // As replies free slots, the rest follows.
  sim.deliver_all();
  CHECK(sim.core(follower).log().last_index() == sim.core(c.leader).log().last_index());
  CHECK(sim.core(c.leader).log().committed() == ps.back().index);
}

TEST_CASE("§5.3 after a rejection the leader probes a follower one AppendEntries at a time",
          "[replication][pipeline]") {
  steady_cluster c(13);
  auto& sim = c.sim;
  auto fs = others(sim, c.leader);
  auto lagging = fs[0];
  // The lagging follower misses three entries; the leader, streaming, thinks
  // they are on their way.
  sim.cut(c.leader, lagging);
  for (int i = 0; i < 3; ++i)
    sim.put(c.leader, "a" + std::to_string(i), "v");
  sim.deliver_all();
  sim.heal();
  // The next entry is rejected: the follower lacks its predecessors.
  sim.put(c.leader, "b", "v");
  const auto* pr = sim.core(c.leader).progress_of(lagging);
  REQUIRE(pr->state() == progress::mode::replicate);
  REQUIRE(deliver_until(sim, [&] { return pr->state() == progress::mode::probe; }));
  // Exactly one probe is out, and new proposals do not add to it.
  auto probes = [&] {
    std::size_t n = 0;
    for (const auto& m : on_wire<append_entries>(sim.in_flight(), c.leader, lagging))
      if (!m.entries.empty())
        ++n;
    return n;
  };
  CHECK(probes() == 1);
  for (int i = 0; i < 3; ++i)
    sim.put(c.leader, "c" + std::to_string(i), "v");
  CHECK(probes() == 1);
  CHECK(pr->state() == progress::mode::probe);
  // Once the probe succeeds, replication streams again and catches up.
  sim.deliver_all();
  CHECK(pr->state() == progress::mode::replicate);
  CHECK(terms_of(sim.core(lagging).log()) == terms_of(sim.core(c.leader).log()));
}

TEST_CASE("§5.3 proposals of one turn go out in one AppendEntries per follower",
          "[replication][batching]") {
  steady_cluster c(17);
  auto& sim = c.sim;
  auto first = sim.core(c.leader).log().last_index() + 1;
  // Ten proposals before the leader's output is taken (one turn of the shell).
  for (int i = 0; i < 9; ++i)
    REQUIRE(sim.core(c.leader).propose(entry_data(first + static_cast<index_t>(i), 0)).accepted);
  auto last = sim.propose(c.leader, entry_data(first + 9, 0));
  REQUIRE(last.index == first + 9);
  for (auto f : others(sim, c.leader)) {
    INFO("follower " << f);
    auto msgs = on_wire<append_entries>(sim.in_flight(), c.leader, f);
    REQUIRE(msgs.size() == 1);
    REQUIRE(msgs[0].entries.size() == 10);
    CHECK(msgs[0].entries.front().index == first);
    CHECK(msgs[0].entries.back().index == last.index);
  }
  sim.deliver_all();
  CHECK(sim.core(c.leader).log().committed() == last.index);
}

TEST_CASE("§5.3 duplicate and reordered AppendEntries never truncate a follower's log",
          "[replication]") {
  auto c = make_core(1, {1, 2, 3}, hard_state{1, no_node}, {});
  append_entries first{1, 2, 0, 0, {entry(1, 1), entry(2, 1), entry(3, 1)}, 0, 0};
  append_entries second{1, 2, 3, 1, {entry(4, 1), entry(5, 1)}, 2, 0};
  append_entries middle{1, 2, 1, 1, {entry(2, 1)}, 1, 0};
  c.step(first);
  c.step(second);
  REQUIRE(c.log().last_index() == 5);
  REQUIRE(c.log().committed() == 2);
  drain(c);
  SECTION("a duplicate of an older message") {
    c.step(first);
    auto r = of_type<append_entries_reply>(drain(c).messages, 2);
    REQUIRE(r.size() == 1);
    CHECK(r[0].success);
    // It vouches for no more than that message carried.
    CHECK(r[0].match_index <= 3);
  }
  SECTION("an older message that arrives late") {
    c.step(middle);
  }
  SECTION("a duplicate of the newest message") {
    c.step(second);
  }
  CHECK(c.log().last_index() == 5);
  CHECK(terms_of(c.log()) == std::vector<term_t>{1, 1, 1, 1, 1});
  CHECK(c.log().committed() == 2); // never lowered
  // Nothing was rewritten, so nothing new goes to storage.
  for (const auto& rd : drain(c).batches)
    CHECK(rd.entries.empty());
}

TEST_CASE("§5.3 replication survives duplicated, reordered and lost messages",
          "[replication]") {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    INFO("seed " << seed);
    auto sim = make_sim(5, seed);
    auto leader = sim.elect();
    REQUIRE(leader != no_node);
    run_ticks(sim, 2);
    sim.faults.duplicate = 0.2;
    sim.faults.drop = 0.1;
    sim.faults.reorder = true;
    std::vector<proposal> ps;
    for (int i = 0; i < 30; ++i) {
      auto l = sim.leader();
      if (l != no_node)
        ps.push_back(sim.put(l, "k" + std::to_string(i), std::to_string(i)));
      run_ticks(sim, 1);
    }
    sim.faults = {};
    run_ticks(sim, 5 * election_ticks);
    auto l = sim.leader();
    REQUIRE(l != no_node);
    for (auto id : sim.ids()) {
      INFO("node " << id);
      CHECK(terms_of(sim.core(id).log()) == terms_of(sim.core(l).log()));
      CHECK(sim.node(id).kv.digest() == sim.node(l).kv.digest());
    }
    CHECK(sim.checker().checks() > 0);
  }
}
