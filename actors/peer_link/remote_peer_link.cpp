#include "actors/peer_link/remote_peer_link.hpp"

#include "actors/peer_link/relay.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>

#include <algorithm>
#include <random>
#include <set>

namespace raft {

namespace {

/// The link's reconnect timer; carries a generation number because 0.17
/// cannot cancel timers (a stale timer is ignored).
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;

/// The link's own interface: peer_link_actor plus its timer. Only the
/// peer_link_actor part is handed out.
using remote_link_impl
  = peer_link_actor::extend<caf::reacts_to<reconnect_atom, uint64_t>>;

struct remote_link_state {
  static inline const char* name = "raft_remote_link";

  node_id peer = no_node;
  std::string host;
  uint16_t port = 0;
  /// host:port, for status and log lines.
  std::string address;
  remote_link_options opts;

  /// The peer's gateway (a middleman proxy) while connected; null otherwise.
  /// Invariant: target is valid => it is monitored by this link.
  peer_endpoint_actor target;
  /// A connect request to the middleman is in flight.
  bool connecting = false;
  /// The generation of the only reconnect timer that counts.
  uint64_t timer_generation = 0;
  /// The delay before the next attempt (before jitter).
  caf::timespan backoff{0};
  /// Failed attempts since the last successful connect.
  uint64_t failures = 0;
  /// When the link last became connected; whether it ever was.
  caf::actor_clock::time_point last_connected;
  bool ever_connected = false;

  bool dropping = false;
  uint64_t forwarded = 0;
  uint64_t dropped = 0;
  /// Client commands passed on to the target and not yet answered.
  relay_table relays;

  std::mt19937_64 rng;
};

using link_pointer = remote_link_impl::stateful_pointer<remote_link_state>;

void info(link_pointer self, const std::string& line) {
  if (self->state.opts.log)
    self->state.opts.log("[link " + std::to_string(self->state.peer) + "] " + line);
}

void debug(link_pointer self, const std::string& line) {
  if (self->state.opts.debug)
    self->state.opts.debug("[link " + std::to_string(self->state.peer) + "] " + line);
}

std::string since_connected(link_pointer self) {
  auto& st = self->state;
  if (!st.ever_connected)
    return "never connected";
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(self->clock().now()
                                                                  - st.last_connected);
  return "connected " + std::to_string(ms.count()) + " ms ago";
}

void try_connect(link_pointer self);

/// Arms the reconnect timer: the current backoff plus up to half of it as
/// jitter (so links of many nodes do not retry in lockstep), then doubles
/// the backoff up to its maximum.
void schedule_reconnect(link_pointer self) {
  auto& st = self->state;
  auto base = std::max(st.backoff, st.opts.backoff_min);
  std::uniform_int_distribution<caf::timespan::rep> jitter(0, base.count() / 2);
  auto delay = base + caf::timespan{jitter(st.rng)};
  st.backoff = std::min(base * 2, st.opts.backoff_max);
  self->delayed_send(self, delay, reconnect_atom::value, ++st.timer_generation);
}

void connect_failed(link_pointer self, const std::string& why) {
  auto& st = self->state;
  st.connecting = false;
  ++st.failures;
  // One line when a peer first turns out unreachable, the rest at debug.
  if (st.failures == 1)
    info(self, "cannot reach peer at " + st.address + ": " + why + " (retrying)");
  else
    debug(self, "attempt " + std::to_string(st.failures) + " to reach " + st.address
                  + " failed: " + why);
  schedule_reconnect(self);
}

void use_target(link_pointer self, peer_endpoint_actor t) {
  auto& st = self->state;
  self->monitor(t);
  st.target = std::move(t);
  st.backoff = st.opts.backoff_min;
  st.failures = 0;
  st.last_connected = self->clock().now();
  st.ever_connected = true;
  info(self, "connected to peer " + std::to_string(st.peer) + " at " + st.address);
}

void drop_target(link_pointer self) {
  auto& st = self->state;
  if (st.target)
    self->demonitor(st.target.address());
  st.target = nullptr;
  // Their answers would come over the connection just dropped, if at all.
  st.relays.fail_all("connection to peer " + std::to_string(st.peer) + " dropped");
}

void try_connect(link_pointer self) {
  auto& st = self->state;
  if (st.target || st.connecting)
    return;
  st.connecting = true;
  auto mm = self->system().middleman().actor_handle();
  self->request(mm, st.opts.connect_timeout, caf::connect_atom::value, st.host, st.port)
    .then(
      [self](const caf::node_id&, caf::strong_actor_ptr& ptr,
             const std::set<std::string>& ifs) {
        auto& s = self->state;
        if (s.target) { // target_atom set one meanwhile
          s.connecting = false;
          return;
        }
        if (!ptr) {
          connect_failed(self, "no actor published there");
          return;
        }
        if (ifs != self->system().message_types<gateway_actor>()) {
          connect_failed(self, "the actor published there is not a raft gateway");
          return;
        }
        s.connecting = false;
        use_target(self, caf::actor_cast<peer_endpoint_actor>(std::move(ptr)));
      },
      [self](caf::error& err) {
        if (self->state.target) {
          self->state.connecting = false;
          return;
        }
        connect_failed(self, self->system().render(err));
      });
}

caf::result<client_reply> relay_command(link_pointer self, kv_command& cmd) {
  auto& st = self->state;
  if (st.dropping || !st.target) {
    ++st.dropped;
    return unavailable_reply("peer " + std::to_string(st.peer) + " unreachable");
  }
  ++st.forwarded;
  return raft::relay_command(self, st.target, caf::duration{st.opts.request_timeout}, std::move(cmd),
                             "peer " + std::to_string(st.peer), st.relays);
}

caf::result<node_status> relay_status(link_pointer self) {
  auto& st = self->state;
  if (st.dropping || !st.target)
    return caf::make_error(caf::sec::request_receiver_down, "peer unreachable");
  auto rp = self->make_response_promise<node_status>();
  self->request(st.target, st.opts.request_timeout, status_atom::value)
    .then([rp](node_status& s) mutable { rp.deliver(std::move(s)); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

remote_link_impl::behavior_type remote_link_fun(link_pointer self, node_id peer,
                                                std::string host, uint16_t port,
                                                remote_link_options opts) {
  auto& st = self->state;
  st.peer = peer;
  st.address = host + ":" + std::to_string(port);
  st.host = std::move(host);
  st.port = port;
  st.opts = std::move(opts);
  st.backoff = st.opts.backoff_min;
  st.rng.seed(st.opts.seed ^ (peer * 0x9E3779B97F4A7C15ull));
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& s = self->state;
    if (!s.target || dm.source != s.target.address())
      return; // a target we already replaced
    info(self, "lost peer " + std::to_string(s.peer) + " at " + s.address + " ("
                 + since_connected(self) + "): " + self->system().render(dm.reason));
    s.target = nullptr;
    // CAF 0.17 never answers requests the lost connection took: answer the
    // commands passed on now (writes unknown, reads unavailable) rather than
    // after request_timeout.
    s.relays.fail_all("lost peer " + std::to_string(s.peer) + " with the command in flight");
    schedule_reconnect(self);
  });
  try_connect(self);
  return {
    [self](request_vote& m) { forward_rpc(self, m); },
    [self](request_vote_reply& m) { forward_rpc(self, m); },
    [self](append_entries& m) { forward_rpc(self, m); },
    [self](append_entries_reply& m) { forward_rpc(self, m); },
    [self](install_snapshot& m) { forward_rpc(self, m); },
    [self](install_snapshot_reply& m) { forward_rpc(self, m); },
    [self](timeout_now& m) { forward_rpc(self, m); },
    [self](kv_command& cmd) -> caf::result<client_reply> { return relay_command(self, cmd); },
    [self](status_atom) -> caf::result<node_status> { return relay_status(self); },
    [self](drop_atom, bool on) { self->state.dropping = on; },
    [self](target_atom, peer_endpoint_actor& t) {
      drop_target(self);
      if (t) {
        use_target(self, std::move(t));
      } else {
        self->state.backoff = self->state.opts.backoff_min;
        schedule_reconnect(self);
      }
    },
    [self](link_status_atom) -> link_status {
      auto& s = self->state;
      link_status r;
      r.peer = s.peer;
      r.address = s.address;
      r.connected = static_cast<bool>(s.target);
      r.dropping = s.dropping;
      r.forwarded = s.forwarded;
      r.dropped = s.dropped;
      r.commands_in_flight = s.relays.size();
      // Milliseconds since the link last became connected (-1: never).
      r.last_connected_ms = s.ever_connected
                              ? std::chrono::duration_cast<std::chrono::milliseconds>(
                                  self->clock().now() - s.last_connected)
                                  .count()
                              : -1;
      return r;
    },
    [self](reconnect_atom, uint64_t generation) {
      if (generation != self->state.timer_generation)
        return; // superseded by a later timer
      try_connect(self);
    },
  };
}

} // namespace

peer_link_actor spawn_remote_peer_link(caf::actor_system& sys, node_id peer,
                                       std::string host, uint16_t port,
                                       remote_link_options opts) {
  return sys.spawn(remote_link_fun, peer, std::move(host), port, std::move(opts));
}

} // namespace raft
