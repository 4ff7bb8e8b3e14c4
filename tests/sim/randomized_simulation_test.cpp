// Randomized simulation (DESIGN.md, testing layer 3): seeded runs of the pure
// core with random message loss, duplication, reordering and delay,
// partitions of every shape, crashes that lose unsynced writes, restarts,
// membership changes (new nodes join as learners and are promoted; members
// are removed -- the leader and dead nodes included; a removed id comes back
// with a wiped disk), log compactions with snapshot installs, and leadership
// transfers, under a client workload. The invariant checker runs after every
// step; at the end the cluster elects a leader and commits, every
// acknowledged write is in every member's state and all members' states
// agree. A failing seed is printed with the command that replays it.

#include "actors/node/membership.hpp"
#include "actors/node/quorum.hpp"
#include "tests/sim/sim_options.hpp"
#include "tests/support/sim_cluster.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <sstream>

namespace raft::test {
namespace {

/// One seeded run. Returns an empty string on success, else what went wrong.
class simulation {
public:
  explicit simulation(uint64_t seed) : seed_(seed), rng_(seed) {
    std::vector<std::size_t> sizes{3, 3, 5, 5, 7};
    auto n = sizes[pick(sizes.size())];
    std::vector<node_id> ids;
    for (node_id id = 1; id <= n; ++id)
      ids.push_back(id);
    next_id_ = n + 1;
    raft_config cfg;
    cfg.election_ticks = 10;
    cfg.heartbeat_ticks = 2;
    cfg.max_inflight = 1 + pick(8);
    cfg.max_entries_per_append = 1 + pick(16);
    // Often promote only learners that are (nearly) caught up, so learners
    // stay learners for a while.
    cfg.promote_lag = chance(0.5) ? 512 : pick(8);
    cluster_ = std::make_unique<sim_cluster>(ids, cfg, seed);
    cluster_->auto_sync = false;
    cluster_->faults.drop = chance(0.5) ? 0.0 : 0.01 * static_cast<double>(pick(10));
    cluster_->faults.duplicate = chance(0.5) ? 0.0 : 0.01 * static_cast<double>(pick(5));
    cluster_->faults.reorder = chance(0.5);
    narrate("nodes=%zu inflight=%zu batch=%zu promote_lag=%llu drop=%.2f dup=%.2f reorder=%d",
            n, cfg.max_inflight, cfg.max_entries_per_append,
            static_cast<unsigned long long>(cfg.promote_lag), cluster_->faults.drop,
            cluster_->faults.duplicate, int{cluster_->faults.reorder});
  }

  void run(int steps) {
    for (int i = 0; i < steps; ++i)
      step();
    settle();
    verify();
  }

  std::size_t acknowledged() const { return acked_.size(); }

  /// What a run did besides the client workload (accepted changes).
  struct statistics {
    uint64_t adds = 0, removes = 0, readds = 0, transfers = 0, compactions = 0, installs = 0;
    statistics& operator+=(const statistics& o) {
      adds += o.adds;
      removes += o.removes;
      readds += o.readds;
      transfers += o.transfers;
      compactions += o.compactions;
      installs += o.installs;
      return *this;
    }
  };
  const statistics& stats() const { return stats_; }

private:
  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  bool chance(double p) {
    return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
  }
  /// Every node the cluster runs (members, removed ones, spares).
  const std::vector<node_id>& ids() const { return cluster_->ids(); }
  node_id any_live_node() {
    std::vector<node_id> live;
    for (auto id : ids())
      if (cluster_->node(id).up)
        live.push_back(id);
    return live.empty() ? no_node : live[pick(live.size())];
  }
  static unsigned long long ull(uint64_t x) { return static_cast<unsigned long long>(x); }

  /// The configuration the cluster works with now: the leader's, or else
  /// that of the live node with the most up-to-date log.
  membership current_config() {
    if (auto l = cluster_->leader(); l != no_node)
      return cluster_->core(l).configuration();
    node_id best = no_node;
    for (auto id : ids()) {
      if (!cluster_->node(id).up)
        continue;
      const auto& log = cluster_->core(id).log();
      if (best == no_node
          || !cluster_->core(best).log().is_up_to_date(log.last_index(), log.last_term()))
        best = id;
    }
    return best == no_node ? membership{} : cluster_->core(best).configuration();
  }

  template <class... Ts>
  void narrate(const char* fmt, Ts... xs) {
    if (!options().verbose)
      return;
    std::printf("[seed %llu] ", static_cast<unsigned long long>(seed_));
    std::printf(fmt, xs...);
    std::printf("\n");
  }

  void step() {
    auto r = pick(1000);
    if (r < 550) {
      cluster_->deliver_one();
    } else if (r < 700) {
      // Time passes for everyone, in slightly different order each time.
      cluster_->tick_all();
    } else if (r < 800) {
      if (auto id = any_live_node(); id != no_node) {
        cluster_->sync(id);
      }
    } else if (r < 900) {
      client_write();
    } else if (r < 975) {
      if (auto id = any_live_node(); id != no_node)
        cluster_->read(id, ++read_ctx_);
    } else if (r < 990) {
      change();
    } else {
      fault();
    }
  }

  // -- membership, compaction, leadership transfer ----------------------------

  void change() {
    auto r = pick(10);
    if (r < 3) {
      // Any live node snapshots its state machine and compacts its log.
      if (auto id = any_live_node(); id != no_node) {
        cluster_->compact(id);
        ++stats_.compactions;
        narrate("compact %llu at %llu", ull(id), ull(cluster_->core(id).log().snapshot_index()));
      }
      return;
    }
    auto l = cluster_->leader();
    if (l == no_node)
      return;
    auto cfg = cluster_->core(l).configuration();
    auto voters = voter_ids(cfg);
    if (r == 3) { // hand leadership to a random voter (or let the leader choose)
      auto target = chance(0.2) ? no_node : voters[pick(voters.size())];
      auto o = cluster_->transfer(l, target);
      stats_.transfers += o.result == change_outcome::kind::accepted ? 1 : 0;
      narrate("transfer %llu -> %llu: %d", ull(l), ull(o.hint), int(o.result));
    } else if (r < 6) { // a new node joins as a learner
      if (cfg.voters.size() + cfg.learners.size() >= 7 || next_id_ > 12)
        return;
      auto id = next_id_++;
      cluster_->add_node(id);
      auto o = cluster_->add_learner(l, id);
      stats_.adds += o.result == change_outcome::kind::accepted ? 1 : 0;
      narrate("add %llu at %llu: %d", ull(id), ull(l), int(o.result));
    } else if (r < 8) { // remove any member: a learner, a dead node, the leader
      auto members = voters;
      for (const auto& m : cfg.learners)
        members.push_back(m.id);
      auto id = members[pick(members.size())];
      if (is_voter(cfg, id) && voters.size() <= 2)
        return;
      auto o = cluster_->remove(l, id);
      stats_.removes += o.result == change_outcome::kind::accepted ? 1 : 0;
      stats_.transfers += o.result == change_outcome::kind::transferring ? 1 : 0;
      narrate("remove %llu at %llu: %d (hint %llu)", ull(id), ull(l), int(o.result), ull(o.hint));
    } else { // a removed server comes back as a new one, its disk wiped
      // Only once its removal committed: an uncommitted removal may yet be
      // rolled back, and a voter must never lose its disk.
      const auto& c = cluster_->core(l);
      if (c.configuration_index() > c.log().committed())
        return;
      std::vector<node_id> gone;
      for (auto id : ids())
        if (!is_member(cfg, id))
          gone.push_back(id);
      if (gone.empty())
        return;
      auto id = gone[pick(gone.size())];
      cluster_->add_node(id);
      auto o = cluster_->add_learner(l, id);
      stats_.readds += o.result == change_outcome::kind::accepted ? 1 : 0;
      narrate("re-add %llu wiped at %llu: %d", ull(id), ull(l), int(o.result));
    }
  }

  void client_write() {
    // Writes go to whichever node the client believes leads, sometimes to a
    // random node (which refuses unless it leads).
    auto target = chance(0.8) ? cluster_->leader() : any_live_node();
    if (target == no_node)
      return;
    auto key = "k" + std::to_string(next_key_++);
    auto value = "v" + std::to_string(seed_) + "-" + key;
    auto p = cluster_->put(target, key, value);
    if (p.accepted)
      proposals_.push_back({p, key, value});
  }

  void fault() {
    auto r = pick(8);
    const auto& all = ids();
    auto majority_size = all.size() / 2 + 1;
    switch (r) {
      case 0: { // isolate the leader
        auto l = cluster_->leader();
        if (l == no_node)
          return;
        std::vector<node_id> rest;
        for (auto id : all)
          if (id != l)
            rest.push_back(id);
        cluster_->partition({{l}, rest});
        narrate("isolate leader %llu", ull(l));
        break;
      }
      case 1: { // majority / minority split
        auto shuffled = all;
        std::shuffle(shuffled.begin(), shuffled.end(), rng_);
        std::vector<node_id> a(shuffled.begin(), shuffled.begin() + static_cast<std::ptrdiff_t>(majority_size));
        std::vector<node_id> b(shuffled.begin() + static_cast<std::ptrdiff_t>(majority_size), shuffled.end());
        cluster_->partition({a, b});
        narrate("split %zu/%zu", a.size(), b.size());
        break;
      }
      case 2: { // bridge: one node sees both halves, the halves not each other
        auto shuffled = all;
        std::shuffle(shuffled.begin(), shuffled.end(), rng_);
        cluster_->heal();
        auto half = (shuffled.size() - 1) / 2;
        for (std::size_t i = 1; i <= half; ++i)
          for (std::size_t j = half + 1; j < shuffled.size(); ++j)
            cluster_->cut(shuffled[i], shuffled[j]);
        narrate("bridge through %llu", ull(shuffled[0]));
        break;
      }
      case 3:
        cluster_->heal();
        narrate("heal");
        break;
      case 4:
      case 5: { // crash a node (often the leader), losing its unsynced writes
        auto id = r == 4 ? cluster_->leader() : any_live_node();
        if (id == no_node)
          return;
        // Keep a majority of the current voters up (non-voters may go).
        auto cfg = current_config();
        if (is_voter(cfg, id)) {
          std::size_t down = 0;
          for (const auto& v : cfg.voters)
            down += cluster_->has_node(v.id) && cluster_->node(v.id).up ? 0 : 1;
          if (down + 1 > cfg.voters.size() - majority(cfg.voters.size()))
            return;
        }
        cluster_->crash(id);
        narrate("crash %llu", ull(id));
        break;
      }
      default: { // restart a crashed node
        auto order = all;
        std::shuffle(order.begin(), order.end(), rng_);
        for (auto id : order)
          if (!cluster_->node(id).up) {
            cluster_->restart(id);
            narrate("restart %llu", ull(id));
            break;
          }
      }
    }
  }

  // Ends all faults and lets the cluster converge. Removed nodes keep
  // running (restarted too, if down): they must not keep the members from
  // electing a leader and committing.
  void settle() {
    cluster_->heal();
    cluster_->faults = network_faults{};
    for (auto id : ids())
      if (!cluster_->node(id).up)
        cluster_->restart(id);
    cluster_->auto_sync = true;
    cluster_->sync_all();
    // A leader of the newest term that has committed its whole log, and
    // every member (voter or learner) applied through it.
    auto converged = [this] {
      auto l = cluster_->leader();
      if (l == no_node)
        return false;
      const auto& lc = cluster_->core(l);
      const auto& ll = lc.log();
      if (ll.committed() != ll.last_index() || ll.term_at(ll.committed()) != lc.term())
        return false;
      for (auto id : members(lc.configuration()))
        if (!cluster_->has_node(id) || cluster_->core(id).log().applied() != ll.last_index()
            || cluster_->core(id).term() != lc.term())
          return false;
      return true;
    };
    if (!cluster_->run_until(converged, 3000))
      throw std::runtime_error("the cluster did not converge after healing");
    // And it still commits a new write, on every member.
    auto l = cluster_->leader();
    auto p = cluster_->put(l, "final", std::to_string(seed_));
    if (!p.accepted)
      throw std::runtime_error("the converged leader refused a write");
    if (!cluster_->run_until([&] { return cluster_->acknowledged(p) && converged(); }, 300))
      throw std::runtime_error("the cluster did not commit a write after healing");
    proposals_.push_back({p, "final", std::to_string(seed_)});
    final_members_ = members(cluster_->core(cluster_->leader()).configuration());
    for (auto id : ids())
      stats_.installs += cluster_->node(id).restores.size();
    narrate("converged: term %llu, %zu proposals, members %s",
            ull(cluster_->core(cluster_->leader()).term()), proposals_.size(),
            to_string(cluster_->core(cluster_->leader()).configuration()).c_str());
  }

  static std::vector<node_id> members(const membership& m) {
    auto out = voter_ids(m);
    for (auto id : learner_ids(m))
      out.push_back(id);
    return out;
  }

  void verify() {
    // Every acknowledged write is in every member's state.
    for (const auto& w : proposals_) {
      if (!cluster_->acknowledged(w.p))
        continue;
      acked_.push_back(w.key);
      for (auto id : final_members_) {
        auto r = cluster_->node(id).kv.read(w.key);
        if (r.status != reply_status::ok || r.value != w.value)
          throw std::runtime_error("acknowledged write " + w.key + " missing at node "
                                   + std::to_string(id));
      }
    }
    // All applied sequences agree (the checker compared them index by index)
    // and ended at the same state.
    auto digest = cluster_->node(final_members_[0]).kv.digest();
    for (auto id : final_members_)
      if (cluster_->node(id).kv.digest() != digest)
        throw std::runtime_error("members ended with different states");
  }

  struct write {
    proposal p;
    std::string key;
    std::string value;
  };

  uint64_t seed_;
  std::mt19937_64 rng_;
  node_id next_id_ = 1;
  std::vector<node_id> final_members_;
  statistics stats_;
  std::unique_ptr<sim_cluster> cluster_;
  std::vector<write> proposals_;
  std::vector<std::string> acked_;
  uint64_t next_key_ = 0;
  uint64_t read_ctx_ = 0;
};

} // namespace

// Invariants hold and no acknowledged write is lost under loss, duplication,
// reordering, partitions, crashes and restarts, membership changes,
// compactions and leadership transfers.
TEST_CASE("TestRandomizedSimulation", "[sim]") {
  const auto& o = options();
  uint64_t first = o.seed >= 0 ? static_cast<uint64_t>(o.seed) : o.first_seed;
  uint64_t count = o.seed >= 0 ? 1 : o.seeds;
  uint64_t total_acked = 0;
  simulation::statistics total;
  for (auto seed = first; seed < first + count; ++seed) {
    std::string failure;
    try {
      simulation sim(seed);
      sim.run(2000);
      total_acked += sim.acknowledged();
      total += sim.stats();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty()) {
      std::ostringstream msg;
      msg << "seed " << seed << " failed: " << failure
          << "\nreplay with: sim_tests --seed " << seed << " --narrate";
      FAIL(msg.str());
    }
  }
  // The workload must actually have written something, and the runs changed
  // the membership, compacted and transferred, or they prove nothing.
  CHECK(total_acked > count);
  std::printf("simulation: %llu seeds, %llu acknowledged writes checked; accepted: %llu adds, "
              "%llu removes, %llu re-adds of wiped ids, %llu transfers; %llu compactions, "
              "%llu snapshots received\n",
              static_cast<unsigned long long>(count),
              static_cast<unsigned long long>(total_acked),
              static_cast<unsigned long long>(total.adds),
              static_cast<unsigned long long>(total.removes),
              static_cast<unsigned long long>(total.readds),
              static_cast<unsigned long long>(total.transfers),
              static_cast<unsigned long long>(total.compactions),
              static_cast<unsigned long long>(total.installs));
  if (count >= 100) {
    CHECK(total.adds > 0);
    CHECK(total.removes > 0);
    CHECK(total.readds > 0);
    CHECK(total.transfers > 0);
    CHECK(total.installs > 0);
  }
}

} // namespace raft::test
