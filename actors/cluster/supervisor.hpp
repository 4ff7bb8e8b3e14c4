#pragma once

// supervisor: starts and keeps alive the actors of one raft-node process.
//
// start_node_process() spawns one remote peer link per peer, the gateway,
// publishes the gateway on host:port, spawns the node (spawn_node also
// spawns its storage actor, linked to it) and finally the supervisor, which
// monitors node, gateway and links:
//
// * node down (any reason while not stopping -- the node has no normal way
//   to end): the gateway is told the node is gone (clients get
//   `unavailable`), and after a short delay the node is respawned over the
//   same data directory, reloading term, vote and log (it rejoins as a
//   follower). The old storage actor dies through its link to the node and
//   only then releases the data directory's lock, so a respawn that finds
//   the directory still locked is retried after a short delay.
// * gateway down: a new gateway is spawned and published on the same port.
// * link down: a new link is spawned, handed to the gateway, and the node is
//   restarted so that it sends through the new link.
//
// Membership changes at run time: the node asks for a link to a member it
// has none for (node_options::connect, set here): a remote link is spawned
// at once, and the supervisor adopts it (monitors it, hands it to the
// gateway, passes it to later node incarnations). When a committed
// configuration drops a member, the node says so (node_options::disconnect)
// and the supervisor stops that link.
//
// Every restart is charged to a budget (by default at most 5 in 60 s). Past
// it the supervisor gives up: it calls on_give_up with a non-zero exit code
// and the reason, and the process is expected to end, so the level above
// (the cluster manager, or systemd) restarts the whole process.
//
// Sending the supervisor an exit message (e.g. user_shutdown) stops every
// child with it.

#include "actors/cluster/gateway.hpp"
#include "actors/cluster/peer_address.hpp"
#include "actors/node/node_actor.hpp"
#include "actors/peer_link/remote_peer_link.hpp"
#include "messages/interfaces.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace raft {

/// Everything one raft-node process runs.
struct process_options {
  /// The node; its log and data_dir are used for every incarnation.
  node_options node;
  /// The other members (not this node).
  std::vector<peer_address> peers;
  /// Where the gateway is published (bound to this address only).
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  remote_link_options link;
  gateway_options gateway;
  /// Restart budget: at most max_restarts within restart_window.
  int max_restarts = 5;
  caf::timespan restart_window = std::chrono::seconds(60);
  /// Delay before respawning a node, and between attempts while its data
  /// directory is still locked by the dying incarnation's storage actor.
  caf::timespan respawn_delay = std::chrono::milliseconds(50);
  /// Attempts per restart before giving up (40 x 50 ms = 2 s).
  int respawn_attempts = 40;
  /// Receives one line per restart and per give-up; none if empty.
  std::function<void(const std::string&)> log;
  /// Called once, from the supervisor's thread, when it gives up.
  std::function<void(int exit_code, const std::string& reason)> on_give_up;
};

/// The exit code a process should end with when its supervisor gives up.
inline constexpr int supervisor_gave_up_exit_code = 3;

/// Ask a supervisor for its current node incarnation.
using current_node_atom = caf::atom_constant<caf::atom("sv_node")>;

/// The supervisor as its owner sees it. It answers with the current node
/// actor (null while it restarts); stop it, and all children, with an exit
/// message.
using supervisor_actor
  = caf::typed_actor<caf::replies_to<current_node_atom>::with<node_actor>>;

/// A running raft-node process.
struct node_process {
  /// Monitor it, or send it an exit message to stop everything.
  supervisor_actor supervisor;
  /// The gateway as published.
  gateway_actor gateway;
  /// The port the gateway listens on.
  uint16_t port = 0;
};

/// Starts the actors of a raft-node process (see above). Fails without
/// leaving actors behind if the port cannot be opened ("cannot listen on
/// host:port: ...") or the node cannot start ("cannot use data directory
/// ...: ..."). Blocks while publishing: call it from outside any actor.
caf::expected<node_process> start_node_process(caf::actor_system& sys,
                                               process_options opts);

} // namespace raft
