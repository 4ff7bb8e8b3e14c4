// kv_client against the deterministic actor cluster (tests/actor/): real
// node and storage actors under CAF's test_coordinator, virtual time, one
// thread, no sleeps. The client runs as coroutines inside an event-based
// actor of the cluster's actor system; the test drives the scheduler with
// the cluster's run/advance helpers (a scoped_actor would block the only
// thread).

#include "actors/client/awaiters.hpp"
#include "actors/client/kv_client.hpp"
#include "tests/actor/actor_cluster.hpp"

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace raft;
using namespace raft::test;
using namespace std::chrono_literals;

namespace {

/// The actor that runs the client's coroutines.
struct client_state {
  static inline const char* name = "test_client";
  std::unique_ptr<kv_client> client;
  /// Set by the test to see that the state is destroyed with the actor.
  std::shared_ptr<bool> destroyed;
  ~client_state() {
    if (destroyed)
      *destroyed = true;
  }
};

using client_pointer = caf::stateful_actor<client_state>*;

/// What the coroutines of one test saw.
struct journal {
  std::map<std::string, client_reply> writes;
  std::map<std::string, client_reply> reads;
  /// Keys in the order their writes finished, with whether they were acked.
  std::vector<std::pair<std::string, reply_status>> order;
  int finished = 0;
  bool done = false;
  client_stats stats;
};

using journal_ptr = std::shared_ptr<journal>;

std::string key(int i) {
  return "key-" + std::to_string(i);
}

std::string value(int i) {
  return "value-" + std::to_string(i);
}

/// The cluster's actor system (actor_cluster does not expose it; every
/// node lives in it).
caf::actor_system& system_of(actor_cluster& c) {
  for (auto id : c.ids())
    if (c.alive(id))
      return c.handle(id)->home_system();
  throw std::logic_error("no live node to find the actor system by");
}

endpoint local(actor_cluster& c, node_id id, bool with_id = true) {
  return endpoint{peer_endpoint_actor{c.handle(id)}, with_id ? id : no_node, {}};
}

std::vector<endpoint> all_nodes(actor_cluster& c) {
  std::vector<endpoint> eps;
  for (auto id : c.ids())
    eps.push_back(local(c, id));
  return eps;
}

node_id some_follower(actor_cluster& c, node_id leader) {
  for (auto id : c.ids())
    if (id != leader && c.alive(id))
      return id;
  return no_node;
}

template <class Start>
caf::behavior client_impl(client_pointer self, std::vector<endpoint> eps, client_options opts,
                          Start start, bool stay, std::shared_ptr<bool> destroyed) {
  self->state.destroyed = std::move(destroyed);
  self->state.client = std::make_unique<kv_client>(self, std::move(eps), opts);
  start(self, *self->state.client);
  if (stay)
    return {[](status_atom) {}};
  return {};
}

/// Spawns the client actor; `start` launches its coroutines. The actor
/// quits by itself once no coroutine waits any more, unless `stay` (then it
/// keeps a behavior until killed).
template <class Start>
caf::actor spawn_client(actor_cluster& c, std::vector<endpoint> eps, client_options opts,
                        Start start, bool stay = false,
                        std::shared_ptr<bool> destroyed = nullptr) {
  return system_of(c).spawn(client_impl<Start>, std::move(eps), opts, std::move(start), stay,
                            std::move(destroyed));
}

/// Puts keys [first, last) one after the other, `pace` apart, then reads
/// them all back. (In a healthy cluster under the test coordinator a command
/// takes no virtual time at all; the pace lets a test act between writes.)
task<void> write_then_read(caf::event_based_actor* self, kv_client* c, int first, int last,
                           caf::timespan pace, journal_ptr out) {
  for (int i = first; i < last; ++i) {
    auto r = co_await c->put(key(i), value(i));
    out->order.emplace_back(key(i), r.status);
    out->writes[key(i)] = std::move(r);
    co_await sleep_for(self, pace);
  }
  for (int i = first; i < last; ++i) {
    auto r = co_await c->get(key(i));
    out->reads[key(i)] = std::move(r);
  }
  out->stats = c->stats();
  out->done = true;
}

task<void> put_one(kv_client* c, std::string k, std::string v, journal_ptr out) {
  auto r = co_await c->put(k, v);
  out->writes[k] = std::move(r);
  out->stats = c->stats();
  out->done = true;
}

task<void> get_one(kv_client* c, std::string k, journal_ptr out) {
  auto r = co_await c->get(k);
  out->reads[k] = std::move(r);
  out->stats = c->stats();
  out->done = true;
}

/// One of many concurrent coroutines: put, then read back.
task<void> put_and_check(kv_client* c, int i, journal_ptr out) {
  auto w = co_await c->put(key(i), value(i));
  out->writes[key(i)] = std::move(w);
  auto r = co_await c->get(key(i));
  out->reads[key(i)] = std::move(r);
  ++out->finished;
}

/// Counts frames alive: one lives in each coroutine.
struct frame_probe {
  explicit frame_probe(std::shared_ptr<int> n) : alive(std::move(n)) { ++*alive; }
  frame_probe(const frame_probe&) = delete;
  frame_probe& operator=(const frame_probe&) = delete;
  ~frame_probe() { --*alive; }
  std::shared_ptr<int> alive;
};

task<void> probed_put(kv_client* c, int i, std::shared_ptr<int> alive, journal_ptr out) {
  frame_probe probe{alive};
  auto r = co_await c->put(key(i), value(i));
  out->writes[key(i)] = std::move(r);
}

} // namespace

TEST_CASE("a client given only a follower gets its writes applied through forwarding",
          "[client][cluster]") {
  actor_cluster c(3);
  auto leader = c.wait_for_leader();
  REQUIRE(leader != no_node);
  auto follower = some_follower(c, leader);
  auto out = std::make_shared<journal>();
  // The follower's id is not given: the client learns it from its status.
  spawn_client(c, {local(c, follower, false)}, {}, [out](client_pointer self, kv_client& cl) {
    launch(self, write_then_read(self, &cl, 0, 10, 0ms, out));
  });
  REQUIRE(c.run_until([&] { return out->done; }, 5s));
  for (int i = 0; i < 10; ++i) {
    INFO(key(i));
    CHECK(out->writes[key(i)].status == reply_status::ok);
    CHECK(out->reads[key(i)].status == reply_status::ok);
    CHECK(out->reads[key(i)].value == value(i));
  }
  // Every command took one attempt: the follower forwarded it.
  CHECK(out->stats.commands == 20);
  CHECK(out->stats.attempts == 20);
  CHECK(out->stats.not_leader == 0);
  // The writes are in the cluster, as the leader serves them.
  CHECK(c.get(key(3)).value == value(3));
}

TEST_CASE("a client that reached the leader through a follower goes to the leader directly "
          "from then on",
          "[client][cluster]") {
  actor_cluster c(3);
  auto leader = c.wait_for_leader();
  REQUIRE(leader != no_node);
  auto follower = some_follower(c, leader);
  auto out = std::make_shared<journal>();
  // Neither id is given: the first command goes to the follower (first in
  // the list), which forwards it; the answer names the leader.
  std::vector<endpoint> eps{local(c, follower, false), local(c, leader, false)};
  spawn_client(c, eps, {}, [out](client_pointer self, kv_client& cl) {
    launch(self, write_then_read(self, &cl, 0, 10, 100ms, out));
  });
  REQUIRE(c.run_until([&] { return out->order.size() >= 1; }, 5s));
  // With the follower gone, a client still sending there would see its
  // commands bounce (undelivered) and retry.
  c.kill(follower);
  REQUIRE(c.run_until([&] { return out->done; }, 10s));
  for (int i = 0; i < 10; ++i) {
    INFO(key(i));
    CHECK(out->writes[key(i)].status == reply_status::ok);
    CHECK(out->reads[key(i)].value == value(i));
  }
  CHECK(out->writes[key(0)].leader_hint == leader);
  CHECK(out->stats.undelivered == 0);
  CHECK(out->stats.attempts == out->stats.commands);
}

TEST_CASE("a client whose first endpoints are dead or unreachable moves on to the next",
          "[client][cluster]") {
  actor_cluster c(3);
  auto leader = c.wait_for_leader();
  REQUIRE(leader != no_node);
  auto victim = some_follower(c, leader);
  auto dead = local(c, victim);
  c.kill(victim);
  std::vector<endpoint> eps;
  eps.push_back(dead);                                    // a dead node: CAF bounces the request
  eps.push_back(endpoint{peer_endpoint_actor{}, 9, {}});  // no handle, no address
  eps.push_back(endpoint{peer_endpoint_actor{}, no_node, "localhost:1"}); // no middleman here
  eps.push_back(local(c, leader));
  auto out = std::make_shared<journal>();
  spawn_client(c, eps, {}, [out](client_pointer self, kv_client& cl) {
    launch(self, write_then_read(self, &cl, 0, 3, 0ms, out));
  });
  REQUIRE(c.run_until([&] { return out->done; }, 5s));
  for (int i = 0; i < 3; ++i) {
    CHECK(out->writes[key(i)].status == reply_status::ok);
    CHECK(out->reads[key(i)].value == value(i));
  }
  // The first command went through the three bad endpoints once; the
  // others started at the endpoint that answered.
  CHECK(out->stats.undelivered == 3);
  CHECK(out->stats.attempts == 3 + 6);
}

TEST_CASE("after the leader is killed the client keeps going and loses no acknowledged write",
          "[client][cluster]") {
  actor_cluster c(3);
  auto leader = c.wait_for_leader();
  REQUIRE(leader != no_node);
  // Leader first, so that the client is talking to it when it dies.
  std::vector<endpoint> eps{local(c, leader)};
  for (auto id : c.ids())
    if (id != leader)
      eps.push_back(local(c, id));
  auto out = std::make_shared<journal>();
  spawn_client(c, eps, {}, [out](client_pointer self, kv_client& cl) {
    launch(self, write_then_read(self, &cl, 0, 40, 10ms, out));
  });
  REQUIRE(c.run_until([&] { return out->order.size() >= 10; }, 5s));
  c.kill(leader);
  REQUIRE(c.run_until([&] { return out->done; }, 30s));
  auto new_leader = c.wait_for_leader();
  CHECK(new_leader != no_node);
  CHECK(new_leader != leader);
  int acked = 0;
  int unknown = 0;
  for (int i = 0; i < 40; ++i) {
    INFO(key(i));
    auto w = out->writes[key(i)].status;
    auto& r = out->reads[key(i)];
    // Never a failure: acknowledged, or (the write in flight when the
    // leader died) unknown.
    REQUIRE((w == reply_status::ok || w == reply_status::unknown));
    REQUIRE(r.status != reply_status::unavailable);
    if (w == reply_status::ok) {
      ++acked;
      CHECK(r.status == reply_status::ok);
      CHECK(r.value == value(i));
    } else {
      ++unknown;
      // Either outcome is consistent with unknown.
      CHECK((r.status == reply_status::not_found || r.value == value(i)));
    }
  }
  CHECK(acked >= 39);
  CHECK(unknown <= 1);
  // The client found the new leader by retrying, not by luck.
  CHECK(out->stats.attempts > out->stats.commands);
}

TEST_CASE("a leader killed with a write in flight: that write is unknown, the others go on",
          "[client][cluster]") {
  actor_cluster c(3);
  auto leader = c.wait_for_leader();
  REQUIRE(leader != no_node);
  std::vector<node_id> others;
  for (auto id : c.ids())
    if (id != leader)
      others.push_back(id);
  std::vector<endpoint> eps{local(c, leader)};
  for (auto id : others)
    eps.push_back(local(c, id));
  auto out = std::make_shared<journal>();
  spawn_client(c, eps, {}, [out](client_pointer self, kv_client& cl) {
    launch(self, write_then_read(self, &cl, 0, 20, 10ms, out));
  });
  REQUIRE(c.run_until([&] { return out->order.size() >= 5; }, 5s));
  // Cut the leader off, let the next write reach it (appended, never
  // replicated), then kill it: that write's reply can never come.
  auto before = c.status(leader).last_index;
  c.partition({{leader}, others});
  REQUIRE(c.run_until([&] { return c.status(leader).last_index == before + 1; }, 1s));
  REQUIRE(out->order.size() == 5);
  c.kill(leader);
  c.heal();
  REQUIRE(c.run_until([&] { return out->done; }, 30s));
  for (int i = 0; i < 20; ++i) {
    INFO(key(i));
    if (i == 5) {
      CHECK(out->writes[key(i)].status == reply_status::unknown);
      // Here the write was lost with its leader: why it could not be "ok".
      CHECK(out->reads[key(i)].status == reply_status::not_found);
    } else {
      CHECK(out->writes[key(i)].status == reply_status::ok);
      CHECK(out->reads[key(i)].value == value(i));
    }
  }
  CHECK(out->stats.timeouts == 1);
  CHECK(out->stats.unknown == 1);
}

TEST_CASE("a write whose reply never comes is reported unknown, never failed or retried",
          "[client][cluster]") {
  actor_cluster c(3);
  auto leader = c.wait_for_leader();
  REQUIRE(leader != no_node);
  std::vector<node_id> others;
  for (auto id : c.ids())
    if (id != leader)
      others.push_back(id);
  auto before = c.status(leader).last_index;
  client_options opts;
  opts.request_timeout = 500ms;
  std::vector<endpoint> eps{local(c, leader)};
  for (auto id : others)
    eps.push_back(local(c, id));
  auto out = std::make_shared<journal>();
  spawn_client(c, eps, opts, [out](client_pointer self, kv_client& cl) {
    launch(self, put_one(&cl, "x", "1", out));
  });
  // The test coordinator runs jobs in order: the client sends its put to the
  // leader, then the links cut the leader off, then the leader appends the
  // entry it can no longer replicate.
  c.partition({{leader}, others});
  CHECK(c.status(leader).last_index == before + 1); // the write was sent and appended
  REQUIRE(c.run_until([&] { return out->done; }, 2s));
  auto& r = out->writes["x"];
  CHECK(r.status == reply_status::unknown);
  CHECK(out->stats.attempts == 1);
  CHECK(out->stats.timeouts == 1);
  CHECK(out->stats.unknown == 1);
  c.heal();
}

TEST_CASE("a read whose reply never comes is retried at the next endpoint",
          "[client][cluster]") {
  actor_cluster c(3);
  auto leader = c.wait_for_leader();
  REQUIRE(leader != no_node);
  REQUIRE(c.put("y", "2").status == reply_status::ok);
  std::vector<node_id> others;
  for (auto id : c.ids())
    if (id != leader)
      others.push_back(id);
  c.partition({{leader}, others});
  client_options opts;
  opts.request_timeout = 500ms;
  std::vector<endpoint> eps{local(c, leader)};
  for (auto id : others)
    eps.push_back(local(c, id));
  auto out = std::make_shared<journal>();
  spawn_client(c, eps, opts, [out](client_pointer self, kv_client& cl) {
    launch(self, get_one(&cl, "y", out));
  });
  REQUIRE(c.run_until([&] { return out->done; }, 10s));
  CHECK(out->reads["y"].status == reply_status::ok);
  CHECK(out->reads["y"].value == "2");
  CHECK(out->stats.attempts > 1);
  c.heal();
}

TEST_CASE("fifty coroutines in flight in one actor all complete with correct results",
          "[client][cluster]") {
  actor_cluster c(3);
  REQUIRE(c.wait_for_leader() != no_node);
  auto out = std::make_shared<journal>();
  spawn_client(c, all_nodes(c), {}, [out](client_pointer self, kv_client& cl) {
    for (int i = 0; i < 50; ++i)
      launch(self, put_and_check(&cl, i, out));
  });
  REQUIRE(c.run_until([&] { return out->finished == 50; }, 10s));
  for (int i = 0; i < 50; ++i) {
    INFO(key(i));
    CHECK(out->writes[key(i)].status == reply_status::ok);
    CHECK(out->reads[key(i)].status == reply_status::ok);
    CHECK(out->reads[key(i)].value == value(i));
  }
}

TEST_CASE("cas and del report their outcomes through the client", "[client][cluster]") {
  actor_cluster c(3);
  REQUIRE(c.wait_for_leader() != no_node);
  auto replies = std::make_shared<std::vector<client_reply>>();
  auto done = std::make_shared<bool>(false);
  struct script {
    static task<void> run(kv_client* cl, std::shared_ptr<std::vector<client_reply>> rs,
                          std::shared_ptr<bool> finished) {
      rs->push_back(co_await cl->put("k", "a"));
      rs->push_back(co_await cl->cas("k", "b", "c")); // wrong expectation
      rs->push_back(co_await cl->cas("k", "a", "c"));
      rs->push_back(co_await cl->get("k"));
      rs->push_back(co_await cl->del("k"));
      rs->push_back(co_await cl->del("k"));
      rs->push_back(co_await cl->get("k"));
      *finished = true;
    }
  };
  spawn_client(c, all_nodes(c), {}, [replies, done](client_pointer self, kv_client& cl) {
    launch(self, script::run(&cl, replies, done));
  });
  REQUIRE(c.run_until([&] { return *done; }, 5s));
  REQUIRE(replies->size() == 7);
  auto& r = *replies;
  CHECK(r[0].status == reply_status::ok);
  CHECK(r[1].status == reply_status::cas_failed);
  CHECK(r[1].value == "a");
  CHECK(r[2].status == reply_status::ok);
  CHECK(r[3].value == "c");
  CHECK(r[4].status == reply_status::ok);
  CHECK(r[5].status == reply_status::not_found);
  CHECK(r[6].status == reply_status::not_found);
}

TEST_CASE("status asks every endpoint and learns their ids", "[client][cluster]") {
  actor_cluster c(3);
  auto leader = c.wait_for_leader();
  REQUIRE(leader != no_node);
  auto victim = some_follower(c, leader);
  std::vector<endpoint> eps;
  for (auto id : c.ids())
    eps.push_back(local(c, id, false));
  c.kill(victim);
  auto result = std::make_shared<std::optional<std::vector<endpoint_status>>>();
  struct script {
    static task<std::vector<endpoint_status>> run(kv_client* cl) {
      co_return co_await cl->status();
    }
  };
  spawn_client(c, eps, {}, [result](client_pointer self, kv_client& cl) {
    launch(self, script::run(&cl),
           [result](std::vector<endpoint_status> s) { *result = std::move(s); });
  });
  REQUIRE(c.run_until([&] { return result->has_value(); }, 5s));
  auto& st = **result;
  REQUIRE(st.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    auto id = c.ids()[i];
    INFO("node " << id);
    if (id == victim) {
      CHECK_FALSE(st[i].reachable);
      CHECK_FALSE(st[i].error.empty());
    } else {
      CHECK(st[i].reachable);
      CHECK(st[i].id == id);
      CHECK(st[i].status.leader == leader);
    }
  }
}

TEST_CASE("killing the client actor while its coroutines are suspended leaks and crashes nothing",
          "[client][cluster]") {
  actor_cluster c(3);
  auto leader = c.wait_for_leader();
  REQUIRE(leader != no_node);
  std::vector<node_id> others;
  for (auto id : c.ids())
    if (id != leader)
      others.push_back(id);
  // Writes to a cut-off leader wait; commands to a dead node back off.
  c.partition({{leader}, others});
  auto victim = others.front();
  auto dead = local(c, victim);
  c.kill(victim);
  client_options backing_off;
  backing_off.retry_backoff = 1s;
  auto alive = std::make_shared<int>(0);
  auto destroyed = std::make_shared<bool>(false);
  auto out = std::make_shared<journal>();
  auto out_dead = std::make_shared<journal>();
  auto waiting = spawn_client(
    c, {local(c, leader)}, {},
    [alive, out](client_pointer self, kv_client& cl) {
      for (int i = 0; i < 20; ++i)
        launch(self, probed_put(&cl, i, alive, out));
    },
    true, destroyed);
  auto sleeping = spawn_client(c, {dead}, backing_off,
                               [alive, out_dead](client_pointer self, kv_client& cl) {
                                 for (int i = 0; i < 20; ++i)
                                   launch(self, probed_put(&cl, i, alive, out_dead));
                               });
  c.run();
  CHECK(*alive == 40); // all suspended: on requests, and on backoff timers
  auto weak_waiting = caf::actor_cast<caf::weak_actor_ptr>(waiting);
  auto weak_sleeping = caf::actor_cast<caf::weak_actor_ptr>(sleeping);
  caf::anon_send_exit(waiting, caf::exit_reason::kill);
  caf::anon_send_exit(sleeping, caf::exit_reason::kill);
  waiting = nullptr;
  sleeping = nullptr;
  c.run();
  CHECK(*alive == 0);
  CHECK(*destroyed);
  // Heal: the old leader steps down or commits; answers reach a dead actor.
  c.heal();
  c.advance(5s);
  CHECK(out->writes.empty());
  CHECK(out_dead->writes.empty());
  CHECK(weak_waiting.lock() == nullptr);
  CHECK(weak_sleeping.lock() == nullptr);
}
