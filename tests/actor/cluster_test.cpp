// Actor-level deterministic tests (DESIGN.md, testing layer 2): several real
// node actors, each with its real storage actor over its own data directory,
// in one actor system under CAF's test_coordinator. Virtual time, one
// thread, no sleeps. The invariant checker runs after every step of every
// node (actor_cluster's observer).

#include "tests/actor/actor_cluster.hpp"

#include "actors/kv/command_codec.hpp"
#include "actors/kv/kv_store.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace raft;
using namespace raft::test;
using ms = std::chrono::milliseconds;

namespace {

kv_command put_cmd(const std::string& k, const std::string& v) {
  return kv_command{kv_op::put, k, v, {}};
}

kv_command get_cmd(const std::string& k) {
  return kv_command{kv_op::get, k, {}, {}};
}

/// The cluster's timing: the longest randomized election timeout and the
/// heartbeat interval, in virtual time.
caf::timespan max_election_timeout(const actor_cluster& c) {
  return 2 * c.options().raft.election_ticks * c.options().tick_interval;
}

caf::timespan heartbeat_interval(const actor_cluster& c) {
  return c.options().raft.heartbeat_ticks * c.options().tick_interval;
}

/// Every live node applied everything the leader committed.
bool converged(actor_cluster& c) {
  auto l = c.leader();
  if (l == no_node)
    return false;
  const auto& ls = c.status(l);
  if (ls.commit_index != ls.last_index)
    return false;
  for (auto id : c.ids())
    if (c.alive(id)
        && (!c.observer().latest.contains(id) || c.status(id).applied_index != ls.commit_index
            || c.status(id).term != ls.term))
      return false;
  return true;
}

/// The key-value state a node reached, rebuilt from what it applied.
kv_store state_of(actor_cluster& c, node_id id) {
  kv_store kv;
  for (const auto& e : c.observer().applied_log[id])
    kv.apply(e);
  return kv;
}

/// Applied sequences must be prefixes of one another (State Machine Safety).
void require_prefixes(actor_cluster& c) {
  const auto& logs = c.observer().applied_log;
  for (const auto& [a, la] : logs)
    for (const auto& [b, lb] : logs) {
      auto n = std::min(la.size(), lb.size());
      for (std::size_t i = 0; i < n; ++i) {
        INFO("nodes " << a << " and " << b << " at applied position " << i);
        REQUIRE(la[i] == lb[i]);
      }
    }
}

void check_basic_cluster(std::size_t n) {
  actor_cluster c(n);
  auto leader = c.wait_for_leader(ms(2000));
  REQUIRE(leader != no_node);
  // Election Safety, as every node sees it right now.
  std::set<node_id> leaders;
  for (auto id : c.ids())
    if (c.status(id).role == raft_role::leader && c.status(id).term == c.status(leader).term)
      leaders.insert(id);
  REQUIRE(leaders.size() == 1);

  for (int i = 0; i < 20; ++i) {
    auto r = c.request(leader, put_cmd("key" + std::to_string(i), "value" + std::to_string(i)));
    REQUIRE(r.status == reply_status::ok);
  }
  for (int i = 0; i < 20; ++i) {
    auto r = c.request(leader, get_cmd("key" + std::to_string(i)));
    REQUIRE(r.status == reply_status::ok);
    REQUIRE(r.value == "value" + std::to_string(i));
  }
  REQUIRE(c.request(leader, get_cmd("absent")).status == reply_status::not_found);

  // A follower forwards a client's command to the leader...
  auto follower = leader == 1 ? node_id{2} : node_id{1};
  REQUIRE(c.request(follower, put_cmd("via-follower", "v")).status == reply_status::ok);
  REQUIRE(c.request(follower, get_cmd("via-follower")).value == "v");
  // ...but only once: a command that was already forwarded is refused with
  // the leader's id, so stale hints cannot make it loop.
  auto again = put_cmd("k", "v");
  again.forwarded = 1;
  auto r = c.request(follower, again);
  REQUIRE(r.status == reply_status::not_leader);
  REQUIRE(r.leader_hint == leader);

  // Every node applies the same sequence.
  REQUIRE(c.run_until([&] { return converged(c); }, ms(1000)));
  for (auto id : c.ids()) {
    auto kv = state_of(c, id);
    REQUIRE(kv.size() == 21);
    REQUIRE(kv.digest() == state_of(c, leader).digest());
  }
  require_prefixes(c);
  REQUIRE(c.observer().checker.checks() > 0);
}

} // namespace

TEST_CASE("TestCluster3Nodes", "[actor][cluster]") {
  // A 3-node cluster elects one leader, replicates writes to all nodes and
  // serves linearizable reads (ReadIndex); followers forward to the leader.
  check_basic_cluster(3);
}

TEST_CASE("TestCluster5Nodes", "[actor][cluster]") {
  check_basic_cluster(5);
  // A 5-node cluster keeps serving with two nodes down (a majority remains).
  actor_cluster c(5);
  auto leader = c.wait_for_leader();
  REQUIRE(leader != no_node);
  std::vector<node_id> followers;
  for (auto id : c.ids())
    if (id != leader)
      followers.push_back(id);
  c.kill(followers[0]);
  c.kill(followers[1]);
  REQUIRE(c.request(leader, put_cmd("survives", "two failures")).status == reply_status::ok);
  REQUIRE(c.request(leader, get_cmd("survives")).value == "two failures");
}

TEST_CASE("TestLeaderFailure", "[actor][election]") {
  // §5.2: when the leader dies, a new one is elected within the election
  // timeout bound: followers heard the last heartbeat at most one heartbeat
  // interval before the crash, and each times out within the longest
  // randomized election timeout; pre-vote and vote rounds take no virtual
  // time here (messages are delivered at once).
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    INFO("seed " << seed);
    actor_cluster c(5, seed);
    auto old_leader = c.wait_for_leader();
    REQUIRE(old_leader != no_node);
    REQUIRE(c.request(old_leader, put_cmd("before", "crash")).status == reply_status::ok);
    c.advance(ms(100)); // steady state: heartbeats flowing
    auto old_term = c.status(old_leader).term;

    c.kill(old_leader);
    auto killed_at = c.now();
    auto bound = heartbeat_interval(c) + max_election_timeout(c);
    auto new_leader = c.wait_for_leader(2 * bound);
    REQUIRE(new_leader != no_node);
    REQUIRE(new_leader != old_leader);
    auto took = c.now() - killed_at;
    INFO("new leader after " << std::chrono::duration_cast<ms>(took).count() << " ms");
    REQUIRE(took <= bound);
    REQUIRE(c.status(new_leader).term > old_term);

    // The acknowledged write survived (Leader Completeness) and the cluster
    // accepts new ones.
    auto r = c.request(new_leader, get_cmd("before"));
    REQUIRE(r.status == reply_status::ok);
    REQUIRE(r.value == "crash");
    REQUIRE(c.request(new_leader, put_cmd("after", "crash")).status == reply_status::ok);
  }
}

TEST_CASE("TestNetworkPartition", "[actor][partition]") {
  actor_cluster c(5);
  auto old_leader = c.wait_for_leader();
  REQUIRE(old_leader != no_node);
  for (int i = 0; i < 5; ++i)
    REQUIRE(c.request(old_leader, put_cmd("pre" + std::to_string(i), "x")).status
            == reply_status::ok);
  REQUIRE(c.run_until([&] { return converged(c); }, ms(1000)));

  // The old leader and one follower form the minority.
  std::vector<node_id> minority{old_leader};
  std::vector<node_id> majority;
  for (auto id : c.ids())
    if (id != old_leader)
      (minority.size() < 2 ? minority : majority).push_back(id);
  c.partition({minority, majority});
  std::map<node_id, index_t> minority_commit;
  for (auto id : minority)
    minority_commit[id] = c.status(id).commit_index;

  // A write to the minority's leader cannot commit: its outcome is unknown
  // (it timed out) or refused once the leader steps down (check-quorum).
  auto lost = c.send(old_leader, put_cmd("minority", "never"), ms(1000));
  // The majority elects a leader of its own and goes on.
  auto new_leader = c.wait_for_leader(ms(2000));
  REQUIRE(c.run_until(
    [&] {
      auto l = c.leader();
      return l != no_node && std::find(majority.begin(), majority.end(), l) != majority.end();
    },
    ms(2000)));
  new_leader = c.leader();
  std::vector<std::string> acked;
  for (int i = 0; i < 10; ++i) {
    auto key = "maj" + std::to_string(i);
    auto r = c.request(new_leader, put_cmd(key, "y"));
    REQUIRE(r.status == reply_status::ok);
    acked.push_back(key);
  }
  REQUIRE(c.run_until([&] { return lost->has_value(); }, ms(2000)));
  REQUIRE((*lost)->status != reply_status::ok);
  // Check-quorum: the cut-off leader stepped down.
  REQUIRE(c.status(old_leader).role != raft_role::leader);
  // The minority committed nothing while cut off.
  for (auto id : minority)
    REQUIRE(c.status(id).commit_index == minority_commit[id]);

  // Heal: the minority catches up and every log agrees.
  c.heal();
  REQUIRE(c.run_until([&] { return converged(c); }, ms(3000)));
  require_prefixes(c);
  auto digest = state_of(c, c.leader()).digest();
  for (auto id : c.ids()) {
    auto kv = state_of(c, id);
    INFO("node " << id);
    REQUIRE(kv.digest() == digest);
    for (const auto& key : acked)
      REQUIRE(kv.read(key).status == reply_status::ok);
    REQUIRE(kv.read("pre0").status == reply_status::ok);
    // The minority's write was never acknowledged and never applied.
    REQUIRE(kv.read("minority").status == reply_status::not_found);
  }
}

TEST_CASE("TestLogReplicationConsistency", "[actor][replication]") {
  // Under a stream of writes with crashes, restarts and dropped links, all
  // applied sequences are prefixes of one another and every acknowledged
  // write is present at the end.
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    INFO("seed " << seed);
    actor_cluster c(5, seed);
    std::mt19937_64 rng(seed);
    std::vector<std::pair<std::string, reply_slot>> writes;
    int next = 0;
    for (int round = 0; round < 30; ++round) {
      auto l = c.wait_for_leader(ms(3000));
      REQUIRE(l != no_node);
      // A burst of concurrent writes (batched by the leader).
      for (int i = 0; i < 8; ++i) {
        auto key = "k" + std::to_string(next++);
        writes.emplace_back(key, c.send(l, put_cmd(key, "v-" + key), ms(1500)));
      }
      c.advance(ms(20));
      switch (rng() % 5) {
        case 0: { // crash a random node, then bring it back later
          auto victim = c.ids()[rng() % c.ids().size()];
          if (c.alive(victim))
            c.kill(victim);
          break;
        }
        case 1: { // cut the leader off for a while
          std::vector<node_id> rest;
          for (auto id : c.ids())
            if (id != l)
              rest.push_back(id);
          c.partition({{l}, rest});
          break;
        }
        case 2:
          c.heal();
          break;
        default:
          break;
      }
      for (auto id : c.ids()) // never more than a minority down
        if (!c.alive(id) && rng() % 2 == 0)
          c.respawn(id);
      std::size_t down = 0;
      for (auto id : c.ids())
        down += c.alive(id) ? 0 : 1;
      for (auto id : c.ids())
        if (!c.alive(id) && down > 2) {
          c.respawn(id);
          --down;
        }
      c.advance(ms(30));
    }
    c.heal();
    for (auto id : c.ids())
      if (!c.alive(id))
        c.respawn(id);
    REQUIRE(c.run_until([&] { return converged(c); }, ms(5000)));
    // Every client has its answer by now (timeouts included).
    c.advance(ms(1600));
    require_prefixes(c);
    std::size_t acked = 0;
    for (const auto& [key, slot] : writes) {
      REQUIRE(slot->has_value());
      if ((*slot)->status != reply_status::ok)
        continue;
      ++acked;
      for (auto id : c.ids()) {
        INFO("acknowledged " << key << " at node " << id);
        REQUIRE(state_of(c, id).read(key).value == "v-" + key);
      }
    }
    INFO("acknowledged writes: " << acked);
    REQUIRE(acked > writes.size() / 4); // the run did real work
  }
}

TEST_CASE("TestCrashRecovery", "[actor][recovery]") {
  // A node actor killed mid-traffic and spawned again over its data
  // directory recovers term, vote and log, rejoins as a follower and catches
  // up; nothing acknowledged is lost.
  actor_cluster c(3);
  auto leader = c.wait_for_leader();
  REQUIRE(leader != no_node);
  std::vector<node_id> followers;
  for (auto id : c.ids())
    if (id != leader)
      followers.push_back(id);
  for (int i = 0; i < 10; ++i)
    REQUIRE(c.request(leader, put_cmd("a" + std::to_string(i), "1")).status == reply_status::ok);

  // Kill a follower while writes are in flight.
  std::vector<reply_slot> inflight;
  for (int i = 0; i < 10; ++i)
    inflight.push_back(c.send(leader, put_cmd("b" + std::to_string(i), "2")));
  auto victim = followers[0];
  c.run(); // deliver some of the traffic
  auto term_before = c.status(victim).term;
  auto durable_before = c.status(victim).last_index;
  c.kill(victim);
  c.advance(ms(100));
  c.respawn(victim);
  // It recovered what it had persisted: term and log (its status is from
  // the fresh incarnation).
  REQUIRE(c.status(victim).term >= term_before);
  REQUIRE(c.status(victim).last_index >= std::min<index_t>(durable_before, 11));
  REQUIRE(c.status(victim).role == raft_role::follower);
  REQUIRE(c.run_until([&] { return converged(c); }, ms(2000)));
  for (auto& s : inflight)
    REQUIRE((s->has_value() && (*s)->status == reply_status::ok));

  // Now the leader, mid-traffic.
  std::vector<std::pair<std::string, reply_slot>> more;
  for (int i = 0; i < 10; ++i) {
    auto key = "c" + std::to_string(i);
    more.emplace_back(key, c.send(leader, put_cmd(key, "3"), ms(1000)));
  }
  c.run();
  c.kill(leader);
  auto new_leader = c.wait_for_leader(ms(2000));
  REQUIRE(new_leader != no_node);
  c.respawn(leader);
  REQUIRE(c.run_until([&] { return converged(c); }, ms(3000)));
  c.advance(ms(1100)); // let the cut-off clients time out
  for (auto id : c.ids()) {
    auto kv = state_of(c, id);
    for (int i = 0; i < 10; ++i) {
      REQUIRE(kv.read("a" + std::to_string(i)).status == reply_status::ok);
      REQUIRE(kv.read("b" + std::to_string(i)).status == reply_status::ok);
    }
    for (const auto& [key, slot] : more)
      if (slot->has_value() && (*slot)->status == reply_status::ok)
        REQUIRE(kv.read(key).status == reply_status::ok);
  }
  // Clients whose leader died got "unknown", never a false failure.
  for (const auto& [key, slot] : more) {
    REQUIRE(slot->has_value());
    auto st = (*slot)->status;
    REQUIRE((st == reply_status::ok || st == reply_status::unknown));
  }
  require_prefixes(c);
}
