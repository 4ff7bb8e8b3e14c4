#pragma once

// redis_server: a raft-node's Redis-protocol client port.
//
// A CAF broker (caf::io::broker, CAF's own network layer) accepts TCP
// connections, parses RESP2 requests (arrays and inline, pipelined), turns
// each into a kv_command for the node (through the gateway, which survives
// node restarts) or answers it at once, and writes the replies back in the
// order of the requests. Every command of a connection gets a sequence
// number; answers that arrive early wait until those before them are
// written.
//
// Limits (all in redis_server_options): the parser's (bulk, inline and
// multibulk lengths: a protocol error is answered, then the connection is
// closed, as Redis does; before AUTH, when a password is set, bulks of at
// most 16 KiB and 10 arguments, as in Redis); at most `max_pipeline`
// unanswered commands per connection, and no new ones while more than
// `max_output_pending` reply bytes wait for the client to read them (the
// input waits in the parser meanwhile -- backpressure, not an error); at most
// `max_query_buffer` bytes of input buffered per connection (past it the
// connection is closed, like Redis's query buffer limit: a request that
// large, or a client that sends and never reads); at most `max_clients`
// connections (the next one is told "max number of clients reached" and
// closed).
//
// Fewer of a connection's requests are let in flight at once than
// max_pipeline while its reply sizes are unknown (32, until its first reply)
// and once it has had large replies (about max_output_pending bytes' worth
// of its largest reply). A connection's memory is therefore bounded by
// max_query_buffer, plus max_output_pending, plus the answers in flight:
// about max_output_pending bytes once it has had a reply, 32 replies before.

#include "actors/redis/redis_commands.hpp"
#include "actors/redis/resp.hpp"
#include "messages/interfaces.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace raft::redis {

struct redis_server_options {
  /// Address and port to listen on (port 0: any free port).
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  /// AUTH's password; empty: none needed.
  std::string password;
  resp_limits limits;
  /// Unanswered commands per connection before its further requests wait.
  std::size_t max_pipeline = 1024;
  /// Reply bytes a client may leave unread before its further requests wait.
  std::size_t max_output_pending = 4 * 1024 * 1024;
  /// Bytes of one connection's requests (keys and values) the node may have
  /// at once before further ones wait: a bulk load (`redis-cli --pipe`)
  /// goes through Raft in batches of about this size instead of all at once
  /// (25 MB proposed in one turn starved the leader's heartbeats).
  std::size_t max_inflight_bytes = 1024 * 1024;
  /// Input bytes buffered per connection (a partial request, or requests
  /// waiting) before the connection is closed. At least limits.max_bulk.
  std::size_t max_query_buffer = 64 * 1024 * 1024;
  /// Connections at once.
  std::size_t max_clients = 1000;
  /// How long to wait for the node's answer to one command. Longer than the
  /// node's own client timeout, which answers first (unknown / no_quorum);
  /// this one only covers a node that never answers.
  caf::timespan request_timeout = std::chrono::seconds(7);
  /// Receives a line when the port opens and on refused connections.
  std::function<void(const std::string&)> log;
};

/// A running port.
struct redis_server {
  caf::actor broker;
  uint16_t port = 0; ///< the port bound (options.port, or the one picked)
};

/// Opens the port and starts serving it for `target` (a gateway or node).
/// Blocks until the socket is bound; an error names the address.
caf::expected<redis_server> start_redis_server(caf::actor_system& sys,
                                               kv_service_actor target,
                                               redis_server_options opts);

} // namespace raft::redis
