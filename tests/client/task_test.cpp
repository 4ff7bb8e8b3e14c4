// The coroutine machinery (actors/client/task.hpp, awaiters.hpp) under CAF's
// test_coordinator: one thread, virtual time, no sleeps. Run under ASan
// (LeakSanitizer included) to check that frames never leak and are never
// resumed after their actor died.

#include "actors/client/awaiters.hpp"
#include "actors/client/task.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

using namespace raft;
using namespace std::chrono_literals;

namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using hold_atom = caf::atom_constant<caf::atom("hold")>;
using release_atom = caf::atom_constant<caf::atom("release")>;

/// A bare actor system under the test coordinator.
struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;

  fixture() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
  }

  ~fixture() {
    sched->run();
    sys.reset();
  }

  /// Lets `d` of virtual time pass in 10 ms steps, running jobs in between.
  void advance(caf::timespan d) {
    for (caf::timespan t{0}; t < d; t += 10ms) {
      sched->advance_time(10ms);
      sched->run();
    }
  }
};

/// Runs `init(self)` as the body of a new actor. (CAF 0.17 spawns a function
/// that takes nothing but self by dereferencing a null argument tuple --
/// UBSan reports it -- so every actor here gets an argument.)
template <class Init>
caf::behavior actor_body(caf::event_based_actor* self, Init init) {
  return init(self);
}

template <class Init>
caf::actor spawn_with(caf::actor_system& sys, Init init) {
  return sys.spawn(actor_body<Init>, std::move(init));
}

/// Answers ping with n + step; answers hold only when told to release (with 0).
struct server_state {
  std::vector<caf::response_promise> held;
};

caf::behavior server(caf::stateful_actor<server_state>* self, int step) {
  return {
    [step](ping_atom, int n) { return n + step; },
    [self](hold_atom) {
      auto rp = self->make_response_promise();
      self->state.held.push_back(rp);
      return rp;
    },
    [self](release_atom) {
      for (auto& rp : self->state.held)
        rp.deliver(0);
      self->state.held.clear();
    },
  };
}

/// Counts frames alive: one lives in each coroutine under test.
struct frame_probe {
  explicit frame_probe(std::shared_ptr<int> n) : alive(std::move(n)) { ++*alive; }
  frame_probe(const frame_probe&) = delete;
  frame_probe& operator=(const frame_probe&) = delete;
  ~frame_probe() { --*alive; }
  std::shared_ptr<int> alive;
};

task<int> add_one(caf::event_based_actor* self, caf::actor srv, int n) {
  auto r = co_await request<int>(self, srv, 1s, ping_atom::value, n);
  if (!r)
    co_return -1;
  co_return *r;
}

task<int> add_three(caf::event_based_actor* self, caf::actor srv, int n) {
  auto a = co_await add_one(self, srv, n);
  auto b = co_await add_one(self, srv, a);
  auto c = co_await add_one(self, srv, b);
  co_return c;
}

task<void> fail_later(caf::event_based_actor* self, caf::actor srv) {
  co_await add_one(self, srv, 0);
  throw std::runtime_error("boom");
}

task<std::string> catch_child(caf::event_based_actor* self, caf::actor srv) {
  try {
    co_await fail_later(self, srv);
  } catch (const std::runtime_error& e) {
    co_return std::string{"caught "} + e.what();
  }
  co_return std::string{"not thrown"};
}

task<int> no_suspension() {
  co_return 42;
}

task<int> chain_of_ready_tasks() {
  int sum = 0;
  for (int i = 0; i < 1000000; ++i)
    sum += co_await no_suspension() - 41;
  co_return sum;
}

task<caf::error> request_error(caf::event_based_actor* self, caf::actor dest, caf::timespan t) {
  auto r = co_await request<int>(self, dest, t, hold_atom::value);
  if (r)
    co_return caf::error{};
  co_return std::move(r.error());
}

task<void> sleeper(caf::event_based_actor* self, caf::timespan d, std::shared_ptr<int> alive,
                   std::shared_ptr<bool> woke) {
  frame_probe probe{alive};
  co_await sleep_for(self, d);
  *woke = true;
}

task<int> held_child(caf::event_based_actor* self, caf::actor srv, std::shared_ptr<int> alive) {
  frame_probe probe{alive};
  auto r = co_await request<int>(self, srv, 1h, hold_atom::value);
  co_return r ? *r : -1;
}

task<int> held_parent(caf::event_based_actor* self, caf::actor srv, std::shared_ptr<int> alive) {
  frame_probe probe{alive};
  auto x = co_await held_child(self, srv, alive);
  co_return x + 1;
}

} // namespace

TEST_CASE_METHOD(fixture, "a task chain runs on the actor and delivers its result",
                 "[client][task]") {
  auto srv = sys->spawn(server, 1);
  auto result = std::make_shared<std::optional<int>>();
  spawn_with(*sys, [srv, result](caf::event_based_actor* self) -> caf::behavior {
    launch(self, add_three(self, srv, 1), [result](int v) { *result = v; });
    return {};
  });
  sched->run();
  REQUIRE(result->has_value());
  CHECK(**result == 4);
  caf::anon_send_exit(srv, caf::exit_reason::kill);
}

TEST_CASE_METHOD(fixture, "exceptions propagate from a child task to its awaiter",
                 "[client][task]") {
  auto srv = sys->spawn(server, 1);
  auto result = std::make_shared<std::string>();
  spawn_with(*sys, [srv, result](caf::event_based_actor* self) -> caf::behavior {
    launch(self, catch_child(self, srv), [result](std::string s) { *result = std::move(s); });
    return {};
  });
  sched->run();
  CHECK(*result == "caught boom");
  caf::anon_send_exit(srv, caf::exit_reason::kill);
}

TEST_CASE_METHOD(fixture, "tasks that finish without suspending do not grow the stack",
                 "[client][task]") {
  auto result = std::make_shared<std::optional<int>>();
  spawn_with(*sys, [result](caf::event_based_actor* self) -> caf::behavior {
    launch(self, chain_of_ready_tasks(), [result](int v) { *result = v; });
    return {};
  });
  sched->run();
  REQUIRE(result->has_value());
  CHECK(**result == 1000000);
}

TEST_CASE_METHOD(fixture, "request errors come back as values", "[client][task]") {
  auto srv = sys->spawn(server, 1);
  auto dead = sys->spawn(server, 1);
  caf::anon_send_exit(dead, caf::exit_reason::kill);
  sched->run();
  auto timed_out = std::make_shared<caf::error>();
  auto to_null = std::make_shared<caf::error>();
  auto to_dead = std::make_shared<caf::error>();
  spawn_with(*sys, [=](caf::event_based_actor* self) -> caf::behavior {
    launch(self, request_error(self, srv, 500ms), [=](caf::error e) { *timed_out = std::move(e); });
    launch(self, request_error(self, caf::actor{}, 500ms),
           [=](caf::error e) { *to_null = std::move(e); });
    launch(self, request_error(self, dead, 500ms), [=](caf::error e) { *to_dead = std::move(e); });
    return {};
  });
  sched->run();
  CHECK(*to_null == caf::sec::invalid_argument);
  CHECK(*to_dead == caf::sec::request_receiver_down);
  CHECK(!*timed_out); // still waiting: virtual time has not moved
  advance(490ms);
  CHECK(!*timed_out);
  advance(20ms);
  CHECK(*timed_out == caf::sec::request_timeout);
  caf::anon_send_exit(srv, caf::exit_reason::kill);
}

TEST_CASE_METHOD(fixture, "sleep_for wakes after the virtual delay and not before",
                 "[client][task]") {
  auto alive = std::make_shared<int>(0);
  auto woke = std::make_shared<bool>(false);
  spawn_with(*sys, [=](caf::event_based_actor* self) -> caf::behavior {
    launch(self, sleeper(self, 200ms, alive, woke));
    return {};
  });
  sched->run();
  CHECK(*alive == 1);
  advance(190ms);
  CHECK_FALSE(*woke);
  advance(20ms);
  CHECK(*woke);
  CHECK(*alive == 0);
}

TEST_CASE_METHOD(fixture,
                 "killing the actor destroys its suspended coroutines, which never resume",
                 "[client][task]") {
  auto srv = sys->spawn(server, 1);
  auto alive = std::make_shared<int>(0);
  auto woke = std::make_shared<bool>(false);
  auto completed = std::make_shared<int>(0);
  auto client = spawn_with(*sys, [=](caf::event_based_actor* self) -> caf::behavior {
    for (int i = 0; i < 10; ++i) {
      launch(self, held_parent(self, srv, alive), [completed](int) { ++*completed; });
      launch(self, sleeper(self, 1s, alive, woke), [completed] { ++*completed; });
    }
    return {[](ping_atom) {}};
  });
  sched->run();
  CHECK(*alive == 30); // 10 parents + 10 children + 10 sleepers, all suspended
  auto weak = caf::actor_cast<caf::weak_actor_ptr>(client);
  caf::anon_send_exit(client, caf::exit_reason::kill);
  client = nullptr;
  sched->run();
  CHECK(*alive == 0);
  // The held requests are answered now: the responses find a dead actor.
  caf::anon_send(srv, release_atom::value);
  sched->run();
  caf::anon_send_exit(srv, caf::exit_reason::kill);
  sched->run();
  advance(2s); // the sleepers' timers would have fired by now
  CHECK(*completed == 0);
  CHECK_FALSE(*woke);
  // Nothing (no frame, no callback) kept the dead actor alive.
  CHECK(weak.lock() == nullptr);
}

TEST_CASE_METHOD(fixture, "an exception escaping a launched coroutine terminates its actor",
                 "[client][task]") {
  auto srv = sys->spawn(server, 1);
  auto down = std::make_shared<caf::error>();
  auto client = spawn_with(*sys, [srv](caf::event_based_actor* self) -> caf::behavior {
    // Quietly (the default handler prints the exception).
    self->set_exception_handler([](std::exception_ptr&) -> caf::error {
      return caf::make_error(caf::sec::runtime_error, "boom");
    });
    launch(self, fail_later(self, srv));
    return {[](ping_atom) {}};
  });
  auto watcher = spawn_with(*sys, [client, down](caf::event_based_actor* self) -> caf::behavior {
    self->monitor(client);
    self->set_down_handler([down](caf::down_msg& m) { *down = std::move(m.reason); });
    return {[](ping_atom) {}};
  });
  sched->run();
  CHECK(*down == caf::sec::runtime_error);
  caf::anon_send_exit(watcher, caf::exit_reason::kill);
  caf::anon_send_exit(srv, caf::exit_reason::kill);
}
