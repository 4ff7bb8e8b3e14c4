#pragma once

// peer_link: a node's link to one peer. The node sends every RPC for that
// peer to its link; the link forwards it to the peer's actor, or drops it
// while told to (a simulated partition). Here the target is a handle the
// owner sets (a local actor, or a proxy from the middleman); connecting and
// reconnecting over the network is the cluster layer's job.

#include "messages/interfaces.hpp"

#include <caf/actor_system.hpp>

namespace raft {

/// Spawns a link forwarding to `target` (may be null until set with target_atom).
peer_link_actor spawn_peer_link(caf::actor_system& sys, peer_endpoint_actor target);

} // namespace raft
