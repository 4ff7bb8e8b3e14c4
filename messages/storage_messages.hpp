#pragma once

// What the node actor asks of its storage actor, and what it gets back.

#include "messages/raft_rpc.hpp"

#include <vector>

namespace raft {

/// One batch to make durable: optionally a new hard state, and log entries.
///
/// Entries are contiguous. If the first entry's index is at or below the
/// stored last index, the stored log is cut back to just before it first (a
/// follower overwriting a conflicting suffix, §5.3), then the entries are
/// appended.
///
/// With reset_index set, the whole stored log is discarded first and the log
/// continues at reset_index + 1, whose predecessor has term reset_term: a
/// follower installed a snapshot through reset_index (§7).
struct persist_request {
  index_t reset_index = 0;
  term_t reset_term = 0;
  bool has_hard_state = false;
  hard_state state;
  std::vector<log_entry> entries;
};

/// Reply to a persist_request once it is durable (fsync'd). Requests are
/// answered in the order they were sent; each reply reports the log as of the
/// end of its own request.
struct persist_ack {
  index_t last_index = 0;
  term_t last_term = 0;
};

} // namespace raft
