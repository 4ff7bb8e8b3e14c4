#pragma once

// Passing a client's command on to the node that serves it, as the gateway
// (to its node) and the remote peer links (to a peer) do: one request with a
// timeout, whose failure is turned into the answer a client can act on.

#include "messages/kv_messages.hpp"

#include <caf/error.hpp>
#include <caf/duration.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_response_promise.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace raft {

/// `unavailable` with a reason: nothing was passed on, nothing applied.
inline client_reply unavailable_reply(std::string why) {
  client_reply r;
  r.status = reply_status::unavailable;
  r.message = std::move(why);
  return r;
}

/// Passes a Raft RPC on to a link's target, or counts it dropped (the link
/// is told to drop traffic, or has no target). Raft retries what is lost.
/// Works on any link state with `target`, `dropping`, `forwarded` and
/// `dropped` (the local and the remote peer link).
template <class Self, class Message>
void forward_rpc(Self* self, Message& m) {
  auto& st = self->state;
  if (st.dropping || !st.target) {
    ++st.dropped;
    return;
  }
  ++st.forwarded;
  self->send(st.target, std::move(m));
}

/// Commands a link passed on and not yet answered, so that they can be
/// answered at once when the link loses its target (CAF 0.17 never answers
/// a request whose connection is lost; it would only time out).
class relay_table {
public:
  /// Keeps `rp`; returns its key.
  uint64_t add(caf::typed_response_promise<client_reply> rp, bool is_read) {
    auto key = ++last_key_;
    pending_.emplace(key, entry{std::move(rp), is_read});
    return key;
  }

  /// Answers the command under `key` with `r`, if it is still pending.
  void answer(uint64_t key, client_reply r) {
    if (auto i = pending_.find(key); i != pending_.end()) {
      i->second.rp.deliver(std::move(r));
      pending_.erase(i);
    }
  }

  /// Answers the command under `key` as one without an answer: a write is
  /// `unknown` (it may have reached the target), a read `unavailable`.
  void fail(uint64_t key, const std::string& why) {
    if (auto i = pending_.find(key); i != pending_.end()) {
      i->second.rp.deliver(no_answer(i->second.is_read, why));
      pending_.erase(i);
    }
  }

  /// fail() for every pending command.
  void fail_all(const std::string& why) {
    for (auto& [key, e] : pending_)
      e.rp.deliver(no_answer(e.is_read, why));
    pending_.clear();
  }

  std::size_t size() const { return pending_.size(); }

  static client_reply no_answer(bool is_read, const std::string& why) {
    client_reply r;
    r.status = is_read ? reply_status::unavailable : reply_status::unknown;
    r.message = why;
    return r;
  }

private:
  struct entry {
    caf::typed_response_promise<client_reply> rp;
    bool is_read;
  };
  uint64_t last_key_ = 0;
  std::map<uint64_t, entry> pending_;
};

/// Requests `target` to run `cmd` (at most `timeout`) and answers the
/// caller with its reply. If no reply comes, the command may still have
/// reached the target: a write's outcome is then `unknown`; a read changed
/// nothing, so it is `unavailable`. The message says `who` did not answer.
/// `table` (kept in the actor's state) holds the command until then, so
/// that its owner can fail it early (relay_table::fail_all).
template <class Self, class Target>
caf::typed_response_promise<client_reply>
relay_command(Self* self, const Target& target, caf::duration timeout, kv_command cmd,
              std::string who, relay_table& table) {
  auto read = raft::is_read(cmd.op);
  auto rp = self->template make_response_promise<client_reply>();
  auto key = table.add(rp, read);
  self->request(target, timeout, std::move(cmd))
    .then([&table, key](client_reply& r) { table.answer(key, std::move(r)); },
          [self, &table, key, who = std::move(who)](caf::error& err) {
            table.fail(key, "no answer from " + who + ": " + self->system().render(err));
          });
  return rp;
}

} // namespace raft
