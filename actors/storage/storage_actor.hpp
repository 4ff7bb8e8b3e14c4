#pragma once

// The storage actor: a node's log_store behind a typed actor, with group
// commit.
//
// Each persist_request is appended (buffered) as it arrives and answered
// later through a response promise. The first request after a sync also
// sends the actor a sync_atom, which lands behind every request already in
// the mailbox. On sync_atom the actor calls log_store::sync() once and then
// delivers every pending promise, in arrival order, with the persist_ack as
// of the end of that request. So requests that arrive while an fsync runs
// are made durable together by the next single fsync.
//
// A persist_request with reset_index set is just another request: the store
// buffers its log_reset record in order with the others, and it becomes
// durable with the same group commit.
//
// compact_atom(upto) deletes the log segments a snapshot through `upto`
// covers and answers the first index still stored. It runs in mailbox order
// but only touches segments that are already durable, so it neither waits
// for nor disturbs a pending group commit.
//
// A failure of the store (storage_error on sync or compact, or any other
// exception from the store) answers every pending request with an error and
// stops the actor with caf::sec::runtime_error and the store's message:
// never a success for an undurable write. The node treats that as fatal (persist before you
// speak) and its supervisor decides what happens next.

#include "actors/storage/log_store.hpp"
#include "messages/interfaces.hpp"
// inspect() for persist_request/persist_ack: whoever sends them to this
// actor needs it in scope, so this header brings it along.
#include "messages/serialization.hpp"

#include <caf/actor_system.hpp>

#include <memory>

namespace raft {

/// Spawns the storage actor owning `store` (nobody else may use the store
/// while the actor runs). `detached` gives the actor its own thread, for real
/// processes where fsync blocks; use false under the deterministic test
/// scheduler.
storage_actor spawn_storage(caf::actor_system& sys,
                            std::shared_ptr<log_store> store,
                            bool detached = false);

} // namespace raft
