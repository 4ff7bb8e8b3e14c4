#pragma once

// The typed actor interfaces of the project.

#include "messages/atoms.hpp"
#include "messages/kv_messages.hpp"
#include "messages/raft_rpc.hpp"
#include "messages/serialization.hpp" // inspect() for every type in the interfaces
#include "messages/status.hpp"
#include "messages/storage_messages.hpp"

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

/// A Raft node: RPCs, the client service, and its own timer and flush
/// messages (internal; they are in the interface because a typed actor can
/// only send itself what its interface accepts).
using node_actor = raft_rpc_actor::extend_with<kv_service_actor>::extend<
  caf::reacts_to<tick_atom, uint64_t>, caf::reacts_to<ready_atom>>;

/// A link to one peer: forwards RPCs to its target unless told to drop them.
using peer_link_actor = raft_rpc_actor::extend<
  caf::reacts_to<drop_atom, bool>, caf::reacts_to<target_atom, raft_rpc_actor>>;

/// The storage actor: makes batches durable with group commit.
using storage_actor
  = caf::typed_actor<caf::replies_to<persist_request>::with<persist_ack>,
                     caf::reacts_to<sync_atom>>;

} // namespace raft
