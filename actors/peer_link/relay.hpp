#pragma once

// Passing a client's command on to the node that serves it, as the gateway
// (to its node) and the remote peer links (to a peer) do: one request with a
// timeout, whose failure is turned into the answer a client can act on.

#include "messages/kv_messages.hpp"

#include <caf/error.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_response_promise.hpp>

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

/// Requests `target` to run `cmd` (at most `timeout`) and answers the
/// caller with its reply. If no reply comes, the command may still have
/// reached the target: a write's outcome is then `unknown`; a read changed
/// nothing, so it is `unavailable`. The message says `who` did not answer.
template <class Self, class Target>
caf::typed_response_promise<client_reply>
relay_command(Self* self, const Target& target, caf::timespan timeout, kv_command cmd,
              std::string who) {
  auto is_read = cmd.op == kv_op::get;
  auto rp = self->template make_response_promise<client_reply>();
  self->request(target, timeout, std::move(cmd))
    .then([rp](client_reply& r) mutable { rp.deliver(std::move(r)); },
          [self, rp, is_read, who = std::move(who)](caf::error& err) mutable {
            client_reply r;
            r.status = is_read ? reply_status::unavailable : reply_status::unknown;
            r.message = "no answer from " + who + ": " + self->system().render(err);
            rp.deliver(std::move(r));
          });
  return rp;
}

} // namespace raft
