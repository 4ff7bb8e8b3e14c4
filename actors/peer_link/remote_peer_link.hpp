#pragma once

// remote_peer_link: a node's link to a peer in another process.
//
// It behaves like the local peer_link (same interface: forwards the six Raft
// RPCs, relays client commands and status requests, drops everything while
// told to, reports link_status), but finds its target itself: it asks the
// middleman to connect to the peer's published gateway at host:port
// (asynchronously -- never the blocking remote_actor inside an actor),
// checks that the actor found there has exactly gateway_actor's interface,
// monitors the proxy, and after a down_msg or a failed connect tries again
// with exponential backoff plus jitter.
//
// While disconnected, RPCs are dropped (Raft retries them) and client
// commands are answered `unavailable` (nothing was sent, nothing applied).
// Relayed client commands carry their own timeout: a command sent to a peer
// that then goes silent is answered `unknown` (writes) or `unavailable`
// (reads) -- never "failed".

#include "messages/interfaces.hpp"

#include <caf/actor_system.hpp>
#include <caf/timespan.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace raft {

/// Settings of a remote peer link.
struct remote_link_options {
  /// How long one connect attempt (TCP connect plus BASP handshake) may take.
  caf::timespan connect_timeout = std::chrono::seconds(2);
  /// First reconnect delay; doubles after each failed attempt up to backoff_max.
  caf::timespan backoff_min = std::chrono::milliseconds(50);
  /// Longest reconnect delay (before jitter).
  caf::timespan backoff_max = std::chrono::seconds(2);
  /// How long a client command or status request relayed to the peer may
  /// take. Must exceed the peer node's client_timeout, so the peer's own
  /// `unknown` answer arrives first when it can.
  caf::timespan request_timeout = std::chrono::seconds(6);
  /// Seed of the jitter generator (mixed with the peer id).
  uint64_t seed = 0;
  /// Receives one line per connect and disconnect; none if empty.
  std::function<void(const std::string&)> log;
  /// Receives one line per failed connect attempt; none if empty.
  std::function<void(const std::string&)> debug;
};

/// Spawns a link to peer `peer`, whose raft-node process publishes its
/// gateway at `host`:`port`. The link starts connecting at once.
/// Its target_atom message overrides the connection: a valid handle is used
/// (and monitored) instead of connecting; a null handle drops the current
/// connection and reconnects.
peer_link_actor spawn_remote_peer_link(caf::actor_system& sys, node_id peer,
                                       std::string host, uint16_t port,
                                       remote_link_options opts = {});

} // namespace raft
