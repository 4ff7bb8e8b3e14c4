#pragma once

// Awaiters that suspend a task (task.hpp) on CAF 0.17 machinery:
//
//   auto r = co_await raft::request<client_reply>(self, dest, timeout, cmd);
//   co_await raft::sleep_for(self, 20ms);
//
// await_suspend issues `self->request(...).then(ok, err)` (always with the
// error handler: without it a failed request would kill the actor) and the
// callback resumes the coroutine, so it runs on the actor's own thread. Both
// callbacks share a small slot with the awaiter; the awaiter's destructor
// (run when a suspended frame is destroyed) disarms the slot, so a response
// arriving after that resumes nothing.

#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/message_id.hpp>
#include <caf/message_priority.hpp>
#include <caf/timespan.hpp>

#include <coroutine>
#include <functional>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace raft {

namespace detail {

/// The value a request with response types Rs... produces: the single type,
/// or a tuple of several.
template <class... Rs>
struct response_value {
  using type = std::tuple<Rs...>;
};

template <class R>
struct response_value<R> {
  using type = R;
};

/// Shared by a suspended awaiter and the callbacks that will resume it.
template <class T>
struct resume_slot {
  /// The suspended coroutine; null once resumed or once its frame is gone.
  std::coroutine_handle<> waiting;
  std::optional<T> value;
  caf::error error;

  void resume() {
    if (auto h = std::exchange(waiting, nullptr))
      h.resume();
  }
};

/// Suspends until the response to one request arrives (or fails).
template <class Self, class Handle, class Args, class... Rs>
class request_awaiter {
public:
  using value_type = typename response_value<Rs...>::type;

  request_awaiter(Self* self, Handle dest, caf::timespan timeout, Args args)
    : self_(self), dest_(std::move(dest)), timeout_(timeout), args_(std::move(args)) {}

  request_awaiter(request_awaiter&&) noexcept = default;
  request_awaiter& operator=(request_awaiter&&) = delete;
  request_awaiter(const request_awaiter&) = delete;
  request_awaiter& operator=(const request_awaiter&) = delete;

  ~request_awaiter() {
    if (slot_)
      slot_->waiting = nullptr;
  }

  bool await_ready() const noexcept { return false; }

  /// Calls `f(response_id)` once the request is sent (before suspending):
  /// lets the caller arrange for an early answer to that id (e.g. an error
  /// when the connection to `dest` is lost).
  request_awaiter&& on_sent(std::function<void(caf::message_id)> f) && {
    on_sent_ = std::move(f);
    return std::move(*this);
  }

  void await_suspend(std::coroutine_handle<> h) {
    slot_ = std::make_shared<resume_slot<value_type>>();
    slot_->waiting = h;
    std::apply(
      [this](auto&... xs) {
        // A null `dest_` is answered with sec::invalid_argument through the
        // mailbox: the error callback runs later, never inside this call.
        auto handle = self_->request(dest_, timeout_, std::move(xs)...);
        if (on_sent_)
          on_sent_(handle.id());
        handle.then(
            [s = slot_](Rs&... rs) {
              s->value.emplace(std::move(rs)...);
              s->resume();
            },
            [s = slot_](caf::error& err) {
              s->error = std::move(err);
              s->resume();
            });
      },
      args_);
  }

  caf::expected<value_type> await_resume() {
    if (slot_->value)
      return std::move(*slot_->value);
    return std::move(slot_->error);
  }

private:
  Self* self_;
  Handle dest_;
  caf::timespan timeout_;
  Args args_;
  std::function<void(caf::message_id)> on_sent_;
  std::shared_ptr<resume_slot<value_type>> slot_;
};

/// Suspends for a while, on the actor's clock (virtual under the test
/// coordinator). Uses the actor's request-timeout machinery: a response
/// handler for a fresh request id that nobody answers, so its timeout fires.
template <class Self>
class sleep_awaiter {
public:
  sleep_awaiter(Self* self, caf::timespan d) : self_(self), delay_(d) {}

  sleep_awaiter(sleep_awaiter&&) noexcept = default;
  sleep_awaiter& operator=(sleep_awaiter&&) = delete;
  sleep_awaiter(const sleep_awaiter&) = delete;
  sleep_awaiter& operator=(const sleep_awaiter&) = delete;

  ~sleep_awaiter() {
    if (slot_)
      slot_->waiting = nullptr;
  }

  bool await_ready() const noexcept { return delay_.count() <= 0; }

  void await_suspend(std::coroutine_handle<> h) {
    slot_ = std::make_shared<resume_slot<caf::unit_t>>();
    slot_->waiting = h;
    auto id = self_->new_request_id(caf::message_priority::normal);
    self_->add_multiplexed_response_handler(
      id.response_id(), caf::behavior{[s = slot_](caf::error&) { s->resume(); }});
    self_->request_response_timeout(caf::duration{delay_}, id);
  }

  void await_resume() const noexcept {}

private:
  Self* self_;
  caf::timespan delay_;
  std::shared_ptr<resume_slot<caf::unit_t>> slot_;
};

} // namespace detail

/// Sends `xs...` to `dest` as a request from `self` and suspends until the
/// response (types Rs...) or an error (including sec::request_timeout after
/// `timeout`) arrives. Produces caf::expected<R> for one response type,
/// caf::expected<std::tuple<Rs...>> for several.
template <class... Rs, class Self, class Handle, class... Ts>
auto request(Self* self, Handle dest, caf::timespan timeout, Ts&&... xs) {
  static_assert(sizeof...(Rs) > 0, "name the response type(s)");
  using args = std::tuple<std::decay_t<Ts>...>;
  return detail::request_awaiter<Self, Handle, args, Rs...>{
    self, std::move(dest), timeout, args{std::forward<Ts>(xs)...}};
}

/// Suspends the calling task for `d` of the actor's clock.
template <class Self>
auto sleep_for(Self* self, caf::timespan d) {
  return detail::sleep_awaiter<Self>{self, d};
}

} // namespace raft
