// Snapshots of the key-value state machine: a snapshot produced in batches
// while entries keep being applied is exactly the state when it began, costs
// memory only for the keys changed meanwhile, and restores to the same state,
// digest and applied index.

#include "actors/kv/command_codec.hpp"
#include "actors/kv/kv_store.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using namespace raft;
using namespace std::string_literals;

namespace {

using contents_t = std::map<std::string, std::string>;

kv_command put(std::string key, std::string value) {
  return {kv_op::put, std::move(key), std::move(value), {}};
}
kv_command get(std::string key) { return {kv_op::get, std::move(key), {}, {}}; }
kv_command del(std::string key) { return {kv_op::del, std::move(key), {}, {}}; }
kv_command cas(std::string key, std::string expected, std::string value) {
  return {kv_op::cas, std::move(key), std::move(value), std::move(expected)};
}

/// prefix followed by n in decimal. Not `"k" + std::to_string(n)`: g++ 12
/// at -O2 reports a false -Wrestrict inside libstdc++ for that.
std::string numbered(const char* prefix, uint64_t n) {
  std::string result = prefix;
  result += std::to_string(n);
  return result;
}

/// Applies commands to a store as committed log entries, keeping the log so
/// that another store can replay the same entries.
class driver {
public:
  explicit driver(kv_store& store) : store_(store) {}

  client_reply apply(const kv_command& cmd) {
    log_.push_back({1, store_.applied_index() + 1, entry_type::command,
                    encode_command(cmd)});
    return store_.apply(log_.back());
  }

  /// The entries after `index`.
  std::vector<log_entry> after(index_t index) const {
    return {log_.begin() + static_cast<std::ptrdiff_t>(index), log_.end()};
  }

private:
  kv_store& store_;
  std::vector<log_entry> log_;
};

/// Random commands over a key space that mixes keys present at the start
/// ("k" + even numbers), keys only ever inserted later (odd numbers, which
/// sort between them) and the empty key, so that inserts, overwrites,
/// deletes and cas land before, at and after a snapshot's cursor.
class random_commands {
public:
  explicit random_commands(uint64_t seed) : rng_(seed) {}

  std::string key() {
    auto n = rng_() % 3001;
    if (n == 3000)
      return "";
    return numbered("k", n);
  }

  std::string value() {
    // Some long values, so that byte limits bite at varying pair counts.
    auto length = rng_() % 8 == 0 ? rng_() % 300 : rng_() % 6;
    return std::string(length, static_cast<char>('a' + rng_() % 26));
  }

  kv_command next(const kv_store& store) {
    auto k = key();
    switch (rng_() % 5) {
      case 0:
      case 1: return put(k, value());
      case 2: return del(k);
      case 3: {
        // A cas that succeeds when the key is there, to change values often.
        auto current = store.read(k);
        return cas(k, current.value, value());
      }
      default: return cas(k, "no such value", value()); // fails or not_found
    }
  }

  std::size_t below(std::size_t n) { return rng_() % n; }

private:
  std::mt19937_64 rng_;
};

/// Puts `keys` keys "k0", "k2", "k4"... with random values through `d`.
void fill(driver& d, random_commands& random, int keys) {
  for (int i = 0; i < keys; ++i)
    d.apply(put(numbered("k", 2 * i), random.value()));
}

std::vector<kv_pair> as_pairs(const contents_t& contents) {
  std::vector<kv_pair> result;
  for (const auto& [key, value] : contents)
    result.push_back({key, value});
  return result;
}

/// Loads `batches` into `store` and finishes at `applied`.
void restore(kv_store& store, const std::vector<std::vector<kv_pair>>& batches,
             index_t applied) {
  store.restore_begin();
  for (const auto& batch : batches)
    store.restore_batch(batch);
  store.restore_finish(applied);
}

/// Appends the rest of the snapshot in progress to `out`, with no changes in
/// between. Each batch has at least one pair of the view, so there are at
/// most snapshot_keys() of them: a bug that loops fails here, not hangs.
void drain_into(kv_store& store, std::vector<kv_pair>& out,
                std::size_t max_bytes) {
  for (uint64_t calls = 0; store.next_snapshot_batch(out, max_bytes); ++calls)
    REQUIRE(calls < store.snapshot_keys());
}

std::vector<kv_pair> drain(kv_store& store, std::size_t max_bytes) {
  std::vector<kv_pair> out;
  drain_into(store, out, max_bytes);
  return out;
}

} // namespace

TEST_CASE("kv_snapshot: batches produced while commands are applied between them are the state at begin, and restore to it",
          "[kv][snapshot]") {
  const std::size_t limits[] = {0, 1, 100, 4096, std::size_t{1} << 30};
  for (uint64_t seed : {1u, 2u, 3u, 20261126u}) {
    for (std::size_t max_bytes : limits) {
      INFO("seed " << seed << ", max_bytes " << max_bytes);
      random_commands random(seed);
      kv_store store;
      driver d(store);
      fill(d, random, 1000);
      // Some churn before the snapshot too, so that it starts from a state
      // with holes, not only from a fresh fill.
      for (int i = 0; i < 2000; ++i)
        d.apply(random.next(store));

      const contents_t at_begin = store.contents();
      const auto index_at_begin = store.applied_index();
      const auto digest_at_begin = store.digest();
      store.begin_snapshot();
      REQUIRE(store.snapshot_in_progress());
      CHECK(store.snapshot_index() == index_at_begin);
      CHECK(store.snapshot_digest() == digest_at_begin);
      CHECK(store.snapshot_keys() == at_begin.size());

      std::vector<std::vector<kv_pair>> batches;
      std::size_t applied_during = 0;
      bool more = true;
      while (more) {
        // At least one pair of the view per batch: a bug that loops fails.
        REQUIRE(batches.size() < store.snapshot_keys());
        // Random commands before each batch: fewer when batches are of one
        // pair, so that each run applies thousands in all (checked below)
        // without taking long; with one big batch, those before it.
        auto n = random.below(max_bytes <= 1 ? 20 : 80);
        for (std::size_t i = 0; i < n; ++i)
          d.apply(random.next(store));
        applied_during += n;
        std::vector<kv_pair> batch;
        more = store.next_snapshot_batch(batch, max_bytes);
        // Never empty, and over the limit by at most its last pair.
        REQUIRE_FALSE(batch.empty());
        std::size_t bytes_but_last = 0;
        for (std::size_t i = 0; i + 1 < batch.size(); ++i)
          bytes_but_last += batch[i].key.size() + batch[i].value.size();
        CHECK(bytes_but_last < std::max<std::size_t>(max_bytes, 1));
        batches.push_back(std::move(batch));
      }
      CHECK_FALSE(store.snapshot_in_progress());
      CHECK(store.snapshot_saved_keys() == 0);
      if (max_bytes <= 100)
        CHECK(applied_during > 2000);

      // Exactly the state at begin, in key order, each key once.
      std::vector<kv_pair> all;
      for (const auto& batch : batches)
        all.insert(all.end(), batch.begin(), batch.end());
      REQUIRE(all.size() == at_begin.size());
      CHECK(all == as_pairs(at_begin));
      // The live state went on changing meanwhile, and its digest kept up.
      CHECK(store.contents() != at_begin);
      CHECK(store.digest() == store.recompute_digest());
      // Metadata of the snapshot outlives it.
      CHECK(store.snapshot_index() == index_at_begin);
      CHECK(store.snapshot_digest() == digest_at_begin);

      // Restored into a fresh store, the batches give the same state, digest
      // and index; and replaying the log after the snapshot catches up with
      // the source.
      {
        kv_store restored;
        restore(restored, batches, store.snapshot_index());
        CHECK_FALSE(restored.restore_in_progress());
        CHECK(restored.contents() == at_begin);
        CHECK(restored.digest() == digest_at_begin);
        CHECK(restored.recompute_digest() == digest_at_begin);
        CHECK(restored.applied_index() == index_at_begin);
        CHECK(restored.size() == store.snapshot_keys());
        for (const auto& e : d.after(restored.applied_index()))
          restored.apply(e);
        CHECK(restored.contents() == store.contents());
        CHECK(restored.digest() == store.digest());
        CHECK(restored.applied_index() == store.applied_index());
      }
      // Restored over a store with other contents and a snapshot in
      // progress, the batches replace both.
      {
        kv_store restored;
        driver other(restored);
        for (int i = 0; i < 500; ++i)
          other.apply(put(numbered("k", i), "other"));
        restored.begin_snapshot();
        std::vector<kv_pair> ignored;
        restored.next_snapshot_batch(ignored, 10);
        restored.execute(put("k1", "changed"));
        restore(restored, batches, store.snapshot_index());
        CHECK_FALSE(restored.snapshot_in_progress());
        CHECK(restored.snapshot_saved_keys() == 0);
        CHECK(restored.contents() == at_begin);
        CHECK(restored.digest() == digest_at_begin);
        CHECK(restored.applied_index() == index_at_begin);
      }
    }
  }
}

TEST_CASE("kv_snapshot: deleted, overwritten and inserted keys around the cursor",
          "[kv][snapshot]") {
  // A hand-made case of each kind of change, before and after the cursor, so
  // that a failure names the kind.
  kv_store store;
  for (auto k : {"b", "d", "f", "h", "j"})
    store.execute(put(k, "old"));
  const auto at_begin = store.contents();
  store.begin_snapshot();
  std::vector<kv_pair> out;
  REQUIRE(store.next_snapshot_batch(out, 0)); // "b"
  REQUIRE(out.size() == 1);
  store.execute(del("b"));              // passed: no matter
  store.execute(put("a", "new"));       // inserted before the cursor
  store.execute(put("c", "new"));       // inserted after it
  store.execute(del("d"));              // deleted: still in the view
  store.execute(put("d", "again"));     // and reinserted
  store.execute(put("f", "new"));       // overwritten
  store.execute(put("f", "newer"));     // twice
  store.execute(cas("h", "old", "new")); // swapped
  store.execute(put("k", "new"));       // inserted after the last key
  store.execute(put("", "new"));        // the empty key, inserted
  CHECK(store.snapshot_saved_keys() == 5); // c, d, f, h, k
  drain_into(store, out, 0);
  CHECK(out == as_pairs(at_begin));
  // The last frozen key "j" came with the rest: no empty batch was promised.
  CHECK_FALSE(store.snapshot_in_progress());
}

TEST_CASE("kv_snapshot: the last batch says no more even when only inserted keys follow",
          "[kv][snapshot]") {
  kv_store store;
  store.execute(put("a", "1"));
  store.begin_snapshot();
  store.execute(put("b", "2"));
  store.execute(put("c", "3"));
  std::vector<kv_pair> out;
  // "a" is the whole view: "b" and "c" are not in it, so nothing remains.
  CHECK_FALSE(store.next_snapshot_batch(out, 0));
  CHECK(out == std::vector<kv_pair>{{"a", "1"}});
  CHECK_FALSE(store.snapshot_in_progress());
}

TEST_CASE("kv_snapshot: an empty store gives an empty snapshot, even if keys are inserted meanwhile",
          "[kv][snapshot]") {
  kv_store store;
  store.begin_snapshot();
  CHECK(store.snapshot_keys() == 0);
  store.execute(put("a", "1"));
  std::vector<kv_pair> out;
  CHECK_FALSE(store.next_snapshot_batch(out, 100));
  CHECK(out.empty());
  CHECK_FALSE(store.snapshot_in_progress());

  kv_store restored;
  restored.restore_begin();
  restored.restore_batch(out);
  restored.restore_finish(store.snapshot_index());
  CHECK(restored.size() == 0);
  CHECK(restored.digest() == kv_store{}.digest());
}

TEST_CASE("kv_snapshot: a 100,000-key state round trips", "[kv][snapshot]") {
  random_commands random(7);
  kv_store store;
  driver d(store);
  for (int i = 0; i < 100000; ++i)
    d.apply(put(numbered("key", i), random.value()));
  d.apply(del("key5"));
  store.begin_snapshot();
  std::vector<std::vector<kv_pair>> batches;
  bool more = true;
  while (more) {
    REQUIRE(batches.size() < store.snapshot_keys());
    batches.emplace_back();
    more = store.next_snapshot_batch(batches.back(), 64 * 1024);
  }
  CHECK(batches.size() > 1);
  CHECK(store.snapshot_saved_keys() == 0);

  kv_store restored;
  restore(restored, batches, store.snapshot_index());
  CHECK(restored.size() == 99999);
  CHECK(restored.contents() == store.contents());
  CHECK(restored.digest() == store.digest());
  CHECK(restored.digest() == store.snapshot_digest());
  CHECK(restored.recompute_digest() == restored.digest());
  CHECK(restored.applied_index() == 100001);
}

TEST_CASE("kv_snapshot: restore_batch rejects keys out of order and adds none of the batch",
          "[kv][snapshot]") {
  kv_store store;
  store.restore_begin();
  store.restore_batch({{"b", "1"}, {"d", "2"}});
  const auto before = store.contents();
  const auto digest_before = store.digest();

  SECTION("decreasing within a batch") {
    CHECK_THROWS_AS(store.restore_batch({{"e", "3"}, {"f", "4"}, {"e2", "5"}}),
                    std::invalid_argument);
  }
  SECTION("repeated within a batch") {
    CHECK_THROWS_AS(store.restore_batch({{"e", "3"}, {"e", "4"}}),
                    std::invalid_argument);
  }
  SECTION("not after the previous batch") {
    CHECK_THROWS_AS(store.restore_batch({{"c", "3"}, {"e", "4"}}),
                    std::invalid_argument);
  }
  SECTION("equal to the previous batch's last key") {
    CHECK_THROWS_AS(store.restore_batch({{"d", "3"}}), std::invalid_argument);
  }
  SECTION("the empty key after others") {
    CHECK_THROWS_AS(store.restore_batch({{"", "3"}}), std::invalid_argument);
  }
  CHECK(store.contents() == before);
  CHECK(store.digest() == digest_before);
  CHECK(store.recompute_digest() == digest_before);
  CHECK(store.restore_in_progress());

  // A fresh restore after the corrupt one works.
  store.restore_begin();
  CHECK(store.size() == 0);
  store.restore_batch({{"", "0"}, {"a", "1"}});
  store.restore_batch({});
  store.restore_batch({{"b", "2"}});
  store.restore_finish(9);
  CHECK(store.contents() == contents_t{{"", "0"}, {"a", "1"}, {"b", "2"}});
  CHECK(store.applied_index() == 9);
  CHECK(store.digest() == store.recompute_digest());
}

TEST_CASE("kv_snapshot: an aborted snapshot frees its side map and a new one can start",
          "[kv][snapshot]") {
  kv_store store;
  driver d(store);
  for (int i = 0; i < 100; ++i)
    d.apply(put(numbered("k", i), "v"));
  store.begin_snapshot();
  std::vector<kv_pair> out;
  REQUIRE(store.next_snapshot_batch(out, 10));
  d.apply(put("k99", "changed"));
  d.apply(del("k98"));
  d.apply(put("new", "x"));
  CHECK(store.snapshot_saved_keys() == 3);
  store.abort_snapshot();
  CHECK_FALSE(store.snapshot_in_progress());
  CHECK(store.snapshot_saved_keys() == 0);
  // Changes after the abort keep nothing aside.
  d.apply(put("k97", "changed"));
  CHECK(store.snapshot_saved_keys() == 0);

  // The new snapshot is of the state now, from its first key, unaffected by
  // where the aborted one had got to.
  const auto now = store.contents();
  store.begin_snapshot();
  CHECK(store.snapshot_index() == store.applied_index());
  CHECK(store.snapshot_keys() == now.size());
  d.apply(put("k0", "changed"));
  d.apply(del("k1"));
  CHECK(store.snapshot_saved_keys() == 2);
  CHECK(drain(store, 50) == as_pairs(now));
  // Aborting when none is in progress does nothing.
  store.abort_snapshot();
  CHECK_FALSE(store.snapshot_in_progress());
}

TEST_CASE("kv_snapshot: the side map holds only keys changed and not yet emitted",
          "[kv][snapshot]") {
  kv_store store;
  for (int i = 0; i < 1000; ++i)
    store.execute(put(numbered("k", 1000 + i), "v"));
  store.begin_snapshot();
  CHECK(store.snapshot_saved_keys() == 0);

  // What does not change a key keeps nothing aside.
  store.execute(get("k1000"));
  store.execute(del("missing"));
  store.execute(cas("k1001", "stale", "x"));
  store.execute(cas("missing", "v", "x"));
  CHECK(store.snapshot_saved_keys() == 0);

  // Each changed key costs one entry, however often it changes.
  for (int round = 0; round < 5; ++round) {
    store.execute(put("k1500", std::to_string(round)));
    store.execute(del("k1600"));
    store.execute(put("k1600", std::to_string(round)));
    store.execute(put("k0new", std::to_string(round)));
  }
  CHECK(store.snapshot_saved_keys() == 3);

  // Emitting passes keys: their entries leave the side map, and changes to
  // keys already emitted keep nothing.
  std::vector<kv_pair> out;
  for (int batch = 0; batch < 550; ++batch)
    REQUIRE(store.next_snapshot_batch(out, 0));
  REQUIRE(out.size() == 550); // one pair a batch with max_bytes 0
  CHECK(out.back().key > "k1500");
  CHECK(store.snapshot_saved_keys() == 1); // k1600
  store.execute(put("k1000", "later"));
  store.execute(del("k1001"));
  store.execute(put("k1", "later")); // inserted before the cursor
  CHECK(store.snapshot_saved_keys() == 1);
  store.execute(put("k1999", "later"));
  CHECK(store.snapshot_saved_keys() == 2);
  drain_into(store, out, 0);
  CHECK(out.size() == 1000);
  CHECK(store.snapshot_saved_keys() == 0);
}

TEST_CASE("kv_snapshot: the side map takes old values by move, not by copy",
          "[kv][snapshot]") {
  // A big value overwritten during a snapshot: the view still has it, and
  // the live value is the new one.
  kv_store store;
  const std::string big(1 << 20, 'x');
  store.execute(put("big", big));
  store.execute(put("gone", big));
  store.begin_snapshot();
  store.execute(put("big", "small"));
  store.execute(del("gone"));
  CHECK(store.read("big").value == "small");
  CHECK(store.read("gone").status == reply_status::not_found);
  CHECK(store.digest() == store.recompute_digest());
  auto view = drain(store, 0);
  CHECK(view == std::vector<kv_pair>{{"big", big}, {"gone", big}});
}
