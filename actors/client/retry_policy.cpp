#include "actors/client/retry_policy.hpp"

#include <caf/atom.hpp>
#include <caf/sec.hpp>

#include <algorithm>

namespace raft {

request_failure classify_failure(const caf::error& err) {
  if (err.category() != caf::atom("system"))
    return request_failure::other;
  switch (static_cast<caf::sec>(err.code())) {
    case caf::sec::request_timeout:
      return request_failure::timed_out;
    // Bounced from a receiver that terminated before handling it (CAF
    // bounces every request left in a dead actor's mailbox, and every
    // request sent to it later, including to a dead proxy).
    case caf::sec::request_receiver_down:
    // Sent to a null handle: CAF answers this without sending anything.
    case caf::sec::invalid_argument:
    case caf::sec::no_route_to_receiving_node:
    // The receiver had no handler for it.
    case caf::sec::unexpected_message:
      return request_failure::never_delivered;
    default:
      return request_failure::other;
  }
}

retry_decision after_reply(kv_op op, reply_status status) {
  switch (status) {
    case reply_status::ok:
    case reply_status::not_found:
    case reply_status::cas_failed:
    case reply_status::bad_request:
      return {next_step::finish, false};
    case reply_status::not_leader:
      return {next_step::follow_hint, true};
    case reply_status::unavailable:
    case reply_status::no_quorum:
      return {next_step::next_endpoint, false};
    case reply_status::unknown:
      if (is_write(op))
        return {next_step::finish, false};
      return {next_step::next_endpoint, false};
  }
  // A status this client does not know: keep whatever the node said.
  return {next_step::finish, false};
}

retry_decision after_failure(kv_op op, request_failure failure) {
  if (failure == request_failure::never_delivered || !is_write(op))
    return {next_step::next_endpoint, false};
  return {next_step::report_unknown, false};
}

caf::timespan backoff_delay(caf::timespan base, int n) {
  return base * (int64_t{1} << std::clamp(n, 0, 2));
}

} // namespace raft
