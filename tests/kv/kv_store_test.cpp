// The key-value state machine: what each command does, how log entries are
// applied, and that nodes applying the same log end in the same state.

#include "actors/kv/command_codec.hpp"
#include "actors/kv/kv_store.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

using namespace raft;
using namespace std::string_literals;

namespace {

kv_command put(std::string key, std::string value) {
  return {kv_op::put, std::move(key), std::move(value), {}};
}
kv_command get(std::string key) { return {kv_op::get, std::move(key), {}, {}}; }
kv_command del(std::string key) { return {kv_op::del, std::move(key), {}, {}}; }
kv_command cas(std::string key, std::string expected, std::string value) {
  return {kv_op::cas, std::move(key), std::move(value), std::move(expected)};
}

/// Builds a log: each entry gets the next index, as a leader would assign.
class log_builder {
public:
  log_builder& command(const kv_command& cmd) {
    return add(entry_type::command, encode_command(cmd));
  }
  log_builder& raw(std::string data) {
    return add(entry_type::command, std::move(data));
  }
  log_builder& noop() { return add(entry_type::noop, {}); }
  log_builder& config(std::string data) {
    return add(entry_type::config, std::move(data));
  }
  const std::vector<log_entry>& entries() const { return entries_; }

private:
  log_builder& add(entry_type type, std::string data) {
    entries_.push_back({1, entries_.size() + 1, type, std::move(data)});
    return *this;
  }
  std::vector<log_entry> entries_;
};

/// Applies every entry; returns the replies in log order.
std::vector<client_reply> apply_all(kv_store& store,
                                    const std::vector<log_entry>& entries) {
  std::vector<client_reply> replies;
  for (const auto& e : entries)
    replies.push_back(store.apply(e));
  return replies;
}

} // namespace

TEST_CASE("kv_store: put sets a key, get and read return it", "[kv][store]") {
  kv_store store;
  CHECK(store.execute(put("k", "v")).status == reply_status::ok);
  auto got = store.execute(get("k"));
  CHECK(got.status == reply_status::ok);
  CHECK(got.value == "v");
  CHECK(store.read("k").value == "v");
  CHECK(store.size() == 1);
}

TEST_CASE("kv_store: put overwrites an existing value", "[kv][store]") {
  kv_store store;
  store.execute(put("k", "v1"));
  CHECK(store.execute(put("k", "v2")).status == reply_status::ok);
  CHECK(store.read("k").value == "v2");
  CHECK(store.size() == 1);
}

TEST_CASE("kv_store: get of a missing key replies not_found", "[kv][store]") {
  kv_store store;
  store.execute(put("a", "1"));
  CHECK(store.execute(get("b")).status == reply_status::not_found);
  CHECK(store.read("b").status == reply_status::not_found);
  CHECK(store.read("b").value.empty());
}

TEST_CASE("kv_store: binary keys and values are stored byte for byte",
          "[kv][store]") {
  kv_store store;
  store.execute(put("\0"s, "\xFF\0"s));
  store.execute(put(""s, ""s));
  CHECK(store.read("\0"s).value == "\xFF\0"s);
  CHECK(store.read(""s).status == reply_status::ok);
  CHECK(store.size() == 2);
}

TEST_CASE("kv_store: del removes an existing key and replies ok",
          "[kv][store]") {
  kv_store store;
  store.execute(put("k", "v"));
  CHECK(store.execute(del("k")).status == reply_status::ok);
  CHECK(store.read("k").status == reply_status::not_found);
  CHECK(store.size() == 0);
}

TEST_CASE("kv_store: del of a missing key replies not_found", "[kv][store]") {
  kv_store store;
  store.execute(put("a", "1"));
  CHECK(store.execute(del("b")).status == reply_status::not_found);
  CHECK(store.size() == 1);
}

TEST_CASE("kv_store: cas swaps when the current value equals expected",
          "[kv][store]") {
  kv_store store;
  store.execute(put("k", "old"));
  auto reply = store.execute(cas("k", "old", "new"));
  CHECK(reply.status == reply_status::ok);
  CHECK(store.read("k").value == "new");
}

TEST_CASE("kv_store: cas on a missing key replies not_found and creates nothing",
          "[kv][store]") {
  kv_store store;
  CHECK(store.execute(cas("k", "", "new")).status == reply_status::not_found);
  CHECK(store.size() == 0);
}

TEST_CASE("kv_store: cas mismatch replies cas_failed with the current value and changes nothing",
          "[kv][store]") {
  kv_store store;
  store.execute(put("k", "current"));
  auto before = store.digest();
  auto reply = store.execute(cas("k", "stale", "new"));
  CHECK(reply.status == reply_status::cas_failed);
  CHECK(reply.value == "current");
  CHECK(store.digest() == before);
}

TEST_CASE("kv_store: apply executes command entries in order and advances applied_index",
          "[kv][store]") {
  log_builder log;
  log.command(put("k", "1")).command(put("k", "2")).command(del("k"))
     .command(cas("k", "2", "3"));
  kv_store store;
  CHECK(store.applied_index() == 0);
  auto replies = apply_all(store, log.entries());
  CHECK(store.applied_index() == 4);
  CHECK(replies[0].status == reply_status::ok);
  CHECK(replies[1].status == reply_status::ok);
  CHECK(replies[2].status == reply_status::ok);
  CHECK(replies[3].status == reply_status::not_found);
  CHECK(store.size() == 0);
}

TEST_CASE("kv_store: a get command in the log just reads", "[kv][store]") {
  log_builder log;
  log.command(put("k", "v")).command(get("k")).command(get("missing"));
  kv_store store;
  auto replies = apply_all(store, log.entries());
  CHECK(replies[1].status == reply_status::ok);
  CHECK(replies[1].value == "v");
  CHECK(replies[2].status == reply_status::not_found);
  CHECK(store.size() == 1);
  CHECK(store.applied_index() == 3);
}

TEST_CASE("kv_store: noop and config entries change nothing and reply ok",
          "[kv][store]") {
  // §5.4.2: a new leader's noop entry is applied like any other, but does
  // nothing to the state.
  log_builder log;
  log.command(put("k", "v")).noop().config("membership bytes");
  kv_store store;
  auto replies = apply_all(store, log.entries());
  CHECK(replies[1].status == reply_status::ok);
  CHECK(replies[2].status == reply_status::ok);
  CHECK(store.size() == 1);
  CHECK(store.read("k").value == "v");
  CHECK(store.applied_index() == 3);
}

TEST_CASE("kv_store: a malformed command entry replies bad_request and changes nothing",
          "[kv][store]") {
  auto valid = encode_command(put("k", "v2"));
  log_builder log;
  log.command(put("k", "v1"))
     .raw("")                                 // empty
     .raw(valid.substr(0, valid.size() - 1))  // truncated
     .raw(valid + "x")                        // trailing garbage
     .raw("\x02" + valid.substr(1));          // wrong version
  kv_store store;
  auto replies = apply_all(store, log.entries());
  auto after_first = kv_store{};
  after_first.apply(log.entries()[0]);
  for (std::size_t i = 1; i < replies.size(); ++i) {
    INFO("entry " << i + 1);
    CHECK(replies[i].status == reply_status::bad_request);
    CHECK_FALSE(replies[i].message.empty());
  }
  CHECK(store.read("k").value == "v1");
  CHECK(store.digest() == after_first.digest());
  // The entry still counts as applied: skipping it would stall every node.
  CHECK(store.applied_index() == 5);
}

TEST_CASE("kv_store: stores fed the same entries reach the same state, replies and digest",
          "[kv][store]") {
  log_builder log;
  log.noop()
     .command(put("a", "1"))
     .command(put("b", "2"))
     .command(cas("a", "1", "10"))
     .command(cas("b", "9", "20"))
     .raw("garbage")
     .command(del("b"))
     .command(get("a"));
  kv_store first;
  kv_store second;
  auto first_replies = apply_all(first, log.entries());
  auto second_replies = apply_all(second, log.entries());
  REQUIRE(first_replies.size() == second_replies.size());
  for (std::size_t i = 0; i < first_replies.size(); ++i) {
    INFO("entry " << i + 1);
    CHECK(first_replies[i].status == second_replies[i].status);
    CHECK(first_replies[i].value == second_replies[i].value);
  }
  CHECK(first.contents() == second.contents());
  CHECK(first.digest() == second.digest());
  CHECK(first.applied_index() == second.applied_index());
}

TEST_CASE("kv_store: the digest depends on the contents, not on how they were reached",
          "[kv][store]") {
  kv_store forward;
  forward.execute(put("a", "1"));
  forward.execute(put("b", "2"));
  kv_store backward;
  backward.execute(put("b", "x"));
  backward.execute(put("c", "3"));
  backward.execute(put("a", "1"));
  backward.execute(cas("b", "x", "2"));
  backward.execute(del("c"));
  CHECK(forward.contents() == backward.contents());
  CHECK(forward.digest() == backward.digest());
}

TEST_CASE("kv_store: different contents have different digests", "[kv][store]") {
  auto digest_of = [](std::vector<kv_command> cmds) {
    kv_store store;
    for (const auto& c : cmds)
      store.execute(c);
    return store.digest();
  };
  std::vector<uint64_t> digests = {
    digest_of({}),
    digest_of({put("", "")}),
    digest_of({put("a", "1")}),
    digest_of({put("a", "2")}),
    digest_of({put("b", "1")}),
    // Same bytes split differently between key and value, or between keys.
    digest_of({put("ab", "c")}),
    digest_of({put("a", "bc")}),
    digest_of({put("a", ""), put("b", "")}),
    digest_of({put("a", "1"), put("b", "2")}),
  };
  for (std::size_t i = 0; i < digests.size(); ++i)
    for (std::size_t j = i + 1; j < digests.size(); ++j) {
      INFO("contents " << i << " vs " << j);
      CHECK(digests[i] != digests[j]);
    }
}

TEST_CASE("kv_store: the digest kept on every change equals the digest computed afresh",
          "[kv][store]") {
  // 20,000 random puts, overwrites, dels and cas on a small key space, so
  // every path that changes a pair is taken many times.
  std::mt19937_64 rng(20261126);
  kv_store store;
  for (int i = 0; i < 20000; ++i) {
    auto key = "k" + std::to_string(rng() % 64);
    auto value = std::string(rng() % 4, static_cast<char>('a' + rng() % 3));
    switch (rng() % 4) {
      case 0: store.execute(put(key, value)); break;
      case 1: store.execute(del(key)); break;
      case 2: store.execute(cas(key, value, "c" + value)); break;
      default: store.execute(put(key, value + "!")); break;
    }
    if (i % 97 == 0) {
      INFO("after command " << i);
      REQUIRE(store.digest() == store.recompute_digest());
    }
  }
  CHECK(store.digest() == store.recompute_digest());
  // Emptied again: the digest of an empty store.
  auto keys = store.contents();
  for (const auto& [key, value] : keys)
    store.execute(del(key));
  CHECK(store.digest() == kv_store{}.digest());
}

TEST_CASE("kv_store: operator commands reply bad_request and change nothing",
          "[kv][store]") {
  // They are for the node; should one reach the state machine, every node
  // rejects it alike.
  kv_store store;
  store.execute(put("k", "v"));
  const auto before = store.digest();
  for (auto op : {kv_op::add_member, kv_op::remove_member,
                  kv_op::transfer_leader, kv_op::take_snapshot}) {
    INFO("op " << static_cast<int>(op));
    auto reply = store.execute({op, "k", "x", "v"});
    CHECK(reply.status == reply_status::bad_request);
    CHECK_FALSE(reply.message.empty());
  }
  CHECK(store.read("k").value == "v");
  CHECK(store.digest() == before);
}
