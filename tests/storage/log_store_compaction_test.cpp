// Log resets and compaction (§7): a follower that installs a snapshot drops
// its whole log and continues after the snapshot; a node that wrote a
// snapshot deletes the segment files it covers. Both must survive a reopen
// exactly, and a crash in the middle of a compaction too.

#include "actors/storage/log_store.hpp"
#include "actors/storage/record_codec.hpp"
#include "actors/storage/segment_format.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <map>

using namespace raft;
using namespace raft::test;
using Catch::Matchers::Contains;

namespace {

/// One sync per segment file: every sync after the first rolls.
const log_store_options one_sync_per_segment{1};

/// What one segment file holds.
struct segment_content {
  std::vector<index_t> indices; ///< entry indices, in record order
  bool has_start = false;       ///< begins with a segment_start record
};

segment_content read_segment(const std::string& path) {
  auto bytes = read_bytes(path);
  segment_content result;
  for (const auto& rec : scan_segment(path, bytes, false).records) {
    auto decoded = decode_record(rec.payload);
    if (decoded.type == record_type::segment_start)
      result.has_start = true;
    for (const auto& e : decoded.entries)
      result.indices.push_back(e.index);
  }
  return result;
}

index_t min_index(const segment_content& c) {
  return *std::min_element(c.indices.begin(), c.indices.end());
}

index_t max_index(const segment_content& c) {
  return c.indices.empty()
           ? 0
           : *std::max_element(c.indices.begin(), c.indices.end());
}

/// A request that resets the log to (index, term), then appends `es`.
persist_request reset_request(index_t index, term_t term,
                              std::vector<log_entry> es = {}) {
  persist_request req;
  req.reset_index = index;
  req.reset_term = term;
  req.entries = std::move(es);
  return req;
}

/// Entries first..last of `all` (which holds 1..n at positions 0..n-1).
std::vector<log_entry> slice(const std::vector<log_entry>& all, index_t first,
                             index_t last) {
  return {all.begin() + static_cast<std::ptrdiff_t>(first - 1),
          all.begin() + static_cast<std::ptrdiff_t>(last)};
}

/// Writes entries 1..n one per sync into small segments (about four entries
/// each), with a hard state only at entry 3, so that every hard_state record
/// lives in the first segment. Returns the entries written.
std::vector<log_entry> write_small_segments(const std::string& dir, index_t n) {
  std::vector<log_entry> all;
  log_store store{dir, log_store_options{256}};
  for (index_t i = 1; i <= n; ++i) {
    auto req = entries_request(entries(i, i, 1 + i / 20));
    if (i == 3) {
      req.has_hard_state = true;
      req.state = {5, 2};
    }
    store.append(req);
    store.sync();
    all.push_back(req.entries[0]);
  }
  return all;
}

} // namespace

// -- log reset ---------------------------------------------------------------

TEST_CASE("log reset: the log continues after the reset index and a reopen "
          "recovers its base and the entries after it",
          "[storage][compaction]") {
  temp_dir tmp;
  {
    log_store store{tmp.path()};
    store.append(entries_request(entries(1, 10, 1)));
    store.sync();
    auto req = reset_request(100, 7, entries(101, 105, 8));
    req.has_hard_state = true;
    req.state = {8, 3};
    store.append(req);
    CHECK(store.base_index() == 100);
    CHECK(store.base_term() == 7);
    CHECK(store.first_index() == 101);
    CHECK(store.last_index() == 105);
    CHECK(store.last_term() == 8);
    store.sync();
  }
  log_store reopened{tmp.path()};
  const auto& rec = reopened.recovered();
  CHECK(rec.base_index == 100);
  CHECK(rec.base_term == 7);
  CHECK(rec.entries == entries(101, 105, 8));
  CHECK(rec.state == hard_state{8, 3});
  CHECK(reopened.last_index() == 105);
  CHECK(reopened.last_term() == 8);
}

TEST_CASE("log reset: without entries the recovered log is empty, ends at the "
          "reset index, and appends continue right after it",
          "[storage][compaction]") {
  temp_dir tmp;
  {
    log_store store{tmp.path()};
    store.append(entries_request(entries(1, 30, 2)));
    store.append(reset_request(20, 2)); // in the same unsynced batch
    store.sync();
  }
  {
    log_store store{tmp.path()};
    CHECK(store.recovered().entries.empty());
    CHECK(store.recovered().base_index == 20);
    CHECK(store.recovered().base_term == 2);
    CHECK(store.last_index() == 20);
    CHECK(store.last_term() == 2);
    // At or below the base is compacted away; past last + 1 is a gap.
    CHECK_THROWS_AS(store.append(entries_request(entries(20, 21, 3))),
                    std::logic_error);
    CHECK_THROWS_AS(store.append(entries_request(entries(22, 22, 3))),
                    std::logic_error);
    store.append(entries_request(entries(21, 23, 3)));
    store.sync();
  }
  log_store reopened{tmp.path()};
  CHECK(reopened.recovered().base_index == 20);
  CHECK(reopened.recovered().entries == entries(21, 23, 3));
}

TEST_CASE("log reset: a reset request with entries that do not start right "
          "after the reset index is a logic_error and changes nothing",
          "[storage][compaction]") {
  temp_dir tmp;
  log_store store{tmp.path()};
  store.append(entries_request(entries(1, 5, 1)));
  CHECK_THROWS_AS(store.append(reset_request(50, 2, entries(52, 53, 2))),
                  std::logic_error);
  CHECK_THROWS_AS(store.append(reset_request(50, 2, entries(50, 51, 2))),
                  std::logic_error);
  CHECK(store.base_index() == 0);
  CHECK(store.last_index() == 5);
}

TEST_CASE("log reset: an unsynced reset is not durable", "[storage][compaction]") {
  temp_dir tmp;
  write_log(tmp.path(), {entries_request(entries(1, 4, 1))});
  {
    log_store store{tmp.path()};
    store.append(reset_request(40, 3));
  }
  log_store reopened{tmp.path()};
  CHECK(reopened.recovered().base_index == 0);
  CHECK(reopened.recovered().entries == entries(1, 4, 1));
}

// -- compaction --------------------------------------------------------------

TEST_CASE("compaction: compact deletes exactly the oldest segments whose "
          "entries are all covered, and a reopen recovers the suffix",
          "[storage][compaction]") {
  temp_dir tmp;
  auto all = write_small_segments(tmp.path(), 60);
  index_t first = 0;
  {
  log_store store{tmp.path(), log_store_options{256}};
  auto before = store.segment_seqs();
  REQUIRE(before.size() > 6);
  std::map<uint64_t, segment_content> content;
  for (auto seq : before)
    content[seq] = read_segment(segment(tmp.path(), static_cast<int>(seq)));
  const index_t upto = 30;
  first = store.compact(upto);
  auto after = store.segment_seqs();
  REQUIRE(!after.empty());
  REQUIRE(after.size() < before.size());
  // What went is a prefix, all of it covered; what stays starts with a
  // segment holding something past upto.
  CHECK(std::equal(after.begin(), after.end(),
                   before.end() - static_cast<std::ptrdiff_t>(after.size())));
  for (auto seq : before) {
    auto path = segment(tmp.path(), static_cast<int>(seq));
    bool kept = std::find(after.begin(), after.end(), seq) != after.end();
    CHECK(std::filesystem::exists(path) == kept);
    if (!kept)
      CHECK(max_index(content[seq]) <= upto);
  }
  CHECK(max_index(content[after.front()]) > upto);
  CHECK(content[after.front()].has_start);
  CHECK(first == min_index(content[after.front()]));
  CHECK(first <= upto + 1);
  CHECK(store.first_index() == first);
  CHECK(store.last_index() == 60);
  CHECK(store.last_term() == all.back().term);
  // Appends continue; a reopen returns the suffix, with the hard state that
  // only the deleted first segment held as a record of its own.
  store.append(entries_request(entries(61, 61, 4)));
  store.sync();
  }
  all.push_back(entry(61, 4));
  log_store reopened{tmp.path(), log_store_options{256}};
  const auto& rec = reopened.recovered();
  CHECK(rec.base_index == first - 1);
  CHECK(rec.entries == slice(all, first, 61));
  CHECK(rec.state == hard_state{5, 2});
  CHECK(reopened.first_index() == first);
}

TEST_CASE("compaction: the segment being appended to stays, even when the "
          "snapshot covers everything and it holds no entry",
          "[storage][compaction]") {
  temp_dir tmp;
  auto all = write_small_segments(tmp.path(), 20);
  {
    // A hard state alone, in a segment of its own.
    log_store store{tmp.path(), one_sync_per_segment};
    store.append(state_request(9, 1));
    store.sync();
    auto last = store.segment_seqs().back();
    REQUIRE(read_segment(segment(tmp.path(), static_cast<int>(last)))
              .indices.empty());
    CHECK(store.compact(1000) == 21);
    CHECK(store.segment_seqs() == std::vector<uint64_t>{last});
    CHECK(store.last_index() == 20);
    CHECK(store.last_term() == all.back().term);
    CHECK(store.compact(1000) == 21); // nothing left to do
  }
  log_store store{tmp.path(), log_store_options{256}};
  CHECK(store.recovered().entries.empty());
  CHECK(store.recovered().base_index == 20);
  CHECK(store.recovered().base_term == all.back().term);
  CHECK(store.recovered().state == hard_state{9, 1});
  store.append(entries_request(entries(21, 21, 9))); // no gap
  store.sync();
}

TEST_CASE("compaction: nothing is deleted below the index given, and a new "
          "store compacts to nothing",
          "[storage][compaction]") {
  temp_dir tmp;
  {
    log_store empty{tmp / "empty"};
    CHECK(empty.compact(10) == 1);
  }
  write_small_segments(tmp.path(), 30);
  log_store store{tmp.path(), log_store_options{256}};
  auto before = store.segment_seqs();
  CHECK(store.compact(0) == 1);
  CHECK(store.compact(2) == 1); // the first segment holds more than 1..2
  CHECK(store.segment_seqs() == before);
}

TEST_CASE("compaction: a crash between two deletions leaves a suffix that "
          "recovers, and compaction can finish afterwards",
          "[storage][compaction]") {
  temp_dir tmp;
  auto all = write_small_segments(tmp.path(), 40);
  temp_dir copy;
  copy_dir(tmp.path(), copy.path());
  std::vector<uint64_t> deleted;
  index_t first = 0;
  {
    log_store store{tmp.path(), log_store_options{256}};
    auto before = store.segment_seqs();
    first = store.compact(25);
    auto after = store.segment_seqs();
    deleted.assign(before.begin(), before.end()
                                     - static_cast<std::ptrdiff_t>(after.size()));
  }
  REQUIRE(deleted.size() >= 2);
  // The crash: only the oldest file is gone.
  std::filesystem::remove(segment(copy.path(), static_cast<int>(deleted[0])));
  auto second = read_segment(segment(copy.path(), static_cast<int>(deleted[1])));
  {
    log_store store{copy.path(), log_store_options{256}};
    const auto& rec = store.recovered();
    CHECK(rec.base_index == min_index(second) - 1);
    CHECK(rec.entries == slice(all, min_index(second), 40));
    CHECK(rec.state == hard_state{5, 2});
    CHECK(store.compact(25) == first);
  }
  log_store reopened{copy.path(), log_store_options{256}};
  CHECK(reopened.recovered().entries == slice(all, first, 40));
}

TEST_CASE("compaction: segments before a log reset go even if they hold "
          "entries past the snapshot",
          "[storage][compaction]") {
  temp_dir tmp;
  {
    log_store store{tmp.path(), one_sync_per_segment};
    store.append(entries_request(entries(1, 10, 1)));
    store.sync();
    store.append(entries_request(entries(11, 40, 1))); // never committed
    store.sync();
    store.append(reset_request(25, 3, entries(26, 27, 3)));
    store.sync();
    store.append(entries_request(entries(28, 30, 3)));
    store.sync();
    REQUIRE(store.segment_seqs() == std::vector<uint64_t>{1, 2, 3, 4});
    CHECK(store.compact(25) == 26);
    CHECK(store.segment_seqs() == std::vector<uint64_t>{3, 4});
  }
  log_store reopened{tmp.path(), one_sync_per_segment};
  CHECK(reopened.recovered().base_index == 25);
  CHECK(reopened.recovered().base_term == 3);
  CHECK(reopened.recovered().entries == entries(26, 30, 3));
}

TEST_CASE("compaction: a suffix overwrite that reached back into a deleted "
          "segment recovers from its own first entry",
          "[storage][compaction]") {
  temp_dir tmp;
  auto expected = entries(1, 14, 1);
  for (auto& e : entries(15, 25, 2))
    expected.push_back(e);
  for (auto& e : entries(26, 30, 2))
    expected.push_back(e);
  {
    log_store store{tmp.path(), one_sync_per_segment};
    for (auto req : {entries_request(entries(1, 10, 1)),
                     entries_request(entries(11, 20, 1)),
                     entries_request(entries(15, 25, 2)), // §5.3 overwrite
                     entries_request(entries(26, 30, 2))}) {
      store.append(req);
      store.sync();
    }
    // Segment 3 starts after index 20 but holds entries from 15 on.
    CHECK(store.compact(22) == 15);
    CHECK(store.segment_seqs() == std::vector<uint64_t>{3, 4});
    CHECK(store.last_index() == 30);
  }
  log_store reopened{tmp.path(), one_sync_per_segment};
  CHECK(reopened.recovered().base_index == 14);
  CHECK(reopened.recovered().entries == slice(expected, 15, 30));
}

TEST_CASE("compaction: appending entries at or below the compacted base is a "
          "logic_error",
          "[storage][compaction]") {
  temp_dir tmp;
  log_store store{tmp.path(), one_sync_per_segment};
  store.append(entries_request(entries(1, 10, 1)));
  store.sync();
  store.append(entries_request(entries(11, 12, 1)));
  store.sync();
  REQUIRE(store.compact(10) == 11);
  CHECK_THROWS_AS(store.append(entries_request(entries(10, 13, 2))),
                  std::logic_error);
  CHECK(store.last_index() == 12);
  store.append(entries_request(entries(11, 11, 2))); // an overwrite above it
  CHECK(store.last_index() == 11);
}

// -- recovery of compacted logs ------------------------------------------------

TEST_CASE("recovery: a last segment holding only a complete header is "
          "removed, and the next segment gets a start record",
          "[storage][compaction][recovery]") {
  temp_dir tmp;
  write_log(tmp.path(),
            {state_request(2, 1), entries_request(entries(1, 3, 1)),
             entries_request(entries(4, 5, 1))},
            one_sync_per_segment);
  REQUIRE(std::filesystem::exists(segment(tmp.path(), 3)));
  write_bytes(segment(tmp.path(), 4), make_segment_header());
  {
    log_store store{tmp.path(), one_sync_per_segment};
    CHECK_FALSE(std::filesystem::exists(segment(tmp.path(), 4)));
    CHECK(store.segment_seqs() == std::vector<uint64_t>{1, 2, 3});
    store.append(entries_request(entries(6, 6, 2)));
    store.sync();
  }
  CHECK(read_segment(segment(tmp.path(), 4)).has_start);
  log_store reopened{tmp.path()};
  CHECK(reopened.last_index() == 6);
}

TEST_CASE("recovery: a first segment that starts past index 1 without a "
          "start record sets the base from its first entries",
          "[storage][compaction][recovery]") {
  // The layout of segments older than the segment_start record: compaction
  // of such a log leaves a first segment whose entries start anywhere.
  temp_dir tmp;
  std::string bytes = make_segment_header();
  append_frame(bytes, encode_hard_state_record({4, 1}));
  append_frame(bytes, encode_entries_record(entries(50, 52, 4)));
  write_bytes(segment(tmp.path(), 7), bytes);
  log_store store{tmp.path()};
  CHECK(store.recovered().base_index == 49);
  CHECK(store.recovered().base_term == 0); // unknown
  CHECK(store.recovered().entries == entries(50, 52, 4));
  CHECK(store.recovered().state == hard_state{4, 1});
}

TEST_CASE("recovery: entries at or below the base a log reset set stop the "
          "open",
          "[storage][compaction][recovery]") {
  temp_dir tmp;
  std::string bytes = make_segment_header();
  append_frame(bytes, encode_log_reset_record(100, 3));
  auto offset = bytes.size();
  append_frame(bytes, encode_entries_record(entries(90, 91, 3)));
  auto path = segment(tmp.path(), 1);
  write_bytes(path, bytes);
  auto msg = open_error(tmp.path());
  CHECK_THAT(msg, Contains(path));
  CHECK_THAT(msg, Contains("at offset " + std::to_string(offset)));
  CHECK_THAT(msg, Contains("log reset"));
}

TEST_CASE("recovery: a segment whose start record disagrees with the segments "
          "before it stops the open",
          "[storage][compaction][recovery]") {
  temp_dir tmp;
  write_log(tmp.path(), {entries_request(entries(1, 5, 1))});
  std::string bytes = make_segment_header();
  append_frame(bytes, encode_segment_start_record({1, 1}, 7, 1));
  append_frame(bytes, encode_entries_record(entries(8, 8, 1)));
  write_bytes(segment(tmp.path(), 2), bytes);
  auto msg = open_error(tmp.path());
  CHECK_THAT(msg, Contains(segment(tmp.path(), 2)));
  CHECK_THAT(msg, Contains("end at index 5"));
}
