#pragma once

// Client commands for the key-value store and their results. Plain structs:
// the KV state machine (actors/kv/) uses them without CAF.

#include "messages/raft_rpc.hpp"

#include <cstdint>
#include <string>
#include <vector>

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
  // -- more key-value operations (the Redis port's commands) ---------------
  /// Set `key` to `value` under the conditions in `flags` (set_if_absent,
  /// set_if_present; set_return_old also answers the old value). ok if set,
  /// cas_failed if a condition held it back (nothing changed). With
  /// set_return_old: `value` holds the old value and `number` is 1 if there
  /// was one, else 0.
  set = 8,
  /// Remove the keys in `args`; `number` answers how many existed.
  del_keys = 9,
  /// Add the decimal integer in `value` to the decimal integer in `key` (a
  /// missing key counts as 0); `number` answers the result. bad_request (and
  /// nothing changed) if the current value or the sum is not a signed 64-bit
  /// integer.
  incr_by = 10,
  /// Set the keys to the values in `args` (key, value, key, value, ...), all
  /// in one log entry.
  mset = 11,
  /// Read the keys in `args`: `values` and `present` hold one element each.
  mget = 12,
  /// Count how many of the keys in `args` exist (a key named twice counts twice).
  exists = 13,
  /// The number of keys, in `number`.
  dbsize = 14,
};

/// kv_command::flags of kv_op::set.
inline constexpr uint8_t set_if_absent = 1;  ///< NX
inline constexpr uint8_t set_if_present = 2; ///< XX
inline constexpr uint8_t set_return_old = 4; ///< GET

/// True for the ops that read and never change the state (get, mget,
/// exists, dbsize): served by ReadIndex, or locally if asked.
inline bool is_read(kv_op op) {
  return op == kv_op::get || op == kv_op::mget || op == kv_op::exists || op == kv_op::dbsize;
}

/// A client command. Only the fields its op needs are used.
struct kv_command {
  kv_op op = kv_op::get;
  std::string key;
  std::string value;
  std::string expected;
  /// Set by a follower that forwards the command to its leader; a forwarded
  /// command is never forwarded again (no loops on stale leader hints).
  uint8_t forwarded = 0;
  /// Keys (and values) of the multi-key ops.
  std::vector<std::string> args{};
  /// Options of the op (kv_op::set: set_if_absent, set_if_present, set_return_old).
  uint8_t flags = 0;
  /// For a read: 1 serves it from the receiving node's state as it is, with
  /// no ReadIndex round and no forwarding (possibly stale, but available
  /// wherever the node runs: Redis's READONLY). 0: linearizable.
  uint8_t local_read = 0;
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
  /// The leader could not confirm it still reaches a majority in time (a
  /// read's ReadIndex round); nothing was applied.
  no_quorum = 7,
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
  /// Integer results (counts, incr_by's new value, dbsize).
  int64_t number = 0;
  /// mget: the values, and whether each key exists (1) or not (0).
  std::vector<std::string> values{};
  std::vector<uint8_t> present{};
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
    case reply_status::no_quorum: return "no_quorum";
  }
  return "invalid";
}

} // namespace raft
