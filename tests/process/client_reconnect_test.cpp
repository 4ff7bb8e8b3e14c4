// The client library against real processes: a client keeps working when
// every node it knows is killed and comes back on the same address (its
// proxies to the old processes are dead, and CAF 0.17 drops messages to a
// dead remote proxy without an error).

#include "actors/client/blocking_client.hpp"
#include "tests/process/process_harness.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <future>
#include <string>

using namespace raft;
using namespace raft::process_test;

namespace {

/// SIGSTOP, and waits until the kernel reports the process stopped.
bool stop_process(pid_t pid) {
  ::kill(pid, SIGSTOP);
  return wait_until(
    [&] {
      auto st = read_file("/proc/" + std::to_string(pid) + "/stat");
      auto close = st.rfind(')'); // the state follows the command name
      return close != std::string::npos && close + 2 < st.size() && st[close + 2] == 'T';
    },
    5s);
}

} // namespace

TEST_CASE("a client outlives a restart of every node: it reconnects and its writes succeed again",
          "[process][client]") {
  test_client tc;
  test_cluster c(3, tc);
  REQUIRE(c.start_all());
  REQUIRE(c.wait_for_leader(c.ids(), 10s) != no_node);

  std::vector<std::string> addresses;
  for (auto id : c.ids())
    addresses.push_back("127.0.0.1:" + std::to_string(c.port(id)));
  client_options opts;
  opts.request_timeout = std::chrono::milliseconds(500);
  opts.overall_timeout = std::chrono::seconds(5);
  blocking_client client(tc.system(), addresses, opts);
  REQUIRE(client.put("before", "1").status == reply_status::ok);

  for (auto id : c.ids())
    c.kill9(id);
  REQUIRE(c.start_all());
  REQUIRE(c.wait_for_leader(c.ids(), 10s) != no_node);

  // The client's proxies to the old processes died with their connections.
  // CAF 0.17 would swallow a request sent to one (a write would end
  // `unknown` after a timeout); the client saw them die and reconnects, so
  // the very first write after the restart is acknowledged.
  auto w = client.put("after", "2");
  INFO("first write after the restart: " << to_string(w.status) << " " << w.message);
  REQUIRE(w.status == reply_status::ok);
  auto r = client.get("before");
  REQUIRE(r.status == reply_status::ok);
  CHECK(r.value == "1");
}

TEST_CASE("a write in flight to a node that dies fails at once as unknown, not after the "
          "request timeout",
          "[process][client]") {
  test_client tc;
  test_cluster c(3, tc);
  REQUIRE(c.start_all());
  auto leader = c.wait_for_leader(c.ids(), 10s);
  REQUIRE(leader != no_node);

  // Only the leader, with timeouts far above what the test waits (the
  // node's own client timeout, 5 s, is cut short by the kill): CAF 0.17
  // never answers a request whose connection is lost, so without the
  // client's watch on its proxy this write would wait them all out.
  client_options opts;
  opts.request_timeout = std::chrono::seconds(30);
  opts.overall_timeout = std::chrono::seconds(40);
  blocking_client client(tc.system(), {"127.0.0.1:" + std::to_string(c.port(leader))}, opts);
  REQUIRE(client.put("before", "1").status == reply_status::ok); // connected, id known

  // Cut the leader off from its followers (through its gateway): a write
  // reaches it, is appended, and cannot commit...
  node_id others[2];
  std::size_t n = 0;
  for (auto id : c.ids())
    if (id != leader)
      others[n++] = id;
  REQUIRE(tc.partition(c.port(leader), {others[0], others[1]}));
  auto before = tc.status(c.port(leader));
  REQUIRE(before);
  auto pending = std::async(std::launch::async, [&] { return client.put("in-flight", "2"); });
  REQUIRE(wait_until(
    [&] {
      auto st = tc.status(c.port(leader));
      return st && st->last_index > before->last_index;
    },
    5s));
  REQUIRE(pending.wait_for(std::chrono::seconds(0)) == std::future_status::timeout);
  // ...then kill it: the connection closes with the write in flight.
  c.kill9(leader);
  REQUIRE(pending.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  auto r = pending.get();
  INFO(to_string(r.status) << ": " << r.message);
  // Sent and maybe applied: unknown, from the client's watch on the proxy.
  CHECK(r.status == reply_status::unknown);
  CHECK(r.message.find("remote_link_unreachable") != std::string::npos);
}

TEST_CASE("a write a follower forwarded to a leader that dies is answered unknown as soon as "
          "the follower's link loses the leader",
          "[process][client]") {
  test_client tc;
  test_cluster c(3, tc);
  REQUIRE(c.start_all());
  auto leader = c.wait_for_leader(c.ids(), 10s);
  REQUIRE(leader != no_node);
  node_id follower = no_node;
  for (auto id : c.ids())
    if (id != leader)
      follower = id;
  REQUIRE(c.put(follower, "before", "1")); // the follower's link to the leader is up

  // Stop the leader; a write through the follower is forwarded to it and
  // stays unanswered...
  auto pid = c.pid(leader);
  REQUIRE(stop_process(pid));
  // The write goes through a client of its own: test_client is not
  // thread-safe, and this thread keeps asking `tc` for status.
  test_client sender;
  auto start = std::chrono::steady_clock::now();
  auto pending = std::async(std::launch::async, [&] {
    kv_command cmd;
    cmd.op = kv_op::put;
    cmd.key = "forwarded";
    cmd.value = "2";
    return sender.command(c.port(follower), cmd, 30s);
  });
  // The follower has passed it on to the leader and waits for the answer
  // (its status comes from the follower, which runs)...
  REQUIRE(wait_until(
    [&] {
      auto st = tc.status(c.port(follower));
      if (!st)
        return false;
      for (const auto& p : st->peers)
        if (p.id == leader && p.commands_in_flight == 1)
          return true;
      return false;
    },
    5s));
  REQUIRE(pending.wait_for(std::chrono::seconds(0)) == std::future_status::timeout);
  // ...until the leader is killed: the follower's link sees its connection
  // go and answers at once, well before its own request timeout (6 s).
  c.kill9(leader);
  REQUIRE(pending.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  auto waited = std::chrono::steady_clock::now() - start;
  auto r = pending.get();
  REQUIRE(r.has_value());
  INFO(to_string(r->status) << ": " << r->message << " after "
                            << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()
                            << " ms");
  CHECK(r->status == reply_status::unknown);
  CHECK(r->message.find("lost peer") != std::string::npos);
}
