#pragma once

// kv_client: the coroutine key-value client, used inside an event-based
// actor. It knows a list of endpoints (one per node) and gets every command
// answered, following leader hints:
//
//   struct state { std::unique_ptr<raft::kv_client> client; };
//   raft::task<void> work(raft::kv_client* c) {
//     auto r = co_await c->put("k", "v");     // r.status: ok, unknown, ...
//   }
//   ... self->state.client = std::make_unique<raft::kv_client>(self, eps);
//       raft::launch(self, work(self->state.client.get()));
//
// Retry rules (decided in retry_policy.hpp). One attempt is one request to
// one endpoint, at most request_timeout long:
//   - ok, not_found, cas_failed, bad_request: final, returned as they are.
//   - not_leader: try the hinted leader's endpoint if its id is known, else
//     the next endpoint, after a short backoff. (Followers already forward a
//     command to their leader once; not_leader means the node knows no
//     leader, or its leader was deposed.)
//   - unavailable: the next endpoint (nothing was applied).
//   - a request that never reached a live handler -- null or dead handle
//     (CAF bounces it with request_receiver_down), no route, failed connect,
//     failed id probe: the next endpoint.
//   - an address endpoint reconnects on its next use when its proxy died
//     (the connection was lost: the node was killed or restarted) and after
//     any failed request. In CAF 0.17 a request whose connection is lost is
//     never answered, and a proxy whose connection is gone swallows what it
//     is sent: both would only time out. So the client watches every proxy
//     it connects: requests in flight to it fail the moment it dies (error
//     exit_reason::remote_link_unreachable: a write is then `unknown`, a
//     read goes to the next endpoint), and nothing more is sent to it.
//     (Reconnecting to a live node is cheap: the middleman reuses its
//     connection.)
//   - a TIMEOUT (or any other error) after a write (put, del, cas) was sent:
//     the outcome cannot be known, so the command ends `unknown` at once --
//     never `failed`, never retried (a retried del or cas could report the
//     wrong result, and put is not worth a second rule). A node's own
//     `unknown` for a write is returned as is.
//   - a read (get) that timed out, or got `unknown`, is retried at the next
//     endpoint: reads have no side effects.
//   - after every full round of endpoints without an outcome there is a
//     backoff too. Backoffs double per pause (retry_backoff, 2x, 4x at most).
//   - a command that runs out of attempts (max_attempts) or time
//     (overall_timeout) before any outcome ends `unavailable`, with the last
//     reason in `message`: every attempt so far was definitely not applied.
// The endpoint that gave the last outcome is tried first by the next
// command -- or the leader it named: nodes name their leader in every answer
// (leader_hint), so a client given a follower moves to the leader instead of
// paying the follower's forwarding hop on every command. If no endpoint is
// known to be that leader yet, the next command first asks the endpoints
// whose ids it lacks for their status (once; at most 500 ms each).
//
// Endpoints without an id are asked for their status before their first
// command (node_status::id), so that hints can be followed to them.
//
// Lifetime: the client must outlive the tasks it returned (keep it in the
// actor's state; see task.hpp for how frames die with the actor). It holds
// `self` by raw pointer. Commands from many coroutines may be in flight at
// once; they share the endpoint table, which only this actor's thread
// touches.

#include "actors/client/client_options.hpp"
#include "actors/client/endpoint.hpp"
#include "actors/client/task.hpp"
#include "messages/interfaces.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/message_id.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace raft {

/// Counters of what a client did (tests and tools look at them).
struct client_stats {
  /// Commands started and finished.
  uint64_t commands = 0;
  uint64_t completed = 0;
  /// Requests sent (or tried) to an endpoint.
  uint64_t attempts = 0;
  uint64_t not_leader = 0;
  uint64_t unavailable = 0;
  /// Requests that never reached a live handler (incl. failed connects).
  uint64_t undelivered = 0;
  /// Requests that timed out.
  uint64_t timeouts = 0;
  /// Commands that ended `unknown` / `unavailable` on the client's side.
  uint64_t unknown = 0;
  uint64_t gave_up = 0;
  /// Pauses between attempts.
  uint64_t backoffs = 0;
  /// Connects made for address endpoints.
  uint64_t connects = 0;
};

/// A key-value client running inside one event-based actor.
class kv_client {
public:
  /// @param self the actor whose thread runs every command; must outlive
  ///        nothing (frames die with it) but must be the caller's actor.
  kv_client(caf::event_based_actor* self, std::vector<endpoint> endpoints,
            client_options opts = {});

  kv_client(const kv_client&) = delete;
  kv_client& operator=(const kv_client&) = delete;

  /// Sets `key` to `value`.
  task<client_reply> put(std::string key, std::string value);
  /// Reads `key` (linearizable; not_found if absent).
  task<client_reply> get(std::string key);
  /// Removes `key` (not_found if absent).
  task<client_reply> del(std::string key);
  /// Sets `key` to `value` iff it holds `expected` (cas_failed with the
  /// current value otherwise).
  task<client_reply> cas(std::string key, std::string expected, std::string value);
  /// Runs any command by the retry rules above.
  task<client_reply> execute(kv_command cmd);

  /// Asks every endpoint for its status, in order (one request each, at
  /// most request_timeout). Learns ids on the way.
  task<std::vector<endpoint_status>> status();

  const std::vector<endpoint>& endpoints() const noexcept { return endpoints_; }
  const client_options& options() const noexcept { return opts_; }
  const client_stats& stats() const noexcept { return stats_; }

private:
  /// A usable handle for endpoint `i`: connects an address endpoint if
  /// needed, and learns its id if `learn_id` and it is unknown.
  task<caf::expected<peer_endpoint_actor>> ready(std::size_t i, caf::timespan timeout,
                                                 bool learn_id);
  /// After a request to `i` failed: an address endpoint drops its (maybe
  /// dead) proxy so that its next use reconnects.
  void forget_handle(std::size_t i, const peer_endpoint_actor& dead);
  /// Records what a status reply of endpoint `i` tells.
  void learn(std::size_t i, const node_status& s);
  std::optional<std::size_t> index_of(node_id id) const;
  std::size_t next_index(std::size_t i) const { return (i + 1) % endpoints_.size(); }
  std::string render(const caf::error& err) const;

  /// What the client knows of a proxy it connected, shared with a functor
  /// attached to the proxy (which runs, on another thread, when the proxy
  /// dies: the connection was lost).
  struct watch_state;
  struct proxy_watch {
    peer_endpoint_actor watched;
    std::shared_ptr<watch_state> state;
  };
  /// Watches a freshly connected proxy of endpoint `i`.
  void watch(std::size_t i, const peer_endpoint_actor& proxy);
  /// Whether the proxy `handle` of endpoint `i` is known to be dead.
  bool lost(std::size_t i, const peer_endpoint_actor& handle) const;
  /// A request to endpoint `i`'s proxy `handle` is out with `response_id`:
  /// if the proxy dies first, the request fails at once (instead of after
  /// its timeout: CAF 0.17 never answers requests a lost connection took).
  void track(std::size_t i, const peer_endpoint_actor& handle, caf::message_id response_id);
  void untrack(std::size_t i, caf::message_id response_id);

  caf::event_based_actor* self_;
  std::vector<endpoint> endpoints_;
  std::vector<proxy_watch> watches_; // one per endpoint
  client_options opts_;
  /// The endpoint the next command starts with.
  std::size_t preferred_ = 0;
  /// A leader an answer named that no endpoint is known to be (ids not yet
  /// learned): the next command probes the endpoints without ids first.
  node_id unknown_leader_ = no_node;
  client_stats stats_;
};

} // namespace raft
