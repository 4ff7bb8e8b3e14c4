#pragma once

// Client commands for the key-value store and their results. Plain structs:
// the KV state machine (actors/kv/) uses them without CAF.

#include "messages/raft_rpc.hpp"

#include <cstdint>
#include <string>

namespace raft {

/// The operations a client can ask for.
enum class kv_op : uint8_t {
  get = 0, ///< read `key` (linearizable, by ReadIndex)
  put = 1, ///< set `key` to `value`
  del = 2, ///< remove `key`
  cas = 3, ///< set `key` to `value` iff it currently holds `expected`
  // -- operator commands (not key-value operations) ---------------------
  /// Add node `key` (decimal id) at address `value` as a learner; it is
  /// promoted to voter once caught up. `expected` is the cluster id the
  /// joining node was started with (empty: not checked). Goes to the leader.
  add_member = 4,
  /// Remove node `key` (decimal id), voter or learner. Goes to the leader; a
  /// leader asked to remove itself hands leadership over first.
  remove_member = 5,
  /// Hand leadership to node `key` (decimal id; empty: the most up-to-date
  /// voter). Goes to the leader.
  transfer_leader = 6,
  /// Write a snapshot of the receiving node's state now and compact its log
  /// (answered by the node it is sent to; never forwarded).
  take_snapshot = 7,
};

/// A client command. Only the fields its op needs are used.
struct kv_command {
  kv_op op = kv_op::get;
  std::string key;
  std::string value;
  std::string expected;
  /// Set by a follower that forwards the command to its leader; a forwarded
  /// command is never forwarded again (no loops on stale leader hints).
  uint8_t forwarded = 0;
};

/// The outcome of a client command.
enum class reply_status : uint8_t {
  ok = 0,          ///< done; `value` holds the read value (get) or nothing
  not_found = 1,   ///< get/del/cas on a key that does not exist
  cas_failed = 2,  ///< cas: the current value differs; `value` holds it
  not_leader = 3,  ///< this node cannot serve it; try `leader_hint`. Nothing was applied.
  unknown = 4,     ///< the outcome cannot be known (e.g. timed out after it was sent)
  bad_request = 5, ///< malformed command; nothing was applied
  unavailable = 6, ///< the node cannot serve now (e.g. stopping); nothing was applied
};

/// Reply to a kv_command.
struct client_reply {
  reply_status status = reply_status::ok;
  std::string value;
  /// The leader this node believes in (no_node if none): set with
  /// not_leader, and on the answers a leader gives (also to a command that
  /// came through a follower), so that clients learn where to go next.
  node_id leader_hint = no_node;
  /// A human-readable explanation for errors.
  std::string message;
};

/// Printable name of a status ("ok", "not_leader", ...).
inline const char* to_string(reply_status s) {
  switch (s) {
    case reply_status::ok: return "ok";
    case reply_status::not_found: return "not_found";
    case reply_status::cas_failed: return "cas_failed";
    case reply_status::not_leader: return "not_leader";
    case reply_status::unknown: return "unknown";
    case reply_status::bad_request: return "bad_request";
    case reply_status::unavailable: return "unavailable";
  }
  return "invalid";
}

} // namespace raft
