#pragma once

// Settings of a key-value client (kv_client, blocking_client).

#include <caf/timespan.hpp>

#include <chrono>

namespace raft {

/// How long a client waits and how hard it tries. See kv_client.hpp for the
/// retry rules these feed.
struct client_options {
  /// Timeout of one request to one endpoint (also of a connect and of the
  /// status probe that learns a node's id). Should stay below the nodes'
  /// node_options::client_timeout, or slow commits come back `unknown`.
  caf::timespan request_timeout = std::chrono::seconds(2);
  /// Deadline of a whole command, retries included. Past it the command
  /// ends `unavailable` (nothing was applied) or `unknown` (a write was sent
  /// and its outcome cannot be known).
  caf::timespan overall_timeout = std::chrono::seconds(10);
  /// Attempts per command (each attempt is one request to one endpoint);
  /// with the pauses between them, several seconds of trying -- longer than
  /// an election, even a repeated one.
  int max_attempts = 50;
  /// First pause between retries; doubles on each further pause of the same
  /// command, up to 4 times this.
  caf::timespan retry_backoff = std::chrono::milliseconds(20);
};

} // namespace raft
