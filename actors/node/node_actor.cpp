#include "actors/node/node_actor.hpp"

#include "actors/kv/command_codec.hpp"
#include "actors/kv/kv_store.hpp"
#include "actors/node/raft_core.hpp"
#include "actors/storage/log_store.hpp"
#include "actors/storage/snapshot_actor.hpp"
#include "actors/storage/snapshot_store.hpp"
#include "actors/storage/storage_actor.hpp"

#include <caf/all.hpp>

#include <charconv>
#include <deque>
#include <map>
#include <optional>

namespace raft {

namespace {

/// How long the node waits for its own storage before it gives up on it.
/// The storage actor is local and linked; this only catches a hung disk.
constexpr auto storage_timeout = std::chrono::seconds(30);

/// Expire client requests every this many ticks (not on every tick: it walks
/// the pending maps).
constexpr uint64_t expiry_period = 10;

struct pending_write {
  term_t term;
  uint64_t deadline; // in ticks
  caf::typed_response_promise<client_reply> rp;
};

struct pending_read {
  kv_command cmd; // a read (is_read(cmd.op))
  /// The leader's last log index when the read arrived: the read is served
  /// only once that much is applied, so a read sees every write that reached
  /// the leader before it -- a client that pipelines a write and then a
  /// read of the same key (as Redis clients do) reads its own write. Still
  /// linearizable: the state served is committed and no older than the read
  /// index (§6.4), only possibly newer.
  index_t barrier = 0;
  uint64_t deadline; // in ticks
  caf::typed_response_promise<client_reply> rp;
};

/// A snapshot being sent to one follower, one chunk at a time: the next
/// chunk is read only when the follower has acknowledged the last one (flow
/// control: one chunk of the file in memory per transfer).
struct outgoing_snapshot {
  index_t index = 0;
  term_t term = 0;
  uint64_t generation = 0; // tells replies to an abandoned transfer apart
  /// The offset the follower last said it expects next.
  uint64_t acked = 0;
};

/// A command waiting for the node itself, not for a log entry.
struct pending_admin {
  node_id target = no_node;
  uint64_t deadline = 0;
  caf::typed_response_promise<client_reply> rp;
};

struct node_state {
  static inline const char* name = "raft_node";

  node_options opts;
  std::shared_ptr<raft_core> core;
  storage_actor storage;
  snapshot_actor snapshots;
  peer_map peers;
  kv_store kv;

  /// The newest snapshots on disk, oldest first (at most two are kept: the
  /// log on disk reaches back to the older, so a corrupt newer one can be
  /// replaced at restart).
  std::vector<snapshot_meta> snapshot_files;
  /// Writing a snapshot of our own state is under way.
  bool snapshotting = false;
  std::vector<caf::typed_response_promise<client_reply>> snapshot_waiters;
  /// Loading a snapshot received from the leader into the state machine:
  /// committed entries wait in `held_committed` until it is done.
  bool restoring = false;
  std::vector<log_entry> held_committed;
  /// Transfers to followers (leader).
  std::map<node_id, outgoing_snapshot> transfers;
  uint64_t transfer_generation = 0;
  /// Leadership transfers asked for by clients.
  std::vector<pending_admin> transfer_waiters;

  uint64_t tick_generation = 0;
  uint64_t ticks = 0;
  bool ready_scheduled = false;

  /// Messages held back until a persist completes: one slot per persist in
  /// flight, oldest first (persist before you speak).
  std::deque<std::vector<outgoing>> held;

  /// Writes proposed here, by log index, until applied or expired.
  std::map<index_t, pending_write> writes;
  /// Reads by context; `confirmed` maps read index -> context once the
  /// leader confirmed it.
  std::map<uint64_t, pending_read> reads;
  std::multimap<index_t, uint64_t> confirmed;
  uint64_t next_read = 0;

  /// When each peer was last heard from (for status).
  std::map<node_id, caf::actor_clock::time_point> last_contact;

  raft_role last_role = raft_role::follower;
  term_t last_term = 0;
  node_id last_leader = no_node;
  membership last_config;
};

using node_pointer = node_actor::stateful_pointer<node_state>;

void log_line(node_pointer self, const std::string& line) {
  if (self->state.opts.log)
    self->state.opts.log("[node " + std::to_string(self->state.opts.raft.id) + "] " + line);
}

void observe(node_pointer self) {
  if (self->state.opts.observer)
    self->state.opts.observer->stepped(*self->state.core);
}

void schedule_ready(node_pointer self) {
  auto& st = self->state;
  if (st.ready_scheduled)
    return;
  st.ready_scheduled = true;
  // Lands behind everything already in the mailbox, so all inputs of this
  // turn are handled before the core's output is collected (batching).
  self->send(self, ready_atom::value);
}

client_reply not_leader(node_pointer self) {
  client_reply r;
  r.status = reply_status::not_leader;
  r.leader_hint = self->state.core->leader();
  r.message = r.leader_hint == no_node ? "no leader known" : "not the leader";
  return r;
}

void send_all(node_pointer self, std::vector<outgoing>& msgs) {
  auto& peers = self->state.peers;
  for (auto& o : msgs) {
    auto i = peers.find(o.to);
    if (i == peers.end() || !i->second)
      continue; // not a peer we can reach: as if the message was lost
    std::visit([&](auto& m) { self->send(i->second, std::move(m)); }, o.msg);
  }
  msgs.clear();
}

/// Sends `m` once everything persisted so far is durable (persist before you
/// speak: e.g. a snapshot's acknowledgement after the log reset it caused).
void send_after_persist(node_pointer self, outgoing o) {
  auto& st = self->state;
  if (!st.held.empty()) {
    st.held.back().push_back(std::move(o));
    return;
  }
  std::vector<outgoing> one;
  one.push_back(std::move(o));
  send_all(self, one);
}

/// Makes links to the members the configuration names and drops those to
/// members a committed configuration no longer names.
void sync_links(node_pointer self) {
  auto& st = self->state;
  const auto& cfg = st.core->configuration();
  auto self_id = st.opts.raft.id;
  for (const auto* list : {&cfg.voters, &cfg.learners})
    for (const auto& m : *list) {
      if (m.id == self_id || st.peers.contains(m.id) || !st.opts.connect)
        continue;
      st.peers.emplace(m.id, st.opts.connect(m));
      log_line(self, "connected to new member " + std::to_string(m.id)
                       + (m.address.empty() ? "" : " at " + m.address));
    }
  if (st.core->configuration_index() > st.core->log().committed())
    return; // the change may still be rolled back
  for (auto i = st.peers.begin(); i != st.peers.end();) {
    if (is_member(cfg, i->first)) {
      ++i;
      continue;
    }
    auto id = i->first;
    i = st.peers.erase(i);
    st.last_contact.erase(id);
    if (st.opts.disconnect)
      st.opts.disconnect(id);
    log_line(self, "dropped the link to removed member " + std::to_string(id));
  }
}

void log_changes(node_pointer self) {
  auto& st = self->state;
  const auto& c = *st.core;
  if (c.configuration() != st.last_config) {
    log_line(self, "configuration " + to_string(c.configuration()) + " (entry "
                     + std::to_string(c.configuration_index()) + ")");
    st.last_config = c.configuration();
  }
  if (c.role() == st.last_role && c.term() == st.last_term && c.leader() == st.last_leader)
    return;
  log_line(self, "term " + std::to_string(c.term()) + " " + to_string(c.role())
                   + " (leader " + std::to_string(c.leader()) + ")");
  st.last_role = c.role();
  st.last_term = c.term();
  st.last_leader = c.leader();
}

void serve_reads(node_pointer self) {
  auto& st = self->state;
  if (st.restoring)
    return; // the state machine is incomplete
  auto applied = st.kv.applied_index();
  while (!st.confirmed.empty() && st.confirmed.begin()->first <= applied) {
    auto ctx = st.confirmed.begin()->second;
    st.confirmed.erase(st.confirmed.begin());
    if (auto i = st.reads.find(ctx); i != st.reads.end()) {
      auto reply = st.kv.execute(i->second.cmd);
      reply.leader_hint = st.core->leader(); // tells a client where to go next
      i->second.rp.deliver(std::move(reply));
      st.reads.erase(i);
    }
  }
}

void apply_committed(node_pointer self, std::vector<log_entry>& committed) {
  auto& st = self->state;
  if (st.restoring) {
    // They follow the snapshot being loaded: apply them after it.
    for (auto& e : committed)
      st.held_committed.push_back(std::move(e));
    return;
  }
  for (const auto& e : committed) {
    if (st.opts.observer)
      st.opts.observer->applied(st.opts.raft.id, e);
    auto reply = st.kv.apply(e);
    auto i = st.writes.find(e.index);
    if (i == st.writes.end())
      continue;
    if (i->second.term == e.term) {
      // Tells a client that came through a follower where to go next.
      reply.leader_hint = st.core->leader();
      if (e.type == entry_type::config)
        reply.value = e.data; // the configuration now in force (a joining node starts from it)
      i->second.rp.deliver(std::move(reply));
    } else {
      // Another leader's entry took this index, so ours is in no log at
      // this index and can never commit: a definite failure.
      auto r = not_leader(self);
      r.message = "superseded by another leader's entry; not applied";
      i->second.rp.deliver(std::move(r));
    }
    st.writes.erase(i);
  }
  serve_reads(self);
}

// -- snapshots of our own state ---------------------------------------------

std::string describe(const snapshot_meta& m) {
  return "snapshot through index " + std::to_string(m.index) + " (term "
         + std::to_string(m.term) + ", " + std::to_string(m.keys) + " keys, "
         + std::to_string(m.bytes) + " bytes)";
}

index_t newest_snapshot_index(node_pointer self) {
  auto& files = self->state.snapshot_files;
  return files.empty() ? 0 : files.back().index;
}

void finish_snapshot(node_pointer self, const caf::error* err, snapshot_meta* meta) {
  auto& st = self->state;
  st.snapshotting = false;
  client_reply r;
  if (err != nullptr) {
    st.kv.abort_snapshot();
    r.status = reply_status::unavailable;
    r.message = "snapshot failed: " + self->system().render(*err);
    log_line(self, r.message);
  } else {
    st.snapshot_files.push_back(*meta);
    while (st.snapshot_files.size() > 2)
      st.snapshot_files.erase(st.snapshot_files.begin());
    r.message = describe(*meta);
    log_line(self, "wrote " + r.message);
    // Keep a margin of entries in memory for followers slightly behind.
    auto margin = st.opts.compaction_margin;
    if (meta->index > margin)
      st.core->compact(meta->index - margin);
    // On disk the log reaches back to the older snapshot kept, so that a
    // corrupt newer one can be replaced by it at restart.
    auto upto = st.snapshot_files.front().index;
    self->request(st.storage, storage_timeout, compact_atom::value, upto)
      .then([](index_t) {},
            [self](caf::error& e) {
              log_line(self, "log compaction failed: " + self->system().render(e));
            });
  }
  for (auto& rp : st.snapshot_waiters)
    rp.deliver(r);
  st.snapshot_waiters.clear();
  observe(self);
}

/// Hands the snapshot actor the next batch of the frozen view; one batch in
/// flight at a time, so the node goes on between batches (heartbeats, applies).
void write_snapshot_batches(node_pointer self) {
  auto& st = self->state;
  std::vector<kv_pair> batch;
  bool more = st.kv.next_snapshot_batch(batch, st.opts.snapshot_batch_bytes);
  auto after = [self, more](bool) {
    if (more) {
      write_snapshot_batches(self);
      return;
    }
    self->request(self->state.snapshots, caf::infinite, snap_end_atom::value)
      .then([self](snapshot_meta& meta) { finish_snapshot(self, nullptr, &meta); },
            [self](caf::error& err) { finish_snapshot(self, &err, nullptr); });
  };
  if (batch.empty()) {
    after(true);
    return;
  }
  self->request(st.snapshots, caf::infinite, snap_add_atom::value, std::move(batch))
    .then(after, [self](caf::error& err) { finish_snapshot(self, &err, nullptr); });
}

void start_snapshot(node_pointer self) {
  auto& st = self->state;
  if (st.snapshotting || st.restoring)
    return;
  auto index = st.kv.applied_index();
  if (index == 0 || index <= newest_snapshot_index(self))
    return;
  st.snapshotting = true;
  st.kv.begin_snapshot();
  snapshot_meta meta;
  meta.index = index;
  meta.term = st.core->log().term_at(index);
  meta.config = st.core->configuration_at(index);
  meta.keys = st.kv.snapshot_keys();
  meta.digest = st.kv.snapshot_digest();
  self->request(st.snapshots, caf::infinite, snap_begin_atom::value, std::move(meta))
    .then([self](bool) { write_snapshot_batches(self); },
          [self](caf::error& err) { finish_snapshot(self, &err, nullptr); });
}

void maybe_snapshot(node_pointer self) {
  auto& st = self->state;
  if (st.snapshotting || st.restoring)
    return;
  auto since = st.kv.applied_index() - std::min(st.kv.applied_index(), newest_snapshot_index(self));
  if ((st.opts.snapshot_entries > 0 && since >= st.opts.snapshot_entries)
      || (st.opts.snapshot_log_bytes > 0
          && st.core->log().payload_bytes() >= st.opts.snapshot_log_bytes && since > 0))
    start_snapshot(self);
}

// -- sending snapshots (leader) ----------------------------------------------

void abort_transfer(node_pointer self, node_id peer, const std::string& why) {
  auto& st = self->state;
  auto i = st.transfers.find(peer);
  if (i == st.transfers.end())
    return;
  auto index = i->second.index;
  st.transfers.erase(i);
  log_line(self, "snapshot transfer to " + std::to_string(peer) + " abandoned: " + why);
  // The core probes again and asks for a new transfer.
  st.core->step(install_snapshot_reply{st.core->term(), peer, index, 0, false, true});
  observe(self);
  schedule_ready(self);
}

void send_chunk(node_pointer self, node_id peer, uint64_t offset) {
  auto& st = self->state;
  auto i = st.transfers.find(peer);
  if (i == st.transfers.end())
    return;
  auto t = i->second;
  self
    ->request(st.snapshots, caf::infinite, snap_read_atom::value, t.index, offset,
              st.opts.snapshot_chunk_bytes)
    .then(
      [self, peer, t](snapshot_chunk& c) {
        auto& s = self->state;
        auto j = s.transfers.find(peer);
        if (j == s.transfers.end() || j->second.generation != t.generation
            || s.core->role() != raft_role::leader)
          return;
        install_snapshot m;
        m.term = s.core->term();
        m.leader_id = s.opts.raft.id;
        m.last_included_index = t.index;
        m.last_included_term = t.term;
        m.offset = c.offset;
        m.data = std::move(c.data);
        m.done = c.done;
        std::vector<outgoing> one;
        one.push_back(outgoing{peer, std::move(m)});
        send_all(self, one);
      },
      [self, peer](caf::error& err) {
        abort_transfer(self, peer, self->system().render(err));
      });
}

void start_transfer(node_pointer self, node_id peer) {
  auto& st = self->state;
  if (st.snapshot_files.empty()) {
    // Cannot happen: the log is only compacted behind a written snapshot.
    log_line(self, "follower " + std::to_string(peer) + " needs a snapshot but none exists");
    return;
  }
  const auto& newest = st.snapshot_files.back();
  if (auto i = st.transfers.find(peer); i != st.transfers.end() && i->second.index == newest.index) {
    // The core gave up waiting (a lost chunk, or a slow first read of a
    // large file): resume where the follower last acknowledged, rather than
    // make it throw away what it already has.
    log_line(self, "resuming the snapshot transfer to " + std::to_string(peer) + " at byte "
                     + std::to_string(i->second.acked));
    send_chunk(self, peer, i->second.acked);
    return;
  }
  st.transfers[peer] = outgoing_snapshot{newest.index, newest.term, ++st.transfer_generation, 0};
  log_line(self, "sending " + describe(newest) + " to " + std::to_string(peer));
  send_chunk(self, peer, 0);
}

void on_snapshot_reply(node_pointer self, const install_snapshot_reply& m) {
  auto& st = self->state;
  auto i = st.transfers.find(m.follower_id);
  if (i == st.transfers.end() || i->second.index != m.last_included_index
      || m.term != st.core->term())
    return;
  if (m.done) {
    st.transfers.erase(i);
    log_line(self, std::string("snapshot transfer to ") + std::to_string(m.follower_id)
                     + (m.success ? " done" : " refused by the follower"));
    return; // the core takes it from here
  }
  // Acknowledged up to next_offset (or out of order: resend from there).
  i->second.acked = m.next_offset;
  send_chunk(self, m.follower_id, m.next_offset);
}

// -- receiving snapshots (follower) --------------------------------------------

void reply_snapshot(node_pointer self, node_id leader, index_t index, uint64_t next,
                    bool success, bool done, bool after_persist) {
  auto& st = self->state;
  outgoing o{leader, install_snapshot_reply{st.core->term(), st.opts.raft.id, index, next,
                                            success, done}};
  if (after_persist) {
    send_after_persist(self, std::move(o));
  } else {
    std::vector<outgoing> one;
    one.push_back(std::move(o));
    send_all(self, one);
  }
}

void finish_restore(node_pointer self, const snapshot_meta& meta, node_id leader) {
  auto& st = self->state;
  st.kv.restore_finish(meta.index);
  st.restoring = false;
  if (st.opts.observer)
    st.opts.observer->snapshot_installed(st.opts.raft.id, meta.index);
  log_line(self, "installed " + describe(meta) + " from " + std::to_string(leader));
  auto held = std::move(st.held_committed);
  st.held_committed.clear();
  apply_committed(self, held);
  // Acknowledge once the log reset the install caused is durable.
  reply_snapshot(self, leader, meta.index, meta.bytes, true, true, true);
}

void load_batches(node_pointer self, snapshot_meta meta, node_id leader, bool first) {
  auto& st = self->state;
  self
    ->request(st.snapshots, caf::infinite, snap_load_atom::value, meta.index, first,
              st.opts.snapshot_batch_bytes)
    .then(
      [self, meta, leader](snapshot_batch& b) {
        self->state.kv.restore_batch(b.pairs);
        if (b.done)
          finish_restore(self, meta, leader);
        else
          load_batches(self, meta, leader, false);
      },
      [self](caf::error& err) {
        // The snapshot verified when it arrived; failing to read it back
        // leaves the state machine incomplete: stop (the supervisor
        // restarts the node from disk).
        log_line(self, "cannot load the received snapshot: " + self->system().render(err));
        self->quit(err);
      });
}

void on_install_snapshot(node_pointer self, install_snapshot& m) {
  auto& st = self->state;
  auto from = m.leader_id;
  if (st.peers.contains(from))
    st.last_contact[from] = self->clock().now();
  st.core->step(raft_message{install_snapshot{m.term, m.leader_id, m.last_included_index,
                                              m.last_included_term, m.offset, {}, m.done}});
  observe(self);
  schedule_ready(self);
  const auto& c = *st.core;
  if (c.term() != m.term || c.leader() != from || c.role() != raft_role::follower)
    return; // a stale leader (the core told it our term)
  if (st.restoring)
    return; // still loading the last one; the leader retries if need be
  if (m.last_included_index <= c.log().committed()) {
    // We hold all of it already (Log Matching: committed entries agree).
    reply_snapshot(self, from, m.last_included_index, 0, true, true, false);
    return;
  }
  auto index = m.last_included_index;
  auto offset = m.offset;
  auto size = m.data.size();
  self
    ->request(st.snapshots, caf::infinite, snap_recv_atom::value, index,
              m.last_included_term, offset, std::move(m.data), m.done)
    .then(
      [self, from, index, offset, size](snapshot_received& r) {
        auto& s = self->state;
        if (!r.complete) {
          reply_snapshot(self, from, index, r.next_offset, r.next_offset == offset + size,
                         false, false);
          return;
        }
        if (s.restoring || s.snapshotting) {
          // Another install is loading, or our own snapshot is being
          // written from the state machine: one at a time. The leader
          // tries again (the file stays on disk).
          reply_snapshot(self, from, index, 0, false, true, false);
          return;
        }
        s.snapshot_files.push_back(r.meta);
        while (s.snapshot_files.size() > 2)
          s.snapshot_files.erase(s.snapshot_files.begin());
        if (s.core->role() != raft_role::follower
            || !s.core->restore(r.meta.index, r.meta.term, r.meta.config)) {
          // Our log already holds it (or we moved on): nothing to load.
          reply_snapshot(self, from, index, r.next_offset, true, true, false);
          observe(self);
          schedule_ready(self);
          return;
        }
        // The core's log is now the snapshot; the state machine follows.
        s.restoring = true;
        s.kv.restore_begin();
        observe(self);
        schedule_ready(self);
        load_batches(self, r.meta, from, true);
      },
      [self, from, index](caf::error& err) {
        log_line(self, "refused a snapshot from " + std::to_string(from) + ": "
                         + self->system().render(err));
        reply_snapshot(self, from, index, 0, false, true, false);
      });
}

// -- leadership transfers asked for by clients ---------------------------------

void settle_transfers(node_pointer self) {
  auto& st = self->state;
  const auto& c = *st.core;
  for (auto i = st.transfer_waiters.begin(); i != st.transfer_waiters.end();) {
    client_reply r;
    r.leader_hint = c.leader();
    if (c.leader() == i->target) {
      r.message = "node " + std::to_string(i->target) + " leads";
    } else if (c.role() == raft_role::leader && c.transferee() == no_node) {
      r.status = reply_status::unavailable;
      r.message = "node " + std::to_string(i->target)
                  + " did not take over within an election timeout";
    } else if (i->deadline <= st.ticks) {
      r.status = reply_status::unknown;
      r.message = "timed out waiting for node " + std::to_string(i->target) + " to lead";
    } else {
      ++i;
      continue;
    }
    i->rp.deliver(std::move(r));
    i = st.transfer_waiters.erase(i);
  }
}

void process_ready(node_pointer self) {
  auto& st = self->state;
  st.ready_scheduled = false;
  auto rd = st.core->take_ready();
  observe(self);
  log_changes(self);
  sync_links(self);
  if (st.core->role() != raft_role::leader)
    st.transfers.clear(); // a follower sends no snapshots
  send_all(self, rd.send_now);
  if (rd.has_state || !rd.entries.empty() || rd.reset_index != 0) {
    persist_request req;
    req.reset_index = rd.reset_index;
    req.reset_term = rd.reset_term;
    req.has_hard_state = rd.has_state;
    req.state = rd.state;
    req.entries = std::move(rd.entries);
    st.held.push_back(std::move(rd.send_after_persist));
    self->request(st.storage, storage_timeout, std::move(req))
      .then(
        [self](persist_ack& ack) {
          auto& s = self->state;
          s.core->on_persisted(ack.last_index, ack.last_term);
          auto msgs = std::move(s.held.front());
          s.held.pop_front();
          send_all(self, msgs);
          schedule_ready(self);
        },
        [self](caf::error& err) {
          // Persist before you speak: without durable storage we must stop.
          log_line(self, "storage failed: " + self->system().render(err));
          self->quit(err);
        });
  } else if (!st.held.empty()) {
    auto& slot = st.held.back();
    for (auto& o : rd.send_after_persist)
      slot.push_back(std::move(o));
  } else {
    send_all(self, rd.send_after_persist);
  }
  apply_committed(self, rd.committed);
  for (const auto& r : rd.reads) {
    // Served once applied up to its read index and up to every entry this
    // leader had accepted when the read arrived (see pending_read::barrier).
    auto at = r.index;
    if (auto i = st.reads.find(r.ctx); i != st.reads.end())
      at = std::max(at, i->second.barrier);
    st.confirmed.emplace(at, r.ctx);
  }
  serve_reads(self);
  for (auto ctx : rd.dropped_reads) {
    if (auto i = st.reads.find(ctx); i != st.reads.end()) {
      i->second.rp.deliver(not_leader(self));
      st.reads.erase(i);
    }
  }
  for (auto peer : rd.snapshots_to_send)
    start_transfer(self, peer);
  if (!st.transfer_waiters.empty())
    settle_transfers(self);
  maybe_snapshot(self);
}

void expire_clients(node_pointer self) {
  auto& st = self->state;
  for (auto i = st.writes.begin(); i != st.writes.end();) {
    if (i->second.deadline > st.ticks) {
      ++i;
      continue;
    }
    // It may still commit: the outcome is unknown, never "failed".
    client_reply r;
    r.status = reply_status::unknown;
    r.message = "timed out waiting for the outcome";
    i->second.rp.deliver(std::move(r));
    i = st.writes.erase(i);
  }
  for (auto i = st.reads.begin(); i != st.reads.end();) {
    if (i->second.deadline > st.ticks) {
      ++i;
      continue;
    }
    client_reply r;
    r.status = reply_status::no_quorum;
    r.message = "read not served in time: a majority did not confirm the leadership, or the "
                "writes the leader had accepted before it did not commit";
    i->second.rp.deliver(std::move(r));
    i = st.reads.erase(i);
  }
}

uint64_t deadline(node_pointer self) {
  auto& st = self->state;
  auto ticks = st.opts.client_timeout / st.opts.tick_interval;
  return st.ticks + static_cast<uint64_t>(std::max<decltype(ticks)>(ticks, 1));
}

client_reply error_reply(reply_status status, std::string message, node_id hint = no_node) {
  client_reply r;
  r.status = status;
  r.message = std::move(message);
  r.leader_hint = hint;
  return r;
}

/// Parses a node id given as decimal text; no_node if it is not one.
node_id parse_id(const std::string& text) {
  node_id id = no_node;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || end != text.data() + text.size())
    return no_node;
  return id;
}

/// add_member / remove_member / transfer_leader, at the leader.
caf::result<client_reply> handle_admin(node_pointer self, kv_command& cmd) {
  auto& st = self->state;
  auto id = parse_id(cmd.key);
  if (cmd.op == kv_op::transfer_leader && cmd.key.empty())
    id = no_node; // any voter
  else if (id == no_node)
    return error_reply(reply_status::bad_request, "not a node id: '" + cmd.key + "'");
  if (cmd.op == kv_op::add_member) {
    // A repeated join (its first answer was lost) is answered again, once
    // the change is committed; the same id at another address is refused.
    const auto& cfg = st.core->configuration();
    if (const auto* m = find_member(cfg, id);
        m != nullptr && m->address == cmd.value
        && st.core->configuration_index() <= st.core->log().committed()) {
      client_reply r;
      r.value = encode_membership(cfg);
      r.leader_hint = st.core->leader();
      r.message = "node " + cmd.key + " is a member already";
      return r;
    }
  }
  change_outcome out;
  if (cmd.op == kv_op::transfer_leader) {
    out = st.core->transfer_leadership(id);
  } else {
    config_change c;
    c.op = cmd.op == kv_op::add_member ? config_change::kind::add_learner
                                       : config_change::kind::remove;
    c.who = member{id, cmd.value};
    out = st.core->propose_change(c);
  }
  observe(self);
  schedule_ready(self);
  using k = change_outcome::kind;
  switch (out.result) {
    case k::not_leader:
      return not_leader(self);
    case k::busy:
    case k::not_ready:
      return error_reply(reply_status::unavailable, out.message, st.core->leader());
    case k::invalid:
      return error_reply(reply_status::bad_request, out.message, st.core->leader());
    case k::transferring:
      // The client retries at the new leader, which removes us.
      return error_reply(reply_status::not_leader, out.message, out.hint);
    case k::accepted:
      break;
  }
  auto rp = self->make_response_promise<client_reply>();
  if (cmd.op == kv_op::transfer_leader) {
    st.transfer_waiters.push_back(pending_admin{out.hint, deadline(self), rp});
    settle_transfers(self);
  } else {
    st.writes.emplace(out.index, pending_write{out.term, deadline(self), rp});
  }
  return rp;
}

caf::result<client_reply> handle_command(node_pointer self, kv_command& cmd) {
  auto& st = self->state;
  switch (cmd.op) {
    case kv_op::get:
    case kv_op::put:
    case kv_op::del:
    case kv_op::cas:
    case kv_op::set:
    case kv_op::del_keys:
    case kv_op::incr_by:
    case kv_op::mset:
    case kv_op::mget:
    case kv_op::exists:
    case kv_op::dbsize:
    case kv_op::add_member:
    case kv_op::remove_member:
    case kv_op::transfer_leader:
      break;
    case kv_op::take_snapshot: {
      // For this node, wherever it stands in the cluster.
      if (st.restoring)
        return error_reply(reply_status::unavailable, "loading a snapshot from the leader");
      if (st.kv.applied_index() == 0 || st.kv.applied_index() <= newest_snapshot_index(self)) {
        if (st.snapshot_files.empty())
          return error_reply(reply_status::unavailable, "nothing applied yet to snapshot");
        client_reply r;
        r.message = "up to date: " + describe(st.snapshot_files.back());
        return r;
      }
      auto rp = self->make_response_promise<client_reply>();
      st.snapshot_waiters.push_back(rp);
      start_snapshot(self);
      return rp;
    }
    default:
      return error_reply(reply_status::bad_request, "unknown operation");
  }
  if (cmd.op == kv_op::add_member && !cmd.expected.empty() && !st.opts.cluster_id.empty()
      && cmd.expected != st.opts.cluster_id)
    return error_reply(reply_status::bad_request,
                       "cluster id mismatch: this cluster is '" + st.opts.cluster_id
                         + "', the joining node was started for '" + cmd.expected + "'");
  if (cmd.local_read != 0 && is_read(cmd.op)) {
    // Asked for this node's state as it is (possibly stale): no ReadIndex
    // round, no forwarding, so a node cut off from the leader still answers.
    if (st.restoring)
      return error_reply(reply_status::unavailable, "loading a snapshot from the leader");
    auto reply = st.kv.execute(cmd);
    reply.leader_hint = st.core->leader();
    return reply;
  }
  if (st.core->role() != raft_role::leader) {
    // A follower forwards to the leader it knows, once; the leader answers
    // the client directly.
    auto leader = st.core->leader();
    auto link = st.peers.find(leader);
    if (cmd.forwarded == 0 && link != st.peers.end() && link->second) {
      cmd.forwarded = 1;
      return self->delegate(link->second, std::move(cmd));
    }
    return not_leader(self);
  }
  if (cmd.op == kv_op::add_member || cmd.op == kv_op::remove_member
      || cmd.op == kv_op::transfer_leader)
    return handle_admin(self, cmd);
  auto rp = self->make_response_promise<client_reply>();
  if (is_read(cmd.op)) {
    auto ctx = ++st.next_read;
    st.reads.emplace(ctx, pending_read{std::move(cmd), st.core->log().last_index(),
                                       deadline(self), rp});
    st.core->read_index(ctx);
  } else {
    auto p = st.core->propose(encode_command(cmd));
    if (!p.accepted) {
      auto r = not_leader(self);
      r.message = "leadership is being handed over; nothing was applied";
      rp.deliver(std::move(r));
      return rp;
    }
    st.writes.emplace(p.index, pending_write{p.term, deadline(self), rp});
  }
  observe(self);
  schedule_ready(self);
  return rp;
}

template <class Message>
void on_peer_message(node_pointer self, Message& m) {
  raft_message msg{std::move(m)};
  auto from = message_sender(msg);
  if (self->state.peers.contains(from))
    self->state.last_contact[from] = self->clock().now();
  self->state.core->step(msg);
  observe(self);
  schedule_ready(self);
}

/// What spawn_node recovered from the data directory.
struct recovered_node {
  std::shared_ptr<raft_core> core;
  kv_store kv;
  std::vector<snapshot_meta> snapshot_files;
  std::vector<std::string> problems;
};

node_actor::behavior_type node_impl(node_pointer self, node_options opts,
                                    std::shared_ptr<recovered_node> rec,
                                    storage_actor storage, snapshot_actor snapshots,
                                    peer_map peers) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.core = std::move(rec->core);
  st.kv = std::move(rec->kv);
  st.snapshot_files = std::move(rec->snapshot_files);
  st.storage = std::move(storage);
  st.snapshots = std::move(snapshots);
  st.peers = std::move(peers);
  st.last_term = st.core->term();
  st.last_config = st.core->configuration();
  // The node, its storage and its snapshots live and die together.
  self->link_to(st.storage);
  self->link_to(st.snapshots);
  for (const auto& p : rec->problems)
    log_line(self, p);
  log_line(self, "started at term " + std::to_string(st.core->term()) + " with log "
                   + std::to_string(st.core->log().first_index()) + ".."
                   + std::to_string(st.core->log().last_index())
                   + (st.snapshot_files.empty()
                        ? std::string{}
                        : " after " + describe(st.snapshot_files.back()))
                   + "; configuration " + to_string(st.core->configuration()));
  sync_links(self);
  self->delayed_send(self, st.opts.tick_interval, tick_atom::value, st.tick_generation);
  observe(self);
  return {
    [self](request_vote& m) { on_peer_message(self, m); },
    [self](request_vote_reply& m) { on_peer_message(self, m); },
    [self](append_entries& m) { on_peer_message(self, m); },
    [self](append_entries_reply& m) { on_peer_message(self, m); },
    [self](install_snapshot& m) { on_install_snapshot(self, m); },
    [self](install_snapshot_reply& m) {
      on_snapshot_reply(self, m);
      on_peer_message(self, m);
    },
    [self](timeout_now& m) { on_peer_message(self, m); },
    [self](kv_command& cmd) -> caf::result<client_reply> {
      return handle_command(self, cmd);
    },
    [self](status_atom) -> node_status {
      auto s = self->state.core->status();
      s.applied_index = self->state.kv.applied_index();
      s.state_digest = self->state.kv.digest();
      s.keys = self->state.kv.size();
      if (!self->state.snapshot_files.empty())
        s.snapshot_index = self->state.snapshot_files.back().index;
      auto now = self->clock().now();
      for (const auto& [id, link] : self->state.peers) {
        peer_info p;
        p.id = id;
        if (const auto* m = find_member(self->state.core->configuration(), id))
          p.address = m->address;
        p.connected = static_cast<bool>(link);
        if (auto i = self->state.last_contact.find(id); i != self->state.last_contact.end())
          p.last_contact_ms
            = std::chrono::duration_cast<std::chrono::milliseconds>(now - i->second).count();
        s.peers.push_back(std::move(p));
      }
      return s;
    },
    [self](tick_atom, uint64_t generation) {
      auto& s = self->state;
      if (generation != s.tick_generation)
        return; // a timer from before a restart of the clock
      ++s.ticks;
      s.core->tick();
      observe(self);
      schedule_ready(self);
      if (s.ticks % expiry_period == 0) {
        expire_clients(self);
        settle_transfers(self);
      }
      self->delayed_send(self, s.opts.tick_interval, tick_atom::value, generation);
    },
    [self](ready_atom) { process_ready(self); },
  };
}

} // namespace

caf::expected<node_actor> spawn_node(caf::actor_system& sys, node_options opts,
                                     peer_map peers) {
  std::shared_ptr<log_store> store;
  try {
    store = std::make_shared<log_store>(opts.data_dir,
                                        log_store_options{opts.segment_bytes});
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error,
                           "cannot use data directory " + opts.data_dir + ": " + e.what());
  }
  auto rec = std::make_shared<recovered_node>();
  log_base base;
  try {
    // The newest snapshot that verifies; a corrupt newer one is reported and
    // left for an operator, never taken for an empty state.
    snapshot_store snaps(snapshot_dir(opts.data_dir));
    auto newest = snaps.newest_valid(rec->problems);
    for (auto& p : rec->problems)
      p = "snapshot problem: " + p;
    if (newest) {
      snapshot_reader reader(snaps.path_of(newest->index, newest->term));
      rec->kv.restore_begin();
      while (!reader.done())
        rec->kv.restore_batch(reader.next_batch(opts.snapshot_batch_bytes));
      rec->kv.restore_finish(newest->index);
      if (rec->kv.digest() != newest->digest || rec->kv.size() != newest->keys)
        throw std::runtime_error("snapshot " + reader.path()
                                 + " does not hold the state its header describes");
      base = log_base{newest->index, newest->term, newest->config};
      rec->snapshot_files.push_back(*newest);
    }
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error,
                           "cannot use the snapshots in " + opts.data_dir + ": " + e.what());
  }
  try {
    // The core owns the recovered log from now on; the store keeps no copy.
    auto disk = store->take_recovered();
    auto& entries = disk.entries;
    if (!entries.empty() && entries.front().index > base.index + 1)
      return caf::make_error(
        caf::sec::runtime_error,
        "cannot use data directory " + opts.data_dir + ": the log starts at index "
          + std::to_string(entries.front().index) + " but the newest valid snapshot ends at "
          + std::to_string(base.index)
          + (rec->problems.empty() ? std::string{} : " (" + rec->problems.front() + ")")
          + "; remove the node, wipe the directory and join it again to be sent a snapshot");
    // Entries the snapshot covers are dropped; if the snapshot was installed
    // from a leader and the log reset did not reach the disk, the entries
    // after it may not follow it -- the leader overwrites them as usual.
    std::erase_if(entries, [&](const log_entry& e) { return e.index <= base.index; });
    bool stale = !entries.empty() && entries.front().term < base.term;
    if (stale)
      entries.clear(); // left from before the reset: they cannot follow it
    if (base.index > 0 && (stale || store->last_index() < base.index)) {
      // Make the disk agree: the log continues right after the snapshot.
      persist_request reset;
      reset.reset_index = base.index;
      reset.reset_term = base.term;
      store->append(reset);
      store->sync();
    }
    if (base.index == 0 && disk.base_index > 0)
      return caf::make_error(caf::sec::runtime_error,
                             "cannot use data directory " + opts.data_dir
                               + ": the log was reset to a snapshot through "
                               + std::to_string(disk.base_index)
                               + " that is missing or corrupt");
    rec->core = std::make_shared<raft_core>(opts.raft, disk.state, std::move(entries), base);
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error,
                           std::string("invalid node configuration: ") + e.what());
  }
  auto storage = spawn_storage(sys, store, opts.detached_storage);
  auto snapshots = spawn_snapshot_actor(sys, opts.data_dir, opts.detached_storage);
  return sys.spawn(node_impl, std::move(opts), std::move(rec), std::move(storage),
                   std::move(snapshots), std::move(peers));
}

} // namespace raft
