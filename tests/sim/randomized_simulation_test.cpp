// Randomized simulation (DESIGN.md, testing layer 3): seeded runs of the pure
// core with random message loss, duplication, reordering and delay,
// partitions of every shape, crashes that lose unsynced writes, and restarts,
// under a client workload. The invariant checker runs after every step; at
// the end every acknowledged write is in every node's state and all applied
// sequences agree. A failing seed is printed with the command that replays it.

#include "tests/sim/sim_options.hpp"
#include "tests/support/sim_cluster.hpp"

#include <catch2/catch.hpp>

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
    for (node_id id = 1; id <= n; ++id)
      ids_.push_back(id);
    raft_config cfg;
    cfg.election_ticks = 10;
    cfg.heartbeat_ticks = 2;
    cfg.max_inflight = 1 + pick(8);
    cfg.max_entries_per_append = 1 + pick(16);
    cluster_ = std::make_unique<sim_cluster>(ids_, cfg, seed);
    cluster_->auto_sync = false;
    cluster_->faults.drop = chance(0.5) ? 0.0 : 0.01 * static_cast<double>(pick(10));
    cluster_->faults.duplicate = chance(0.5) ? 0.0 : 0.01 * static_cast<double>(pick(5));
    cluster_->faults.reorder = chance(0.5);
    narrate("nodes=%zu inflight=%zu batch=%zu drop=%.2f dup=%.2f reorder=%d", n,
            cfg.max_inflight, cfg.max_entries_per_append, cluster_->faults.drop,
            cluster_->faults.duplicate, int{cluster_->faults.reorder});
  }

  void run(int steps) {
    for (int i = 0; i < steps; ++i)
      step();
    settle();
    verify();
  }

  std::size_t acknowledged() const { return acked_.size(); }

private:
  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  bool chance(double p) {
    return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
  }
  node_id any_node() { return ids_[pick(ids_.size())]; }
  node_id any_live_node() {
    std::vector<node_id> live;
    for (auto id : ids_)
      if (cluster_->node(id).up)
        live.push_back(id);
    return live.empty() ? no_node : live[pick(live.size())];
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
    } else if (r < 990) {
      if (auto id = any_live_node(); id != no_node)
        cluster_->read(id, ++read_ctx_);
    } else {
      fault();
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
    auto majority_size = ids_.size() / 2 + 1;
    switch (r) {
      case 0: { // isolate the leader
        auto l = cluster_->leader();
        if (l == no_node)
          return;
        std::vector<node_id> rest;
        for (auto id : ids_)
          if (id != l)
            rest.push_back(id);
        cluster_->partition({{l}, rest});
        narrate("isolate leader %llu", static_cast<unsigned long long>(l));
        break;
      }
      case 1: { // majority / minority split
        auto shuffled = ids_;
        std::shuffle(shuffled.begin(), shuffled.end(), rng_);
        std::vector<node_id> a(shuffled.begin(), shuffled.begin() + static_cast<std::ptrdiff_t>(majority_size));
        std::vector<node_id> b(shuffled.begin() + static_cast<std::ptrdiff_t>(majority_size), shuffled.end());
        cluster_->partition({a, b});
        narrate("split %zu/%zu", a.size(), b.size());
        break;
      }
      case 2: { // bridge: one node sees both halves, the halves not each other
        auto shuffled = ids_;
        std::shuffle(shuffled.begin(), shuffled.end(), rng_);
        cluster_->heal();
        auto half = (shuffled.size() - 1) / 2;
        for (std::size_t i = 1; i <= half; ++i)
          for (std::size_t j = half + 1; j < shuffled.size(); ++j)
            cluster_->cut(shuffled[i], shuffled[j]);
        narrate("bridge through %llu", static_cast<unsigned long long>(shuffled[0]));
        break;
      }
      case 3:
        cluster_->heal();
        narrate("heal");
        break;
      case 4:
      case 5: { // crash a node (often the leader), losing its unsynced writes
        std::size_t down = 0;
        for (auto id : ids_)
          down += cluster_->node(id).up ? 0 : 1;
        auto id = r == 4 ? cluster_->leader() : any_live_node();
        if (id == no_node || down + 1 > ids_.size() - majority_size)
          return;
        cluster_->crash(id);
        narrate("crash %llu", static_cast<unsigned long long>(id));
        break;
      }
      default: { // restart a crashed node
        auto order = ids_;
        std::shuffle(order.begin(), order.end(), rng_);
        for (auto id : order)
          if (!cluster_->node(id).up) {
            cluster_->restart(id);
            narrate("restart %llu", static_cast<unsigned long long>(id));
            break;
          }
      }
    }
  }

  // Ends all faults and lets the cluster converge.
  void settle() {
    cluster_->heal();
    cluster_->faults = network_faults{};
    for (auto id : ids_)
      if (!cluster_->node(id).up)
        cluster_->restart(id);
    cluster_->auto_sync = true;
    cluster_->sync_all();
    // A leader of the newest term that has committed its whole log, and
    // every node applied through it.
    auto converged = [this] {
      auto l = cluster_->leader();
      if (l == no_node)
        return false;
      const auto& ll = cluster_->core(l).log();
      if (ll.committed() != ll.last_index() || ll.term_at(ll.committed()) != cluster_->core(l).term())
        return false;
      for (auto id : ids_)
        if (cluster_->core(id).log().applied() != ll.last_index()
            || cluster_->core(id).term() != cluster_->core(l).term())
          return false;
      return true;
    };
    if (!cluster_->run_until(converged, 3000))
      throw std::runtime_error("the cluster did not converge after healing");
    narrate("converged: term %llu, %zu proposals",
            static_cast<unsigned long long>(cluster_->core(cluster_->leader()).term()),
            proposals_.size());
  }

  void verify() {
    // Every acknowledged write is in every node's state.
    for (const auto& w : proposals_) {
      if (!cluster_->acknowledged(w.p))
        continue;
      acked_.push_back(w.key);
      for (auto id : ids_) {
        auto r = cluster_->node(id).kv.read(w.key);
        if (r.status != reply_status::ok || r.value != w.value)
          throw std::runtime_error("acknowledged write " + w.key + " missing at node "
                                   + std::to_string(id));
      }
    }
    // All applied sequences agree (the checker compared them index by index)
    // and ended at the same state.
    auto digest = cluster_->node(ids_[0]).kv.digest();
    for (auto id : ids_)
      if (cluster_->node(id).kv.digest() != digest)
        throw std::runtime_error("nodes ended with different states");
  }

  struct write {
    proposal p;
    std::string key;
    std::string value;
  };

  uint64_t seed_;
  std::mt19937_64 rng_;
  std::vector<node_id> ids_;
  std::unique_ptr<sim_cluster> cluster_;
  std::vector<write> proposals_;
  std::vector<std::string> acked_;
  uint64_t next_key_ = 0;
  uint64_t read_ctx_ = 0;
};

} // namespace

// Invariants hold and no acknowledged write is lost under loss, duplication,
// reordering, partitions, crashes and restarts.
TEST_CASE("TestRandomizedSimulation", "[sim]") {
  const auto& o = options();
  uint64_t first = o.seed >= 0 ? static_cast<uint64_t>(o.seed) : o.first_seed;
  uint64_t count = o.seed >= 0 ? 1 : o.seeds;
  uint64_t total_acked = 0;
  for (auto seed = first; seed < first + count; ++seed) {
    std::string failure;
    try {
      simulation sim(seed);
      sim.run(2000);
      total_acked += sim.acknowledged();
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
  // The workload must actually have written something, or the run proves nothing.
  CHECK(total_acked > count);
  std::printf("simulation: %llu seeds, %llu acknowledged writes checked\n",
              static_cast<unsigned long long>(count),
              static_cast<unsigned long long>(total_acked));
}

} // namespace raft::test
