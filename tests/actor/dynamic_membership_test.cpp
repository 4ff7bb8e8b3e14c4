// Actor-level deterministic tests of membership changes and snapshots
// (issue 4): real node, storage and snapshot actors over real files under
// CAF's test_coordinator, the invariant checker after every step.

#include "tests/actor/actor_cluster.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

using namespace raft;
using namespace raft::test;
using ms = std::chrono::milliseconds;

namespace {

bool contains(const std::vector<node_id>& ids, node_id id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

/// Writes through the leader and remembers what was acknowledged (a write
/// whose outcome is unknown may or may not be there later).
struct writer {
  explicit writer(actor_cluster& cluster) : c(cluster) {}

  actor_cluster& c;
  std::map<std::string, std::string> acked;
  std::map<std::string, std::set<std::string>> maybe;
  int next = 0;

  void write(int n) {
    for (int k = 0; k < n; ++k, ++next) {
      auto key = "key-" + std::to_string(next % 37);
      auto value = "v" + std::to_string(next);
      auto r = c.to_leader(kv_command{kv_op::put, key, value, {}});
      if (r.status == reply_status::ok) {
        acked[key] = value;
        maybe[key].clear();
      } else {
        REQUIRE(r.status == reply_status::unknown);
        maybe[key].insert(value);
      }
    }
  }

  /// Every acknowledged write reads back (or a later unknown one).
  void check_all() {
    for (const auto& [key, value] : acked) {
      auto r = c.to_leader(kv_command{kv_op::get, key, {}, {}});
      REQUIRE(r.status == reply_status::ok);
      if (r.value != value)
        REQUIRE(maybe[key].contains(r.value));
    }
  }
};

/// All live members applied the same state: equal digests and applied
/// indexes at the leader's commit index.
bool converged(actor_cluster& c, const std::vector<node_id>& members) {
  auto l = c.leader();
  if (l == no_node)
    return false;
  auto ls = c.query_status(l);
  if (!ls || ls->commit_index != ls->last_index)
    return false;
  for (auto id : members) {
    auto s = c.query_status(id);
    if (!s || s->applied_index != ls->commit_index || s->state_digest != ls->state_digest)
      return false;
  }
  return true;
}

} // namespace

TEST_CASE("TestDynamicMembership: grow 3 to 5 under writes, remove the leader, remove a "
          "dead follower, add it back with an empty disk") {
  auto seed = GENERATE(1u, 2u, 3u);
  CAPTURE(seed);
  actor_cluster c(3, seed, [](node_options& o) {
    o.snapshot_entries = 40; // compact often: re-adding a node needs a snapshot
    o.compaction_margin = 5;
  });
  REQUIRE(c.wait_for_leader() != no_node);
  writer w(c);
  w.write(30);

  // -- grow to 5: each new node joins as a learner and is promoted ----------
  for (node_id id : {4, 5}) {
    auto r = c.join(id);
    REQUIRE(r.status == reply_status::ok);
    w.write(10);
    REQUIRE(c.run_until([&] { return contains(c.voters(), id); }, ms(5000)));
  }
  REQUIRE(c.voters().size() == 5);
  w.write(20);

  // -- remove the leader: it hands over first, the new leader removes it ----
  auto old_leader = c.leader();
  auto r = c.remove(old_leader);
  REQUIRE(r.status == reply_status::ok);
  REQUIRE(c.leader() != old_leader);
  REQUIRE(c.run_until([&] { return c.voters().size() == 4; }, ms(3000)));
  REQUIRE_FALSE(contains(c.voters(), old_leader));
  c.kill(old_leader); // the operator stops the removed process
  w.write(20);

  // -- remove a dead follower -------------------------------------------------
  node_id dead = no_node;
  for (auto id : c.voters())
    if (id != c.leader())
      dead = id;
  REQUIRE(dead != no_node);
  c.kill(dead);
  r = c.remove(dead);
  REQUIRE(r.status == reply_status::ok);
  REQUIRE(c.run_until([&] { return c.voters().size() == 3; }, ms(3000)));
  w.write(60); // past a snapshot threshold: the log is compacted

  // -- add it back with an empty disk: it catches up by snapshot ------------
  c.wipe(dead);
  r = c.join(dead);
  REQUIRE(r.status == reply_status::ok);
  REQUIRE(c.run_until([&] { return contains(c.voters(), dead); }, ms(5000)));
  CHECK_FALSE(c.observer().installed[dead].empty());
  w.write(10);

  // -- nothing acknowledged lost; all members agree ---------------------------
  w.check_all();
  auto members = c.voters();
  REQUIRE(members.size() == 4);
  REQUIRE(c.run_until([&] { return converged(c, members); }, ms(3000)));
  CHECK(c.observer().checker.checks() > 1000);
}

namespace {

/// Writes keys [from, to) through the leader, `wave` requests in flight at a
/// time; every one must be acknowledged.
void fill(actor_cluster& c, int from, int to, int wave = 250) {
  for (int lo = from; lo < to; lo += wave) {
    auto l = c.wait_for_leader();
    REQUIRE(l != no_node);
    std::vector<reply_slot> slots;
    for (int k = lo; k < std::min(to, lo + wave); ++k)
      slots.push_back(c.send(l, kv_command{kv_op::put, "key-" + std::to_string(k),
                                           "value-" + std::to_string(k), {}},
                             ms(10'000)));
    REQUIRE(c.run_until(
      [&] {
        return std::all_of(slots.begin(), slots.end(), [](auto& s) { return s->has_value(); });
      },
      ms(20'000)));
    for (auto& s : slots)
      REQUIRE((*s)->status == reply_status::ok);
  }
}

client_reply snapshot_now(actor_cluster& c, node_id id) {
  return c.request(id, kv_command{kv_op::take_snapshot, {}, {}, {}}, ms(20'000));
}

} // namespace

TEST_CASE("a state of 100,000 keys reaches a follower that was down while the log was "
          "compacted, and a new learner, by snapshot") {
  constexpr int keys = 100'000;
  actor_cluster c(3, 7, [](node_options& o) {
    o.snapshot_entries = 0; // only when asked: the test decides when
    o.snapshot_log_bytes = 0;
    o.compaction_margin = 100;
    o.snapshot_batch_bytes = 256 << 10; // many batches and chunks
    o.snapshot_chunk_bytes = 256 << 10;
  });
  REQUIRE(c.wait_for_leader() != no_node);
  fill(c, 0, keys / 2);
  // A follower goes down; the others go on and compact their logs.
  node_id down = no_node;
  for (auto id : c.ids())
    if (id != c.leader())
      down = id;
  c.kill(down);
  fill(c, keys / 2, keys);
  for (auto id : c.ids())
    if (c.alive(id)) {
      auto r = snapshot_now(c, id);
      REQUIRE(r.status == reply_status::ok);
      CAPTURE(r.message);
      auto s = c.query_status(id);
      REQUIRE(s);
      CHECK(s->first_index > static_cast<index_t>(keys / 2)); // compacted past what `down` has
    }
  auto leader = c.leader();
  auto ls = c.query_status(leader);
  REQUIRE(ls);
  REQUIRE(ls->keys == static_cast<uint64_t>(keys));

  // The follower comes back: its next entries are gone, it gets the snapshot.
  c.respawn(down);
  REQUIRE(c.run_until(
    [&] {
      auto s = c.query_status(down);
      return s && s->applied_index >= ls->commit_index;
    },
    ms(30'000)));
  CHECK_FALSE(c.observer().installed[down].empty());
  auto ds = c.query_status(down);
  REQUIRE(ds);
  CHECK(ds->keys == static_cast<uint64_t>(keys));
  CHECK(ds->state_digest == ls->state_digest);

  // A new node joins: it too starts from the snapshot, and is promoted.
  REQUIRE(c.join(4, ms(10'000)).status == reply_status::ok);
  REQUIRE(c.run_until([&] { return contains(c.voters(), 4); }, ms(30'000)));
  CHECK_FALSE(c.observer().installed[4].empty());
  REQUIRE(c.run_until(
    [&] {
      auto s = c.query_status(4);
      auto l = c.query_status(c.leader());
      return s && l && s->applied_index == l->commit_index && s->state_digest == l->state_digest;
    },
    ms(10'000)));
  auto ns = c.query_status(4);
  REQUIRE(ns);
  CHECK(ns->keys == static_cast<uint64_t>(keys));
  // And the cluster still takes writes with all four.
  REQUIRE(c.to_leader(kv_command{kv_op::put, "after", "join", {}}).status == reply_status::ok);
}

TEST_CASE("a membership change that cannot commit (no quorum) is reported, not left "
          "pending; one change at a time") {
  actor_cluster c(3, 11);
  auto leader = c.wait_for_leader();
  REQUIRE(leader != no_node);
  REQUIRE(c.to_leader(kv_command{kv_op::put, "k", "v", {}}).status == reply_status::ok);
  for (auto id : c.ids())
    if (id != leader)
      c.kill(id);
  // The leader appends the change but can never commit it: the client hears
  // that the outcome is unknown once the node's client timeout has passed.
  auto slot = c.send(leader, kv_command{kv_op::add_member, "4", "", {}}, ms(10'000));
  // While it is pending, a second change is refused at once.
  auto second = c.request(leader, kv_command{kv_op::remove_member, "3", {}, {}});
  CHECK(second.status == reply_status::unavailable);
  CHECK(second.message.find("has not committed yet") != std::string::npos);
  REQUIRE(c.run_until([&] { return slot->has_value(); }, ms(10'000)));
  CHECK((*slot)->status == reply_status::unknown);
  CHECK_FALSE((*slot)->message.empty());
}
