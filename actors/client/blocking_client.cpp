#include "actors/client/blocking_client.hpp"

#include "actors/client/kv_client.hpp"
#include "actors/client/retry_policy.hpp"

#include <caf/all.hpp>

#include <map>
#include <memory>

namespace raft {

namespace {

// The worker keeps its response promises in its state and its coroutines
// capture only an id: a promise holds a strong reference to its actor, and a
// frame must never hold the last one (task.hpp).
struct worker_state {
  static inline const char* name = "raft_blocking_client";

  std::unique_ptr<kv_client> client;
  uint64_t next_id = 0;
  std::map<uint64_t, caf::typed_response_promise<client_reply>> commands;
  std::map<uint64_t, caf::typed_response_promise<std::vector<endpoint_status>>> statuses;
};

using worker_pointer = caf::stateful_actor<worker_state>*;

caf::behavior worker_impl(worker_pointer self, std::vector<endpoint> endpoints,
                          client_options opts) {
  self->state.client = std::make_unique<kv_client>(self, std::move(endpoints), opts);
  return {
    [self](kv_command& cmd) -> caf::result<client_reply> {
      auto& st = self->state;
      auto id = st.next_id++;
      auto rp = self->make_response_promise<client_reply>();
      st.commands.emplace(id, rp);
      launch(self, st.client->execute(std::move(cmd)), [self, id](client_reply r) {
        auto& pending = self->state.commands;
        if (auto i = pending.find(id); i != pending.end()) {
          i->second.deliver(std::move(r));
          pending.erase(i);
        }
      });
      return rp;
    },
    [self](status_atom) -> caf::result<std::vector<endpoint_status>> {
      auto& st = self->state;
      auto id = st.next_id++;
      auto rp = self->make_response_promise<std::vector<endpoint_status>>();
      st.statuses.emplace(id, rp);
      launch(self, st.client->status(), [self, id](std::vector<endpoint_status> s) {
        auto& pending = self->state.statuses;
        if (auto i = pending.find(id); i != pending.end()) {
          i->second.deliver(std::move(s));
          pending.erase(i);
        }
      });
      return rp;
    },
  };
}

/// How long the caller waits for the worker: the command's own deadline,
/// plus one more request_timeout (a connect and an id probe may overlap the
/// deadline), plus slack.
caf::timespan caller_timeout(const client_options& opts) {
  return opts.overall_timeout + opts.request_timeout + std::chrono::seconds(1);
}

/// A status round asks the endpoints one after another, each with at most a
/// connect and a status request.
caf::timespan status_timeout(const client_options& opts, std::size_t endpoints) {
  return static_cast<int64_t>(2 * endpoints) * opts.request_timeout + std::chrono::seconds(1);
}

} // namespace

blocking_client::blocking_client(caf::actor_system& sys, std::vector<std::string> addresses,
                                 client_options opts)
  : blocking_client(sys, endpoints_from_addresses(addresses), opts) {
  // nop
}

blocking_client::blocking_client(caf::actor_system& sys, std::vector<endpoint> endpoints,
                                 client_options opts)
  : opts_(opts),
    endpoint_count_(endpoints.size()),
    self_(sys),
    worker_(sys.spawn(worker_impl, std::move(endpoints), opts)) {
  // nop
}

blocking_client::~blocking_client() {
  // Pending coroutines of the worker die with it (task.hpp).
  self_->send_exit(worker_, caf::exit_reason::user_shutdown);
}

client_reply blocking_client::put(const std::string& key, const std::string& value) {
  kv_command cmd;
  cmd.op = kv_op::put;
  cmd.key = key;
  cmd.value = value;
  return execute(std::move(cmd));
}

client_reply blocking_client::get(const std::string& key) {
  kv_command cmd;
  cmd.op = kv_op::get;
  cmd.key = key;
  return execute(std::move(cmd));
}

client_reply blocking_client::del(const std::string& key) {
  kv_command cmd;
  cmd.op = kv_op::del;
  cmd.key = key;
  return execute(std::move(cmd));
}

client_reply blocking_client::cas(const std::string& key, const std::string& expected,
                                  const std::string& value) {
  kv_command cmd;
  cmd.op = kv_op::cas;
  cmd.key = key;
  cmd.value = value;
  cmd.expected = expected;
  return execute(std::move(cmd));
}

client_reply blocking_client::execute(kv_command cmd) {
  auto write = is_write(cmd.op);
  client_reply result;
  self_->request(worker_, caller_timeout(opts_), std::move(cmd))
    .receive([&](client_reply& r) { result = std::move(r); },
             [&](caf::error& err) {
               // The worker may have sent the command: a write's outcome is
               // unknown; a read simply did not happen.
               result.status = write ? reply_status::unknown : reply_status::unavailable;
               result.message = "client worker failed: " + self_->system().render(err);
             });
  return result;
}

std::vector<endpoint_status> blocking_client::status() {
  std::vector<endpoint_status> result;
  self_->request(worker_, status_timeout(opts_, endpoint_count_), status_atom::value)
    .receive([&](std::vector<endpoint_status>& s) { result = std::move(s); },
             [&](caf::error& err) {
               endpoint_status es;
               es.error = "client worker failed: " + self_->system().render(err);
               result.push_back(std::move(es));
             });
  return result;
}

} // namespace raft
