#pragma once

// The typed actor interfaces of the project.

#include "messages/atoms.hpp"
#include "messages/kv_messages.hpp"
#include "messages/raft_rpc.hpp"
#include "messages/serialization.hpp" // inspect() for every type in the interfaces
#include "messages/snapshot_messages.hpp"
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
  caf::reacts_to<install_snapshot>, caf::reacts_to<install_snapshot_reply>,
  caf::reacts_to<timeout_now>>;

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

/// The storage actor: makes batches durable with group commit, and drops
/// log segments a snapshot covers (answers the first index still stored).
using storage_actor
  = caf::typed_actor<caf::replies_to<persist_request>::with<persist_ack>,
                     caf::reacts_to<sync_atom>,
                     caf::replies_to<compact_atom, index_t>::with<index_t>>;

/// The snapshot actor: owns a node's snapshot files (on its own thread, so
/// that writing and reading large files never holds up the node).
///  - snap_begin(meta) .. snap_add(pairs)* .. snap_end -> the new snapshot's
///    meta (bytes set), durable under its final name; older ones pruned.
///    A snap_begin while another write is unfinished discards that one.
///  - snap_read(index, offset, max_bytes): raw bytes of snapshot `index`.
///  - snap_recv(index, term, offset, data, done): raw bytes from a leader,
///    appended at `offset` (which must equal the bytes received so far of
///    this (index, term), else nothing is written and next_offset says
///    where to resume; offset 0 restarts). With done the file is verified
///    and made durable, or refused with an error (and discarded).
///  - snap_load(index, restart, max_bytes): the next batch of pairs of
///    snapshot `index` (restart: from the first pair).
///  - snap_last: the newest valid snapshot (index 0 if none).
/// Errors come back as caf::error with a message naming the file.
using snapshot_actor = caf::typed_actor<
  caf::replies_to<snap_begin_atom, snapshot_meta>::with<bool>,
  caf::replies_to<snap_add_atom, std::vector<kv_pair>>::with<bool>,
  caf::replies_to<snap_end_atom>::with<snapshot_meta>,
  caf::replies_to<snap_read_atom, index_t, uint64_t, uint64_t>::with<snapshot_chunk>,
  caf::replies_to<snap_recv_atom, index_t, term_t, uint64_t, std::string, bool>::with<
    snapshot_received>,
  caf::replies_to<snap_load_atom, index_t, bool, uint64_t>::with<snapshot_batch>,
  caf::replies_to<snap_last_atom>::with<snapshot_meta>>;

} // namespace raft
