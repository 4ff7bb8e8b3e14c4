#include "tests/support/sim_cluster.hpp"

#include "actors/kv/command_codec.hpp"

#include <algorithm>

namespace raft::test {

sim_cluster::sim_cluster(std::vector<node_id> ids, raft_config base, uint64_t seed)
  : ids_(std::move(ids)), base_(std::move(base)), seed_(seed), rng_(seed) {
  for (auto id : ids_) {
    nodes_[id];
    make_core(id);
  }
}

void sim_cluster::make_core(node_id id) {
  auto cfg = base_;
  cfg.id = id;
  cfg.voters = ids_;
  cfg.seed = seed_ * 1'000'003 + incarnation_[id]++;
  auto& n = nodes_.at(id);
  n.core = std::make_unique<raft_core>(cfg, n.disk_state, n.disk_log);
  n.kv = kv_store{};
  n.applied.clear();
  n.reads.clear();
  n.unsynced.clear();
  n.up = true;
}

// -- driving ----------------------------------------------------------------

void sim_cluster::tick_all() {
  for (auto id : ids_)
    if (nodes_.at(id).up)
      tick(id);
}

void sim_cluster::tick(node_id id) {
  core(id).tick();
  handle_ready(id);
}

bool sim_cluster::deliver_one() {
  if (wire_.empty())
    return false;
  std::size_t idx = 0;
  if (faults.reorder)
    idx = std::uniform_int_distribution<std::size_t>(0, wire_.size() - 1)(rng_);
  auto m = std::move(wire_[idx]);
  wire_.erase(wire_.begin() + static_cast<std::ptrdiff_t>(idx));
  if (!connected(m.from, m.to))
    return true; // lost on a cut link or to a dead node
  std::uniform_real_distribution<double> coin(0, 1);
  if (faults.drop > 0 && coin(rng_) < faults.drop)
    return true;
  if (faults.duplicate > 0 && coin(rng_) < faults.duplicate)
    wire_.push_back(m);
  core(m.to).step(m.msg);
  handle_ready(m.to);
  return true;
}

std::size_t sim_cluster::deliver_all(std::size_t limit) {
  std::size_t n = 0;
  while (n < limit && deliver_one())
    ++n;
  return n;
}

void sim_cluster::handle_ready(node_id id) {
  auto& n = nodes_.at(id);
  for (int round = 0; round < 100; ++round) {
    auto rd = n.core->take_ready();
    if (rd.empty())
      break;
    checker_.observe(*n.core); // records commits before they are applied
    release(id, rd.send_now);
    apply(id, rd);
    n.unsynced.push_back({std::move(rd)});
    if (auto_sync)
      sync(id);
  }
  check();
}

void sim_cluster::apply(node_id id, ready& rd) {
  auto& n = nodes_.at(id);
  for (const auto& e : rd.committed) {
    checker_.observe_applied(id, e);
    n.kv.apply(e);
    n.applied.push_back(e);
    applied_any_[{e.index, e.term}] = true;
  }
  rd.committed.clear();
  for (const auto& r : rd.reads)
    n.reads.push_back(r);
  rd.reads.clear();
}

void sim_cluster::sync(node_id id) {
  auto& n = nodes_.at(id);
  if (!n.up)
    return;
  auto writes = std::move(n.unsynced);
  n.unsynced.clear();
  for (auto& w : writes) {
    auto& rd = w.batch;
    if (rd.has_state)
      n.disk_state = rd.state;
    if (!rd.entries.empty()) {
      // A write whose first entry is at or below the stored end replaces
      // that suffix (the storage actor's contract).
      n.disk_log.resize(rd.entries.front().index - 1);
      n.disk_log.insert(n.disk_log.end(), rd.entries.begin(), rd.entries.end());
    }
    auto last = n.disk_log.empty() ? index_t{0} : n.disk_log.back().index;
    auto last_term = n.disk_log.empty() ? term_t{0} : n.disk_log.back().term;
    n.core->on_persisted(last, last_term);
    release(id, rd.send_after_persist);
  }
  if (!writes.empty() && !auto_sync)
    handle_ready(id);
}

void sim_cluster::sync_all() {
  for (auto id : ids_)
    if (nodes_.at(id).up) {
      sync(id);
      handle_ready(id);
    }
}

void sim_cluster::release(node_id id, std::vector<outgoing>& msgs) {
  for (auto& o : msgs) {
    wire_message w{id, o.to, std::move(o.msg)};
    if (record_sent)
      sent_log.push_back(w);
    wire_.push_back(std::move(w));
  }
  msgs.clear();
}

node_id sim_cluster::elect(int max_ticks) {
  run_until([this] { return leader() != no_node; }, max_ticks);
  return leader();
}

// -- faults -----------------------------------------------------------------

void sim_cluster::crash(node_id id) {
  auto& n = nodes_.at(id);
  n.up = false;
  n.unsynced.clear(); // never reached the disk
  std::erase_if(wire_, [id](const wire_message& w) { return w.to == id; });
  checker_.node_restarted(id);
}

void sim_cluster::restart(node_id id) {
  make_core(id);
  check();
}

void sim_cluster::partition(const std::vector<std::vector<node_id>>& groups) {
  heal();
  std::map<node_id, std::size_t> group_of;
  for (std::size_t g = 0; g < groups.size(); ++g)
    for (auto id : groups[g])
      group_of[id] = g;
  for (auto a : ids_)
    for (auto b : ids_) {
      auto ga = group_of.find(a);
      auto gb = group_of.find(b);
      if (a != b && (ga == group_of.end() || gb == group_of.end() || ga->second != gb->second))
        cut_.insert({a, b});
    }
}

void sim_cluster::cut(node_id a, node_id b) {
  cut_.insert({a, b});
  cut_.insert({b, a});
}

void sim_cluster::cut_one_way(node_id from, node_id to) {
  cut_.insert({from, to});
}

void sim_cluster::heal() {
  cut_.clear();
}

bool sim_cluster::connected(node_id from, node_id to) const {
  return nodes_.at(to).up && nodes_.at(from).up && !cut_.contains({from, to});
}

// -- clients ----------------------------------------------------------------

proposal sim_cluster::put(node_id id, const std::string& key, const std::string& value) {
  return propose(id, encode_command(kv_command{kv_op::put, key, value, {}}));
}

proposal sim_cluster::propose(node_id id, std::string data) {
  auto p = core(id).propose(std::move(data));
  handle_ready(id);
  return p;
}

bool sim_cluster::read(node_id id, uint64_t ctx) {
  auto ok = core(id).read_index(ctx);
  handle_ready(id);
  return ok;
}

bool sim_cluster::acknowledged(const proposal& p) const {
  return p.accepted && applied_any_.contains({p.index, p.term});
}

// -- inspection -------------------------------------------------------------

node_id sim_cluster::leader() const {
  node_id best = no_node;
  term_t best_term = 0;
  for (const auto& [id, n] : nodes_)
    if (n.up && n.core->role() == raft_role::leader && n.core->term() >= best_term) {
      best = id;
      best_term = n.core->term();
    }
  return best;
}

void sim_cluster::check() {
  for (const auto& [id, n] : nodes_)
    if (n.up)
      checker_.observe(*n.core);
}

} // namespace raft::test
