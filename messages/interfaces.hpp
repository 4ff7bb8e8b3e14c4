#pragma once

// The typed actor interfaces of the project.

#include "messages/atoms.hpp"
#include "messages/kv_messages.hpp"
#include "messages/raft_rpc.hpp"
#include "messages/serialization.hpp" // inspect() for every type in the interfaces
#include "messages/status.hpp"
#include "messages/storage_messages.hpp"

#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace raft {

/// Anything that takes Raft RPCs: a node, or a peer link standing for one.
using raft_rpc_actor = caf::typed_actor<
  caf::reacts_to<request_vote>, caf::reacts_to<request_vote_reply>,
  caf::reacts_to<append_entries>, caf::reacts_to<append_entries_reply>,
  caf::reacts_to<install_snapshot>, caf::reacts_to<install_snapshot_reply>>;

/// What clients and operators may ask of any node.
using kv_service_actor
  = caf::typed_actor<caf::replies_to<kv_command>::with<client_reply>,
                     caf::replies_to<status_atom>::with<node_status>>;

/// Whatever stands for a node to its peers and clients: the node itself, the
/// gateway a raft-node process publishes, or a link to either.
using peer_endpoint_actor = raft_rpc_actor::extend_with<kv_service_actor>;

/// A Raft node: RPCs, the client service, and its own timer and flush
/// messages (internal; they are in the interface because a typed actor can
/// only send itself what its interface accepts).
using node_actor = peer_endpoint_actor::extend<caf::reacts_to<tick_atom, uint64_t>,
                                               caf::reacts_to<ready_atom>>;

/// A link to one peer: forwards RPCs and client commands to its target
/// unless told to drop them, and reports its state.
using peer_link_actor = peer_endpoint_actor::extend<
  caf::reacts_to<drop_atom, bool>, caf::reacts_to<target_atom, peer_endpoint_actor>,
  caf::replies_to<link_status_atom>::with<link_status>>;

/// What a raft-node process publishes on its port: a stable front for the
/// node (which may be restarted behind it), plus operator controls.
using gateway_actor = peer_endpoint_actor::extend<
  /// Drop all traffic to and from these peers (a simulated partition);
  /// an empty list heals. Answers true once the cut is in force.
  caf::replies_to<partition_atom, std::vector<node_id>>::with<bool>>;

/// The storage actor: makes batches durable with group commit.
using storage_actor
  = caf::typed_actor<caf::replies_to<persist_request>::with<persist_ack>,
                     caf::reacts_to<sync_atom>>;

} // namespace raft
