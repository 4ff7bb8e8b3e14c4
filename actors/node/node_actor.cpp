#include "actors/node/node_actor.hpp"

#include "actors/kv/command_codec.hpp"
#include "actors/kv/kv_store.hpp"
#include "actors/node/raft_core.hpp"
#include "actors/storage/log_store.hpp"
#include "actors/storage/storage_actor.hpp"

#include <caf/all.hpp>

#include <deque>
#include <map>

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
  std::string key;
  uint64_t deadline; // in ticks
  caf::typed_response_promise<client_reply> rp;
};

struct node_state {
  static inline const char* name = "raft_node";

  node_options opts;
  std::shared_ptr<raft_core> core;
  storage_actor storage;
  peer_map peers;
  kv_store kv;

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
    if (i == peers.end())
      continue; // not a peer we can reach: as if the message was lost
    std::visit([&](auto& m) { self->send(i->second, std::move(m)); }, o.msg);
  }
  msgs.clear();
}

void log_changes(node_pointer self) {
  auto& st = self->state;
  const auto& c = *st.core;
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
  auto applied = st.kv.applied_index();
  while (!st.confirmed.empty() && st.confirmed.begin()->first <= applied) {
    auto ctx = st.confirmed.begin()->second;
    st.confirmed.erase(st.confirmed.begin());
    if (auto i = st.reads.find(ctx); i != st.reads.end()) {
      auto reply = st.kv.read(i->second.key);
      reply.leader_hint = st.core->leader(); // tells a client where to go next
      i->second.rp.deliver(std::move(reply));
      st.reads.erase(i);
    }
  }
}

void apply_committed(node_pointer self, const std::vector<log_entry>& committed) {
  auto& st = self->state;
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

void process_ready(node_pointer self) {
  auto& st = self->state;
  st.ready_scheduled = false;
  auto rd = st.core->take_ready();
  observe(self);
  log_changes(self);
  send_all(self, rd.send_now);
  if (rd.has_state || !rd.entries.empty()) {
    persist_request req;
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
  for (const auto& r : rd.reads)
    st.confirmed.emplace(r.index, r.ctx);
  serve_reads(self);
  for (auto ctx : rd.dropped_reads) {
    if (auto i = st.reads.find(ctx); i != st.reads.end()) {
      i->second.rp.deliver(not_leader(self));
      st.reads.erase(i);
    }
  }
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
    r.status = reply_status::unavailable;
    r.message = "read timed out before leadership was confirmed";
    i->second.rp.deliver(std::move(r));
    i = st.reads.erase(i);
  }
}

uint64_t deadline(node_pointer self) {
  auto& st = self->state;
  auto ticks = st.opts.client_timeout / st.opts.tick_interval;
  return st.ticks + static_cast<uint64_t>(std::max<decltype(ticks)>(ticks, 1));
}

caf::result<client_reply> handle_command(node_pointer self, kv_command& cmd) {
  auto& st = self->state;
  if (cmd.op != kv_op::get && cmd.op != kv_op::put && cmd.op != kv_op::del
      && cmd.op != kv_op::cas) {
    client_reply r;
    r.status = reply_status::bad_request;
    r.message = "unknown operation";
    return r;
  }
  if (st.core->role() != raft_role::leader) {
    // A follower forwards to the leader it knows, once; the leader answers
    // the client directly.
    auto leader = st.core->leader();
    auto link = st.peers.find(leader);
    if (cmd.forwarded == 0 && link != st.peers.end()) {
      cmd.forwarded = 1;
      return self->delegate(link->second, std::move(cmd));
    }
    return not_leader(self);
  }
  auto rp = self->make_response_promise<client_reply>();
  if (cmd.op == kv_op::get) {
    auto ctx = ++st.next_read;
    st.reads.emplace(ctx, pending_read{std::move(cmd.key), deadline(self), rp});
    st.core->read_index(ctx);
  } else {
    auto p = st.core->propose(encode_command(cmd));
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

node_actor::behavior_type node_impl(node_pointer self, node_options opts,
                                    std::shared_ptr<raft_core> core,
                                    storage_actor storage, peer_map peers) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.core = std::move(core);
  st.storage = std::move(storage);
  st.peers = std::move(peers);
  st.last_term = st.core->term();
  // The node and its storage live and die together.
  self->link_to(st.storage);
  log_line(self, "started at term " + std::to_string(st.core->term()) + " with "
                   + std::to_string(st.core->log().last_index()) + " log entries");
  self->delayed_send(self, st.opts.tick_interval, tick_atom::value, st.tick_generation);
  observe(self);
  return {
    [self](request_vote& m) { on_peer_message(self, m); },
    [self](request_vote_reply& m) { on_peer_message(self, m); },
    [self](append_entries& m) { on_peer_message(self, m); },
    [self](append_entries_reply& m) { on_peer_message(self, m); },
    [self](install_snapshot& m) { on_peer_message(self, m); },
    [self](install_snapshot_reply& m) { on_peer_message(self, m); },
    [self](kv_command& cmd) -> caf::result<client_reply> {
      return handle_command(self, cmd);
    },
    [self](status_atom) -> node_status {
      auto s = self->state.core->status();
      s.applied_index = self->state.kv.applied_index();
      s.state_digest = self->state.kv.digest();
      s.keys = self->state.kv.size();
      auto now = self->clock().now();
      for (const auto& [id, link] : self->state.peers) {
        peer_info p;
        p.id = id;
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
      if (s.ticks % expiry_period == 0)
        expire_clients(self);
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
  std::shared_ptr<raft_core> core;
  try {
    // The core owns the recovered log from now on; the store keeps no copy.
    auto rec = store->take_recovered();
    core = std::make_shared<raft_core>(opts.raft, rec.state, std::move(rec.entries));
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error,
                           std::string("invalid node configuration: ") + e.what());
  }
  auto storage = spawn_storage(sys, store, opts.detached_storage);
  return sys.spawn(node_impl, std::move(opts), std::move(core), std::move(storage),
                   std::move(peers));
}

} // namespace raft
