// Snapshot files (§7): what is written comes back identical; a file
// received chunk by chunk is byte for byte the file sent; every damage to a
// file is detected, and the store falls back to an older valid snapshot only
// while reporting every corrupt newer one.

#include "actors/storage/snapshot_store.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <random>
#include <stdexcept>

using namespace raft;
using namespace raft::test;
using Catch::Matchers::Contains;

namespace {

namespace fs = std::filesystem;

/// A meta with a recognisable configuration.
snapshot_meta make_meta(index_t index, term_t term, uint64_t keys) {
  snapshot_meta meta;
  meta.index = index;
  meta.term = term;
  meta.config.voters = {{1, "10.0.0.1:4000"}, {2, "10.0.0.2:4000"},
                        {3, "10.0.0.3:4000"}};
  meta.config.learners = {{4, ""}};
  meta.keys = keys;
  meta.digest = 0x0123456789abcdefull ^ index;
  return meta;
}

/// `n` pairs with distinct keys; some values are empty or binary.
std::vector<kv_pair> make_pairs(size_t n) {
  std::vector<kv_pair> pairs;
  for (size_t i = 0; i < n; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "key-%07zu", i);
    std::string value;
    if (i % 97 == 1)
      value = std::string("\0\xff\n", 3);
    else if (i % 89 != 0)
      value = "value-" + std::to_string(i * 7919);
    pairs.push_back({key, std::move(value)});
  }
  return pairs;
}

/// Writes snapshot (index, term) of `pairs` into `dir`, `batch` pairs per
/// add(); returns its meta.
snapshot_meta write_snapshot(const std::string& dir, index_t index,
                             term_t term, const std::vector<kv_pair>& pairs,
                             size_t batch = 10) {
  snapshot_writer writer{dir, make_meta(index, term, pairs.size())};
  for (size_t i = 0; i < pairs.size(); i += batch)
    writer.add({pairs.begin() + static_cast<std::ptrdiff_t>(i),
                pairs.begin()
                  + static_cast<std::ptrdiff_t>(std::min(i + batch,
                                                         pairs.size()))});
  return writer.finish();
}

/// All pairs of the snapshot at `path`, loaded in batches of `max_bytes`.
std::vector<kv_pair> load_all(const std::string& path, uint64_t max_bytes,
                              size_t* batches = nullptr) {
  snapshot_reader reader{path};
  std::vector<kv_pair> result;
  size_t n = 0;
  while (!reader.done()) {
    auto batch = reader.next_batch(max_bytes);
    if (!reader.done())
      REQUIRE_FALSE(batch.empty());
    result.insert(result.end(), batch.begin(), batch.end());
    ++n;
  }
  if (batches != nullptr)
    *batches = n;
  return result;
}

/// The what() of verifying the snapshot file at `path` as (index, term), or
/// "" if it verifies.
std::string verify_error(const std::string& path, index_t index,
                         term_t term) {
  try {
    verify_snapshot_file(path, index, term);
  } catch (const storage_error& e) {
    return e.what();
  }
  return {};
}

/// Names of the files in `dir`.
std::vector<std::string> file_names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& f : fs::directory_iterator{dir})
    names.push_back(f.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<index_t> indices(const snapshot_store& store) {
  std::vector<index_t> result;
  for (const auto& f : store.list())
    result.push_back(f.index);
  return result;
}

/// Replaces the file at `path` by a new file holding `bytes`. Not a
/// rewrite in place: ext4 flushes a file truncated and rewritten when it is
/// closed (auto_da_alloc), which makes a loop of thousands crawl.
void replace_file(const std::string& path, const std::string& bytes) {
  fs::remove(path);
  write_bytes(path, bytes);
}

/// Flips every bit of the byte at `pos` of the file at `path`.
void flip_byte(const std::string& path, size_t pos) {
  auto bytes = read_bytes(path);
  bytes[pos] = static_cast<char>(bytes[pos] ^ 0xFF);
  replace_file(path, bytes);
}

} // namespace

// -- writing and reading ----------------------------------------------------

TEST_CASE("snapshot round trip: 100,000 keys written in batches come back "
          "identical, with their meta",
          "[storage][snapshot]") {
  temp_dir tmp;
  snapshot_store store{snapshot_dir(tmp.path())};
  auto pairs = make_pairs(100'000);
  auto meta = write_snapshot(store.dir(), 1000, 5, pairs, 4096);
  auto path = store.path_of(1000, 5);
  auto expected = make_meta(1000, 5, pairs.size());
  expected.bytes = fs::file_size(path);
  CHECK(meta == expected);
  CHECK(file_names(store.dir())
        == std::vector<std::string>{snapshot_file_name(1000, 5)});
  snapshot_reader reader{path};
  CHECK(reader.meta() == expected);
  size_t batches = 0;
  auto loaded = load_all(path, 64 * 1024, &batches);
  REQUIRE(loaded.size() == pairs.size());
  CHECK((loaded == pairs));
  CHECK(batches > 10);
  // Starting over hands out the first pairs again.
  auto first = reader.next_batch(100);
  reader.next_batch(100);
  reader.restart();
  CHECK(reader.next_batch(100) == first);
}

TEST_CASE("snapshot round trip: a snapshot without pairs, and the batch "
          "holding the last pair reports done",
          "[storage][snapshot]") {
  temp_dir tmp;
  snapshot_store store{tmp.path()};
  write_snapshot(store.dir(), 3, 1, {});
  snapshot_reader empty{store.path_of(3, 1)};
  CHECK(empty.next_batch(1000).empty());
  CHECK(empty.done());
  write_snapshot(store.dir(), 4, 1, make_pairs(5));
  snapshot_reader reader{store.path_of(4, 1)};
  CHECK(reader.next_batch(1 << 20).size() == 5);
  CHECK(reader.done());
  CHECK(reader.next_batch(1 << 20).empty());
}

TEST_CASE("snapshot reader: raw reads return the file's bytes, and an offset "
          "past the end is an error naming the file",
          "[storage][snapshot]") {
  temp_dir tmp;
  snapshot_store store{tmp.path()};
  write_snapshot(store.dir(), 7, 2, make_pairs(300));
  auto path = store.path_of(7, 2);
  auto bytes = read_bytes(path);
  snapshot_reader reader{path};
  auto head = reader.read(0, 100);
  CHECK(head.offset == 0);
  CHECK(head.data == bytes.substr(0, 100));
  CHECK(head.total == bytes.size());
  CHECK_FALSE(head.done);
  auto tail = reader.read(bytes.size() - 10, 100);
  CHECK(tail.data == bytes.substr(bytes.size() - 10));
  CHECK(tail.done);
  CHECK(reader.read(bytes.size(), 100).done);
  CHECK_THROWS_WITH(reader.read(bytes.size() + 1, 100), Contains(path));
}

TEST_CASE("snapshot writer: a wrong key count, index 0, or a second writer of "
          "the same snapshot are refused, and nothing is left behind",
          "[storage][snapshot]") {
  temp_dir tmp;
  snapshot_store store{tmp.path()};
  {
    snapshot_writer writer{store.dir(), make_meta(9, 1, 3)};
    writer.add(make_pairs(2));
    CHECK_THROWS_AS(snapshot_writer(store.dir(), make_meta(9, 1, 3)),
                    storage_error);
    CHECK_THROWS_AS(writer.finish(), std::logic_error);
    CHECK_THROWS_AS(writer.add(make_pairs(1)), storage_error); // spent
  }
  CHECK_THROWS_AS(snapshot_writer(store.dir(), make_meta(0, 0, 0)),
                  std::logic_error);
  {
    snapshot_writer unfinished{store.dir(), make_meta(10, 1, 1)};
    unfinished.add(make_pairs(1));
    CHECK(fs::exists(store.path_of(10, 1) + ".tmp"));
  }
  CHECK(file_names(store.dir()).empty());
}

// -- receiving ----------------------------------------------------------------

TEST_CASE("snapshot receiver: the raw bytes of a snapshot in random chunk "
          "sizes make an identical, valid file",
          "[storage][snapshot]") {
  temp_dir tmp;
  snapshot_store leader{tmp / "leader"};
  auto sent = write_snapshot(leader.dir(), 500, 4, make_pairs(5000), 700);
  auto bytes = read_bytes(leader.path_of(500, 4));
  auto base_seed = Catch::rngSeed();
  for (uint32_t round = 0; round < 10; ++round) {
    auto seed = base_seed + round;
    INFO("seed " << seed << " (replay with --rng-seed " << base_seed << ")");
    temp_dir follower_dir;
    snapshot_store follower{follower_dir.path()};
    std::mt19937_64 rng{seed};
    std::uniform_int_distribution<size_t> chunk{0, 20'000};
    snapshot_receiver receiver{follower.dir(), 500, 4};
    while (receiver.received() < bytes.size()) {
      auto offset = receiver.received();
      REQUIRE(receiver.write(offset, bytes.substr(offset, chunk(rng))));
    }
    auto got = receiver.finish();
    CHECK(got == sent);
    CHECK(read_bytes(follower.path_of(500, 4)) == bytes);
    CHECK(file_names(follower.dir())
          == std::vector<std::string>{snapshot_file_name(500, 4)});
    CHECK(load_all(follower.path_of(500, 4), 1 << 16) == make_pairs(5000));
  }
}

TEST_CASE("snapshot receiver: a chunk at any offset but the next one is "
          "refused without writing, and offset 0 starts over",
          "[storage][snapshot]") {
  temp_dir tmp;
  snapshot_store leader{tmp / "leader"};
  write_snapshot(leader.dir(), 8, 2, make_pairs(200));
  auto bytes = read_bytes(leader.path_of(8, 2));
  snapshot_store follower{tmp / "follower"};
  snapshot_receiver receiver{follower.dir(), 8, 2};
  auto tmp_path = follower.path_of(8, 2) + ".tmp";
  CHECK(receiver.write(0, bytes.substr(0, 100)));
  CHECK_FALSE(receiver.write(200, bytes.substr(200, 100))); // ahead
  CHECK_FALSE(receiver.write(50, bytes.substr(50, 100)));   // a duplicate
  CHECK(receiver.received() == 100);
  CHECK(read_bytes(tmp_path) == bytes.substr(0, 100));
  CHECK(receiver.write(0, bytes.substr(0, 10))); // the leader starts over
  CHECK(receiver.received() == 10);
  CHECK(read_bytes(tmp_path) == bytes.substr(0, 10));
  CHECK(receiver.write(10, bytes.substr(10)));
  receiver.finish();
  CHECK(read_bytes(follower.path_of(8, 2)) == bytes);
  CHECK_FALSE(fs::exists(tmp_path));
}

TEST_CASE("snapshot receiver: a damaged transfer or one under the wrong name "
          "is refused at finish and discarded",
          "[storage][snapshot]") {
  temp_dir tmp;
  snapshot_store leader{tmp / "leader"};
  write_snapshot(leader.dir(), 8, 2, make_pairs(200));
  auto bytes = read_bytes(leader.path_of(8, 2));
  snapshot_store follower{tmp / "follower"};
  {
    auto damaged = bytes;
    damaged[bytes.size() / 2] ^= 0x04;
    snapshot_receiver receiver{follower.dir(), 8, 2};
    REQUIRE(receiver.write(0, damaged));
    CHECK_THROWS_WITH(receiver.finish(),
                      Contains(follower.path_of(8, 2) + ".tmp")
                        && Contains("checksum"));
  }
  {
    snapshot_receiver receiver{follower.dir(), 9, 2}; // meta says 8
    REQUIRE(receiver.write(0, bytes));
    CHECK_THROWS_WITH(receiver.finish(), Contains("named for index 9"));
  }
  CHECK(file_names(follower.dir()).empty());
}

// -- corruption -----------------------------------------------------------------

TEST_CASE("snapshot corruption: a flipped byte anywhere in the header or the "
          "body is detected, naming the file",
          "[storage][snapshot]") {
  temp_dir tmp;
  snapshot_store store{tmp.path()};
  write_snapshot(store.dir(), 12, 3, make_pairs(40), 10);
  auto path = store.path_of(12, 3);
  auto bytes = read_bytes(path);
  REQUIRE(verify_error(path, 12, 3).empty());
  for (size_t pos = 0; pos < bytes.size(); ++pos) {
    INFO("byte " << pos << " of " << bytes.size());
    auto damaged = bytes;
    damaged[pos] = static_cast<char>(damaged[pos] ^ 0xFF);
    replace_file(path, damaged);
    CHECK_THAT(verify_error(path, 12, 3), Contains(path));
  }
  replace_file(path, bytes);
  CHECK(verify_error(path, 12, 3).empty());
}

TEST_CASE("snapshot corruption: a file cut short at any length, or with data "
          "after its trailer, is detected",
          "[storage][snapshot]") {
  temp_dir tmp;
  snapshot_store store{tmp.path()};
  write_snapshot(store.dir(), 12, 3, make_pairs(40), 10);
  auto path = store.path_of(12, 3);
  auto bytes = read_bytes(path);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    INFO("cut to " << cut << " of " << bytes.size() << " bytes");
    replace_file(path, bytes.substr(0, cut));
    CHECK_THAT(verify_error(path, 12, 3), Contains(path));
  }
  replace_file(path, bytes + std::string(1, '\0'));
  CHECK_THAT(verify_error(path, 12, 3), Contains("data after the trailer"));
  replace_file(path, bytes + bytes.substr(snapshot_header_size));
  CHECK_THAT(verify_error(path, 12, 3), Contains(path));
}

TEST_CASE("snapshot corruption: a bad magic, an unknown version, and a name "
          "that disagrees with the meta are detected",
          "[storage][snapshot]") {
  temp_dir tmp;
  snapshot_store store{tmp.path()};
  write_snapshot(store.dir(), 12, 3, make_pairs(40), 10);
  auto path = store.path_of(12, 3);
  auto bytes = read_bytes(path);
  auto magic = bytes;
  magic[0] = 'X';
  replace_file(path, magic);
  CHECK_THAT(verify_error(path, 12, 3), Contains("bad magic"));
  auto version = bytes;
  version[8] = 2;
  replace_file(path, version);
  CHECK_THAT(verify_error(path, 12, 3), Contains("found 2, expected 1"));
  replace_file(path, bytes);
  // The same bytes under another snapshot's name.
  auto renamed = store.path_of(13, 3);
  fs::rename(path, renamed);
  CHECK_THAT(verify_error(renamed, 13, 3),
             Contains(renamed) && Contains("named for index 13 term 3"));
  CHECK_THROWS_WITH(snapshot_reader{renamed}, Contains("named for index 13"));
  // A file that is not named like a snapshot is not read at all.
  CHECK_THROWS_WITH(snapshot_reader{tmp / "foo.snap"},
                    Contains("not named like a snapshot"));
}

// -- the store ----------------------------------------------------------------------

TEST_CASE("snapshot store: newest_valid falls back to the newest snapshot "
          "that verifies and reports every corrupt newer one",
          "[storage][snapshot]") {
  temp_dir tmp;
  snapshot_store store{tmp.path()};
  std::vector<std::string> problems;
  CHECK_FALSE(store.newest_valid(problems));
  CHECK(problems.empty());
  auto valid = write_snapshot(store.dir(), 10, 1, make_pairs(20));
  write_snapshot(store.dir(), 20, 2, make_pairs(20));
  write_snapshot(store.dir(), 30, 3, make_pairs(20));
  CHECK(store.newest_valid(problems)->index == 30);
  CHECK(problems.empty());
  flip_byte(store.path_of(30, 3), 100);
  auto cut = read_bytes(store.path_of(20, 2));
  write_bytes(store.path_of(20, 2), cut.substr(0, cut.size() - 1));
  auto found = store.newest_valid(problems);
  REQUIRE(found);
  CHECK(*found == valid);
  REQUIRE(problems.size() == 2);
  CHECK_THAT(problems[0], Contains(store.path_of(30, 3)));
  CHECK_THAT(problems[1], Contains(store.path_of(20, 2)));
  // No valid snapshot at all: nothing, never an empty state in disguise.
  flip_byte(store.path_of(10, 1), 20);
  problems.clear();
  CHECK_FALSE(store.newest_valid(problems));
  CHECK(problems.size() == 3);
}

TEST_CASE("snapshot store: leftover temporary files are removed at open, "
          "other files are left alone",
          "[storage][snapshot]") {
  temp_dir tmp;
  {
    snapshot_store store{tmp.path()};
    write_snapshot(store.dir(), 5, 1, make_pairs(3));
  }
  write_bytes(tmp / (snapshot_file_name(6, 1) + ".tmp"), "half a snapshot");
  write_bytes(tmp / (snapshot_file_name(7, 1) + ".tmp"), "");
  write_bytes(tmp / "NOTES", "an operator's file");
  snapshot_store store{tmp.path()};
  CHECK(file_names(store.dir())
        == std::vector<std::string>{"NOTES", snapshot_file_name(5, 1)});
  CHECK(indices(store) == std::vector<index_t>{5});
}

TEST_CASE("snapshot store: prune keeps the newest two valid snapshots, any "
          "corrupt one newer than them, and the one it is told to keep",
          "[storage][snapshot]") {
  temp_dir tmp;
  snapshot_store store{tmp.path()};
  for (index_t i : {10, 20, 30, 40})
    write_snapshot(store.dir(), i, 1, make_pairs(5));
  CHECK(store.prune() == std::vector<std::string>{store.path_of(20, 1),
                                                  store.path_of(10, 1)});
  CHECK(indices(store) == std::vector<index_t>{40, 30});
  // A corrupt newest one stays (for the operator); two valid ones with it.
  write_snapshot(store.dir(), 50, 1, make_pairs(5));
  flip_byte(store.path_of(50, 1), 40);
  write_snapshot(store.dir(), 5, 1, make_pairs(5));
  store.prune();
  CHECK(indices(store) == std::vector<index_t>{50, 40, 30});
  // A corrupt one older than a valid one goes; so does what is beyond two.
  fs::remove(store.path_of(50, 1));
  flip_byte(store.path_of(30, 1), 40);
  write_snapshot(store.dir(), 20, 1, make_pairs(5));
  write_snapshot(store.dir(), 10, 1, make_pairs(5));
  store.prune(2, store.path_of(10, 1));
  CHECK(indices(store) == std::vector<index_t>{40, 20, 10});
  store.prune();
  CHECK(indices(store) == std::vector<index_t>{40, 20});
}
