#include "actors/node/invariant_checker.hpp"

#include <functional>

namespace raft {

invariant_checker::entry_key invariant_checker::key_of(const log_entry& e) {
  auto h = std::hash<std::string>{}(e.data);
  h ^= static_cast<uint64_t>(e.type) * 0x9E3779B97F4A7C15ull;
  return {e.term, h};
}

void invariant_checker::fail(node_id id, const std::string& what) {
  throw invariant_violation("raft invariant violated at node " + std::to_string(id)
                            + ": " + what);
}

void invariant_checker::observe(const raft_core& core) {
  ++checks_;
  auto [vi, fresh] = nodes_.try_emplace(core.id());
  auto& v = vi->second;
  const auto& log = core.log();
  if (fresh)
    v.applied = log.snapshot_index(); // (re)started from a snapshot
  if (core.term() < v.term)
    fail(core.id(), "term went back from " + std::to_string(v.term) + " to "
                      + std::to_string(core.term()));
  if (log.committed() > log.last_index() || log.applied() > log.committed()
      || log.snapshot_index() > log.applied())
    fail(core.id(), "snapshot <= applied <= committed <= last index does not hold");
  if (log.snapshot_index() < v.base)
    fail(core.id(), "snapshot index went back from " + std::to_string(v.base) + " to "
                      + std::to_string(log.snapshot_index()));
  if (auto b = log.snapshot_index(); b > 0 && b <= committed_.size()
                                     && committed_[b - 1].term != log.snapshot_term())
    fail(core.id(), "State Machine Safety: snapshot through " + std::to_string(b)
                      + " has term " + std::to_string(log.snapshot_term())
                      + " but the committed entry there has term "
                      + std::to_string(committed_[b - 1].term));
  check_election_safety(core);
  check_log_changes(core, v);
  check_commits(core, v);
  bool leader = core.role() == raft_role::leader;
  if (leader && !(v.leader && v.term == core.term()))
    check_leader_completeness(core);
  v.term = core.term();
  v.leader = leader;
}

void invariant_checker::check_election_safety(const raft_core& core) {
  if (core.role() != raft_role::leader)
    return;
  auto [it, fresh] = leaders_.emplace(core.term(), core.id());
  if (!fresh && it->second != core.id())
    fail(core.id(), "Election Safety: second leader in term "
                      + std::to_string(core.term()) + " (first was node "
                      + std::to_string(it->second) + ")");
}

index_t invariant_checker::check_log_changes(const raft_core& core, node_view& v) {
  const auto& log = core.log();
  // Entries a snapshot now covers are committed ones (checked above and in
  // check_commits): stop tracking them.
  if (auto b = log.snapshot_index(); b > v.base) {
    auto drop = std::min<index_t>(b - v.base, v.log.size());
    v.log.erase(v.log.begin(), v.log.begin() + static_cast<std::ptrdiff_t>(drop));
    v.base = b;
  }
  // Find the first index that differs from what we saw last time, scanning
  // from the front: a correct log only changes at its tail, but the checker
  // must not assume what it checks. For long logs (100,000-key tests) a full
  // scan per step would be quadratic: then the scan starts a window below
  // the commit index seen -- a change further back would have to rewrite
  // the whole window identically, which the Log Matching history (every
  // entry's predecessor term and digest) rules out entry by entry.
  index_t seen_last = v.base + v.log.size();
  index_t common = std::min<index_t>(seen_last, log.last_index());
  index_t same = v.base;
  constexpr index_t full_scan_limit = 1024;
  constexpr index_t window = 256;
  if (v.log.size() > full_scan_limit && v.commit > v.base + window)
    same = std::min(common, v.commit - window);
  while (same < common && v.log[same - v.base] == key_of(log.at(same + 1)))
    ++same;
  bool was_leader_now = v.leader && core.role() == raft_role::leader
                        && v.term == core.term();
  if (was_leader_now && same < seen_last)
    fail(core.id(), "Leader Append-Only: leader of term " + std::to_string(core.term())
                      + " lost or replaced entry " + std::to_string(same + 1));
  if (same < v.commit && same < log.committed())
    fail(core.id(), "committed entry " + std::to_string(same + 1) + " changed");
  v.log.resize(same - v.base);
  for (auto i = same + 1; i <= log.last_index(); ++i) {
    auto k = key_of(log.at(i));
    if (log.at(i).index != i)
      fail(core.id(), "entry stored at " + std::to_string(i) + " claims index "
                        + std::to_string(log.at(i).index));
    history h{log.term_at(i - 1), k.digest};
    auto [it, fresh] = seen_.emplace(std::pair{i, k.term}, h);
    if (!fresh && (it->second.digest != h.digest || it->second.prev_term != h.prev_term))
      fail(core.id(), "Log Matching: two different entries at index "
                        + std::to_string(i) + " term " + std::to_string(k.term));
    v.log.push_back(k);
  }
  return same;
}

void invariant_checker::check_commits(const raft_core& core, node_view& v) {
  const auto& log = core.log();
  for (auto i = std::max(v.commit, log.snapshot_index()) + 1; i <= log.committed(); ++i) {
    auto k = key_of(log.at(i));
    if (i <= committed_.size()) {
      if (!(committed_[i - 1] == k))
        fail(core.id(), "State Machine Safety: index " + std::to_string(i)
                          + " committed with a different entry elsewhere");
    } else {
      // Entries below a newly committed one are committed too.
      for (auto j = committed_.size() + 1; j < i; ++j) {
        if (j <= log.snapshot_index())
          fail(core.id(), "commits entries after a snapshot through "
                            + std::to_string(log.snapshot_index())
                            + " that no node was seen to commit");
        committed_.push_back(key_of(log.at(j)));
        commit_term_.push_back(core.term());
      }
      committed_.push_back(k);
      commit_term_.push_back(core.term());
    }
  }
  v.commit = std::max(v.commit, log.committed());
}

void invariant_checker::check_leader_completeness(const raft_core& core) {
  const auto& log = core.log();
  for (index_t i = log.snapshot_index() + 1; i <= committed_.size(); ++i) {
    if (commit_term_[i - 1] >= core.term())
      continue; // committed in this or a later term: not required here
    if (i > log.last_index() || !(key_of(log.at(i)) == committed_[i - 1]))
      fail(core.id(), "Leader Completeness: leader of term " + std::to_string(core.term())
                        + " lacks entry " + std::to_string(i) + " committed in term "
                        + std::to_string(commit_term_[i - 1]));
  }
}

void invariant_checker::observe_applied(node_id id, const log_entry& e) {
  auto& v = nodes_[id];
  if (e.index != v.applied + 1)
    fail(id, "applied index " + std::to_string(e.index) + " after "
               + std::to_string(v.applied) + " (out of order)");
  v.applied = e.index;
  auto k = key_of(e);
  if (e.index > committed_.size() || !(committed_[e.index - 1] == k))
    fail(id, "State Machine Safety: applied entry " + std::to_string(e.index)
               + " that is not the committed one");
  if (e.index <= applied_.size()) {
    if (!(applied_[e.index - 1] == k))
      fail(id, "State Machine Safety: another node applied a different entry at "
                 + std::to_string(e.index));
  } else {
    applied_.push_back(k);
  }
}

void invariant_checker::node_restarted(node_id id) {
  nodes_.erase(id);
}

void invariant_checker::snapshot_installed(node_id id, index_t index) {
  auto& v = nodes_[id];
  if (index < v.applied)
    fail(id, "installed a snapshot through " + std::to_string(index)
               + " behind its applied index " + std::to_string(v.applied));
  if (index > committed_.size())
    fail(id, "installed a snapshot through " + std::to_string(index)
               + " that no node was seen to commit");
  v.applied = index;
}

} // namespace raft
