// The operations added for the Redis port (set with conditions, del of many
// keys, incr_by, mset, mget, exists, dbsize): what each does through the log,
// and their encodings in log entries.
#include "actors/kv/command_codec.hpp"
#include "actors/kv/kv_store.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace raft;
using namespace std::string_literals;

namespace {

kv_command command(kv_op op, std::string key = {}, std::string value = {},
                   std::vector<std::string> args = {}, uint8_t flags = 0) {
  kv_command c;
  c.op = op;
  c.key = std::move(key);
  c.value = std::move(value);
  c.args = std::move(args);
  c.flags = flags;
  return c;
}

/// Applies `cmd` through a log entry, as every node does: encoded, decoded
/// and executed at the next index.
client_reply apply(kv_store& store, const kv_command& cmd) {
  log_entry e{1, store.applied_index() + 1, entry_type::command, encode_command(cmd)};
  return store.apply(e);
}

std::string value_of(kv_store& store, const std::string& key) {
  auto r = store.read(key);
  REQUIRE(r.status == reply_status::ok);
  return r.value;
}

} // namespace

TEST_CASE("kv ops: set without conditions sets and answers no old value", "[kv][ops]") {
  kv_store s;
  auto r = apply(s, command(kv_op::set, "k", "v1"));
  CHECK(r.status == reply_status::ok);
  CHECK(r.number == 0);
  CHECK(value_of(s, "k") == "v1");
}

TEST_CASE("kv ops: set NX sets only a missing key", "[kv][ops]") {
  kv_store s;
  CHECK(apply(s, command(kv_op::set, "k", "v1", {}, set_if_absent)).status == reply_status::ok);
  auto r = apply(s, command(kv_op::set, "k", "v2", {}, set_if_absent));
  CHECK(r.status == reply_status::cas_failed);
  CHECK(value_of(s, "k") == "v1");
}

TEST_CASE("kv ops: set XX sets only an existing key", "[kv][ops]") {
  kv_store s;
  CHECK(apply(s, command(kv_op::set, "k", "v1", {}, set_if_present)).status
        == reply_status::cas_failed);
  CHECK(s.read("k").status == reply_status::not_found);
  apply(s, command(kv_op::put, "k", "v0"));
  CHECK(apply(s, command(kv_op::set, "k", "v1", {}, set_if_present)).status == reply_status::ok);
  CHECK(value_of(s, "k") == "v1");
}

TEST_CASE("kv ops: set GET answers the old value, or none", "[kv][ops]") {
  kv_store s;
  auto first = apply(s, command(kv_op::set, "k", "v1", {}, set_return_old));
  CHECK(first.status == reply_status::ok);
  CHECK(first.number == 0);
  auto second = apply(s, command(kv_op::set, "k", "v2", {}, set_return_old));
  CHECK(second.status == reply_status::ok);
  CHECK(second.number == 1);
  CHECK(second.value == "v1");
  // NX GET on an existing key: not set, but the old value is answered.
  auto third = apply(s, command(kv_op::set, "k", "v3", {}, set_if_absent | set_return_old));
  CHECK(third.status == reply_status::cas_failed);
  CHECK(third.number == 1);
  CHECK(third.value == "v2");
  CHECK(value_of(s, "k") == "v2");
}

TEST_CASE("kv ops: del_keys removes each named key and counts those that existed",
          "[kv][ops]") {
  kv_store s;
  apply(s, command(kv_op::mset, {}, {}, {"a", "1", "b", "2", "c", "3"}));
  auto r = apply(s, command(kv_op::del_keys, {}, {}, {"a", "missing", "c", "a"}));
  CHECK(r.status == reply_status::ok);
  CHECK(r.number == 2);
  CHECK(s.size() == 1);
  CHECK(value_of(s, "b") == "2");
  CHECK(s.digest() == s.recompute_digest());
}

TEST_CASE("kv ops: incr_by adds to a decimal value, a missing key counting as 0",
          "[kv][ops]") {
  kv_store s;
  auto r = apply(s, command(kv_op::incr_by, "n", "5"));
  CHECK(r.status == reply_status::ok);
  CHECK(r.number == 5);
  r = apply(s, command(kv_op::incr_by, "n", "-7"));
  CHECK(r.number == -2);
  CHECK(value_of(s, "n") == "-2");
}

TEST_CASE("kv ops: incr_by refuses a non-integer value or delta and an overflow, changing nothing",
          "[kv][ops]") {
  kv_store s;
  apply(s, command(kv_op::put, "text", "abc"));
  apply(s, command(kv_op::put, "padded", " 1"));
  apply(s, command(kv_op::put, "zero-led", "01"));
  apply(s, command(kv_op::put, "max", std::to_string(std::numeric_limits<int64_t>::max())));
  apply(s, command(kv_op::put, "min", std::to_string(std::numeric_limits<int64_t>::min())));
  auto digest = s.digest();
  for (const auto& key : {"text"s, "padded"s, "zero-led"s}) {
    INFO(key);
    auto r = apply(s, command(kv_op::incr_by, key, "1"));
    CHECK(r.status == reply_status::bad_request);
    CHECK(r.message == "value is not an integer or out of range");
  }
  for (const auto& delta : {""s, "x"s, "1.5"s, "99999999999999999999"s, "+1"s}) {
    INFO(delta);
    CHECK(apply(s, command(kv_op::incr_by, "n", delta)).status == reply_status::bad_request);
  }
  auto over = apply(s, command(kv_op::incr_by, "max", "1"));
  CHECK(over.status == reply_status::bad_request);
  CHECK(over.message == "increment or decrement would overflow");
  CHECK(apply(s, command(kv_op::incr_by, "min", "-1")).status == reply_status::bad_request);
  CHECK(s.digest() == digest);
  CHECK(s.read("n").status == reply_status::not_found);
}

TEST_CASE("kv ops: mset sets every pair in one entry; an odd count changes nothing",
          "[kv][ops]") {
  kv_store s;
  auto r = apply(s, command(kv_op::mset, {}, {}, {"a", "1", "b", "2", "a", "3"}));
  CHECK(r.status == reply_status::ok);
  CHECK(s.applied_index() == 1);
  CHECK(value_of(s, "a") == "3"); // the later pair wins, as in Redis
  CHECK(value_of(s, "b") == "2");
  auto bad = apply(s, command(kv_op::mset, {}, {}, {"c", "1", "d"}));
  CHECK(bad.status == reply_status::bad_request);
  CHECK(s.read("c").status == reply_status::not_found);
  CHECK(s.size() == 2);
}

TEST_CASE("kv ops: mget, exists and dbsize read without changing anything", "[kv][ops]") {
  kv_store s;
  apply(s, command(kv_op::mset, {}, {}, {"a", "1", "b", ""}));
  auto digest = s.digest();
  auto m = s.execute(command(kv_op::mget, {}, {}, {"a", "zz", "b", "a"}));
  CHECK(m.status == reply_status::ok);
  CHECK(m.values == std::vector<std::string>{"1", "", "", "1"});
  CHECK(m.present == std::vector<uint8_t>{1, 0, 1, 1});
  CHECK(s.execute(command(kv_op::exists, {}, {}, {"a", "a", "zz", "b"})).number == 3);
  CHECK(s.execute(command(kv_op::dbsize)).number == 2);
  CHECK(s.digest() == digest);
}

TEST_CASE("kv ops: the new ops round-trip through the codec with binary data",
          "[kv][ops][codec]") {
  std::vector<kv_command> samples = {
    command(kv_op::set, "k\0x"s, "v\r\n"s, {}, set_if_absent | set_return_old),
    command(kv_op::set, "", "", {}, 0),
    command(kv_op::del_keys, {}, {}, {"a", ""s, "\0\xFF"s}),
    command(kv_op::del_keys, {}, {}, {}),
    command(kv_op::incr_by, "n", "-42"),
    command(kv_op::mset, {}, {}, {"a", "1", "b", std::string(70000, 'x')}),
  };
  for (const auto& cmd : samples) {
    INFO("op " << int(cmd.op));
    auto bytes = encode_command(cmd);
    kv_command out;
    REQUIRE(decode_command(bytes, out));
    CHECK(out.op == cmd.op);
    CHECK(out.key == cmd.key);
    CHECK(out.value == cmd.value);
    CHECK(out.args == cmd.args);
    CHECK(out.flags == cmd.flags);
    // Every truncation and any trailing byte are refused.
    for (std::size_t n = 0; n < bytes.size(); ++n)
      CHECK_FALSE(decode_command(std::string_view{bytes}.substr(0, n), out));
    CHECK_FALSE(decode_command(bytes + "x", out));
  }
}

TEST_CASE("kv ops: pinned encodings of set and mset", "[kv][ops][codec]") {
  CHECK(encode_command(command(kv_op::set, "k", "v", {}, set_if_present))
        == "\x01\x08" "\x01\x00\x00\x00" "k" "\x01\x00\x00\x00" "v" "\x02"s);
  CHECK(encode_command(command(kv_op::mset, {}, {}, {"a", "b"}))
        == "\x01\x0B" "\x02\x00\x00\x00" "\x01\x00\x00\x00" "a" "\x01\x00\x00\x00" "b"s);
}

TEST_CASE("kv ops: an args count beyond the data is refused without reserving for it",
          "[kv][ops][codec]") {
  // mset claiming 0xFFFFFFFF strings in a few bytes.
  auto bytes = "\x01\x0B" "\xFF\xFF\xFF\xFF" "\x01\x00\x00\x00" "a"s;
  kv_command out;
  CHECK_FALSE(decode_command(bytes, out));
}

TEST_CASE("kv ops: reads never go into a log entry", "[kv][ops][codec]") {
  for (auto op : {kv_op::mget, kv_op::exists, kv_op::dbsize}) {
    INFO("op " << int(op));
    auto bytes = encode_command(command(op, "k", {}, {"a"}));
    kv_command out;
    CHECK_FALSE(decode_command(bytes, out));
  }
}
