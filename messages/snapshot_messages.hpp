#pragma once

// Snapshots of the key-value state (Raft §7): what the node actor, its
// snapshot actor and the state machine exchange. Plain structs: the state
// machine (actors/kv/) uses them without CAF.

#include "messages/raft_rpc.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace raft {

/// One key and its value, as a snapshot stores them.
struct kv_pair {
  std::string key;
  std::string value;

  friend bool operator==(const kv_pair&, const kv_pair&) = default;
};

/// What a snapshot is: the state after applying the log through `index`.
struct snapshot_meta {
  /// The last log entry the snapshot includes (0: no snapshot).
  index_t index = 0;
  /// That entry's term.
  term_t term = 0;
  /// The cluster configuration as of `index`.
  membership config;
  /// Number of keys, and the state machine's digest of them.
  uint64_t keys = 0;
  uint64_t digest = 0;
  /// Size of the snapshot file in bytes (known once it is written).
  uint64_t bytes = 0;

  friend bool operator==(const snapshot_meta&, const snapshot_meta&) = default;
};

/// Raw bytes of a snapshot file, read to be sent to a follower.
struct snapshot_chunk {
  uint64_t offset = 0;
  std::string data;
  /// The size of the whole file.
  uint64_t total = 0;
  /// This chunk ends the file.
  bool done = false;
};

/// Where a snapshot being received from a leader stands.
struct snapshot_received {
  /// The next byte offset the receiver expects.
  uint64_t next_offset = 0;
  /// The file is complete, verified and durable under its final name.
  bool complete = false;
  /// Its metadata, once complete.
  snapshot_meta meta;
};

/// The next pairs of a snapshot being loaded into the state machine.
struct snapshot_batch {
  std::vector<kv_pair> pairs;
  /// No pairs follow.
  bool done = false;
};

} // namespace raft
