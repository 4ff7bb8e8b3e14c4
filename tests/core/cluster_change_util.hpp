#pragma once

// Helpers for the membership, leadership-transfer and compaction tests
// (thesis chapters 4, 3.10 and 5/7): a leader that may change the
// configuration, waiting for commits, config queries on sim nodes.

#include "actors/node/membership.hpp"
#include "tests/core/core_test_util.hpp"

#include <algorithm>
#include <string>
#include <variant>
#include <vector>

namespace raft::core_test {

/// Elects a leader and runs until it has committed an entry of its term and
/// every live node applied everything: a leader that accepts changes.
inline node_id stable_leader(sim_cluster& sim, int max_ticks = 1000) {
  auto settled = [&] {
    auto l = sim.leader();
    if (l == no_node)
      return false;
    const auto& log = sim.core(l).log();
    if (log.committed() != log.last_index() || log.term_at(log.committed()) != sim.core(l).term())
      return false;
    for (auto id : sim.ids())
      if (sim.node(id).up && is_member(sim.core(l).configuration(), id)
          && sim.core(id).log().applied() != log.last_index())
        return false;
    return true;
  };
  sim.run_until(settled, max_ticks);
  REQUIRE(settled());
  return sim.leader();
}

/// Ticks every live node and delivers one message at a time, stopping the
/// moment a live node wins an election of a term above every live node's
/// current one (before its no-op is replicated). Returns it, or no_node.
inline node_id elect_stopping_at_win(sim_cluster& sim, int max_ticks = 1000) {
  term_t above = 0;
  for (auto id : sim.ids())
    if (sim.node(id).up)
      above = std::max(above, sim.core(id).term());
  auto won = [&] {
    auto l = sim.leader();
    return l != no_node && sim.core(l).term() > above;
  };
  for (int t = 0; t < max_ticks && !won(); ++t) {
    for (auto id : sim.ids())
      if (sim.node(id).up && !won())
        sim.tick(id);
    deliver_until(sim, won);
  }
  return won() ? sim.leader() : no_node;
}

/// Runs until `id` has committed index `i` (false if not within max_ticks).
inline bool run_until_committed(sim_cluster& sim, node_id id, index_t i, int max_ticks = 200) {
  return sim.run_until([&] { return sim.core(id).log().committed() >= i; }, max_ticks);
}

/// Proposes `n` puts k<prefix><i> at `leader`; returns the last proposal.
inline proposal put_many(sim_cluster& sim, node_id leader, int n, const std::string& prefix) {
  proposal p;
  for (int i = 0; i < n; ++i) {
    p = sim.put(leader, prefix + std::to_string(i), "v" + std::to_string(i));
    REQUIRE(p.accepted);
  }
  return p;
}

/// The voters of `id`'s current configuration, sorted.
inline std::vector<node_id> sorted_voters(sim_cluster& sim, node_id id) {
  auto v = sim.core(id).voters();
  std::sort(v.begin(), v.end());
  return v;
}

/// Messages of type T that were sent (sim.record_sent must be on).
template <class T>
std::size_t count_sent(const sim_cluster& sim, node_id from = no_node, node_id to = no_node) {
  return on_wire<T>(sim.sent_log, from, to).size();
}

/// The membership with voters `vs` and learners `ls` (no addresses).
inline membership members(const std::vector<node_id>& vs, const std::vector<node_id>& ls = {}) {
  membership m;
  for (auto v : vs)
    m.voters.push_back(member{v, ""});
  for (auto l : ls)
    m.learners.push_back(member{l, ""});
  return m;
}

} // namespace raft::core_test
