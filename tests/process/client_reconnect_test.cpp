// The client library against real processes: a client keeps working when
// every node it knows is killed and comes back on the same address (its
// proxies to the old processes are dead, and CAF 0.17 drops messages to a
// dead remote proxy without an error).

#include "actors/client/blocking_client.hpp"
#include "tests/process/process_harness.hpp"

#include <catch2/catch.hpp>

#include <chrono>

using namespace raft;
using namespace raft::process_test;

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
