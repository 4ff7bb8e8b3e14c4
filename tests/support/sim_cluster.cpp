#include "tests/support/sim_cluster.hpp"

#include "actors/kv/command_codec.hpp"

#include <algorithm>
#include <stdexcept>

namespace raft::test {

namespace {

void put_u64(std::string& out, uint64_t x) {
  for (int k = 0; k < 8; ++k)
    out.push_back(static_cast<char>((x >> (8 * k)) & 0xff));
}

void put_str(std::string& out, const std::string& s) {
  put_u64(out, s.size());
  out += s;
}

struct reader {
  const std::string& in;
  std::size_t pos = 0;

  bool u64(uint64_t& x) {
    if (in.size() - pos < 8)
      return false;
    x = 0;
    for (int k = 0; k < 8; ++k)
      x |= uint64_t{static_cast<unsigned char>(in[pos + k])} << (8 * k);
    pos += 8;
    return true;
  }

  bool str(std::string& s) {
    uint64_t n = 0;
    if (!u64(n) || n > in.size() - pos)
      return false;
    s = in.substr(pos, n);
    pos += n;
    return true;
  }
};

/// A state machine holding `contents` as of entry `applied`, built through
/// kv_store's plain public API: the pairs are put, then no-ops raise the
/// applied index (the snapshot interface of kv_store is not used here).
kv_store kv_from(const std::map<std::string, std::string>& contents, index_t applied) {
  kv_store kv;
  for (const auto& [k, v] : contents)
    kv.execute(kv_command{kv_op::put, k, v, {}});
  for (index_t i = 1; i <= applied; ++i)
    kv.apply(log_entry{0, i, entry_type::noop, {}});
  return kv;
}

} // namespace

std::string encode_snapshot_data(const membership& config,
                                 const std::map<std::string, std::string>& kv) {
  std::string out;
  put_str(out, encode_membership(config));
  put_u64(out, kv.size());
  for (const auto& [k, v] : kv) {
    put_str(out, k);
    put_str(out, v);
  }
  return out;
}

bool decode_snapshot_data(const std::string& data, membership& config,
                          std::map<std::string, std::string>& kv) {
  reader r{data};
  std::string cfg;
  uint64_t n = 0;
  if (!r.str(cfg) || !r.u64(n))
    return false;
  auto m = decode_membership(cfg);
  if (!m)
    return false;
  std::map<std::string, std::string> out;
  for (uint64_t i = 0; i < n; ++i) {
    std::string k;
    std::string v;
    if (!r.str(k) || !r.str(v))
      return false;
    out.emplace(std::move(k), std::move(v));
  }
  if (r.pos != data.size())
    return false;
  config = std::move(*m);
  kv = std::move(out);
  return true;
}

sim_cluster::sim_cluster(std::vector<node_id> ids, raft_config base, uint64_t seed)
  : ids_(ids), bootstrap_(std::move(ids)), base_(std::move(base)), seed_(seed), rng_(seed) {
  for (auto id : ids_) {
    nodes_[id];
    make_core(id);
  }
}

void sim_cluster::make_core(node_id id) {
  auto cfg = base_;
  cfg.id = id;
  auto& n = nodes_.at(id);
  cfg.voters = n.joined ? std::vector<node_id>{} : bootstrap_;
  cfg.seed = seed_ * 1'000'003 + incarnation_[id]++;
  const auto& snap = n.disk_snap;
  n.core = std::make_unique<raft_core>(cfg, n.disk_state, n.disk_log,
                                       log_base{snap.index, snap.term, snap.config});
  n.kv = snap.index > 0 ? kv_from(snap.kv, snap.index) : kv_store{};
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
  if (const auto* snap = std::get_if<install_snapshot>(&m.msg))
    receive_snapshot(m.to, *snap);
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
    for (auto to : rd.snapshots_to_send)
      send_snapshot(id, to, rd);
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
    auto base = n.disk_snap.index;
    if (rd.reset_index != 0) {
      // restore() replaced the log by a snapshot, which receive_snapshot()
      // made durable at once (and emptied the disk log then): whatever was
      // written since by older batches is of the log the snapshot replaced.
      if (base < rd.reset_index)
        throw std::logic_error("sim: reset to " + std::to_string(rd.reset_index)
                               + " but the disk snapshot is at " + std::to_string(base));
      n.disk_log.clear();
    }
    // Entries a snapshot covers already (compacted, or installed, since
    // the batch was handed out) are not written.
    auto first = std::find_if(rd.entries.begin(), rd.entries.end(),
                              [base](const log_entry& e) { return e.index > base; });
    if (first != rd.entries.end()) {
      // A write whose first entry is at or below the stored end replaces
      // that suffix (the storage actor's contract).
      auto keep = first->index - 1 - base;
      if (keep > n.disk_log.size())
        throw std::logic_error("sim: write at " + std::to_string(first->index)
                               + " leaves a gap after the disk log's end");
      n.disk_log.resize(keep);
      n.disk_log.insert(n.disk_log.end(), first, rd.entries.end());
    }
    auto last = n.disk_log.empty() ? base : n.disk_log.back().index;
    auto last_term = n.disk_log.empty() ? n.disk_snap.term : n.disk_log.back().term;
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
  auto t = nodes_.find(to);
  auto f = nodes_.find(from);
  return t != nodes_.end() && f != nodes_.end() && t->second.up && f->second.up
         && !cut_.contains({from, to});
}

std::size_t sim_cluster::drop_if(const std::function<bool(const wire_message&)>& pred) {
  return std::erase_if(wire_, pred);
}

// -- membership and snapshots -------------------------------------------------

void sim_cluster::add_node(node_id id) {
  if (nodes_.contains(id)) {
    crash(id); // (again, if down: harmless) then wipe its disk
    // Messages its previous incarnation sent must not reach anyone now: an
    // old acknowledgement would make the leader believe the empty new node
    // holds entries it does not (its match then stays above its log, and
    // leader and node probe and reject each other forever). Reusing the id
    // of a wiped server is only safe once none can arrive; the sim makes it
    // so, as a deployment must (e.g. by waiting out the old connections).
    std::erase_if(wire_, [id](const wire_message& w) { return w.from == id; });
  } else {
    ids_.push_back(id);
  }
  auto& n = nodes_[id];
  n = sim_node{};
  n.joined = true;
  checker_.node_restarted(id);
  make_core(id);
  check();
}

change_outcome sim_cluster::propose_change(node_id leader, const config_change& c) {
  auto out = core(leader).propose_change(c);
  handle_ready(leader);
  return out;
}

change_outcome sim_cluster::add_learner(node_id leader, node_id id) {
  return propose_change(leader, config_change{config_change::kind::add_learner, member{id, ""}});
}

change_outcome sim_cluster::remove(node_id leader, node_id id) {
  return propose_change(leader, config_change{config_change::kind::remove, member{id, ""}});
}

change_outcome sim_cluster::transfer(node_id leader, node_id target) {
  auto out = core(leader).transfer_leadership(target);
  handle_ready(leader);
  return out;
}

void sim_cluster::compact(node_id id) {
  auto& n = nodes_.at(id);
  if (!n.up)
    return;
  auto& c = *n.core;
  auto applied = c.log().applied();
  if (applied <= c.log().snapshot_index())
    return;
  if (n.kv.applied_index() != applied)
    throw std::logic_error("sim: node " + std::to_string(id) + " applied "
                           + std::to_string(n.kv.applied_index()) + " but its core handed out "
                           + std::to_string(applied));
  // The snapshot is written (durably) first, then the log is cut.
  n.disk_snap = disk_snapshot{applied, c.log().term_at(applied), c.configuration_at(applied),
                              n.kv.contents()};
  c.compact(applied);
  std::erase_if(n.disk_log, [applied](const log_entry& e) { return e.index <= applied; });
  handle_ready(id);
}

void sim_cluster::send_snapshot(node_id leader, node_id to, ready& rd) {
  const auto& n = nodes_.at(leader);
  const auto& snap = n.disk_snap;
  if (snap.index == 0 || snap.index != n.core->log().snapshot_index())
    throw std::logic_error("sim: node " + std::to_string(leader)
                           + " must send a snapshot but its disk holds none matching its log");
  install_snapshot m{n.core->term(), leader, snap.index, snap.term, 0,
                     encode_snapshot_data(snap.config, snap.kv), true};
  // Leader traffic: it may leave before this batch is durable, unless the
  // batch carries a new term or vote (as the core sorts its own messages).
  auto& out = rd.has_state ? rd.send_after_persist : rd.send_now;
  out.push_back(outgoing{to, std::move(m)});
}

void sim_cluster::receive_snapshot(node_id id, const install_snapshot& m) {
  auto& n = nodes_.at(id);
  auto& c = *n.core;
  // step() did the term and leader bookkeeping; a snapshot from anyone but
  // the leader this node follows in its current term is not installed.
  if (!n.up || !m.done || c.term() != m.term || c.role() != raft_role::follower
      || c.leader() != m.leader_id)
    return;
  membership config;
  std::map<std::string, std::string> kv;
  install_snapshot_reply r{c.term(), id, m.last_included_index, 0, false, true};
  if (decode_snapshot_data(m.data, config, kv)) {
    r.success = true;
    auto replaced = c.restore(m.last_included_index, m.last_included_term, config);
    n.restores.push_back(replaced);
    if (replaced) {
      // The snapshot is complete and durable at once; the log it replaces is
      // gone from the disk too, and the state machine is the snapshot's.
      n.disk_snap = disk_snapshot{m.last_included_index, m.last_included_term, config, kv};
      n.disk_log.clear();
      n.kv = kv_from(n.disk_snap.kv, m.last_included_index);
      checker_.snapshot_installed(id, m.last_included_index);
    }
    handle_ready(id);
  }
  // Persist before you speak: the reply carries the term step() may just
  // have raised, so it waits for every write handed out before it.
  after_unsynced(id, outgoing{m.leader_id, r});
}

void sim_cluster::after_unsynced(node_id id, outgoing o) {
  auto& n = nodes_.at(id);
  if (n.unsynced.empty()) {
    std::vector<outgoing> now{std::move(o)};
    release(id, now);
  } else {
    n.unsynced.back().batch.send_after_persist.push_back(std::move(o));
  }
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
