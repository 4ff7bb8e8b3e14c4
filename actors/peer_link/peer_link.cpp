#include "actors/peer_link/peer_link.hpp"

#include "actors/peer_link/relay.hpp"

#include <caf/all.hpp>

namespace raft {

namespace {

struct link_state {
  static inline const char* name = "raft_peer_link";
  peer_endpoint_actor target;
  bool dropping = false;
  uint64_t forwarded = 0;
  uint64_t dropped = 0;
};

using link_pointer = peer_link_actor::stateful_pointer<link_state>;

peer_link_actor::behavior_type link_impl(link_pointer self, peer_endpoint_actor target) {
  self->state.target = std::move(target);
  return {
    [self](request_vote& m) { forward_rpc(self, m); },
    [self](request_vote_reply& m) { forward_rpc(self, m); },
    [self](append_entries& m) { forward_rpc(self, m); },
    [self](append_entries_reply& m) { forward_rpc(self, m); },
    [self](install_snapshot& m) { forward_rpc(self, m); },
    [self](install_snapshot_reply& m) { forward_rpc(self, m); },
    [self](timeout_now& m) { forward_rpc(self, m); },
    [self](kv_command& cmd) -> caf::result<client_reply> {
      auto& st = self->state;
      if (st.dropping || !st.target) {
        ++st.dropped;
        return unavailable_reply("peer unreachable"); // nothing was sent on
      }
      ++st.forwarded;
      return self->delegate(st.target, std::move(cmd));
    },
    [self](status_atom) -> caf::result<node_status> {
      auto& st = self->state;
      if (st.dropping || !st.target)
        return caf::make_error(caf::sec::request_receiver_down, "peer unreachable");
      return self->delegate(st.target, status_atom::value);
    },
    [self](drop_atom, bool on) { self->state.dropping = on; },
    [self](target_atom, peer_endpoint_actor& t) { self->state.target = std::move(t); },
    [self](link_status_atom) -> link_status {
      auto& st = self->state;
      link_status s;
      s.connected = static_cast<bool>(st.target);
      s.dropping = st.dropping;
      s.forwarded = st.forwarded;
      s.dropped = st.dropped;
      return s;
    },
  };
}

} // namespace

peer_link_actor spawn_peer_link(caf::actor_system& sys, peer_endpoint_actor target) {
  return sys.spawn(link_impl, std::move(target));
}

} // namespace raft
