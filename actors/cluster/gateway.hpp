#pragma once

// gateway: what a raft-node process publishes on its port.
//
// Peers and clients hold a proxy for the gateway, never for the node actor,
// so the node can be restarted behind it without anyone reconnecting. The
// gateway forwards the six Raft RPCs to the current node actor, relays client
// commands and status requests to it (completing the status with the peer
// links' view: connected, address), and applies operator partitions: it
// drops RPCs coming from the cut-off peers and tells their links to drop
// outgoing traffic.
//
// Published interface. The gateway runs as a gateway_control_actor, which
// adds two local-only control messages (target_atom, link_atom). CAF 0.17's
// middleman::publish(handle, ...) advertises the interface of the handle's
// *static* type (it calls system().message_types(type_list<Handle>)), so the
// process publishes actor_cast<gateway_actor>(gateway) and remote peers see
// exactly gateway_actor's interface -- a typed remote_actor<gateway_actor> and
// the peer links' interface check both match. Since the actor still
// dispatches dynamically, the control handlers also refuse messages whose
// sender lives on another node.
//
// Wire note: partition_atom's argument, std::vector<node_id>, is no CAF
// builtin; it must be registered by messages/registration.cpp on every
// process (else the message cannot be serialized -- and since the
// registered name is part of the advertised interface, every process must
// register it the same way).

#include "messages/interfaces.hpp"

#include <caf/actor_system.hpp>
#include <caf/timespan.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <string>

namespace raft {

/// Tell a gateway about (a new incarnation of) one peer link.
using link_atom = caf::atom_constant<caf::atom("gw_link")>;

/// The gateway as its owner sees it: gateway_actor plus local control.
/// target_atom points it at the current node actor (null while the node
/// restarts); link_atom replaces the link to one peer (a null link: the peer
/// is no longer a member).
using gateway_control_actor
  = gateway_actor::extend<caf::reacts_to<target_atom, node_actor>,
                          caf::reacts_to<link_atom, node_id, peer_link_actor>>;

/// The links of a process, by peer id.
using link_map = std::map<node_id, peer_link_actor>;

/// Settings of a gateway.
struct gateway_options {
  /// Timeout of the node's status and of each link's link_status.
  caf::timespan status_timeout = std::chrono::seconds(1);
  /// Receives one line per partition change; none if empty.
  std::function<void(const std::string&)> log;
};

/// Spawns a gateway in front of `node` (may be null until set) and `links`.
gateway_control_actor spawn_gateway(caf::actor_system& sys, node_actor node,
                                    link_map links, gateway_options opts = {});

} // namespace raft
