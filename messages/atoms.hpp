#pragma once

// Atoms used in the typed actor interfaces. At most 10 characters each.

#include <caf/atom.hpp>

namespace raft {

/// A node's periodic timer; carries a generation number (0.17 cannot cancel timers).
using tick_atom = caf::atom_constant<caf::atom("raft_tick")>;
/// A node's "handle the Raft core's output now" (batches one mailbox turn).
using ready_atom = caf::atom_constant<caf::atom("raft_ready")>;
/// Ask for a node_status.
using status_atom = caf::atom_constant<caf::atom("status")>;
/// The storage actor's "fsync what has been written" (group commit).
using sync_atom = caf::atom_constant<caf::atom("sync")>;
/// Tell a peer link to drop (true) or pass (false) all traffic.
using drop_atom = caf::atom_constant<caf::atom("drop")>;
/// Point a peer link at a (new) target actor.
using target_atom = caf::atom_constant<caf::atom("target")>;

/// Ask a peer link for its link_status.
using link_status_atom = caf::atom_constant<caf::atom("link_stat")>;
/// Tell a gateway which peers to cut off (a simulated partition).
using partition_atom = caf::atom_constant<caf::atom("partition")>;

// -- the snapshot actor ---------------------------------------------------
/// Start writing a snapshot of the node's own state.
using snap_begin_atom = caf::atom_constant<caf::atom("snap_begin")>;
/// Add a batch of pairs to the snapshot being written.
using snap_add_atom = caf::atom_constant<caf::atom("snap_add")>;
/// Finish the snapshot being written: durable under its final name.
using snap_end_atom = caf::atom_constant<caf::atom("snap_end")>;
/// Read raw bytes of a snapshot file (to send to a follower).
using snap_read_atom = caf::atom_constant<caf::atom("snap_read")>;
/// Receive raw bytes of a snapshot file from a leader.
using snap_recv_atom = caf::atom_constant<caf::atom("snap_recv")>;
/// Load a snapshot's pairs, batch by batch.
using snap_load_atom = caf::atom_constant<caf::atom("snap_load")>;
/// Ask for the newest valid snapshot's metadata.
using snap_last_atom = caf::atom_constant<caf::atom("snap_last")>;
/// Drop the log up to an index (a snapshot covers it).
using compact_atom = caf::atom_constant<caf::atom("compact")>;

} // namespace raft
