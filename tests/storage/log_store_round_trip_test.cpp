// What is appended and synced comes back identical after a reopen, including
// suffix overwrites (§5.3) and logs spread over many segment files.

#include "actors/storage/log_store.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace raft;
using namespace raft::test;

namespace {

void check_reopened(const std::string& dir,
                    const std::vector<persist_request>& reqs) {
  auto expected = model_of(reqs);
  log_store store{dir};
  CHECK(store.recovered().state == expected.state);
  CHECK(store.recovered().entries == expected.entries);
  CHECK(store.state() == expected.state);
  CHECK(store.last_index() == expected.entries.size());
  CHECK(store.last_term()
        == (expected.entries.empty() ? 0 : expected.entries.back().term));
}

size_t count_segments(const std::string& dir) {
  size_t n = 0;
  for (const auto& f : std::filesystem::directory_iterator{dir})
    n += f.path().extension() == ".seg" ? 1 : 0;
  return n;
}

} // namespace

TEST_CASE("a new store is empty and creates its directory", "[storage]") {
  temp_dir tmp;
  log_store store{tmp / "sub/dir"};
  CHECK(store.recovered().entries.empty());
  CHECK(store.recovered().state == hard_state{});
  CHECK(store.last_index() == 0);
  CHECK(store.last_term() == 0);
}

TEST_CASE("round trip: hard state and entries synced are identical after "
          "reopen",
          "[storage]") {
  temp_dir tmp;
  persist_request both = entries_request(entries(4, 9, 2));
  both.has_hard_state = true;
  both.state = {2, 3};
  std::vector<persist_request> reqs{state_request(1, 1),
                                    entries_request(entries(1, 3, 1)), both};
  // Entries with empty and binary data survive too.
  reqs.push_back(entries_request({{2, 10, entry_type::noop, ""},
                                  {2, 11, entry_type::config,
                                   std::string("\0\xff\n", 3)}}));
  write_log(tmp.path(), reqs);
  check_reopened(tmp.path(), reqs);
}

TEST_CASE("round trip: an append at or below the last index supersedes the "
          "suffix (§5.3)",
          "[storage]") {
  temp_dir tmp;
  std::vector<persist_request> reqs{entries_request(entries(1, 10, 1)),
                                    entries_request(entries(6, 7, 2)),
                                    entries_request(entries(8, 12, 2)),
                                    entries_request(entries(1, 2, 3))};
  {
    log_store store{tmp.path()};
    store.append(reqs[0]);
    store.append(reqs[1]); // overwrite within one unsynced batch
    CHECK(store.last_index() == 7);
    CHECK(store.last_term() == 2);
    store.sync();
    store.append(reqs[2]);
    store.sync();
    store.append(reqs[3]); // overwrite across syncs, down to index 1
    store.sync();
    CHECK(store.last_index() == 2);
    CHECK(store.last_term() == 3);
  }
  check_reopened(tmp.path(), reqs);
}

TEST_CASE("round trip: a log spread over many small segments replays in "
          "order",
          "[storage]") {
  temp_dir tmp;
  std::vector<persist_request> reqs;
  for (index_t i = 1; i <= 120; ++i) {
    term_t term = i <= 90 ? 1 + i / 40 : 5;
    reqs.push_back(entries_request(entries(i, i, term)));
    if (i % 25 == 0)
      reqs.push_back(state_request(term, i % 3));
    if (i == 90) // a suffix overwrite that reaches back into older segments
      reqs.push_back(entries_request(entries(50, 90, 4)));
  }
  write_log(tmp.path(), reqs, log_store_options{256});
  CHECK(count_segments(tmp.path()) > 10);
  check_reopened(tmp.path(), reqs);
  // Appending after a reopen continues the last segment correctly.
  std::vector<persist_request> more{entries_request(entries(121, 130, 5))};
  write_log(tmp.path(), more, log_store_options{256});
  reqs.insert(reqs.end(), more.begin(), more.end());
  check_reopened(tmp.path(), reqs);
}

TEST_CASE("appends are not durable until sync", "[storage]") {
  temp_dir tmp;
  write_log(tmp.path(), {entries_request(entries(1, 2, 1))});
  {
    log_store store{tmp.path()};
    store.append(entries_request(entries(3, 5, 1)));
    store.append(state_request(7, 7));
    CHECK(store.last_index() == 5);
    CHECK(store.state() == hard_state{7, 7});
  } // closed without sync: nobody was told these were durable
  check_reopened(tmp.path(), {entries_request(entries(1, 2, 1))});
}

TEST_CASE("sync writes each batch with exactly one fdatasync", "[storage]") {
  temp_dir tmp;
  log_store store{tmp.path()};
  store.sync();
  CHECK(store.sync_count() == 0); // nothing buffered, nothing to sync
  for (index_t i = 1; i <= 10; ++i)
    store.append(entries_request(entries(i, i, 1)));
  store.sync();
  CHECK(store.sync_count() == 1);
  store.append(state_request(2, 1));
  store.sync();
  CHECK(store.sync_count() == 2);
}
