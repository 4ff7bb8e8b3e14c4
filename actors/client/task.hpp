#pragma once

// task<T>: a lazily started C++20 coroutine that runs on one actor's thread,
// and launch(): how an event-based actor starts one.
//
// CAF 0.17 has no coroutine support. The awaiters in awaiters.hpp suspend a
// task on a CAF request (or timer) and resume it from that request's
// callback, i.e. from the actor's own message processing: a frame is only
// ever touched by the thread running its actor, and other messages of the
// actor run between two co_awaits (state may change across a co_await).
//
// Ownership, so that nothing leaks and nothing resumes a dead frame:
//  - a task owns its frame until it is co_awaited; the awaiting parent then
//    still holds the task object in its own frame, so the parent owns the
//    child, and destroying a parent destroys its whole chain of children;
//  - launch() gives the root frame to a guard attached to the actor. When the
//    root finishes it detaches the guard and destroys itself. When the actor
//    terminates first, CAF drops the pending request callbacks (they never
//    run) and then runs the guard, which destroys the root and with it every
//    suspended child (the awaiters' destructors disarm their callbacks);
//  - frames hold the actor by raw pointer. A frame must never hold the last
//    strong reference to the actor it runs on (no caf::actor of `self`, no
//    response_promise of `self`, in a frame): destroying the frame would then
//    destroy the actor from inside its own cleanup. Keep promises in the
//    actor's state and capture an id instead.
//
// Frames are destroyed after the actor's state (stateful_actor destroys its
// state in on_exit, before the attached guards run): locals of a coroutine
// must not touch the actor's state from their destructors.
//
// Pitfalls of C++ coroutines that apply here: a coroutine lambda's captures
// live in the lambda object, not in the frame -- write coroutines as
// functions (or member functions) taking their arguments by value; reference
// parameters must outlive the whole coroutine.

#include <caf/abstract_actor.hpp>
#include <caf/attachable.hpp>

#include <cassert>
#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace raft {

template <class T = void>
class task;

namespace detail {

/// What every task promise has: who awaits it, and its exception if any.
struct task_promise_base {
  /// The coroutine co_awaiting this one; resumed when this one finishes.
  std::coroutine_handle<> continuation;
  std::exception_ptr error;
  /// True while the awaiter's await_suspend runs this task's first leg.
  bool starting = false;
  /// Set when the task finished within that first leg.
  bool finished_inline = false;

  /// Hands control back to the awaiting coroutine. A task that finishes
  /// while it is being started returns into its starter, which then goes on
  /// without suspending: a loop over tasks that never suspend does not grow
  /// the stack, even where the compiler does not turn symmetric transfer
  /// into a tail call (g++ at -O0). A task that finishes later, from a
  /// callback, resumes its awaiter directly (symmetric transfer).
  struct final_awaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) const noexcept {
      auto& p = h.promise();
      if (p.starting) {
        p.finished_inline = true;
        return std::noop_coroutine();
      }
      if (p.continuation)
        return p.continuation;
      return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };

  /// Lazy: nothing runs until the task is co_awaited.
  std::suspend_always initial_suspend() const noexcept { return {}; }
  final_awaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }
  void rethrow_if_failed() const {
    if (error)
      std::rethrow_exception(error);
  }
};

template <class T>
struct task_promise : task_promise_base {
  std::optional<T> value;

  task<T> get_return_object() noexcept;

  template <class U = T>
  void return_value(U&& x) {
    value.emplace(std::forward<U>(x));
  }

  T take() {
    rethrow_if_failed();
    assert(value.has_value());
    return std::move(*value);
  }
};

template <>
struct task_promise<void> : task_promise_base {
  task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void take() const { rethrow_if_failed(); }
};

} // namespace detail

/// A lazily started coroutine producing a T. Start it by co_awaiting it from
/// another task, or hand it to launch(). Exceptions propagate to the awaiter.
template <class T>
class [[nodiscard]] task {
public:
  using promise_type = detail::task_promise<T>;
  using handle_type = std::coroutine_handle<promise_type>;

  task() noexcept = default;
  explicit task(handle_type h) noexcept : h_(h) {}
  task(task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      reset();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { reset(); }

  /// Whether this task holds a coroutine.
  bool valid() const noexcept { return static_cast<bool>(h_); }

  /// Starts the task and suspends the caller until it finishes. The task
  /// keeps owning its frame (so destroying the caller destroys it too).
  /// @pre valid() and not started before.
  auto operator co_await() && noexcept {
    struct awaiter {
      handle_type h;
      bool await_ready() const noexcept { return false; }
      /// Runs the task's first leg; suspends the caller only if the task
      /// did not finish in it.
      bool await_suspend(std::coroutine_handle<> awaiting) noexcept {
        auto& p = h.promise();
        p.continuation = awaiting;
        p.starting = true;
        h.resume();
        p.starting = false;
        return !p.finished_inline;
      }
      T await_resume() { return h.promise().take(); }
    };
    assert(valid());
    return awaiter{h_};
  }

private:
  void reset() noexcept {
    if (h_) {
      h_.destroy();
      h_ = {};
    }
  }

  handle_type h_;
};

namespace detail {

template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}

inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}

/// Attached to the actor for as long as a launched root coroutine runs:
/// destroys the root's frame if the actor terminates first.
class frame_guard final : public caf::attachable {
public:
  /// Identifies our attachables in caf::attachable::token.
  static constexpr std::size_t token_type = 0x72616674; // "raft"

  frame_guard(std::coroutine_handle<> root, bool* destroyed_now) noexcept
    : root_(root), destroyed_now_(destroyed_now) {}

  /// Called once attach() returned: the guard stays attached, so the flag on
  /// launch()'s stack is no longer needed.
  void attached() noexcept { destroyed_now_ = nullptr; }

  void actor_exited(const caf::error&, caf::execution_unit*) override {
    if (auto h = std::exchange(root_, {})) {
      if (destroyed_now_ != nullptr)
        *destroyed_now_ = true; // the actor had already terminated
      h.destroy();
    }
  }

  bool matches(const token& what) override {
    return what.subtype == token_type && what.ptr == this;
  }

  /// The token that detaches the guard at `guard`.
  static token token_for(const void* guard) { return token{token_type, guard}; }

private:
  std::coroutine_handle<> root_;
  bool* destroyed_now_;
};

/// The coroutine type of a launched root: started by launch(), destroys its
/// own frame when it finishes.
struct root_coroutine {
  struct promise_type {
    /// The actor the root runs on, and the identity of its frame_guard.
    caf::abstract_actor* self = nullptr;
    const void* guard = nullptr;

    root_coroutine get_return_object() noexcept {
      return root_coroutine{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }

    struct final_awaiter {
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<promise_type> h) const noexcept {
        auto& p = h.promise();
        if (p.self != nullptr && p.guard != nullptr)
          p.self->detach(frame_guard::token_for(p.guard)); // deletes the guard
        h.destroy();
      }
      void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() const noexcept { return {}; }

    void return_void() const noexcept {}
    /// An exception escaping a launched coroutine escapes into CAF, which
    /// terminates the actor (sec::runtime_error); the frame, now suspended at
    /// its final point, is destroyed by the guard like any other.
    [[noreturn]] void unhandled_exception() const { throw; }
  };

  std::coroutine_handle<promise_type> handle;
};

template <class T, class F>
root_coroutine run_root(task<T> t, F on_done) {
  if constexpr (std::is_void_v<T>) {
    co_await std::move(t);
    on_done();
  } else {
    auto result = co_await std::move(t);
    on_done(std::move(result));
  }
}

} // namespace detail

/// Starts `t` on `self` now: it runs until its first suspension before
/// launch() returns, and later from `self`'s message processing. When it
/// finishes, `on_done` receives its result (nothing for task<void>). If
/// `self` terminates first, the coroutine is destroyed where it is suspended
/// and `on_done` never runs.
/// @pre called from `self`'s own message processing (or its init function),
///      and every co_await inside `t` issues its requests from `self`.
template <class T, class F>
void launch(caf::abstract_actor* self, task<T> t, F on_done) {
  auto root = detail::run_root(std::move(t), std::move(on_done));
  auto h = root.handle;
  bool destroyed = false;
  auto guard = std::make_unique<detail::frame_guard>(h, &destroyed);
  auto* g = guard.get();
  h.promise().self = self;
  h.promise().guard = g;
  // Attaching to an actor that already terminated runs the guard at once.
  self->attach(std::move(guard));
  if (destroyed)
    return;
  g->attached();
  h.resume();
}

/// launch() without a completion callback.
template <class T>
void launch(caf::abstract_actor* self, task<T> t) {
  if constexpr (std::is_void_v<T>)
    launch(self, std::move(t), [] {});
  else
    launch(self, std::move(t), [](T&&) {});
}

} // namespace raft
