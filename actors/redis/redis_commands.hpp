#pragma once

// The Redis commands the client port understands: what each request becomes
// (a reply at once, a kv_command for the node, or a status request), and how
// the node's answers are written back in RESP2. Pure code, no CAF and no
// sockets, so every command and every error is tested deterministically;
// the broker (redis_server) only moves bytes and messages.

#include "messages/kv_messages.hpp"
#include "messages/status.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace raft::redis {

/// The port's settings that change what commands answer.
struct command_settings {
  /// AUTH's password; empty: no password (every command allowed).
  std::string password;
  /// Reported by INFO (tcp_port).
  uint16_t port = 0;
};

/// What one connection remembers between commands.
struct session {
  uint64_t client_id = 0;
  bool authenticated = false;
  /// READONLY: reads are served from the node's state as it is.
  bool readonly = false;
  std::string name; ///< CLIENT SETNAME
};

/// How a node's client_reply is written back: which Redis reply the command
/// expects.
enum class reply_shape : uint8_t {
  ok,          ///< +OK (SET, MSET)
  bulk,        ///< the value, or a null bulk if not found (GET)
  set_result,  ///< SET: +OK, or a null bulk when NX/XX held it back
  set_get,     ///< SET ... GET: the old value or a null bulk
  integer,     ///< reply.number (DEL, EXISTS, INCR..., DBSIZE)
  cas,         ///< :1 if swapped, :0 if not (CAS)
  array,       ///< reply.values / reply.present as an array of bulks (MGET)
};

/// What to do with one request.
struct action {
  enum class kind : uint8_t {
    reply,  ///< write `reply` now
    node,   ///< send `cmd` to the node; write render(shape, answer)
    info,   ///< ask the node for its status; write render_info(section, status)
  };
  kind what = kind::reply;
  std::string reply;        ///< RESP bytes (kind reply)
  kv_command cmd;           ///< kind node
  reply_shape shape = reply_shape::ok;
  std::string section;      ///< kind info: lower-case section names, space-separated; "" for all
  bool close_after = false; ///< QUIT: close once this reply is written
};

/// Interprets one request (args[0] is the command name, any case). Updates
/// the session (AUTH, READONLY, CLIENT SETNAME, ...). Never throws.
action interpret(const std::vector<std::string>& args, session& s,
                 const command_settings& settings);

/// Writes the node's answer to a kv command in the shape it expects; errors
/// (not_leader, no_quorum, unknown, ...) as the Redis error lines the
/// README lists.
std::string render(reply_shape shape, const client_reply& r);

/// The reply to a command that got no answer from the node: for a write
/// the outcome is unknown; a read changed nothing. `reason` says why.
std::string render_no_answer(kv_op op, std::string_view reason);

/// INFO: the sections server, clients, keyspace and raft (or those named,
/// space-separated in `section`; unknown ones give nothing, as in Redis).
std::string render_info(std::string_view section, const node_status& st,
                        const command_settings& settings, std::size_t clients);

/// Whether `text` is a signed 64-bit decimal integer as Redis reads one (no
/// '+', no leading zeros, no spaces); the value in `out`.
bool parse_int64(std::string_view text, int64_t& out);

} // namespace raft::redis
