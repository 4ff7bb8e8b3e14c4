#pragma once

// The replicated key-value state machine. It knows nothing of Raft: it is
// handed committed log entries in log order and answers what each one did.

#include "messages/kv_messages.hpp"
#include "messages/raft_rpc.hpp"
#include "messages/snapshot_messages.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace raft {

/// The replicated key-value state machine. Deterministic: the same sequence
/// of applied entries gives the same state and the same replies on every node.
///
/// Snapshots (Raft §7) are produced and restored in batches, so that the
/// owning actor never stops applying entries for long and the state is never
/// held twice in memory:
///  - begin_snapshot() freezes the view as of applied_index() at no cost;
///    apply() goes on, and only a key changed while the snapshot is in
///    progress (and not yet emitted) has its old value kept aside;
///  - next_snapshot_batch() hands out the frozen view a few pairs at a time,
///    in key order, between applies;
///  - restore_begin(), restore_batch()... and restore_finish() load one.
class kv_store {
public:
  /// Applies one committed log entry, in log order, and returns the reply its
  /// proposing client gets. noop and config entries change nothing and reply
  /// ok; a malformed command entry replies bad_request and changes nothing.
  /// Preconditions (checked, abort): entry.index == applied_index() + 1, and
  /// no restore in progress.
  client_reply apply(const log_entry& entry);

  /// Executes a command against the current state: put -> ok; del -> ok or
  /// not_found; cas -> ok, cas_failed (current value in `value`) or
  /// not_found; get -> ok with the value, or not_found; the others as
  /// kv_op says (reads change nothing).
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

  // --- Producing a snapshot -------------------------------------------------

  /// Freezes the contents as of applied_index() as the view the next
  /// next_snapshot_batch() calls return. O(1): nothing is copied now.
  /// Precondition (checked, aborts): no snapshot and no restore in progress.
  void begin_snapshot();

  /// Appends the next pairs of the frozen view to `out`, in key order: at
  /// least one if any remain, and no more once the keys and values appended
  /// reach `max_bytes` (so a batch exceeds it by at most one pair). Returns
  /// true while pairs remain; false once the view is complete, which ends the
  /// snapshot. Precondition (checked, aborts): a snapshot in progress.
  bool next_snapshot_batch(std::vector<kv_pair>& out, std::size_t max_bytes);

  /// Ends the snapshot in progress, if any, and frees what it kept aside.
  void abort_snapshot();

  bool snapshot_in_progress() const { return snapshot_active_; }

  /// applied_index(), digest() and size() when the last snapshot began: the
  /// frozen view's metadata. They stay valid after the snapshot ends, so the
  /// owner can write them out after the last batch.
  index_t snapshot_index() const { return snapshot_index_; }
  uint64_t snapshot_digest() const { return snapshot_digest_; }
  uint64_t snapshot_keys() const { return snapshot_keys_; }

  /// How many keys' old values (or absence) are kept aside for the snapshot
  /// in progress: the extra memory it costs (tests check it stays small).
  std::size_t snapshot_saved_keys() const { return saved_.size(); }

  // --- Restoring a snapshot -------------------------------------------------

  /// Empties the store (applied_index() 0) to load a snapshot, ending any
  /// snapshot in progress. Until restore_finish(), apply() and
  /// begin_snapshot() are refused (abort): the state is incomplete.
  void restore_begin();

  /// Adds `pairs`, whose keys must be strictly increasing, within the batch
  /// and after those of every earlier batch. Otherwise throws
  /// std::invalid_argument (the snapshot is corrupt) having added none of
  /// this batch; the store then holds a part of a snapshot, and the owner
  /// must restore_begin() again. Precondition (checked, aborts): a restore in
  /// progress.
  void restore_batch(const std::vector<kv_pair>& pairs);

  /// Ends the restore: the store holds the state after entry `applied`.
  /// Precondition (checked, aborts): a restore in progress.
  void restore_finish(index_t applied);

  bool restore_in_progress() const { return restoring_; }

private:
  static uint64_t pair_hash(const std::string& key, const std::string& value);
  /// Sets key to value, keeping sum_.
  void assign(const std::string& key, const std::string& value);
  /// Removes `key`; false if it did not exist.
  bool erase(const std::string& key);
  client_reply set(const kv_command& cmd);
  client_reply incr_by(const std::string& key, const std::string& delta_text);
  /// Called before every change to `key`, with its value until now (nullopt:
  /// absent), which the caller is about to overwrite or erase anyway (so it
  /// may be moved here). Keeps it aside if the frozen view still needs it.
  void save_for_snapshot(const std::string& key,
                         std::optional<std::string>&& old);
  /// Ends the snapshot in progress and frees its side map.
  void end_snapshot();

  std::map<std::string, std::string> data_;
  /// Sum (mod 2^64) of pair_hash over data_.
  uint64_t sum_ = 0;
  // Invariant: every entry up to and including applied_index_ has been applied
  // exactly once, in order, and none after it.
  index_t applied_index_ = 0;

  // The snapshot in progress. Its frozen view is data_ with saved_ laid over
  // it: a key in saved_ had that value at begin_snapshot() (nullopt: it was
  // absent), any other key of data_ has not changed since.
  bool snapshot_active_ = false;
  /// Whether a batch has passed any key yet; if so, snapshot_cursor_ is the
  /// last key passed (emitted, or skipped as absent from the view). An
  /// optional<string> would do, but the empty key is a valid key and this
  /// way the cursor's buffer is reused from key to key.
  bool snapshot_started_ = false;
  std::string snapshot_cursor_;
  // Invariant: every key in saved_ is after snapshot_cursor_ (if started).
  // Keys up to the cursor were emitted already; what happens to them now
  // does not concern the view.
  std::map<std::string, std::optional<std::string>> saved_;
  index_t snapshot_index_ = 0;
  uint64_t snapshot_digest_ = 0;
  uint64_t snapshot_keys_ = 0;

  bool restoring_ = false;
};

} // namespace raft
