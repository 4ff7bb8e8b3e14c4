#include "actors/kv/kv_store.hpp"

#include "actors/kv/command_codec.hpp"

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>

namespace raft {

namespace {

client_reply make_reply(reply_status status, std::string value = {},
                        std::string message = {}) {
  client_reply reply;
  reply.status = status;
  reply.value = std::move(value);
  reply.message = std::move(message);
  return reply;
}

/// FNV-1a, 64 bit.
class fnv1a {
public:
  void add(std::string_view bytes) {
    for (char c : bytes) {
      hash_ ^= static_cast<uint8_t>(c);
      hash_ *= 0x100000001b3ULL;
    }
  }

  /// Adds `s` with its length first, so ("ab","c") and ("a","bc") differ.
  void add_string(const std::string& s) {
    uint64_t n = s.size();
    char len[8];
    for (int i = 0; i < 8; ++i)
      len[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
    add(std::string_view{len, sizeof len});
    add(s);
  }

  uint64_t value() const { return hash_; }

private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

/// splitmix64's finalizer: spreads every input bit over the whole word, so
/// that sums of pair hashes do not cancel in structured ways.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

} // namespace

uint64_t kv_store::pair_hash(const std::string& key, const std::string& value) {
  fnv1a hash;
  hash.add_string(key);
  hash.add_string(value);
  return mix(hash.value());
}

void kv_store::assign(const std::string& key, const std::string& value) {
  auto [it, inserted] = data_.try_emplace(key, value);
  if (!inserted) {
    sum_ -= pair_hash(key, it->second);
    it->second = value;
  }
  sum_ += pair_hash(key, value);
}

client_reply kv_store::apply(const log_entry& entry) {
  // Checked in every build type, not with assert(): applying an entry twice
  // or skipping one would silently diverge this node from the others.
  if (entry.index != applied_index_ + 1) {
    std::fprintf(stderr,
                 "kv_store::apply: entry %llu applied after %llu; entries must "
                 "be applied exactly once, in log order\n",
                 static_cast<unsigned long long>(entry.index),
                 static_cast<unsigned long long>(applied_index_));
    std::abort();
  }
  applied_index_ = entry.index;
  switch (entry.type) {
    case entry_type::noop:
    case entry_type::config:
      return make_reply(reply_status::ok);
    case entry_type::command: {
      kv_command cmd;
      // Every node decodes the same bytes, so every node rejects them alike
      // and the state stays the same everywhere.
      if (!decode_command(entry.data, cmd))
        return make_reply(reply_status::bad_request, {},
                          "malformed command entry");
      return execute(cmd);
    }
  }
  // An entry type this version does not know: reject it the same way on
  // every node rather than guess.
  return make_reply(reply_status::bad_request, {}, "unknown entry type");
}

client_reply kv_store::execute(const kv_command& cmd) {
  switch (cmd.op) {
    case kv_op::get:
      return read(cmd.key);
    case kv_op::put:
      assign(cmd.key, cmd.value);
      return make_reply(reply_status::ok);
    case kv_op::del: {
      auto i = data_.find(cmd.key);
      if (i == data_.end())
        return make_reply(reply_status::not_found);
      sum_ -= pair_hash(i->first, i->second);
      data_.erase(i);
      return make_reply(reply_status::ok);
    }
    case kv_op::cas: {
      auto i = data_.find(cmd.key);
      if (i == data_.end())
        return make_reply(reply_status::not_found);
      if (i->second != cmd.expected)
        return make_reply(reply_status::cas_failed, i->second);
      assign(cmd.key, cmd.value);
      return make_reply(reply_status::ok);
    }
  }
  return make_reply(reply_status::bad_request, {}, "unknown operation");
}

client_reply kv_store::read(const std::string& key) const {
  auto i = data_.find(key);
  if (i == data_.end())
    return make_reply(reply_status::not_found);
  return make_reply(reply_status::ok, i->second);
}

uint64_t kv_store::digest() const {
  return mix(sum_ ^ mix(data_.size()));
}

uint64_t kv_store::recompute_digest() const {
  uint64_t sum = 0;
  for (const auto& [key, value] : data_)
    sum += pair_hash(key, value);
  return mix(sum ^ mix(data_.size()));
}

} // namespace raft
