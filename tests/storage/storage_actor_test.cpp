// Group commit in the storage actor, driven by CAF's deterministic test
// scheduler: everything queued behind one sync_atom shares one fdatasync, and
// nothing is acknowledged before it is durable.

#include "actors/storage/storage_actor.hpp"
#include "messages/registration.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <filesystem>
#include <memory>
#include <string>

using namespace raft;
using namespace raft::test;
using Catch::Matchers::Contains;

namespace {

/// Replies a client actor saw, in the order it saw them.
struct reply_log {
  std::vector<std::pair<size_t, persist_ack>> acks; ///< (request number, ack)
  std::vector<caf::error> errors;
};

/// An actor system on the test coordinator and a store in a temp dir.
struct fixture {
  fixture() : cfg(make_config()), sys(cfg) {
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  }

  ~fixture() {
    sched->run(); // let stopped actors finish before the system goes
  }

  static caf::actor_system_config make_config() {
    caf::actor_system_config result;
    result.set("scheduler.policy", caf::atom("testing"));
    register_message_types(result);
    return result;
  }

  /// Spawns a client that sends `reqs` to `storage` at once (before the
  /// storage actor runs) and records the replies in `log`.
  void send_all(storage_actor storage, std::vector<persist_request> reqs,
                reply_log& log) {
    // Arguments go through spawn, not the capture: CAF 0.17 dereferences a
    // null argument tuple for a spawn without arguments (UBSan reports it).
    auto client = [](caf::event_based_actor* self, storage_actor to,
                     std::vector<persist_request> batch, reply_log* out) {
      for (size_t i = 0; i < batch.size(); ++i)
        self->request(to, caf::infinite, batch[i])
          .then([out, i](persist_ack ack) { out->acks.emplace_back(i, ack); },
                [out](caf::error& err) { out->errors.push_back(err); });
    };
    sys.spawn(client, std::move(storage), std::move(reqs), &log);
  }

  temp_dir tmp;
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::shared_ptr<log_store> store = std::make_shared<log_store>(tmp.path());
};

/// Requests for entries first..last, one entry each, with a hard state on
/// every tenth.
std::vector<persist_request> one_entry_each(index_t first, index_t last) {
  std::vector<persist_request> reqs;
  for (auto i = first; i <= last; ++i) {
    auto req = entries_request(entries(i, i, 1 + i / 50));
    req.has_hard_state = i % 10 == 0;
    req.state = {1 + i / 50, 1};
    reqs.push_back(req);
  }
  return reqs;
}

void check_acks(const reply_log& log, index_t first, index_t last) {
  REQUIRE(log.acks.size() == last - first + 1);
  for (size_t k = 0; k < log.acks.size(); ++k) {
    auto [i, ack] = log.acks[k];
    auto index = first + k;
    CHECK(i == k); // answered in the order sent
    CHECK(ack.last_index == index);
    CHECK(ack.last_term == 1 + index / 50);
  }
}

} // namespace

TEST_CASE_METHOD(fixture,
                 "group commit: 100 queued persist_requests are answered in "
                 "order after one fdatasync",
                 "[storage][actor]") {
  auto storage = spawn_storage(sys, store);
  reply_log log;
  send_all(storage, one_entry_each(1, 100), log);
  sched->run();
  CHECK(log.errors.empty());
  check_acks(log, 1, 100);
  CHECK(store->sync_count() == 1);
  caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(fixture,
                 "group commit: requests arriving after a sync cause exactly "
                 "one more fdatasync",
                 "[storage][actor]") {
  auto storage = spawn_storage(sys, store);
  reply_log first;
  send_all(storage, one_entry_each(1, 100), first);
  sched->run();
  reply_log second;
  send_all(storage, one_entry_each(101, 130), second);
  sched->run();
  check_acks(second, 101, 130);
  CHECK(store->sync_count() == 2);
  caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
  sched->run();
  // What was acknowledged is on disk.
  store.reset();
  log_store reopened{tmp.path()};
  CHECK(reopened.last_index() == 130);
}

TEST_CASE_METHOD(fixture,
                 "storage actor: a failed fdatasync answers every pending "
                 "request with an error and stops, never with success",
                 "[storage][actor]") {
  auto storage = spawn_storage(sys, store);
  auto reqs = one_entry_each(1, 3);
  reqs[1].entries[0].data = std::string(1 << 18, 'x');
  reply_log log;
  send_all(storage, reqs, log);
  {
    file_size_limit limit{1 << 16}; // the big entry's write fails
    sched->run();
  }
  CHECK(log.acks.empty());
  REQUIRE(log.errors.size() == 3);
  for (const auto& err : log.errors) {
    CHECK(err == caf::sec::runtime_error);
    CHECK_THAT(sys.render(err), Contains("log-000001.seg"));
  }
  // The actor is gone: a later request fails too.
  reply_log later;
  send_all(storage, one_entry_each(4, 4), later);
  sched->run();
  CHECK(later.acks.empty());
  CHECK(later.errors.size() == 1);
}

TEST_CASE_METHOD(fixture,
                 "storage actor: a request with a gap stops the actor with an "
                 "error",
                 "[storage][actor]") {
  auto storage = spawn_storage(sys, store);
  reply_log log;
  send_all(storage, one_entry_each(2, 2), log);
  sched->run();
  CHECK(log.acks.empty());
  REQUIRE(log.errors.size() == 1);
  CHECK_THAT(sys.render(log.errors[0]), Contains("gap"));
}

TEST_CASE_METHOD(fixture,
                 "storage actor: a log reset is persisted in order with the "
                 "requests around it, in the same group commit",
                 "[storage][actor][compaction]") {
  auto storage = spawn_storage(sys, store);
  auto reset = entries_request(entries(101, 102, 3));
  reset.reset_index = 100;
  reset.reset_term = 3;
  reply_log log;
  send_all(storage,
           {entries_request(entries(1, 5, 1)), reset,
            entries_request(entries(103, 103, 3))},
           log);
  sched->run();
  CHECK(log.errors.empty());
  REQUIRE(log.acks.size() == 3);
  CHECK(log.acks[0].second.last_index == 5);
  CHECK(log.acks[0].second.last_term == 1);
  CHECK(log.acks[1].second.last_index == 102);
  CHECK(log.acks[1].second.last_term == 3);
  CHECK(log.acks[2].second.last_index == 103);
  CHECK(store->sync_count() == 1);
  caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
  sched->run();
  store.reset();
  log_store reopened{tmp.path()};
  CHECK(reopened.recovered().base_index == 100);
  CHECK(reopened.recovered().base_term == 3);
  CHECK(reopened.recovered().entries == entries(101, 103, 3));
}

TEST_CASE_METHOD(fixture,
                 "storage actor: compact deletes the covered segments and "
                 "answers the first index still stored, without waiting for "
                 "a pending group commit",
                 "[storage][actor][compaction]") {
  // One segment per sync, and one sync per round of requests.
  auto small = std::make_shared<log_store>(tmp / "small", log_store_options{1});
  auto storage = spawn_storage(sys, small);
  for (index_t first : {1, 11, 21}) {
    reply_log round;
    send_all(storage, {entries_request(entries(first, first + 9, 1))}, round);
    sched->run();
    REQUIRE(round.acks.size() == 1);
  }
  REQUIRE(small->segment_seqs() == std::vector<uint64_t>{1, 2, 3});
  // A request still waiting for its sync, then compact(20): the answer
  // comes first, and covers the durable segments 1 and 2.
  std::vector<std::string> events;
  auto client = [](caf::event_based_actor* self, storage_actor to,
                   std::vector<std::string>* out) {
    self->request(to, caf::infinite, entries_request(entries(31, 31, 2)))
      .then(
        [out](persist_ack ack) {
          out->push_back("ack " + std::to_string(ack.last_index));
        },
        [out](caf::error&) { out->push_back("error"); });
    self->request(to, caf::infinite, compact_atom::value, index_t{20})
      .then(
        [out](index_t first) {
          out->push_back("compact " + std::to_string(first));
        },
        [out](caf::error&) { out->push_back("error"); });
  };
  sys.spawn(client, storage, &events);
  sched->run();
  CHECK(events == std::vector<std::string>{"compact 21", "ack 31"});
  CHECK(small->segment_seqs() == std::vector<uint64_t>{3, 4});
  CHECK_FALSE(std::filesystem::exists(segment(tmp / "small", 1)));
  CHECK_FALSE(std::filesystem::exists(segment(tmp / "small", 2)));
  caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
  sched->run();
  small.reset();
  log_store reopened{tmp / "small"};
  CHECK(reopened.recovered().base_index == 20);
  auto expected = entries(21, 30, 1);
  expected.push_back(entry(31, 2));
  CHECK(reopened.recovered().entries == expected);
}

TEST_CASE("storage actor: detached, on the real scheduler, acknowledges "
          "durable writes",
          "[storage][actor]") {
  // The configuration of a real process: own thread, blocking fsync.
  temp_dir tmp;
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  auto store = std::make_shared<log_store>(tmp.path());
  auto storage = spawn_storage(sys, store, true);
  caf::scoped_actor self{sys};
  for (index_t i = 1; i <= 3; ++i)
    self->request(storage, std::chrono::seconds(10), one_entry_each(i, i)[0])
      .receive([&](const persist_ack& ack) { CHECK(ack.last_index == i); },
               [&](const caf::error& err) { FAIL(sys.render(err)); });
  self->send_exit(storage, caf::exit_reason::user_shutdown);
}
