// The store's contract with its one user: exclusive ownership of the
// directory, appends that must fit the log, and no use after a failed sync.

#include "actors/storage/log_store.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace raft;
using namespace raft::test;
using Catch::Matchers::Contains;

TEST_CASE("a second log_store on the same directory fails while the first "
          "is open",
          "[storage]") {
  temp_dir tmp;
  {
    log_store first{tmp.path()};
    auto msg = open_error(tmp.path());
    CHECK_THAT(msg, Contains(tmp / "LOCK"));
  }
  CHECK(open_error(tmp.path()).empty()); // released with the first store
}

TEST_CASE("append with a gap (index > last + 1) is a logic_error and changes "
          "nothing",
          "[storage]") {
  temp_dir tmp;
  log_store store{tmp.path()};
  store.append(entries_request(entries(1, 3, 1)));
  auto gap = entries_request(entries(5, 6, 2));
  gap.has_hard_state = true;
  gap.state = {2, 2};
  CHECK_THROWS_AS(store.append(gap), std::logic_error);
  CHECK_THROWS_AS(store.append(entries_request(entries(0, 1, 1))),
                  std::logic_error);
  CHECK(store.last_index() == 3);
  CHECK(store.state() == hard_state{});
  store.sync();
  CHECK(store.sync_count() == 1);
}

TEST_CASE("append of non-contiguous entries is a logic_error", "[storage]") {
  temp_dir tmp;
  log_store store{tmp.path()};
  auto req = entries_request({entry(1, 1), entry(3, 1)});
  CHECK_THROWS_AS(store.append(req), std::logic_error);
  CHECK(store.last_index() == 0);
}

TEST_CASE("an I/O error in sync is a storage_error, the store refuses further "
          "use, and a reopen drops the unacknowledged write",
          "[storage]") {
  temp_dir tmp;
  write_log(tmp.path(), {entries_request(entries(1, 2, 1))});
  {
    log_store store{tmp.path()};
    persist_request big;
    big.entries.push_back({1, 3, entry_type::command, std::string(1 << 18, 'x')});
    store.append(big);
    {
      file_size_limit limit{1 << 16};
      CHECK_THROWS_WITH(store.sync(), Contains(segment(tmp.path(), 1)));
    }
    CHECK(store.sync_count() == 0);
    CHECK_THROWS_AS(store.append(entries_request(entries(4, 4, 1))),
                    storage_error);
    CHECK_THROWS_AS(store.sync(), storage_error);
  }
  log_store reopened{tmp.path()};
  CHECK(reopened.recovered().entries == entries(1, 2, 1));
}
