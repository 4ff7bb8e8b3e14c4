#include "actors/cluster/gateway.hpp"

#include "actors/peer_link/relay.hpp"

#include <caf/all.hpp>

#include <memory>
#include <set>

namespace raft {

namespace {

struct gateway_state {
  static inline const char* name = "raft_gateway";

  gateway_options opts;
  /// The current node actor; null while it restarts.
  node_actor node;
  link_map links;
  /// Peers cut off by partition_atom: their RPCs are dropped here, and their
  /// links drop what the node sends them.
  std::set<node_id> cut;
  uint64_t dropped = 0;
  /// Client commands passed on to the node and not yet answered.
  relay_table relays;
};

using gateway_pointer = gateway_control_actor::stateful_pointer<gateway_state>;

/// The Raft id of whoever sent an RPC.
node_id sender_of(const request_vote& m) { return m.candidate_id; }
node_id sender_of(const request_vote_reply& m) { return m.voter_id; }
node_id sender_of(const append_entries& m) { return m.leader_id; }
node_id sender_of(const append_entries_reply& m) { return m.follower_id; }
node_id sender_of(const install_snapshot& m) { return m.leader_id; }
node_id sender_of(const install_snapshot_reply& m) { return m.follower_id; }
node_id sender_of(const timeout_now& m) { return m.leader_id; }

/// Control messages come from this process only (the published interface
/// does not offer them, but dispatch is dynamic).
bool from_local(gateway_pointer self) {
  const auto& src = self->current_sender();
  return !src || src->node() == self->node();
}

template <class Message>
void forward(gateway_pointer self, Message& m) {
  auto& st = self->state;
  if (!st.node || st.cut.contains(sender_of(m))) {
    ++st.dropped; // Raft retries; a restarting node has nothing to lose
    return;
  }
  self->send(st.node, std::move(m));
}

caf::result<client_reply> relay_command(gateway_pointer self, kv_command& cmd) {
  auto& st = self->state;
  if (!st.node)
    return unavailable_reply("node restarting");
  // No timeout of our own (it would cost a timer per command): the node
  // answers every command within its client_timeout, and if it dies CAF
  // bounces what it had not answered -- a write may still commit then, so
  // its outcome is unknown.
  return raft::relay_command(self, st.node, caf::infinite, std::move(cmd), "the node",
                             st.relays);
}

/// A status on its way back: the node's answer, completed link by link.
struct pending_status {
  node_status status;
  std::size_t outstanding = 0;
  caf::typed_response_promise<node_status> rp;

  void done_one() {
    if (--outstanding == 0)
      rp.deliver(std::move(status));
  }
};

void complete_status(gateway_pointer self, node_status s,
                     caf::typed_response_promise<node_status> rp) {
  auto& st = self->state;
  auto p = std::make_shared<pending_status>();
  p->status = std::move(s);
  p->rp = std::move(rp);
  p->outstanding = 1; // held until every request is out
  for (std::size_t i = 0; i < p->status.peers.size(); ++i) {
    auto& peer = p->status.peers[i];
    peer.connected = false;
    auto link = st.links.find(peer.id);
    if (link == st.links.end())
      continue;
    ++p->outstanding;
    self->request(link->second, st.opts.status_timeout, link_status_atom::value)
      .then(
        [p, i](link_status& ls) {
          auto& pi = p->status.peers[i];
          pi.connected = ls.connected;
          pi.address = ls.address;
          pi.commands_in_flight = ls.commands_in_flight;
          p->done_one();
        },
        [p](caf::error&) { p->done_one(); }); // reported as not connected
  }
  p->done_one();
}

caf::result<node_status> relay_status(gateway_pointer self) {
  auto& st = self->state;
  if (!st.node)
    return caf::make_error(caf::sec::request_receiver_down, "node restarting");
  auto rp = self->make_response_promise<node_status>();
  self->request(st.node, st.opts.status_timeout, status_atom::value)
    .then([self, rp](node_status& s) { complete_status(self, std::move(s), rp); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

void apply_partition(gateway_pointer self, const std::vector<node_id>& ids) {
  auto& st = self->state;
  st.cut = std::set<node_id>(ids.begin(), ids.end());
  for (const auto& [id, link] : st.links)
    self->send(link, drop_atom::value, st.cut.contains(id));
  if (st.opts.log) {
    std::string line = st.cut.empty() ? "partition healed" : "cut off from peers";
    for (auto id : st.cut)
      line += " " + std::to_string(id);
    st.opts.log("[gateway] " + line);
  }
}

gateway_control_actor::behavior_type gateway_fun(gateway_pointer self, node_actor node,
                                                 link_map links, gateway_options opts) {
  auto& st = self->state;
  st.node = std::move(node);
  st.links = std::move(links);
  st.opts = std::move(opts);
  return {
    [self](request_vote& m) { forward(self, m); },
    [self](request_vote_reply& m) { forward(self, m); },
    [self](append_entries& m) { forward(self, m); },
    [self](append_entries_reply& m) { forward(self, m); },
    [self](install_snapshot& m) { forward(self, m); },
    [self](install_snapshot_reply& m) { forward(self, m); },
    [self](timeout_now& m) { forward(self, m); },
    [self](kv_command& cmd) -> caf::result<client_reply> { return relay_command(self, cmd); },
    [self](status_atom) -> caf::result<node_status> { return relay_status(self); },
    [self](partition_atom, std::vector<node_id>& ids) -> bool {
      apply_partition(self, ids);
      return true;
    },
    [self](target_atom, node_actor& n) {
      if (from_local(self))
        self->state.node = std::move(n);
    },
    [self](link_atom, node_id id, peer_link_actor& link) {
      if (!from_local(self))
        return;
      auto& s = self->state;
      if (!link) {
        s.links.erase(id); // the member was removed
        return;
      }
      // A new link starts passing traffic; keep the partition in force.
      if (s.cut.contains(id))
        self->send(link, drop_atom::value, true);
      s.links[id] = std::move(link);
    },
  };
}

} // namespace

gateway_control_actor spawn_gateway(caf::actor_system& sys, node_actor node, link_map links,
                                    gateway_options opts) {
  return sys.spawn(gateway_fun, std::move(node), std::move(links), std::move(opts));
}

} // namespace raft
