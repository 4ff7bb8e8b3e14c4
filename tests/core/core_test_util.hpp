#pragma once

// Helpers shared by the per-section core tests: standalone cores built from a
// chosen hard state and log, a "shell" that drains their output the way
// node_actor does, message filters, and small drivers for sim_cluster.
//
// Standalone cores are for rules about one node reacting to one message (we
// craft the message); sim_cluster is for rules about the cluster (and runs
// the invariant checker after every step).

#include "actors/kv/command_codec.hpp"
#include "actors/node/raft_core.hpp"
#include "tests/support/sim_cluster.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace raft::core_test {

using test::sim_cluster;

/// The base election timeout every test uses unless it says otherwise.
inline constexpr int election_ticks = 10;

/// The configuration the tests start from: the defaults (pre-vote and
/// check-quorum on), a fixed seed.
inline raft_config base_config() {
  raft_config cfg;
  cfg.election_ticks = election_ticks;
  cfg.heartbeat_ticks = 1;
  cfg.seed = 42;
  return cfg;
}

/// Ids 1..n.
inline std::vector<node_id> ids_upto(std::size_t n) {
  std::vector<node_id> out;
  for (node_id i = 1; i <= n; ++i)
    out.push_back(i);
  return out;
}

/// The data of the entry at (index, term) in crafted logs: a put, the same on
/// every node, so crafted logs obey Log Matching.
inline std::string entry_data(index_t i, term_t t) {
  return encode_command(
    kv_command{kv_op::put, "k" + std::to_string(i), "t" + std::to_string(t), {}});
}

/// A crafted entry.
inline log_entry entry(index_t i, term_t t) {
  return log_entry{t, i, entry_type::command, entry_data(i, t)};
}

/// A log whose entry i (from 1) has term terms[i - 1].
inline std::vector<log_entry> log_of(const std::vector<term_t>& terms) {
  std::vector<log_entry> out;
  for (std::size_t k = 0; k < terms.size(); ++k)
    out.push_back(entry(k + 1, terms[k]));
  return out;
}

/// The terms along a log, index 1 first.
inline std::vector<term_t> terms_of(const raft_log& log) {
  std::vector<term_t> out;
  for (index_t i = 1; i <= log.last_index(); ++i)
    out.push_back(log.at(i).term);
  return out;
}

/// A standalone core. `tweak` adjusts the config (pre_vote, check_quorum, ...).
inline raft_core make_core(node_id id, std::vector<node_id> voters, hard_state hs = {},
                           std::vector<log_entry> log = {},
                           const std::function<void(raft_config&)>& tweak = {}) {
  auto cfg = base_config();
  cfg.id = id;
  cfg.voters = std::move(voters);
  if (tweak)
    tweak(cfg);
  return raft_core(cfg, hs, std::move(log));
}

/// Everything a core produced, as an ideal shell saw it.
struct output {
  std::vector<ready> batches;
  /// Every message in the order it would leave (send_now before
  /// send_after_persist within a batch).
  std::vector<outgoing> messages;
  std::vector<log_entry> committed;
  std::vector<read_state> reads;
  std::vector<uint64_t> dropped_reads;
};

/// Takes ready batches until the core has nothing to say, as a shell whose
/// disk syncs instantly: each batch is made durable and reported through
/// on_persisted before the next take_ready (when `persist`).
inline output drain(raft_core& c, bool persist = true) {
  output out;
  for (int round = 0; round < 100; ++round) {
    auto rd = c.take_ready();
    if (rd.empty())
      break;
    for (const auto& o : rd.send_now)
      out.messages.push_back(o);
    for (const auto& o : rd.send_after_persist)
      out.messages.push_back(o);
    out.committed.insert(out.committed.end(), rd.committed.begin(), rd.committed.end());
    out.reads.insert(out.reads.end(), rd.reads.begin(), rd.reads.end());
    out.dropped_reads.insert(out.dropped_reads.end(), rd.dropped_reads.begin(),
                             rd.dropped_reads.end());
    if (persist && !rd.entries.empty())
      c.on_persisted(rd.entries.back().index, rd.entries.back().term);
    out.batches.push_back(std::move(rd));
  }
  return out;
}

/// The messages of type T among `msgs` (to `to`, if given).
template <class T>
std::vector<T> of_type(const std::vector<outgoing>& msgs, node_id to = no_node) {
  std::vector<T> out;
  for (const auto& o : msgs)
    if (const auto* x = std::get_if<T>(&o.msg); x && (to == no_node || o.to == to))
      out.push_back(*x);
  return out;
}

/// The messages of type T on a simulated wire (from `from` / to `to`, if given).
template <class T>
std::vector<T> on_wire(const std::vector<test::wire_message>& wire, node_id from = no_node,
                       node_id to = no_node) {
  std::vector<T> out;
  for (const auto& w : wire)
    if (const auto* x = std::get_if<T>(&w.msg);
        x && (from == no_node || w.from == from) && (to == no_node || w.to == to))
      out.push_back(*x);
  return out;
}

/// Ticks a standalone core until it leaves the follower role; returns the
/// number of ticks it took, or -1 if it did not within `limit`.
inline int ticks_until_campaign(raft_core& c, int limit = 4 * election_ticks) {
  for (int t = 1; t <= limit; ++t) {
    c.tick();
    if (c.role() != raft_role::follower)
      return t;
  }
  return -1;
}

/// Makes a standalone core a candidate (through the pre-vote, if on) and
/// drains its output.
inline void make_candidate(raft_core& c) {
  REQUIRE(ticks_until_campaign(c) > 0);
  drain(c);
  if (c.role() == raft_role::pre_candidate) {
    for (auto p : c.voters())
      if (p != c.id() && c.role() == raft_role::pre_candidate)
        c.step(request_vote_reply{c.term() + 1, p, true, true});
    drain(c);
  }
  REQUIRE(c.role() == raft_role::candidate);
}

/// Makes a standalone core the leader by feeding it the votes it asks for,
/// and drains its output (the no-op's AppendEntries included).
inline void make_leader(raft_core& c) {
  make_candidate(c);
  for (auto p : c.voters())
    if (p != c.id() && c.role() == raft_role::candidate)
      c.step(request_vote_reply{c.term(), p, true, false});
  drain(c);
  REQUIRE(c.role() == raft_role::leader);
}

/// Feeds a leader successful AppendEntries replies up to `index` from the
/// given followers, and drains its output.
inline output ack(raft_core& leader, const std::vector<node_id>& followers, index_t index) {
  for (auto f : followers) {
    append_entries_reply r;
    r.term = leader.term();
    r.follower_id = f;
    r.success = true;
    r.match_index = index;
    leader.step(r);
  }
  return drain(leader);
}

// -- sim_cluster drivers ----------------------------------------------------

/// A simulated cluster of nodes 1..n.
inline sim_cluster make_sim(std::size_t n, uint64_t seed,
                            const std::function<void(raft_config&)>& tweak = {}) {
  auto cfg = base_config();
  if (tweak)
    tweak(cfg);
  return sim_cluster(ids_upto(n), cfg, seed);
}

/// Ticks every live node `n` times, delivering everything after each tick.
inline void run_ticks(sim_cluster& sim, int n) {
  for (int i = 0; i < n; ++i) {
    sim.tick_all();
    sim.deliver_all();
  }
}

/// Delivers one message at a time until `pred` holds; false if the wire ran
/// dry (or `limit` messages went by) first.
template <class Pred>
bool deliver_until(sim_cluster& sim, Pred pred, std::size_t limit = 100'000) {
  for (std::size_t i = 0; i < limit; ++i) {
    if (pred())
      return true;
    if (!sim.deliver_one())
      return pred();
  }
  return pred();
}

/// Ticks only node `id` (nobody else's clock moves) until it leads, delivering
/// one message at a time and stopping the moment it becomes leader, so the
/// test can act before its first AppendEntries arrive. False if it did not
/// win within `max_ticks` of its own.
inline bool campaign_until_leader(sim_cluster& sim, node_id id,
                                  int max_ticks = 20 * election_ticks) {
  auto leads = [&] { return sim.core(id).role() == raft_role::leader; };
  for (int t = 0; t < max_ticks && !leads(); ++t) {
    sim.tick(id);
    deliver_until(sim, leads);
  }
  return leads();
}

/// Number of live nodes that believe they lead.
inline std::size_t count_leaders(sim_cluster& sim) {
  std::size_t n = 0;
  for (auto id : sim.ids())
    if (sim.node(id).up && sim.core(id).role() == raft_role::leader)
      ++n;
  return n;
}

/// Replaces node `id`'s disk with (hs, log) and restarts it from there.
inline void load_disk(sim_cluster& sim, node_id id, hard_state hs,
                      std::vector<log_entry> log) {
  sim.crash(id);
  sim.node(id).disk_state = hs;
  sim.node(id).disk_log = std::move(log);
  sim.restart(id);
}

/// The followers of `leader` in a simulated cluster.
inline std::vector<node_id> others(const sim_cluster& sim, node_id leader) {
  std::vector<node_id> out;
  for (auto id : sim.ids())
    if (id != leader)
      out.push_back(id);
  return out;
}

} // namespace raft::core_test
