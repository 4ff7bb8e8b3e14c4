#pragma once

// The replicated key-value state machine. It knows nothing of Raft: it is
// handed committed log entries in log order and answers what each one did.

#include "messages/kv_messages.hpp"
#include "messages/raft_rpc.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace raft {

/// The replicated key-value state machine. Deterministic: the same sequence
/// of applied entries gives the same state and the same replies on every node.
class kv_store {
public:
  /// Applies one committed log entry, in log order, and returns the reply its
  /// proposing client gets. noop and config entries change nothing and reply
  /// ok; a malformed command entry replies bad_request and changes nothing.
  /// Precondition (checked, aborts): entry.index == applied_index() + 1.
  client_reply apply(const log_entry& entry);

  /// Executes a command against the current state: put -> ok; del -> ok or
  /// not_found; cas -> ok, cas_failed (current value in `value`) or
  /// not_found; get -> ok with the value, or not_found.
  client_reply execute(const kv_command& cmd);

  /// Reads `key` from the current state (ok with the value, or not_found).
  client_reply read(const std::string& key) const;

  /// The index of the last applied entry; 0 before any.
  index_t applied_index() const { return applied_index_; }

  /// The number of keys.
  std::size_t size() const { return data_.size(); }

  /// A digest of the contents alone (not of how they were reached), to
  /// compare the states of nodes (status replies carry it). O(1): kept up to
  /// date on every change as the sum of a hash per (key, value) pair.
  uint64_t digest() const;
  /// The same digest computed afresh from the contents, O(size) (tests check
  /// that the kept one never drifts from it).
  uint64_t recompute_digest() const;

  /// The whole state, in key order.
  const std::map<std::string, std::string>& contents() const { return data_; }

private:
  static uint64_t pair_hash(const std::string& key, const std::string& value);
  /// Sets key to value, keeping sum_.
  void assign(const std::string& key, const std::string& value);

  std::map<std::string, std::string> data_;
  /// Sum (mod 2^64) of pair_hash over data_.
  uint64_t sum_ = 0;
  // Invariant: every entry up to and including applied_index_ has been applied
  // exactly once, in order, and none after it.
  index_t applied_index_ = 0;
};

} // namespace raft
