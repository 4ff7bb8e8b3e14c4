// Real raft-node processes on loopback: elections, writes through any node,
// kill -9 of the leader, restarts from disk, garbage on the port.

#include "messages/registration.hpp"
#include "tests/process/process_harness.hpp"

#include <caf/actor_system_config.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <cstdlib>
#include <fstream>
#include <netinet/in.h>
#include <random>
#include <sys/socket.h>
#include <typeindex>
#include <unistd.h>

using namespace raft;
using namespace raft::process_test;

namespace {

using written = std::map<std::string, std::string>;

/// Writes `count` keys through the nodes in `via`, round robin (followers
/// forward to the leader); every write must be acknowledged.
void write_keys(test_cluster& c, const std::vector<node_id>& via, const std::string& prefix,
                int count, written& acked) {
  for (int i = 0; i < count; ++i) {
    auto key = prefix + std::to_string(i);
    auto value = "value-of-" + key;
    auto node = via[static_cast<std::size_t>(i) % via.size()];
    INFO("put " << key << " through node " << node);
    REQUIRE(c.put(node, key, value));
    acked[key] = value;
  }
}

/// Every acknowledged write reads back through `via`.
void check_keys(test_cluster& c, node_id via, const written& acked) {
  for (const auto& [key, value] : acked) {
    INFO("get " << key << " through node " << via);
    auto got = c.get(via, key);
    REQUIRE(got.has_value());
    CHECK(*got == value);
  }
}

/// Resident memory of a process in KiB (0 if unknown).
long resident_kib(pid_t pid) {
  auto status = read_file("/proc/" + std::to_string(pid) + "/status");
  auto at = status.find("VmRSS:");
  return at == std::string::npos ? 0 : std::strtol(status.c_str() + at + 6, nullptr, 10);
}

/// Connects to 127.0.0.1:port, writes `bytes` (as much as is taken), closes.
void send_raw(uint16_t port, const std::vector<unsigned char>& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
  // The node may close on the first bad header: a short write is fine.
  [[maybe_unused]] auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  ::close(fd);
}

/// A 32-byte BASP header (CAF 0.17 layout, network byte order) announcing
/// `payload_len` bytes: what made CAF allocate gigabytes before the guard.
std::vector<unsigned char> forged_header(uint8_t operation, uint32_t payload_len,
                                         uint64_t operation_data) {
  std::vector<unsigned char> h(32, 0);
  h[0] = operation;
  for (int i = 0; i < 4; ++i)
    h[4 + i] = static_cast<unsigned char>(payload_len >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i)
    h[8 + i] = static_cast<unsigned char>(operation_data >> (56 - 8 * i));
  return h;
}

std::vector<node_id> without(std::vector<node_id> ids, node_id gone) {
  std::erase(ids, gone);
  return ids;
}

/// The followers among `ids`, then the leader: writes through them exercise
/// forwarding first.
std::vector<node_id> followers_first(const std::vector<node_id>& ids, node_id leader) {
  auto r = without(ids, leader);
  r.push_back(leader);
  return r;
}

/// Whether each node in `nodes` reports exactly the peers in `up` (other
/// than itself) as connected, at their configured addresses.
bool peers_connected(test_cluster& c, test_client& client, const std::vector<node_id>& nodes,
                     const std::vector<node_id>& up) {
  for (auto id : nodes) {
    auto s = client.status(c.port(id));
    if (!s || s->peers.size() != c.ids().size() - 1)
      return false;
    for (const auto& p : s->peers) {
      bool should = std::find(up.begin(), up.end(), p.id) != up.end();
      if (p.connected != should || p.address != "127.0.0.1:" + std::to_string(c.port(p.id)))
        return false;
    }
  }
  return true;
}

/// Election, writes through every node, kill -9 of the leader, a new
/// leader with every acknowledged write, restart and catch-up.
void leader_failover(std::size_t n, int writes) {
  test_client client;
  test_cluster c(n, client);
  REQUIRE(c.start_all());
  auto ids = c.ids();

  auto leader = c.wait_for_leader(ids);
  REQUIRE(leader != no_node);
  // Every node sees every peer connected, at its configured address.
  CHECK(wait_until([&] { return peers_connected(c, client, ids, ids); }, 5s));
  written acked;
  write_keys(c, followers_first(ids, leader), "before-", writes, acked);

  c.kill9(leader);
  auto rest = without(ids, leader);
  auto next = c.wait_for_leader(rest);
  REQUIRE(next != no_node);
  CHECK(next != leader);
  CHECK(wait_until([&] { return peers_connected(c, client, rest, rest); }, 5s));
  // No acknowledged write is lost; reads go through a follower when there is one.
  check_keys(c, rest.front() == next ? rest.back() : rest.front(), acked);
  write_keys(c, followers_first(rest, next), "after-", writes / 2, acked);

  // The old leader restarts from its data directory and catches up.
  REQUIRE(c.start(leader));
  auto current = c.wait_for_leader(ids);
  REQUIRE(current != no_node);
  CHECK(c.wait_caught_up(leader, current));
  check_keys(c, leader, acked);
}

} // namespace

TEST_CASE("3 processes: leader elected, writes through any node, kill -9 of the leader "
          "loses no acknowledged write, the restarted node catches up",
          "[process]") {
  leader_failover(3, 30);
}

TEST_CASE("5 processes: kill -9 of the leader loses no acknowledged write, the restarted "
          "node catches up",
          "[process]") {
  leader_failover(5, 20);
}

TEST_CASE("all nodes stopped with SIGTERM and restarted keep all data", "[process]") {
  test_client client;
  test_cluster c(3, client);
  REQUIRE(c.start_all());
  auto ids = c.ids();
  auto leader = c.wait_for_leader(ids);
  REQUIRE(leader != no_node);
  written acked;
  write_keys(c, ids, "durable-", 20, acked);

  for (auto id : ids) {
    auto code = c.terminate(id);
    INFO("node " << id);
    REQUIRE(code.has_value());
    CHECK(*code == 0); // a clean shutdown
  }
  REQUIRE(c.start_all());
  leader = c.wait_for_leader(ids);
  REQUIRE(leader != no_node);
  for (auto id : ids)
    check_keys(c, id, acked);
}

TEST_CASE("garbage bytes and forged BASP headers on a node's port do not stop it from serving",
          "[process]") {
  test_client client;
  test_cluster c(1, client);
  // This node also reads its settings from a config file, with a flag on top.
  temp_dir conf;
  auto ini = conf.path() + "/node.ini";
  std::ofstream(ini) << "[raft]\nelection-timeout-min = 150\nheartbeat-interval = 50\n"
                        "log-level = \"quiet\"\n";
  c.extra_args = {"--config-file=" + ini, "--raft.log-level=info"};
  REQUIRE(c.start(1));
  REQUIRE(c.wait_for_leader({1}) == 1);
  REQUIRE(c.put(1, "before", "garbage"));

  std::mt19937 rng(42);
  for (int round = 0; round < 8; ++round) {
    std::vector<unsigned char> junk(64 + rng() % 4096);
    for (auto& b : junk)
      b = static_cast<unsigned char>(rng());
    send_raw(c.port(1), junk);
  }
  // Forged headers announcing 4 GiB (server and client handshake, a
  // message): each would make CAF 0.17 zero-fill a 4 GiB buffer.
  send_raw(c.port(1), forged_header(0x00, 0xFFFFFFFF, 3));
  send_raw(c.port(1), forged_header(0x01, 0xFFFFFFFF, 3));
  send_raw(c.port(1), forged_header(0x02, 0xFFFFFFFF, 0));

  REQUIRE(c.running(1));
  REQUIRE(c.put(1, "after", "still-serving"));
  CHECK(c.get(1, "before") == std::optional<std::string>{"garbage"});
  CHECK(c.get(1, "after") == std::optional<std::string>{"still-serving"});
  CHECK(c.running(1));
  auto rss = resident_kib(c.pid(1));
  INFO("resident memory " << rss << " KiB");
  CHECK(rss < 256 * 1024);
  // The flag overrode the file's log level: role changes were logged.
  CHECK(read_file(c.stdout_path(1)).find("leader") != std::string::npos);
}

TEST_CASE("a leader cut off through the gateways steps down, the majority elects a new leader "
          "and goes on, after the heal all nodes converge",
          "[process]") {
  {
    // partition_atom carries a std::vector<node_id>, which is no CAF builtin:
    // without its registration the message cannot cross the wire at all.
    caf::actor_system_config probe;
    register_message_types(probe);
    INFO("messages/registration.cpp must register std::vector<node_id> "
         "(add_message_type<std::vector<node_id>>(\"raft_node_id_list\"))");
    REQUIRE(probe.type_names_by_rtti.count(std::type_index(typeid(std::vector<node_id>))) == 1);
  }
  test_client client;
  test_cluster c(3, client);
  REQUIRE(c.start_all());
  auto ids = c.ids();
  auto leader = c.wait_for_leader(ids);
  REQUIRE(leader != no_node);
  written acked;
  write_keys(c, ids, "pre-", 5, acked);

  // Both sides drop the traffic: the leader's gateway cuts off the others,
  // and theirs cut off the leader.
  auto rest = without(ids, leader);
  REQUIRE(client.partition(c.port(leader), rest));
  for (auto id : rest)
    REQUIRE(client.partition(c.port(id), {leader}));
  auto next = c.wait_for_leader(rest);
  REQUIRE(next != no_node);
  CHECK(next != leader);
  write_keys(c, rest, "majority-", 5, acked);
  // Check-quorum: the isolated leader steps down.
  CHECK(wait_until(
    [&] {
      auto s = client.status(c.port(leader));
      return s && s->role != raft_role::leader;
    },
    5s));

  for (auto id : ids)
    REQUIRE(client.partition(c.port(id), {}));
  auto healed = c.wait_for_leader(ids);
  REQUIRE(healed != no_node);
  CHECK(c.wait_caught_up(leader, healed));
  check_keys(c, leader, acked);
}
