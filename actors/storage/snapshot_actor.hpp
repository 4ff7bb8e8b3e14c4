#pragma once

// The snapshot actor: a node's snapshot files (snapshot_store.hpp) behind
// the typed `snapshot_actor` interface of messages/interfaces.hpp, on its own
// thread in a real process so that writing, verifying and reading large
// files never holds up the node.
//
// It keeps at most one snapshot_writer (the node's own snapshot being
// written), one snapshot_receiver (a leader's snapshot arriving), one
// snapshot_reader loading pairs into the state machine, and one reader
// serving raw bytes to followers (reopened, and so verified again, when
// another snapshot is asked for). A new writer or a transfer of another
// snapshot from offset 0 replaces the old one, whose temporary file goes.
// After a snapshot is written or received, the directory is pruned to the
// newest two valid snapshots, and a reader whose file was removed is closed:
// asking for a pruned snapshot is an error.
//
// Every failure comes back as caf::error (caf::sec::runtime_error) with a
// message naming the file or the directory; the actor itself stays up. It
// answers snap_last with an error, not an older snapshot, while a corrupt
// snapshot is newer than the newest valid one: the node stops and an
// operator looks, rather than the node silently rolling back (or starting
// empty).

#include "messages/interfaces.hpp"
// inspect() for the snapshot messages: whoever talks to this actor needs it.
#include "messages/serialization.hpp"

#include <caf/actor_system.hpp>

#include <string>

namespace raft {

/// Spawns the snapshot actor for the snapshots of the node whose data
/// directory is `data_dir` (in <data_dir>/snapshots, created if needed).
/// `detached` gives it its own thread (real processes); use false under the
/// deterministic test scheduler.
snapshot_actor spawn_snapshot_actor(caf::actor_system& sys,
                                    std::string data_dir, bool detached);

} // namespace raft
