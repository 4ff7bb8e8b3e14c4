// The snapshot actor, driven by CAF's deterministic test scheduler: a
// snapshot written through it is read back raw, received by another node's
// snapshot actor byte for byte, and loaded batch by batch; unknown, pruned
// and corrupt snapshots are errors that name the file.

#include "actors/storage/snapshot_actor.hpp"
#include "actors/storage/snapshot_store.hpp"
#include "messages/registration.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <tuple>

using namespace raft;
using namespace raft::test;
using Catch::Matchers::Contains;

namespace {

namespace fs = std::filesystem;

snapshot_meta make_meta(index_t index, term_t term, uint64_t keys) {
  snapshot_meta meta;
  meta.index = index;
  meta.term = term;
  meta.config.voters = {{1, "127.0.0.1:4001"}, {2, "127.0.0.1:4002"}};
  meta.config.learners = {{3, "127.0.0.1:4003"}};
  meta.keys = keys;
  meta.digest = 0xfeedull + index;
  return meta;
}

std::vector<kv_pair> make_pairs(size_t first, size_t n) {
  std::vector<kv_pair> pairs;
  for (size_t i = first; i < first + n; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "k%06zu", i);
    pairs.push_back({key, "v" + std::to_string(i * 31)});
  }
  return pairs;
}

/// An actor system on the test coordinator, and a way to ask an actor one
/// thing and get the answer once the scheduler ran.
struct fixture {
  fixture() : cfg(make_config()), sys(cfg) {
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  }

  ~fixture() {
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sched->run(); // let stopped actors finish before the system goes
  }

  static caf::actor_system_config make_config() {
    caf::actor_system_config result;
    result.set("scheduler.policy", caf::atom("testing"));
    register_message_types(result);
    return result;
  }

  snapshot_actor spawn_in(const std::string& data_dir) {
    auto a = spawn_snapshot_actor(sys, data_dir, false);
    spawned.push_back(a);
    return a;
  }

  /// Sends `xs` to `to` as a request, runs the scheduler, returns the
  /// answer (a value of type R, or an error).
  template <class R, class... Ts>
  caf::expected<R> ask(const snapshot_actor& to, Ts... xs) {
    std::optional<caf::expected<R>> out;
    // Arguments go through spawn, not the capture: CAF 0.17 dereferences a
    // null argument tuple for a spawn without arguments.
    auto client = [](caf::event_based_actor* self, snapshot_actor dst,
                     std::tuple<Ts...> args,
                     std::optional<caf::expected<R>>* result) {
      std::apply(
        [&](auto&... ys) {
          self->request(dst, caf::infinite, ys...)
            .then([result](R r) { result->emplace(std::move(r)); },
                  [result](caf::error& e) { result->emplace(std::move(e)); });
        },
        args);
    };
    sys.spawn(client, to, std::make_tuple(std::move(xs)...), &out);
    sched->run();
    REQUIRE(out.has_value());
    return std::move(*out);
  }

  /// Writes snapshot (index, term) of `pairs` through `to`, in batches of
  /// 250; returns its meta.
  snapshot_meta write(const snapshot_actor& to, index_t index, term_t term,
                      const std::vector<kv_pair>& pairs) {
    REQUIRE(ask<bool>(to, snap_begin_atom::value,
                      make_meta(index, term, pairs.size())));
    for (size_t i = 0; i < pairs.size(); i += 250) {
      std::vector<kv_pair> batch(
        pairs.begin() + static_cast<std::ptrdiff_t>(i),
        pairs.begin()
          + static_cast<std::ptrdiff_t>(std::min(i + 250, pairs.size())));
      REQUIRE(ask<bool>(to, snap_add_atom::value, std::move(batch)));
    }
    auto meta = ask<snapshot_meta>(to, snap_end_atom::value);
    REQUIRE(meta);
    return *meta;
  }

  /// The message of an error answer ("" for a value).
  template <class T>
  std::string error_text(const caf::expected<T>& x) {
    return x ? std::string{} : sys.render(x.error());
  }

  temp_dir tmp;
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::vector<snapshot_actor> spawned;
};

} // namespace

TEST_CASE_METHOD(fixture,
                 "snapshot actor: a snapshot written through it is read back "
                 "raw, received by another node identically, and loaded in "
                 "batches",
                 "[storage][snapshot][actor]") {
  auto leader = spawn_in(tmp / "leader");
  auto pairs = make_pairs(0, 2000);
  auto meta = write(leader, 50, 3, pairs);
  auto path = snapshot_dir(tmp / "leader") + "/" + snapshot_file_name(50, 3);
  auto expected = make_meta(50, 3, pairs.size());
  expected.bytes = fs::file_size(path);
  CHECK(meta == expected);
  auto last = ask<snapshot_meta>(leader, snap_last_atom::value);
  REQUIRE(last);
  CHECK(*last == expected);
  // The follower: a chunk that does not start at 0 is not taken.
  auto follower = spawn_in(tmp / "follower");
  auto early = ask<snapshot_received>(follower, snap_recv_atom::value,
                                      index_t{50}, term_t{3}, uint64_t{4096},
                                      std::string{"xyz"}, false);
  REQUIRE(early);
  CHECK(early->next_offset == 0);
  CHECK_FALSE(early->complete);
  // Raw chunks from the leader, each handed to the follower.
  std::string sent;
  uint64_t offset = 0;
  for (;;) {
    auto chunk = ask<snapshot_chunk>(leader, snap_read_atom::value,
                                     index_t{50}, offset, uint64_t{4096});
    REQUIRE(chunk);
    CHECK(chunk->offset == offset);
    CHECK(chunk->total == meta.bytes);
    sent += chunk->data;
    auto got = ask<snapshot_received>(follower, snap_recv_atom::value,
                                      index_t{50}, term_t{3}, chunk->offset,
                                      chunk->data, chunk->done);
    REQUIRE(got);
    if (chunk->done) {
      CHECK(got->complete);
      CHECK(got->meta == expected);
      CHECK(got->next_offset == meta.bytes);
      break;
    }
    CHECK_FALSE(got->complete);
    CHECK(got->next_offset == offset + chunk->data.size());
    if (offset == 0) { // a duplicate of this chunk is refused
      auto dup = ask<snapshot_received>(follower, snap_recv_atom::value,
                                        index_t{50}, term_t{3}, uint64_t{1},
                                        chunk->data.substr(1), false);
      REQUIRE(dup);
      CHECK(dup->next_offset == got->next_offset);
    }
    offset = got->next_offset;
  }
  CHECK(sent == read_bytes(path));
  auto copy = snapshot_dir(tmp / "follower") + "/" + snapshot_file_name(50, 3);
  CHECK(read_bytes(copy) == sent);
  // Loading on the follower, in batches, then again from the start.
  std::vector<kv_pair> loaded;
  size_t batches = 0;
  for (bool done = false; !done; ++batches) {
    auto batch = ask<snapshot_batch>(follower, snap_load_atom::value,
                                     index_t{50}, false, uint64_t{4000});
    REQUIRE(batch);
    loaded.insert(loaded.end(), batch->pairs.begin(), batch->pairs.end());
    done = batch->done;
  }
  CHECK(loaded == pairs);
  CHECK(batches > 5);
  auto again = ask<snapshot_batch>(follower, snap_load_atom::value,
                                   index_t{50}, true, uint64_t{100});
  REQUIRE(again);
  REQUIRE_FALSE(again->pairs.empty());
  CHECK(again->pairs.front() == pairs.front());
}

TEST_CASE_METHOD(fixture,
                 "snapshot actor: an unknown index, a write never begun, and "
                 "a damaged transfer are errors naming the file or directory",
                 "[storage][snapshot][actor]") {
  auto node = spawn_in(tmp.path());
  auto dir = snapshot_dir(tmp.path());
  auto read = ask<snapshot_chunk>(node, snap_read_atom::value, index_t{999},
                                  uint64_t{0}, uint64_t{100});
  CHECK_THAT(error_text(read),
             Contains("no snapshot with index 999") && Contains(dir));
  auto load = ask<snapshot_batch>(node, snap_load_atom::value, index_t{999},
                                  true, uint64_t{100});
  CHECK_THAT(error_text(load), Contains("no snapshot with index 999"));
  auto add = ask<bool>(node, snap_add_atom::value, make_pairs(0, 1));
  CHECK_THAT(error_text(add), Contains("snap_add without snap_begin"));
  auto end = ask<snapshot_meta>(node, snap_end_atom::value);
  CHECK_THAT(error_text(end), Contains(dir));
  auto last = ask<snapshot_meta>(node, snap_last_atom::value);
  REQUIRE(last);
  CHECK(last->index == 0); // no snapshot yet
  // A transfer whose bytes are not a snapshot is refused and discarded.
  auto bad = ask<snapshot_received>(node, snap_recv_atom::value, index_t{7},
                                    term_t{1}, uint64_t{0},
                                    std::string(100, 'x'), true);
  CHECK_THAT(error_text(bad),
             Contains(dir + "/" + snapshot_file_name(7, 1) + ".tmp")
               && Contains("bad magic"));
  CHECK(fs::is_empty(dir));
  // A key count that does not match the pairs added.
  REQUIRE(ask<bool>(node, snap_begin_atom::value, make_meta(5, 1, 10)));
  REQUIRE(ask<bool>(node, snap_add_atom::value, make_pairs(0, 3)));
  auto short_end = ask<snapshot_meta>(node, snap_end_atom::value);
  CHECK_THAT(error_text(short_end),
             Contains(snapshot_file_name(5, 1)) && Contains("10 keys"));
  CHECK(fs::is_empty(dir));
}

TEST_CASE_METHOD(fixture,
                 "snapshot actor: after a new snapshot only the newest two "
                 "remain, but never the one being loaded, and reading a pruned one is an "
                 "error",
                 "[storage][snapshot][actor]") {
  auto node = spawn_in(tmp.path());
  write(node, 10, 1, make_pairs(0, 10));
  auto first = ask<snapshot_chunk>(node, snap_read_atom::value, index_t{10},
                                   uint64_t{0}, uint64_t{64});
  REQUIRE(first); // a transfer of snapshot 10 is under way
  // Loading 10 into the state machine, one pair per batch: not done.
  auto batch = ask<snapshot_batch>(node, snap_load_atom::value, index_t{10}, true, uint64_t{1});
  REQUIRE(batch);
  REQUIRE_FALSE(batch->done);
  write(node, 20, 1, make_pairs(0, 20));
  write(node, 30, 2, make_pairs(0, 30));
  snapshot_store store{snapshot_dir(tmp.path())};
  // 10 stays while it is loaded (found by the netns short-partition test:
  // a follower got newer snapshots while installing one, which was pruned
  // under it and the node stopped).
  CHECK(store.list().size() == 3);
  std::size_t pairs = batch->pairs.size();
  while (!batch->done) {
    batch = ask<snapshot_batch>(node, snap_load_atom::value, index_t{10}, false, uint64_t{1});
    REQUIRE(batch);
    pairs += batch->pairs.size();
  }
  CHECK(pairs == 10);
  // Loaded: the next new snapshot prunes it like any other.
  write(node, 40, 2, make_pairs(0, 40));
  CHECK(store.list().size() == 2);
  auto pruned = ask<snapshot_chunk>(node, snap_read_atom::value, index_t{10},
                                    uint64_t{64}, uint64_t{64});
  CHECK_THAT(error_text(pruned), Contains("no snapshot with index 10"));
  auto load = ask<snapshot_batch>(node, snap_load_atom::value, index_t{10},
                                  false, uint64_t{1});
  CHECK_THAT(error_text(load), Contains("no snapshot with index 10"));
  auto last = ask<snapshot_meta>(node, snap_last_atom::value);
  REQUIRE(last);
  CHECK(last->index == 40);
  // A beginning that is never finished is abandoned by the next one.
  REQUIRE(ask<bool>(node, snap_begin_atom::value, make_meta(50, 2, 0)));
  REQUIRE(ask<bool>(node, snap_begin_atom::value, make_meta(51, 2, 0)));
  auto meta = ask<snapshot_meta>(node, snap_end_atom::value);
  REQUIRE(meta);
  CHECK(meta->index == 51);
  CHECK_FALSE(fs::exists(store.path_of(50, 2) + ".tmp"));
}

TEST_CASE_METHOD(fixture,
                 "snapshot actor: snap_last refuses to fall back silently "
                 "while a newer snapshot is corrupt",
                 "[storage][snapshot][actor]") {
  auto node = spawn_in(tmp.path());
  write(node, 10, 1, make_pairs(0, 10));
  write(node, 20, 1, make_pairs(0, 20));
  snapshot_store store{snapshot_dir(tmp.path())};
  auto path = store.path_of(20, 1);
  auto bytes = read_bytes(path);
  bytes[bytes.size() / 2] ^= 0x20;
  write_bytes(path, bytes);
  auto last = ask<snapshot_meta>(node, snap_last_atom::value);
  CHECK_THAT(error_text(last),
             Contains(path) && Contains("snapshot of index 10"));
  auto read = ask<snapshot_chunk>(node, snap_read_atom::value, index_t{20},
                                  uint64_t{0}, uint64_t{64});
  CHECK_THAT(error_text(read), Contains(path));
}

TEST_CASE("snapshot actor: detached, on the real scheduler, answers requests",
          "[storage][snapshot][actor]") {
  temp_dir tmp;
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  auto node = spawn_snapshot_actor(sys, tmp.path(), true);
  caf::scoped_actor self{sys};
  self->request(node, std::chrono::seconds(10), snap_begin_atom::value,
                make_meta(3, 1, 0))
    .receive([](bool ok) { CHECK(ok); },
             [&](const caf::error& err) { FAIL(sys.render(err)); });
  self->request(node, std::chrono::seconds(10), snap_end_atom::value)
    .receive([](const snapshot_meta& meta) { CHECK(meta.index == 3); },
             [&](const caf::error& err) { FAIL(sys.render(err)); });
  self->request(node, std::chrono::seconds(10), snap_load_atom::value,
                index_t{4}, true, uint64_t{100})
    .receive([](const snapshot_batch&) { FAIL("snapshot 4 does not exist"); },
             [&](const caf::error& err) {
               CHECK_THAT(sys.render(err), Contains("index 4"));
             });
  self->send_exit(node, caf::exit_reason::user_shutdown);
}
