// Recovery rules (DESIGN.md, "bad input never crashes a node and never loses
// data"): a torn write at the tail of the last segment is cut off, since it
// was never acknowledged; any other damage stops the open with an error that
// names the file and offset, and leaves the files untouched.

#include "actors/storage/log_store.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace raft;
using namespace raft::test;
using Catch::Matchers::Contains;

namespace {

/// Five requests, one record each, so record k is request k.
std::vector<persist_request> five_records(persist_request last) {
  return {state_request(1, 1), entries_request(entries(1, 3, 1)),
          state_request(2, 2), entries_request(entries(4, 6, 2)),
          std::move(last)};
}

void check_state(const log_store& store, const recovered_state& expected) {
  CHECK(store.recovered().state == expected.state);
  CHECK(store.recovered().entries == expected.entries);
}

/// Opens a copy of the single segment `bytes` cut to `cut` bytes and checks
/// that exactly `kept` survives, the file is cut back to `kept_size`, and
/// that appends afterwards are durable.
void check_torn_cut(const std::string& bytes, size_t cut, size_t kept_size,
                    const std::vector<persist_request>& kept) {
  temp_dir tmp;
  write_bytes(segment(tmp.path(), 1), bytes.substr(0, cut));
  auto expected = model_of(kept);
  auto next = entries_request(entries(expected.entries.size() + 1,
                                      expected.entries.size() + 1, 9));
  {
    log_store store{tmp.path()};
    check_state(store, expected);
    CHECK(std::filesystem::file_size(segment(tmp.path(), 1)) == kept_size);
    store.append(next);
    store.sync();
  }
  auto with_next = kept;
  with_next.push_back(next);
  log_store reopened{tmp.path()};
  check_state(reopened, model_of(with_next));
}

/// Flips one bit at `pos` of segment 1 in a copy of `dir` and checks that
/// the open fails naming the file and `record_offset`, changing no byte.
void check_flip_rejected(const std::string& dir, size_t pos,
                         size_t record_offset) {
  temp_dir tmp;
  copy_dir(dir, tmp.path());
  auto path = segment(tmp.path(), 1);
  auto bytes = read_bytes(path);
  REQUIRE(pos < bytes.size());
  bytes[pos] = static_cast<char>(bytes[pos] ^ 0x10);
  write_bytes(path, bytes);
  auto msg = open_error(tmp.path());
  REQUIRE_FALSE(msg.empty()); // the open must fail
  CHECK_THAT(msg, Contains(path));
  CHECK_THAT(msg, Contains("at offset " + std::to_string(record_offset) + ":"));
  CHECK(read_bytes(path) == bytes);
}

} // namespace

TEST_CASE("recovery: a torn tail at every byte offset of the last record is "
          "cut off and appends continue",
          "[storage][recovery]") {
  // The last record is a suffix overwrite in one run and a hard state in the
  // other: losing it must bring back exactly what it superseded.
  for (auto last : {entries_request(entries(3, 4, 3)), state_request(3, 3)}) {
    temp_dir tmp;
    auto reqs = five_records(last);
    write_log(tmp.path(), reqs);
    auto bytes = read_bytes(segment(tmp.path(), 1));
    auto spans = record_spans(bytes);
    REQUIRE(spans.size() == 5);
    auto start = spans.back().offset;
    REQUIRE(start + spans.back().size == bytes.size());
    std::vector<persist_request> kept(reqs.begin(), reqs.end() - 1);
    for (auto cut = start; cut < bytes.size(); ++cut) {
      INFO("cut at byte " << cut << " of " << bytes.size());
      check_torn_cut(bytes, cut, start, kept);
    }
  }
}

TEST_CASE("recovery: a corrupt payload in the last record, ending at EOF, is "
          "a torn tail",
          "[storage][recovery]") {
  temp_dir tmp;
  auto reqs = five_records(entries_request(entries(7, 8, 3)));
  write_log(tmp.path(), reqs);
  auto bytes = read_bytes(segment(tmp.path(), 1));
  auto last = record_spans(bytes).back();
  bytes[last.offset + last.size - 1] ^= 0x01;
  check_torn_cut(bytes, bytes.size(), last.offset,
                 {reqs.begin(), reqs.end() - 1});
}

TEST_CASE("recovery: an all-zero tail of the last segment is cut off",
          "[storage][recovery]") {
  // A crash after the file grew but before its data reached the disk can
  // leave zeros; they hold nothing that was acknowledged.
  temp_dir tmp;
  auto reqs = five_records(state_request(3, 3));
  write_log(tmp.path(), reqs);
  auto bytes = read_bytes(segment(tmp.path(), 1));
  auto size = bytes.size();
  check_torn_cut(bytes + std::string(100, '\0'), size + 100, size, reqs);
}

TEST_CASE("recovery: a last segment holding only part of its header is "
          "removed",
          "[storage][recovery]") {
  temp_dir tmp;
  std::vector<persist_request> reqs{entries_request(entries(1, 5, 1)),
                                    entries_request(entries(6, 10, 1))};
  write_log(tmp.path(), reqs, log_store_options{64});
  REQUIRE(std::filesystem::exists(segment(tmp.path(), 2)));
  REQUIRE_FALSE(std::filesystem::exists(segment(tmp.path(), 3)));
  auto header = make_segment_header();
  for (size_t cut = 0; cut < header.size(); ++cut) {
    INFO("segment 3 holds " << cut << " header bytes");
    temp_dir copy;
    copy_dir(tmp.path(), copy.path());
    write_bytes(segment(copy.path(), 3), header.substr(0, cut));
    {
      log_store store{copy.path(), log_store_options{64}};
      check_state(store, model_of(reqs));
      CHECK_FALSE(std::filesystem::exists(segment(copy.path(), 3)));
      store.append(entries_request(entries(11, 11, 2)));
      store.sync();
    }
    log_store reopened{copy.path()};
    CHECK(reopened.last_index() == 11);
  }
}

TEST_CASE("recovery: a flipped bit in a record followed by more data stops "
          "the open, naming file and offset",
          "[storage][recovery]") {
  temp_dir tmp;
  write_log(tmp.path(), five_records(entries_request(entries(7, 8, 3))));
  auto spans = record_spans(read_bytes(segment(tmp.path(), 1)));
  for (size_t k = 0; k + 1 < spans.size(); ++k) {
    INFO("record " << k);
    auto [offset, size] = spans[k];
    check_flip_rejected(tmp.path(), offset + 12 + (size - 12) / 2, offset);
    check_flip_rejected(tmp.path(), offset + 9, offset); // payload checksum
  }
}

TEST_CASE("recovery: a flipped bit in any length field stops the open, even "
          "in the last record",
          "[storage][recovery]") {
  temp_dir tmp;
  write_log(tmp.path(), five_records(entries_request(entries(7, 8, 3))));
  for (auto [offset, size] : record_spans(read_bytes(segment(tmp.path(), 1)))) {
    INFO("record at " << offset);
    check_flip_rejected(tmp.path(), offset, offset);     // length
    check_flip_rejected(tmp.path(), offset + 5, offset); // its checksum
  }
}

TEST_CASE("recovery: damage at the tail of a segment that is not the last "
          "stops the open",
          "[storage][recovery]") {
  temp_dir tmp;
  write_log(tmp.path(),
            {entries_request(entries(1, 5, 1)), entries_request(entries(6, 9, 1))},
            log_store_options{64});
  REQUIRE(std::filesystem::exists(segment(tmp.path(), 2)));
  auto path = segment(tmp.path(), 1);
  auto bytes = read_bytes(path);
  auto last = record_spans(bytes).back();
  bytes.resize(bytes.size() - 1); // torn, but acknowledged data followed it
  write_bytes(path, bytes);
  auto msg = open_error(tmp.path());
  CHECK_THAT(msg, Contains(path));
  CHECK_THAT(msg, Contains("at offset " + std::to_string(last.offset)));
  CHECK(read_bytes(path) == bytes);
}

TEST_CASE("recovery: a segment format version mismatch names found and "
          "expected version",
          "[storage][recovery]") {
  temp_dir tmp;
  write_log(tmp.path(), {entries_request(entries(1, 2, 1))});
  auto path = segment(tmp.path(), 1);
  auto bytes = read_bytes(path);
  bytes[8] = 2; // the u32 version, little-endian, after the 8-byte magic
  write_bytes(path, bytes);
  auto msg = open_error(tmp.path());
  CHECK_THAT(msg, Contains(path));
  CHECK_THAT(msg, Contains("version"));
  CHECK_THAT(msg, Contains("found 2, expected 1"));
  CHECK(read_bytes(path) == bytes);
}

TEST_CASE("recovery: a bad segment magic stops the open", "[storage][recovery]") {
  temp_dir tmp;
  write_log(tmp.path(), {entries_request(entries(1, 2, 1))});
  auto path = segment(tmp.path(), 1);
  auto bytes = read_bytes(path);
  bytes[0] = 'X';
  write_bytes(path, bytes);
  auto msg = open_error(tmp.path());
  CHECK_THAT(msg, Contains(path));
  CHECK_THAT(msg, Contains("bad magic"));
  CHECK(read_bytes(path) == bytes);
}

TEST_CASE("recovery: a missing segment file stops the open",
          "[storage][recovery]") {
  temp_dir tmp;
  write_log(tmp.path(),
            {entries_request(entries(1, 5, 1)), entries_request(entries(6, 9, 1)),
             entries_request(entries(10, 12, 1))},
            log_store_options{64});
  REQUIRE(std::filesystem::exists(segment(tmp.path(), 3)));
  std::filesystem::remove(segment(tmp.path(), 2));
  CHECK_THAT(open_error(tmp.path()), Contains("missing segment 2"));
}
