#pragma once

// Registration of every message type with an actor system configuration.
// Every node must register the same names: they travel on the wire.

#include <caf/actor_system_config.hpp>

namespace raft {

/// Registers all types of the wire protocol with `cfg`.
void register_message_types(caf::actor_system_config& cfg);

} // namespace raft
