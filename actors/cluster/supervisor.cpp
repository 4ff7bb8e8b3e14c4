#include "actors/cluster/supervisor.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>

#include <charconv>
#include <deque>
#include <mutex>

namespace raft {

namespace {

/// Respawn the node; carries a generation so a stale timer is ignored.
using respawn_atom = caf::atom_constant<caf::atom("sv_respawn")>;

/// A link the node made for a new member, to adopt; or (null link) a member
/// to forget.
using adopt_atom = caf::atom_constant<caf::atom("sv_adopt")>;

/// The supervisor's own interface: the public one plus its timer and the
/// node's membership requests.
using supervisor_impl = supervisor_actor::extend<
  caf::reacts_to<respawn_atom, uint64_t>,
  caf::reacts_to<adopt_atom, node_id, std::string, uint16_t, peer_link_actor>>;

/// Where the node's connect/disconnect callbacks find the supervisor: it is
/// spawned after the node, so requests made before then wait here.
struct link_registry {
  struct request {
    node_id id;
    std::string host;
    uint16_t port;
    peer_link_actor link; // null: forget the member
  };
  std::mutex mtx;
  caf::actor supervisor;
  std::vector<request> early;

  void submit(request r) {
    std::unique_lock<std::mutex> guard{mtx};
    if (!supervisor) {
      early.push_back(std::move(r));
      return;
    }
    auto sv = supervisor;
    guard.unlock();
    caf::anon_send(caf::actor_cast<supervisor_impl>(sv), adopt_atom::value, r.id,
                   std::move(r.host), r.port, std::move(r.link));
  }
};

struct supervisor_state {
  static inline const char* name = "raft_supervisor";

  process_options opts;
  node_actor node;
  gateway_control_actor gateway;
  link_map links;

  /// When the restarts within the window happened, oldest first.
  std::deque<caf::actor_clock::time_point> restarts;
  /// Generation of the pending respawn timer and attempts made for it.
  uint64_t respawn_generation = 0;
  int respawn_tries = 0;
  /// Why the node is being respawned (for the give-up message).
  std::string respawn_reason;

  bool stopping = false;
  bool gave_up = false;
};

using supervisor_pointer = supervisor_impl::stateful_pointer<supervisor_state>;

void log_line(supervisor_pointer self, const std::string& line) {
  if (self->state.opts.log)
    self->state.opts.log("[supervisor] " + line);
}

void give_up(supervisor_pointer self, const std::string& reason) {
  auto& st = self->state;
  if (st.gave_up)
    return;
  st.gave_up = true;
  log_line(self, "giving up: " + reason);
  if (st.opts.on_give_up)
    st.opts.on_give_up(supervisor_gave_up_exit_code, reason);
}

/// Charges one restart to the budget; false (and gives up) if it is spent.
bool charge_restart(supervisor_pointer self, const std::string& why) {
  auto& st = self->state;
  auto now = self->clock().now();
  while (!st.restarts.empty() && now - st.restarts.front() > st.opts.restart_window)
    st.restarts.pop_front();
  if (static_cast<int>(st.restarts.size()) >= st.opts.max_restarts) {
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(st.opts.restart_window);
    give_up(self, "restart budget exhausted (" + std::to_string(st.opts.max_restarts)
                    + " restarts within " + std::to_string(secs.count())
                    + " s); last failure: " + why);
    return false;
  }
  st.restarts.push_back(now);
  log_line(self, why + "; restart " + std::to_string(st.restarts.size()) + " of at most "
                   + std::to_string(st.opts.max_restarts) + " in the window");
  return true;
}

peer_map node_peers(supervisor_pointer self) {
  return peer_map(self->state.links.begin(), self->state.links.end());
}

void schedule_respawn(supervisor_pointer self) {
  auto& st = self->state;
  self->delayed_send(self, st.opts.respawn_delay, respawn_atom::value,
                     ++st.respawn_generation);
}

void on_node_down(supervisor_pointer self, const caf::error& reason) {
  auto& st = self->state;
  st.node = nullptr;
  self->send(st.gateway, target_atom::value, node_actor{});
  auto why = "node stopped: " + self->system().render(reason);
  if (!charge_restart(self, why))
    return;
  st.respawn_reason = why;
  st.respawn_tries = 0;
  // Give the old storage actor (dying through its link) time to release
  // the data directory before the first attempt.
  schedule_respawn(self);
}

void respawn_node(supervisor_pointer self) {
  auto& st = self->state;
  auto n = spawn_node(self->system(), st.opts.node, node_peers(self));
  if (!n) {
    auto err = self->system().render(n.error());
    if (++st.respawn_tries < st.opts.respawn_attempts) {
      schedule_respawn(self); // most likely the old incarnation still holds the lock
      return;
    }
    give_up(self, "cannot restart the node after " + st.respawn_reason + ": " + err);
    return;
  }
  st.node = std::move(*n);
  self->monitor(st.node);
  self->send(st.gateway, target_atom::value, st.node);
  log_line(self, "node restarted");
}

void publish_gateway(supervisor_pointer self) {
  auto& st = self->state;
  auto mm = self->system().middleman().actor_handle();
  // Free the port held for the dead gateway, then publish the new one there.
  // Both go to the same actor from the same sender: they arrive in order.
  self->send(mm, caf::close_atom::value, st.opts.port);
  gateway_actor published = st.gateway;
  self
    ->request(mm, std::chrono::seconds(5), caf::publish_atom::value, st.opts.port,
              caf::actor_cast<caf::strong_actor_ptr>(published),
              self->system().message_types<gateway_actor>(), st.opts.host, true)
    .then([self](uint16_t) { log_line(self, "gateway restarted"); },
          [self](caf::error& err) {
            give_up(self, "cannot publish the new gateway on " + self->state.opts.host + ":"
                            + std::to_string(self->state.opts.port) + ": "
                            + self->system().render(err));
          });
}

void on_gateway_down(supervisor_pointer self, const caf::error& reason) {
  auto& st = self->state;
  if (!charge_restart(self, "gateway stopped: " + self->system().render(reason)))
    return;
  st.gateway = spawn_gateway(self->system(), st.node, st.links, st.opts.gateway);
  self->monitor(st.gateway);
  publish_gateway(self);
}

void adopt(supervisor_pointer self, node_id id, std::string host, uint16_t port,
           peer_link_actor link) {
  auto& st = self->state;
  std::erase_if(st.opts.peers, [id](const peer_address& p) { return p.id == id; });
  if (auto i = st.links.find(id); i != st.links.end()) {
    self->demonitor(i->second.address());
    self->send_exit(i->second, caf::exit_reason::user_shutdown);
    st.links.erase(i);
  }
  if (!link) {
    self->send(st.gateway, link_atom::value, id, peer_link_actor{});
    log_line(self, "member " + std::to_string(id) + " removed; its link stopped");
    return;
  }
  st.opts.peers.push_back(peer_address{id, host, port});
  self->monitor(link);
  st.links[id] = link;
  self->send(st.gateway, link_atom::value, id, link);
  log_line(self, "new member " + std::to_string(id) + " at " + host + ":"
                   + std::to_string(port));
}

void on_link_down(supervisor_pointer self, node_id id, const caf::error& reason) {
  auto& st = self->state;
  const peer_address* where = nullptr;
  for (const auto& p : st.opts.peers)
    if (p.id == id)
      where = &p;
  if (where == nullptr)
    return; // a link we stopped ourselves
  auto link = spawn_remote_peer_link(self->system(), id, where->host, where->port,
                                     st.opts.link);
  self->monitor(link);
  st.links[id] = link;
  self->send(st.gateway, link_atom::value, id, link);
  log_line(self, "link to peer " + std::to_string(id)
                   + " stopped: " + self->system().render(reason) + "; replaced");
  // The node holds the old link in its peer map: restart it (charged to the
  // budget when its down_msg arrives).
  if (st.node)
    self->send_exit(st.node, caf::exit_reason::kill);
}

void stop_children(supervisor_pointer self, const caf::error& reason) {
  auto& st = self->state;
  st.stopping = true;
  if (st.node)
    self->send_exit(st.node, reason);
  for (const auto& [id, link] : st.links)
    self->send_exit(link, reason);
  if (st.gateway)
    self->send_exit(st.gateway, reason);
}

supervisor_impl::behavior_type supervisor_fun(supervisor_pointer self, process_options opts,
                                              node_actor node, gateway_control_actor gateway,
                                              link_map links,
                                              std::shared_ptr<link_registry> registry) {
  auto& st = self->state;
  {
    std::lock_guard<std::mutex> guard{registry->mtx};
    registry->supervisor = caf::actor_cast<caf::actor>(self);
    for (auto& r : registry->early)
      self->send(self, adopt_atom::value, r.id, std::move(r.host), r.port, std::move(r.link));
    registry->early.clear();
  }
  st.opts = std::move(opts);
  st.node = std::move(node);
  st.gateway = std::move(gateway);
  st.links = std::move(links);
  self->monitor(st.node);
  self->monitor(st.gateway);
  for (const auto& [id, link] : st.links)
    self->monitor(link);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& s = self->state;
    if (s.stopping || s.gave_up)
      return;
    if (s.node && dm.source == s.node.address()) {
      on_node_down(self, dm.reason);
      return;
    }
    if (s.gateway && dm.source == s.gateway.address()) {
      on_gateway_down(self, dm.reason);
      return;
    }
    for (const auto& [id, link] : s.links)
      if (dm.source == link.address()) {
        on_link_down(self, id, dm.reason);
        return;
      }
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    stop_children(self, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [self](current_node_atom) -> node_actor { return self->state.node; },
    [self](adopt_atom, node_id id, std::string& host, uint16_t port, peer_link_actor& link) {
      if (!self->state.stopping)
        adopt(self, id, std::move(host), port, std::move(link));
    },
    [self](respawn_atom, uint64_t generation) {
      auto& s = self->state;
      if (generation != s.respawn_generation || s.stopping || s.gave_up || s.node)
        return;
      respawn_node(self);
    },
  };
}

void kill_all(const link_map& links, const gateway_control_actor& gw) {
  for (const auto& [id, link] : links)
    caf::anon_send_exit(link, caf::exit_reason::user_shutdown);
  if (gw)
    caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
}

} // namespace

/// Splits "host:port"; false if it is not one.
bool split_address(const std::string& address, std::string& host, uint16_t& port) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return false;
  host = address.substr(0, colon);
  const auto* first = address.data() + colon + 1;
  const auto* last = address.data() + address.size();
  auto [end, ec] = std::from_chars(first, last, port);
  return ec == std::errc{} && end == last && port != 0;
}

/// The node's membership callbacks: links to new members are made at once
/// (the node needs the handle now) and handed to the supervisor to keep.
void install_membership_hooks(caf::actor_system& sys, process_options& opts,
                              const std::shared_ptr<link_registry>& registry) {
  auto link_opts = opts.link;
  auto log = opts.log;
  opts.node.connect = [&sys, registry, link_opts, log](const member& m) -> peer_endpoint_actor {
    std::string host;
    uint16_t port = 0;
    if (!split_address(m.address, host, port)) {
      if (log)
        log("[supervisor] member " + std::to_string(m.id) + " has no usable address '"
            + m.address + "'");
      return {};
    }
    auto link = spawn_remote_peer_link(sys, m.id, host, port, link_opts);
    registry->submit({m.id, host, port, link});
    return link;
  };
  opts.node.disconnect = [registry](node_id id) { registry->submit({id, {}, 0, {}}); };
}

caf::expected<node_process> start_node_process(caf::actor_system& sys, process_options opts) {
  auto registry = std::make_shared<link_registry>();
  install_membership_hooks(sys, opts, registry);
  link_map links;
  for (const auto& p : opts.peers)
    links.emplace(p.id, spawn_remote_peer_link(sys, p.id, p.host, p.port, opts.link));
  auto gateway = spawn_gateway(sys, node_actor{}, links, opts.gateway);
  // Publish first: a port in use fails before the data directory is touched.
  gateway_actor published = gateway;
  auto port = sys.middleman().publish(published, opts.port, opts.host.c_str(), true);
  if (!port) {
    kill_all(links, gateway);
    return caf::make_error(caf::sec::cannot_open_port,
                           "cannot listen on " + opts.host + ":" + std::to_string(opts.port)
                             + ": " + sys.render(port.error()));
  }
  auto node = spawn_node(sys, opts.node, peer_map(links.begin(), links.end()));
  if (!node) {
    kill_all(links, gateway);
    std::lock_guard<std::mutex> guard{registry->mtx};
    for (const auto& r : registry->early)
      if (r.link)
        caf::anon_send_exit(r.link, caf::exit_reason::user_shutdown);
    return node.error();
  }
  caf::anon_send(gateway, target_atom::value, *node);
  opts.port = *port;
  auto supervisor = sys.spawn<caf::detached>(supervisor_fun, std::move(opts), *node, gateway,
                                             std::move(links), registry);
  return node_process{supervisor, std::move(published), *port};
}

} // namespace raft
