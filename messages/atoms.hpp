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

} // namespace raft
