#pragma once

// Connecting to a node's published gateway by address, through CAF's
// middleman (the system must have loaded caf::io::middleman and registered
// the message types: messages/registration.hpp).
//
// CAF 0.17's middleman().remote_actor() blocks with no timeout (a blackholed
// host stalls it, and the middleman, for minutes). Both helpers here ask the
// middleman actor instead, with a timeout, and check that the published
// actor speaks peer_endpoint_actor (a gateway_actor does).

#include "actors/client/task.hpp"
#include "messages/interfaces.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include <string>

namespace raft {

/// Connects from inside `self` (asynchronously: other messages keep being
/// handled). Fails on a bad address, a missing middleman, a failed or timed
/// out connect, or an actor with another interface.
task<caf::expected<peer_endpoint_actor>> connect(caf::event_based_actor* self,
                                                 std::string address,
                                                 caf::timespan timeout);

/// The same for code outside actors (blocks the calling thread, at most
/// `timeout`). Must not be called from an actor's message handler.
caf::expected<peer_endpoint_actor> connect_blocking(caf::actor_system& sys,
                                                    const std::string& address,
                                                    caf::timespan timeout);

} // namespace raft
