// The supervisor, in process: a crashed node is respawned over its data
// directory behind the same gateway; past the restart budget it gives up.

#include "actors/cluster/supervisor.hpp"
#include "messages/registration.hpp"
#include "tests/process/process_harness.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>

using namespace raft;
using namespace raft::process_test;

namespace {

struct supervisor_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  temp_dir dir;
  std::atomic<int> give_up_code{0};
  std::mutex mtx;
  std::string give_up_reason;
  std::vector<std::string> log;

  supervisor_fixture() {
    register_message_types(cfg);
    cfg.load<caf::io::middleman>();
    cfg.set("logger.verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  process_options options(int max_restarts) {
    process_options o;
    o.node.raft.id = 1;
    o.node.raft.voters = {1};
    o.node.raft.election_ticks = 15;
    o.node.raft.heartbeat_ticks = 5;
    o.node.data_dir = dir.path() + "/data";
    o.port = free_ports(1)[0];
    o.max_restarts = max_restarts;
    o.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> guard{mtx};
      log.push_back(line);
    };
    o.on_give_up = [this](int code, const std::string& reason) {
      {
        std::lock_guard<std::mutex> guard{mtx};
        give_up_reason = reason;
      }
      give_up_code = code;
    };
    return o;
  }

  node_actor current_node(const supervisor_actor& sv) {
    node_actor result;
    caf::scoped_actor self{*sys};
    self->request(sv, std::chrono::seconds(1), current_node_atom::value)
      .receive([&](node_actor& n) { result = std::move(n); }, [](caf::error&) {});
    return result;
  }

  /// Waits for an incarnation other than `old` (and not null).
  node_actor next_node(const supervisor_actor& sv, const node_actor& old) {
    node_actor n;
    wait_until(
      [&] {
        n = current_node(sv);
        return n && n != old;
      },
      5s);
    return n;
  }

  std::optional<client_reply> command(const gateway_actor& gw, kv_command cmd) {
    std::optional<client_reply> r;
    caf::scoped_actor self{*sys};
    self->request(gw, std::chrono::seconds(3), std::move(cmd))
      .receive([&](client_reply& x) { r = std::move(x); }, [](caf::error&) {});
    return r;
  }

  bool put(const gateway_actor& gw, const std::string& key, const std::string& value) {
    return wait_until(
      [&] {
        auto r = command(gw, kv_command{kv_op::put, key, value, {}, 0});
        return r && r->status == reply_status::ok;
      },
      5s);
  }

  std::optional<std::string> get(const gateway_actor& gw, const std::string& key) {
    std::optional<std::string> value;
    wait_until(
      [&] {
        auto r = command(gw, kv_command{kv_op::get, key, {}, {}, 0});
        if (r && r->status == reply_status::ok)
          value = r->value;
        return value.has_value();
      },
      5s);
    return value;
  }

  void stop(const supervisor_actor& sv) {
    caf::scoped_actor self{*sys};
    self->send_exit(sv, caf::exit_reason::user_shutdown);
    self->wait_for(sv);
  }
};

} // namespace

TEST_CASE_METHOD(supervisor_fixture,
                 "supervisor: a crashed node is restarted over its data directory behind the "
                 "same gateway",
                 "[supervisor]") {
  auto proc = start_node_process(*sys, options(5));
  REQUIRE(proc);
  auto gw = proc->gateway;
  REQUIRE(put(gw, "a", "1"));
  auto first = current_node(proc->supervisor);
  REQUIRE(first);

  caf::anon_send_exit(first, caf::exit_reason::kill);
  auto second = next_node(proc->supervisor, first);
  REQUIRE(second);
  // Same gateway, same data: the acknowledged write survived the crash.
  REQUIRE(put(gw, "b", "2"));
  CHECK(get(gw, "a") == std::optional<std::string>{"1"});
  CHECK(get(gw, "b") == std::optional<std::string>{"2"});
  CHECK(give_up_code == 0);
  stop(proc->supervisor);
  std::lock_guard<std::mutex> guard{mtx};
  CHECK(std::any_of(log.begin(), log.end(),
                    [](const std::string& l) { return l.find("node restarted") != l.npos; }));
}

TEST_CASE_METHOD(supervisor_fixture, "supervisor: past its restart budget it gives up",
                 "[supervisor]") {
  auto proc = start_node_process(*sys, options(2));
  REQUIRE(proc);
  auto node = current_node(proc->supervisor);
  for (int i = 0; i < 2; ++i) {
    REQUIRE(node);
    caf::anon_send_exit(node, caf::exit_reason::kill);
    node = next_node(proc->supervisor, node);
  }
  REQUIRE(node);
  CHECK(give_up_code == 0);
  caf::anon_send_exit(node, caf::exit_reason::kill); // the third crash within the window
  REQUIRE(wait_until([&] { return give_up_code != 0; }, 5s));
  CHECK(give_up_code == supervisor_gave_up_exit_code);
  {
    std::lock_guard<std::mutex> guard{mtx};
    CHECK(give_up_reason.find("restart budget exhausted") != std::string::npos);
  }
  stop(proc->supervisor);
}
