#pragma once

// The client's retry rules as small pure functions: what to do after one
// attempt, given the node's reply or how the request failed. kv_client.hpp
// states the rules for users; this is where they are decided.

#include "messages/kv_messages.hpp"

#include <caf/error.hpp>
#include <caf/timespan.hpp>

#include <cstdint>

namespace raft {

/// How a request failed, as far as the command's fate is concerned.
enum class request_failure : uint8_t {
  /// No live handler ever saw it: invalid or dead handle (the message
  /// bounced), no route, not understood, or no connection could be made.
  /// Nothing was applied.
  never_delivered = 0,
  /// No answer in time: it may have been applied, or may still be.
  timed_out = 1,
  /// Any other error: treated like a timeout (the fate is undetermined).
  other = 2,
};

/// Maps a CAF error (from a request's error callback) onto request_failure.
request_failure classify_failure(const caf::error& err);

/// What the client does after one attempt.
enum class next_step : uint8_t {
  /// The reply is the command's outcome: return it.
  finish = 0,
  /// The outcome cannot be known: return `unknown`, never retry.
  report_unknown = 1,
  /// `not_leader` naming a leader: try that leader's endpoint if known,
  /// else the next endpoint.
  follow_hint = 2,
  /// Nothing was applied here: try the next endpoint.
  next_endpoint = 3,
};

/// A step, and whether to pause (retry_backoff) before taking it.
struct retry_decision {
  next_step step = next_step::finish;
  bool backoff = false;

  friend bool operator==(const retry_decision&, const retry_decision&) = default;
};

/// Whether `op` changes the state (put, del, cas): a write that may have
/// been applied is never sent again.
inline bool is_write(kv_op op) {
  return !is_read(op);
}

/// After a reply:
///   ok, not_found, cas_failed, bad_request  -> finish;
///   not_leader                              -> follow_hint, after a backoff
///                                              (no leader yet, or a stale one);
///   unavailable                             -> next_endpoint;
///   unknown                                 -> finish for writes (the node
///                                              itself cannot tell), next_endpoint
///                                              for reads (no side effects).
retry_decision after_reply(kv_op op, reply_status status);

/// After a failed request:
///   never_delivered      -> next_endpoint;
///   timed_out, other     -> report_unknown for writes, next_endpoint for reads.
retry_decision after_failure(kv_op op, request_failure failure);

/// The n-th pause (n = 0, 1, ...) of one command: base, 2 base, 4 base, ...,
/// at most 4 base (with the default 20 ms: 80 ms, so a client waiting out an
/// election, 150-300 ms, finds the new leader within 80 ms of it).
caf::timespan backoff_delay(caf::timespan base, int n);

} // namespace raft
