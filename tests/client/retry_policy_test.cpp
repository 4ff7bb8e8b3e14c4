// The client's retry rules (actors/client/retry_policy.hpp), one per case of
// kv_client.hpp's list, without any actor.

#include "actors/client/retry_policy.hpp"

#include <caf/sec.hpp>

#include <catch2/catch.hpp>

using namespace raft;
using namespace std::chrono_literals;

namespace {

const kv_op writes[] = {kv_op::put, kv_op::del, kv_op::cas};

} // namespace

TEST_CASE("ok, not_found, cas_failed and bad_request are final for every op", "[client][retry]") {
  for (auto op : {kv_op::get, kv_op::put, kv_op::del, kv_op::cas})
    for (auto s : {reply_status::ok, reply_status::not_found, reply_status::cas_failed,
                   reply_status::bad_request})
      CHECK(after_reply(op, s) == retry_decision{next_step::finish, false});
}

TEST_CASE("not_leader follows the hint after a backoff", "[client][retry]") {
  for (auto op : {kv_op::get, kv_op::put, kv_op::del, kv_op::cas})
    CHECK(after_reply(op, reply_status::not_leader) == retry_decision{next_step::follow_hint, true});
}

TEST_CASE("unavailable moves on to the next endpoint", "[client][retry]") {
  for (auto op : {kv_op::get, kv_op::put, kv_op::del, kv_op::cas})
    CHECK(after_reply(op, reply_status::unavailable)
          == retry_decision{next_step::next_endpoint, false});
}

TEST_CASE("a node's unknown is final for writes, retried for reads", "[client][retry]") {
  for (auto op : writes)
    CHECK(after_reply(op, reply_status::unknown).step == next_step::finish);
  CHECK(after_reply(kv_op::get, reply_status::unknown).step == next_step::next_endpoint);
}

TEST_CASE("a write that timed out after it was sent is unknown, never retried",
          "[client][retry]") {
  for (auto op : writes) {
    CHECK(after_failure(op, request_failure::timed_out).step == next_step::report_unknown);
    CHECK(after_failure(op, request_failure::other).step == next_step::report_unknown);
  }
}

TEST_CASE("a read that timed out is retried at the next endpoint", "[client][retry]") {
  CHECK(after_failure(kv_op::get, request_failure::timed_out).step == next_step::next_endpoint);
  CHECK(after_failure(kv_op::get, request_failure::other).step == next_step::next_endpoint);
}

TEST_CASE("a request that never reached a live handler moves on, writes included",
          "[client][retry]") {
  for (auto op : {kv_op::get, kv_op::put, kv_op::del, kv_op::cas})
    CHECK(after_failure(op, request_failure::never_delivered).step == next_step::next_endpoint);
}

TEST_CASE("CAF errors are classified by whether the request could have been handled",
          "[client][retry]") {
  CHECK(classify_failure(caf::make_error(caf::sec::request_timeout)) == request_failure::timed_out);
  CHECK(classify_failure(caf::make_error(caf::sec::request_receiver_down))
        == request_failure::never_delivered);
  CHECK(classify_failure(caf::make_error(caf::sec::invalid_argument))
        == request_failure::never_delivered);
  CHECK(classify_failure(caf::make_error(caf::sec::unexpected_message))
        == request_failure::never_delivered);
  // It was handled, and answered with something unexpected: undetermined.
  CHECK(classify_failure(caf::make_error(caf::sec::unexpected_response)) == request_failure::other);
  CHECK(classify_failure(caf::make_error(caf::sec::runtime_error)) == request_failure::other);
}

TEST_CASE("backoffs double up to four times the base", "[client][retry]") {
  CHECK(backoff_delay(20ms, 0) == 20ms);
  CHECK(backoff_delay(20ms, 1) == 40ms);
  CHECK(backoff_delay(20ms, 2) == 80ms);
  CHECK(backoff_delay(20ms, 3) == 80ms);
  CHECK(backoff_delay(20ms, 40) == 80ms);
}
