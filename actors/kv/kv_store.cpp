#include "actors/kv/kv_store.hpp"

#include "actors/kv/command_codec.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
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

/// A broken precondition of the owner: checked in every build type, not with
/// assert(), because carrying on would silently diverge this node's state
/// from the others'.
[[noreturn]] void precondition_failed(const char* message) {
  std::fprintf(stderr, "kv_store: %s\n", message);
  std::abort();
}

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
  if (inserted) {
    save_for_snapshot(key, std::nullopt);
  } else {
    sum_ -= pair_hash(key, it->second);
    // The old value is overwritten next, so it moves rather than copies.
    save_for_snapshot(key, std::move(it->second));
    it->second = value;
  }
  sum_ += pair_hash(key, value);
}

void kv_store::save_for_snapshot(const std::string& key,
                                 std::optional<std::string>&& old) {
  if (!snapshot_active_)
    return;
  // A key the batches have passed is in the snapshot already: its later
  // changes cost nothing, and saved_ never needs to look behind the cursor.
  if (snapshot_started_ && key <= snapshot_cursor_)
    return;
  // Only the first change since begin_snapshot() saves: later ones would
  // save a value the frozen view never had. try_emplace leaves `old` alone
  // if the key is there already.
  saved_.try_emplace(key, std::move(old));
}

client_reply kv_store::apply(const log_entry& entry) {
  // Checked in every build type, not with assert(): applying an entry twice
  // or skipping one would silently diverge this node from the others.
  if (restoring_)
    precondition_failed("apply: a restore is in progress; the state is "
                        "incomplete until restore_finish()");
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
    case kv_op::del:
      return make_reply(erase(cmd.key) ? reply_status::ok : reply_status::not_found);
    case kv_op::cas: {
      auto i = data_.find(cmd.key);
      if (i == data_.end())
        return make_reply(reply_status::not_found);
      if (i->second != cmd.expected)
        return make_reply(reply_status::cas_failed, i->second);
      assign(cmd.key, cmd.value);
      return make_reply(reply_status::ok);
    }
    case kv_op::set:
      return set(cmd);
    case kv_op::del_keys: {
      auto r = make_reply(reply_status::ok);
      for (const auto& key : cmd.args)
        r.number += erase(key) ? 1 : 0;
      return r;
    }
    case kv_op::incr_by:
      return incr_by(cmd.key, cmd.value);
    case kv_op::mset:
      // An odd count cannot come from a well-formed client; every node
      // refuses it alike, before changing anything.
      if (cmd.args.size() % 2 != 0)
        return make_reply(reply_status::bad_request, {}, "mset needs key value pairs");
      for (std::size_t i = 0; i < cmd.args.size(); i += 2)
        assign(cmd.args[i], cmd.args[i + 1]);
      return make_reply(reply_status::ok);
    case kv_op::mget: {
      auto r = make_reply(reply_status::ok);
      r.values.reserve(cmd.args.size());
      r.present.reserve(cmd.args.size());
      for (const auto& key : cmd.args) {
        auto i = data_.find(key);
        r.present.push_back(i == data_.end() ? 0 : 1);
        r.values.push_back(i == data_.end() ? std::string{} : i->second);
      }
      return r;
    }
    case kv_op::exists: {
      auto r = make_reply(reply_status::ok);
      for (const auto& key : cmd.args)
        r.number += data_.contains(key) ? 1 : 0;
      return r;
    }
    case kv_op::dbsize: {
      auto r = make_reply(reply_status::ok);
      r.number = static_cast<int64_t>(data_.size());
      return r;
    }
    // Operator commands are for the node, which handles them itself (a
    // membership change becomes a config entry, not a command entry). If one
    // reaches the state machine anyway, every node rejects it alike. Listed,
    // not left to the fallback below, so that -Wswitch still names any op
    // added later and not handled here.
    case kv_op::add_member:
    case kv_op::remove_member:
    case kv_op::transfer_leader:
    case kv_op::take_snapshot:
      return make_reply(reply_status::bad_request, {},
                        "not a key-value operation");
  }
  return make_reply(reply_status::bad_request, {}, "unknown operation");
}

bool kv_store::erase(const std::string& key) {
  auto i = data_.find(key);
  if (i == data_.end())
    return false;
  sum_ -= pair_hash(i->first, i->second);
  // Erased next, so the value moves rather than copies.
  save_for_snapshot(key, std::move(i->second));
  data_.erase(i);
  return true;
}

client_reply kv_store::set(const kv_command& cmd) {
  auto i = data_.find(cmd.key);
  bool exists = i != data_.end();
  auto r = make_reply(reply_status::ok);
  if ((cmd.flags & set_return_old) != 0 && exists) {
    r.value = i->second;
    r.number = 1;
  }
  if (((cmd.flags & set_if_absent) != 0 && exists)
      || ((cmd.flags & set_if_present) != 0 && !exists)) {
    r.status = reply_status::cas_failed;
    return r;
  }
  assign(cmd.key, cmd.value);
  return r;
}

namespace {

/// Parses a whole string as a signed 64-bit decimal integer the way Redis
/// does (no sign but '-', no leading zeros, no spaces, at most 20 chars).
bool parse_i64(const std::string& text, int64_t& out) {
  if (text.empty() || text.size() > 20)
    return false;
  if (text.size() > 1 && (text[0] == '0' || (text[0] == '-' && text[1] == '0')))
    return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

} // namespace

client_reply kv_store::incr_by(const std::string& key, const std::string& delta_text) {
  int64_t delta = 0;
  if (!parse_i64(delta_text, delta))
    return make_reply(reply_status::bad_request, {}, "value is not an integer or out of range");
  int64_t current = 0;
  if (auto i = data_.find(key); i != data_.end() && !parse_i64(i->second, current))
    return make_reply(reply_status::bad_request, {}, "value is not an integer or out of range");
  int64_t result = 0;
  if (__builtin_add_overflow(current, delta, &result))
    return make_reply(reply_status::bad_request, {}, "increment or decrement would overflow");
  assign(key, std::to_string(result));
  auto r = make_reply(reply_status::ok);
  r.number = result;
  return r;
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

void kv_store::begin_snapshot() {
  if (snapshot_active_)
    precondition_failed("begin_snapshot: a snapshot is in progress already");
  if (restoring_)
    precondition_failed("begin_snapshot: a restore is in progress");
  snapshot_active_ = true;
  snapshot_started_ = false;
  snapshot_cursor_.clear();
  snapshot_index_ = applied_index_;
  snapshot_digest_ = digest();
  snapshot_keys_ = data_.size();
}

bool kv_store::next_snapshot_batch(std::vector<kv_pair>& out,
                                   std::size_t max_bytes) {
  if (!snapshot_active_)
    precondition_failed("next_snapshot_batch: no snapshot in progress");
  // The view is data_ and saved_ merged in key order, from just after the
  // cursor. saved_ holds only keys after the cursor (its invariant), so its
  // next entry is its first; each entry leaves saved_ once passed, which
  // frees the side map as the snapshot goes rather than only at its end.
  auto live = snapshot_started_ ? data_.upper_bound(snapshot_cursor_)
                                : data_.begin();
  auto pass = [this](const std::string& key) {
    snapshot_started_ = true;
    snapshot_cursor_ = key;
  };
  // Passes the keys inserted since begin_snapshot() that come next: they are
  // live, but not in the view. Returns whether a pair of the view remains.
  // Work done here is bounded by entries applied since begin, each of which
  // cost as much already.
  auto skip_absent = [&] {
    while (!saved_.empty()) {
      auto side = saved_.begin();
      if (live != data_.end() && live->first < side->first)
        return true; // a key unchanged since begin comes first
      if (side->second)
        return true; // a key changed or deleted since begin: its old value
      if (live != data_.end() && live->first == side->first)
        ++live;
      pass(side->first);
      saved_.erase(side);
    }
    return live != data_.end();
  };
  const std::size_t first = out.size();
  std::size_t bytes = 0;
  // Skipping before the limit is checked means that if only keys outside the
  // view remain, they are passed now and the snapshot ends here: the caller
  // never gets "more" promised and then an empty batch.
  while (skip_absent()) {
    if (out.size() != first && bytes >= max_bytes)
      return true;
    auto side = saved_.begin();
    if (side != saved_.end() &&
        (live == data_.end() || !(live->first < side->first))) {
      // Changed since begin: the view has the value saved before the change.
      if (live != data_.end() && live->first == side->first)
        ++live;
      pass(side->first);
      auto node = saved_.extract(side);
      bytes += node.key().size() + node.mapped()->size();
      out.push_back({std::move(node.key()), std::move(*node.mapped())});
    } else {
      pass(live->first);
      bytes += live->first.size() + live->second.size();
      out.push_back({live->first, live->second});
      ++live;
    }
  }
  end_snapshot();
  return false;
}

void kv_store::abort_snapshot() { end_snapshot(); }

void kv_store::end_snapshot() {
  snapshot_active_ = false;
  snapshot_started_ = false;
  // clear() then shrink: the cursor may hold a long key.
  snapshot_cursor_.clear();
  snapshot_cursor_.shrink_to_fit();
  saved_.clear();
}

void kv_store::restore_begin() {
  end_snapshot();
  data_.clear();
  sum_ = 0;
  applied_index_ = 0;
  restoring_ = true;
}

void kv_store::restore_batch(const std::vector<kv_pair>& pairs) {
  if (!restoring_)
    precondition_failed("restore_batch: no restore in progress");
  // Checked first, for the whole batch, so that a corrupt batch adds
  // nothing. Comparing with the largest key held covers the earlier batches
  // (data_ holds nothing else since restore_begin()) and makes every insert
  // below an append at the end of data_.
  const std::string* previous = data_.empty() ? nullptr : &data_.rbegin()->first;
  for (const auto& pair : pairs) {
    if (previous != nullptr && !(*previous < pair.key))
      throw std::invalid_argument(
        "kv_store::restore_batch: snapshot keys are not strictly increasing "
        "(corrupt snapshot)");
    previous = &pair.key;
  }
  for (const auto& pair : pairs) {
    // Strictly increasing keys: the hint is exact, so each insert is O(1).
    data_.emplace_hint(data_.end(), pair.key, pair.value);
    sum_ += pair_hash(pair.key, pair.value);
  }
}

void kv_store::restore_finish(index_t applied) {
  if (!restoring_)
    precondition_failed("restore_finish: no restore in progress");
  applied_index_ = applied;
  restoring_ = false;
}

} // namespace raft
