#include "actors/client/kv_client.hpp"

#include "actors/client/awaiters.hpp"
#include "actors/client/connect.hpp"
#include "actors/client/retry_policy.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <mutex>
#include <set>
#include <utility>

namespace raft {

namespace {

client_reply make_reply(reply_status status, std::string message) {
  client_reply r;
  r.status = status;
  r.message = std::move(message);
  return r;
}

kv_command make_command(kv_op op, std::string key, std::string value = {},
                        std::string expected = {}) {
  kv_command cmd;
  cmd.op = op;
  cmd.key = std::move(key);
  cmd.value = std::move(value);
  cmd.expected = std::move(expected);
  return cmd;
}

/// At most this long for each id probe made to find a named leader (a dead
/// endpoint must not hold up a command for a whole request timeout).
constexpr caf::timespan id_probe_timeout = std::chrono::milliseconds(500);

} // namespace

struct kv_client::watch_state {
  std::mutex mtx;
  bool lost = false;
  /// The client's actor, to answer its requests in flight.
  caf::weak_actor_ptr client;
  /// Response ids of the requests in flight to the proxy.
  std::set<uint64_t> in_flight;
};

namespace {

/// Answers the request with `response_id` of actor `client` with the error
/// of a lost connection (as if the proxy had answered it so).
void fail_request(const caf::strong_actor_ptr& client, uint64_t response_id) {
  client->enqueue(nullptr, caf::message_id{response_id},
                  caf::make_message(caf::make_error(caf::exit_reason::remote_link_unreachable)),
                  nullptr);
}

} // namespace

kv_client::kv_client(caf::event_based_actor* self, std::vector<endpoint> endpoints,
                     client_options opts)
  : self_(self), endpoints_(std::move(endpoints)), watches_(endpoints_.size()), opts_(opts) {
  // Invariant: endpoints_ never changes size, so indices stay valid across
  // co_awaits; only handles and ids are filled in.
}

task<client_reply> kv_client::put(std::string key, std::string value) {
  return execute(make_command(kv_op::put, std::move(key), std::move(value)));
}

task<client_reply> kv_client::get(std::string key) {
  return execute(make_command(kv_op::get, std::move(key)));
}

task<client_reply> kv_client::del(std::string key) {
  return execute(make_command(kv_op::del, std::move(key)));
}

task<client_reply> kv_client::cas(std::string key, std::string expected, std::string value) {
  return execute(make_command(kv_op::cas, std::move(key), std::move(value), std::move(expected)));
}

task<client_reply> kv_client::execute(kv_command cmd) {
  ++stats_.commands;
  // Only a node marks a command as forwarded (it is then never forwarded
  // again); a client always sends fresh ones.
  cmd.forwarded = 0;
  if (endpoints_.empty()) {
    ++stats_.gave_up;
    ++stats_.completed;
    co_return make_reply(reply_status::unavailable, "the client has no endpoints");
  }
  const auto deadline = self_->clock().now() + opts_.overall_timeout;
  if (unknown_leader_ != no_node) {
    // The last answer named a leader none of our endpoints is known to be:
    // learn the ids we lack (once per such leader), to go there directly.
    auto wanted = std::exchange(unknown_leader_, no_node);
    for (std::size_t j = 0; j < endpoints_.size() && !index_of(wanted); ++j)
      if (endpoints_[j].id == no_node)
        (void) co_await ready(j, std::min(opts_.request_timeout, id_probe_timeout), true);
    if (auto j = index_of(wanted))
      preferred_ = *j;
  }
  auto i = preferred_ % endpoints_.size();
  std::string last_reason = "no attempt made";
  node_id last_hint = no_node;
  std::size_t since_pause = 0; // attempts since the last backoff
  int pauses = 0;
  int attempts = 0;
  for (; attempts < opts_.max_attempts; ++attempts) {
    auto budget = std::min(opts_.request_timeout, deadline - self_->clock().now());
    if (budget <= caf::timespan::zero())
      break;
    ++stats_.attempts;
    retry_decision d;
    node_id hint = no_node;
    auto handle = co_await ready(i, budget, true);
    if (!handle) {
      // Nothing was sent to the node.
      ++stats_.undelivered;
      last_reason = "endpoint " + std::to_string(i) + ": " + render(handle.error());
      d = after_failure(cmd.op, request_failure::never_delivered);
    } else {
      budget = std::min(opts_.request_timeout, deadline - self_->clock().now());
      if (budget <= caf::timespan::zero())
        break; // not sent: nothing to be unsure about
      caf::message_id sent_id;
      auto reply = co_await request<client_reply>(self_, *handle, budget, cmd)
                     .on_sent([&](caf::message_id id) {
                       sent_id = id;
                       track(i, *handle, id);
                     });
      untrack(i, sent_id);
      if (reply) {
        d = after_reply(cmd.op, reply->status);
        if (d.step == next_step::finish) {
          // Next time straight to the leader, if the answer named one we
          // know (a follower that forwarded costs a hop per command).
          auto leader = reply->leader_hint != no_node ? index_of(reply->leader_hint)
                                                      : std::nullopt;
          preferred_ = leader ? *leader : i;
          if (!leader && reply->leader_hint != no_node)
            unknown_leader_ = reply->leader_hint; // find it at the next command
          ++stats_.completed;
          co_return std::move(*reply);
        }
        if (reply->status == reply_status::not_leader)
          ++stats_.not_leader;
        else if (reply->status == reply_status::unavailable)
          ++stats_.unavailable;
        hint = reply->leader_hint;
        if (hint != no_node)
          last_hint = hint;
        last_reason = "endpoint " + std::to_string(i) + ": " + to_string(reply->status)
                      + (reply->message.empty() ? "" : " (" + reply->message + ")");
      } else {
        auto failure = classify_failure(reply.error());
        if (failure == request_failure::timed_out)
          ++stats_.timeouts;
        if (failure == request_failure::never_delivered)
          ++stats_.undelivered;
        // Whatever went wrong, the next use reconnects: CAF 0.17 drops
        // messages to a remote proxy whose connection is gone without an
        // error, so a dead proxy shows only as a timeout.
        forget_handle(i, *handle);
        d = after_failure(cmd.op, failure);
        if (d.step == next_step::report_unknown) {
          // The write was sent and may be applied (or still be): its outcome
          // cannot be known. Never report it failed; never send it again.
          ++stats_.unknown;
          ++stats_.completed;
          co_return make_reply(reply_status::unknown,
                               "no answer from endpoint " + std::to_string(i) + ": "
                                 + render(reply.error()));
        }
        last_reason = "endpoint " + std::to_string(i) + ": " + render(reply.error());
      }
    }
    // Where to go next.
    auto next = next_index(i);
    if (d.step == next_step::follow_hint && hint != no_node) {
      auto j = index_of(hint);
      if (j && *j != i) {
        next = *j;
        preferred_ = next; // later commands go straight to the leader too
      }
    }
    i = next;
    if (d.backoff || ++since_pause >= endpoints_.size()) {
      auto pause = std::min(backoff_delay(opts_.retry_backoff, pauses++),
                            deadline - self_->clock().now());
      since_pause = 0;
      if (pause <= caf::timespan::zero())
        break;
      ++stats_.backoffs;
      co_await sleep_for(self_, pause);
    }
  }
  // Every attempt so far definitely did not apply the command.
  ++stats_.gave_up;
  ++stats_.completed;
  auto r = make_reply(reply_status::unavailable, "gave up after " + std::to_string(attempts)
                                                   + " attempts; last: " + last_reason);
  r.leader_hint = last_hint;
  co_return r;
}

task<std::vector<endpoint_status>> kv_client::status() {
  std::vector<endpoint_status> result;
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    endpoint_status es;
    es.address = endpoints_[i].address;
    es.id = endpoints_[i].id;
    auto handle = co_await ready(i, opts_.request_timeout, false);
    if (!handle) {
      es.error = render(handle.error());
      result.push_back(std::move(es));
      continue;
    }
    auto st = co_await request<node_status>(self_, *handle, opts_.request_timeout,
                                            status_atom::value);
    if (st) {
      learn(i, *st);
      es.id = st->id;
      es.reachable = true;
      es.status = std::move(*st);
    } else {
      forget_handle(i, *handle);
      es.error = render(st.error());
    }
    result.push_back(std::move(es));
  }
  co_return result;
}

task<caf::expected<peer_endpoint_actor>> kv_client::ready(std::size_t i, caf::timespan timeout,
                                                          bool learn_id) {
  auto handle = endpoints_[i].handle;
  if (handle && lost(i, handle)) {
    forget_handle(i, handle);
    handle = endpoints_[i].handle;
  }
  if (!handle) {
    if (endpoints_[i].address.empty())
      co_return caf::make_error(caf::sec::invalid_argument,
                                "endpoint has neither a handle nor an address");
    ++stats_.connects;
    auto connected = co_await connect(self_, endpoints_[i].address, timeout);
    if (!connected)
      co_return connected.error();
    handle = *connected;
    endpoints_[i].handle = handle;
    watch(i, handle);
  }
  if (learn_id && endpoints_[i].id == no_node) {
    // Status is read-only: probing costs one round trip and nothing else.
    auto st = co_await request<node_status>(self_, handle, timeout, status_atom::value);
    if (!st) {
      forget_handle(i, handle);
      co_return st.error();
    }
    learn(i, *st);
  }
  co_return handle;
}

void kv_client::forget_handle(std::size_t i, const peer_endpoint_actor& dead) {
  auto& ep = endpoints_[i];
  if (!ep.address.empty() && ep.handle == dead)
    ep.handle = peer_endpoint_actor{};
}

void kv_client::watch(std::size_t i, const peer_endpoint_actor& proxy) {
  auto& w = watches_[i];
  if (w.watched == proxy)
    return; // the middleman handed out the same proxy again: watched already
  w.watched = proxy;
  w.state = std::make_shared<watch_state>();
  w.state->client = caf::actor_cast<caf::weak_actor_ptr>(self_->ctrl());
  // Runs when the actor (here: the proxy) terminates, on whatever thread
  // kills it; a proxy dies when the middleman loses its connection. (If it
  // is dead already, attach runs it at once.)
  auto ptr = caf::actor_cast<caf::strong_actor_ptr>(proxy);
  ptr->get()->attach_functor([st = w.state] {
    std::set<uint64_t> ids;
    {
      std::lock_guard<std::mutex> guard{st->mtx};
      st->lost = true;
      ids.swap(st->in_flight);
    }
    if (auto client = st->client.lock())
      for (auto id : ids)
        fail_request(client, id);
  });
}

bool kv_client::lost(std::size_t i, const peer_endpoint_actor& handle) const {
  const auto& w = watches_[i];
  if (!w.state || w.watched != handle)
    return false;
  std::lock_guard<std::mutex> guard{w.state->mtx};
  return w.state->lost;
}

void kv_client::track(std::size_t i, const peer_endpoint_actor& handle,
                      caf::message_id response_id) {
  auto& w = watches_[i];
  if (!w.state || w.watched != handle)
    return; // a local handle: nothing to watch
  std::lock_guard<std::mutex> guard{w.state->mtx};
  if (w.state->lost) // died just now: fail it like the others
    fail_request(self_->ctrl(), response_id.integer_value());
  else
    w.state->in_flight.insert(response_id.integer_value());
}

void kv_client::untrack(std::size_t i, caf::message_id response_id) {
  auto& w = watches_[i];
  if (!w.state)
    return;
  std::lock_guard<std::mutex> guard{w.state->mtx};
  w.state->in_flight.erase(response_id.integer_value());
}

void kv_client::learn(std::size_t i, const node_status& s) {
  if (s.id != no_node)
    endpoints_[i].id = s.id;
  if (s.leader != no_node)
    if (auto j = index_of(s.leader))
      preferred_ = *j;
}

std::optional<std::size_t> kv_client::index_of(node_id id) const {
  for (std::size_t i = 0; i < endpoints_.size(); ++i)
    if (endpoints_[i].id == id)
      return i;
  return std::nullopt;
}

std::string kv_client::render(const caf::error& err) const {
  return self_->system().render(err);
}

} // namespace raft
