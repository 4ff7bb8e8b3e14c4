// ReadIndex (Ongaro's thesis §6.4): a linearizable read without a log entry.
// The leader records its commit index as the read index, confirms it still
// leads with a heartbeat round acknowledged by a majority, and only then may
// the read be served (once the state machine has applied the read index). A
// new leader first commits an entry of its own term, since until then its
// commit index may lag the cluster's.

#include "tests/core/core_test_util.hpp"

#include <algorithm>
#include <set>
#include <vector>

using namespace raft;
using namespace raft::core_test;

namespace {

/// An elected, quiet cluster of n nodes.
struct cluster {
  sim_cluster sim;
  node_id leader = no_node;
  cluster(std::size_t n, uint64_t seed) : sim(make_sim(n, seed)) {
    leader = sim.elect();
    REQUIRE(leader != no_node);
    run_ticks(sim, 2);
  }
};

bool has_read(sim_cluster& sim, node_id id, uint64_t ctx) {
  const auto& reads = sim.node(id).reads;
  return std::any_of(reads.begin(), reads.end(),
                     [&](const read_state& r) { return r.ctx == ctx; });
}

} // namespace

TEST_CASE("§6.4 a read is confirmed only after a heartbeat round reaches a majority",
          "[read_index]") {
  cluster c(5, 31);
  auto& sim = c.sim;
  REQUIRE(sim.read(c.leader, 42));
  // Nothing delivered: not confirmed, however long we look.
  CHECK(sim.node(c.leader).reads.empty());
  CHECK(on_wire<append_entries>(sim.in_flight(), c.leader).size() == 4);
  // Deliver one message at a time; the read is confirmed exactly when a
  // second follower's answer (leader + 2 = 3 of 5) has arrived.
  std::set<node_id> answered;
  while (!sim.in_flight().empty()) {
    const auto& next = sim.in_flight().front();
    bool reply_to_leader = next.to == c.leader
                           && std::holds_alternative<append_entries_reply>(next.msg);
    auto from = next.from;
    sim.deliver_one();
    if (reply_to_leader)
      answered.insert(from);
    INFO(answered.size() << " followers answered");
    CHECK(has_read(sim, c.leader, 42) == (answered.size() >= 2));
  }
  CHECK(answered.size() == 4);
}

TEST_CASE("§6.4 the read index is the commit index at the time of the request, and a read "
          "writes no log entry",
          "[read_index]") {
  cluster c(3, 32);
  auto& sim = c.sim;
  auto p = sim.put(c.leader, "x", "1");
  sim.deliver_all();
  auto commit = sim.core(c.leader).log().committed();
  REQUIRE(commit == p.index);
  std::vector<index_t> last_before;
  for (auto id : sim.ids())
    last_before.push_back(sim.core(id).log().last_index());
  REQUIRE(sim.read(c.leader, 7));
  sim.deliver_all();
  auto& reads = sim.node(c.leader).reads;
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].ctx == 7);
  CHECK(reads[0].index == commit);
  // The read left no trace in any log.
  for (std::size_t k = 0; k < sim.ids().size(); ++k)
    CHECK(sim.core(sim.ids()[k]).log().last_index() == last_before[k]);

  SECTION("writes that commit while the read is confirmed do not move its index") {
    REQUIRE(sim.read(c.leader, 8));
    auto later = sim.put(c.leader, "x", "2");
    sim.deliver_all();
    REQUIRE(sim.core(c.leader).log().committed() == later.index);
    REQUIRE(reads.size() == 2);
    CHECK(reads[1].ctx == 8);
    CHECK(reads[1].index == commit);
  }
}

TEST_CASE("§6.4 a new leader confirms no read until it has committed an entry of its term",
          "[read_index]") {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    INFO("seed " << seed);
    cluster c(3, seed);
    auto& sim = c.sim;
    // The old leader commits x=1; the followers have it but do not know it
    // is committed when the old leader crashes.
    auto p = sim.put(c.leader, "x", "1");
    REQUIRE(deliver_until(sim, [&] { return sim.core(c.leader).log().committed() >= p.index; }));
    sim.crash(c.leader);
    auto fs = others(sim, c.leader);
    for (auto f : fs)
      REQUIRE(sim.core(f).log().committed() < p.index);
    // Stop the moment a new leader is elected, before its no-op is out.
    node_id next = no_node;
    for (int t = 0; t < 40 * election_ticks && next == no_node; ++t) {
      sim.tick_all();
      deliver_until(sim, [&] { return sim.leader() != no_node; });
      next = sim.leader();
    }
    REQUIRE(next != no_node);
    // Its commit index lags: a read answered now at that index would miss x=1.
    REQUIRE(sim.core(next).log().committed() < p.index);
    REQUIRE(sim.read(next, 99));
    // Never confirmed before the no-op commits; when confirmed, it covers x=1.
    auto noop = sim.core(next).log().last_index();
    for (int step = 0; step < 100'000 && !has_read(sim, next, 99); ++step) {
      if (!sim.deliver_one())
        sim.tick_all();
      if (!has_read(sim, next, 99))
        REQUIRE(sim.core(next).role() == raft_role::leader);
    }
    REQUIRE(has_read(sim, next, 99));
    CHECK(sim.core(next).log().committed() >= noop);
    auto r = sim.node(next).reads.back();
    CHECK(r.index >= p.index);
    CHECK(r.index >= noop);
  }
}

TEST_CASE("§6.4 a leader in a minority never confirms a read", "[read_index]") {
  cluster c(5, 33);
  auto& sim = c.sim;
  auto fs = others(sim, c.leader);
  sim.partition({{c.leader, fs[0]}, {fs[1], fs[2], fs[3]}});
  REQUIRE(sim.read(c.leader, 5));
  for (int t = 0; t < 3 * election_ticks; ++t) {
    run_ticks(sim, 1);
    CHECK_FALSE(has_read(sim, c.leader, 5));
  }
  // By now check-quorum has made it step down; the read is gone for good.
  CHECK(sim.core(c.leader).role() == raft_role::follower);
  sim.heal();
  run_ticks(sim, 3 * election_ticks);
  CHECK_FALSE(has_read(sim, c.leader, 5));
}

TEST_CASE("§6.4 a leader that steps down drops its pending reads", "[read_index]") {
  // A standalone leader of 3 whose no-op is committed.
  auto l = make_core(1, {1, 2, 3}, hard_state{1, no_node}, log_of({1}));
  make_leader(l);
  ack(l, {2}, l.log().last_index());
  REQUIRE(l.log().committed() == l.log().last_index());
  SECTION("a read waiting for its heartbeat round, on a higher term") {
    REQUIRE(l.read_index(11));
    auto out = drain(l);
    CHECK(out.reads.empty());
    CHECK(of_type<append_entries>(out.messages).size() == 2); // the round
    l.step(append_entries_reply{l.term() + 1, 2, false, 0, 0, 0, 0, 0});
    auto after = drain(l);
    CHECK(l.role() == raft_role::follower);
    CHECK(after.dropped_reads == std::vector<uint64_t>{11});
    CHECK(after.reads.empty());
  }
  SECTION("a read waiting for its heartbeat round, on check-quorum") {
    REQUIRE(l.read_index(12));
    output all;
    for (int t = 0; t < 3 * election_ticks && l.role() == raft_role::leader; ++t) {
      l.tick();
      auto out = drain(l);
      all.reads.insert(all.reads.end(), out.reads.begin(), out.reads.end());
      all.dropped_reads.insert(all.dropped_reads.end(), out.dropped_reads.begin(),
                               out.dropped_reads.end());
    }
    CHECK(l.role() == raft_role::follower);
    CHECK(all.reads.empty());
    CHECK(all.dropped_reads == std::vector<uint64_t>{12});
  }
  SECTION("a read waiting for the leader's first commit") {
    auto m = make_core(1, {1, 2, 3}, hard_state{1, no_node}, log_of({1}));
    make_leader(m);
    REQUIRE(m.read_index(13));
    m.step(append_entries{m.term() + 1, 2, 0, 0, {}, 0, 0});
    auto out = drain(m);
    CHECK(out.dropped_reads == std::vector<uint64_t>{13});
    CHECK(out.reads.empty());
  }
}

TEST_CASE("§6.4 a follower refuses read_index", "[read_index]") {
  cluster c(3, 34);
  auto f = others(c.sim, c.leader).front();
  CHECK_FALSE(c.sim.read(f, 1));
  run_ticks(c.sim, 3);
  CHECK(c.sim.node(f).reads.empty());
}

TEST_CASE("§6.4 a single-node cluster confirms a read at once", "[read_index]") {
  auto sim = make_sim(1, 35);
  REQUIRE(sim.elect() == 1);
  auto p = sim.put(1, "x", "1");
  REQUIRE(sim.core(1).log().committed() == p.index);
  REQUIRE(sim.read(1, 3));
  REQUIRE(sim.node(1).reads.size() == 1);
  CHECK(sim.node(1).reads[0].ctx == 3);
  CHECK(sim.node(1).reads[0].index == p.index);
  CHECK(sim.core(1).log().last_index() == p.index);
}
