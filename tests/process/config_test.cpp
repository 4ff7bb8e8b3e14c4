// raft-node refuses a bad configuration before it starts: exit code != 0 and
// one line on stderr naming the problem.

#include "app/raft_node/node_config.hpp"
#include "tests/process/process_harness.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace raft;
using namespace raft::process_test;

namespace {

node_settings good_settings() {
  node_settings s;
  s.id = 1;
  s.port = 7001;
  s.data_dir = "/tmp/x";
  s.peers = {"1=127.0.0.1:7001", "2=127.0.0.1:7002", "3=127.0.0.1:7003"};
  return s;
}

/// Runs raft-node with a valid base configuration plus `extra`.
run_result run_with(const temp_dir& dir, uint16_t port, std::vector<std::string> extra) {
  std::vector<std::string> args{"--raft.id=1", "--raft.port=" + std::to_string(port),
                                "--raft.data-dir=" + dir.path() + "/data"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_raft_node(args);
}

/// Listens on 127.0.0.1:`port` (so that nothing else can); the socket.
int hold_port(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  return fd;
}

void check_rejected(const run_result& r, const std::string& phrase) {
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code.has_value());
  CHECK(*r.exit_code != 0);
  CHECK(r.err.find(phrase) != std::string::npos);
  CHECK(r.out.find("listening on") == std::string::npos);
}

} // namespace

TEST_CASE("peer entries parse as id=host:port", "[config]") {
  auto p = parse_peer("2=10.0.0.2:7002");
  REQUIRE(p);
  CHECK(p->id == 2);
  CHECK(p->host == "10.0.0.2");
  CHECK(p->port == 7002);
  auto v6 = parse_peer("3=[::1]:7003");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  for (const char* bad : {"2=localhost", "2:127.0.0.1:1", "x=h:1", "0=h:1", "2=h:0", "2=h:70000",
                          "2=:1", "=h:1", "2=h:p", "2=::1:5"})
    CHECK_FALSE(parse_peer(bad));
}

TEST_CASE("validation maps timeouts to ticks and names each problem", "[config]") {
  auto s = good_settings();
  auto v = validate(s);
  REQUIRE(v.plan);
  CHECK(v.plan->election_ticks == 15);
  CHECK(v.plan->election_ticks_max == 30);
  CHECK(v.plan->heartbeat_ticks == 5);
  CHECK(v.plan->peers.size() == 2); // its own entry skipped
  CHECK(v.plan->notes.empty());

  s.election_timeout_max_ms = 505;
  v = validate(s);
  REQUIRE(v.plan);
  CHECK(v.plan->election_ticks_max == 50);
  REQUIRE(v.plan->notes.size() == 1);
  CHECK(v.plan->notes[0].find("rounded down to 500 ms") != std::string::npos);

  auto rejects = [](node_settings bad, const std::string& phrase) {
    auto r = validate(bad);
    INFO("error: " << r.error);
    CHECK_FALSE(r.plan);
    CHECK(r.error.find(phrase) != std::string::npos);
  };
  s = good_settings();
  s.id.reset();
  rejects(s, "missing raft.id");
  s = good_settings();
  s.id = 0;
  rejects(s, "must not be 0");
  s = good_settings();
  s.port.reset();
  rejects(s, "missing raft.port");
  s = good_settings();
  s.data_dir.clear();
  rejects(s, "missing raft.data-dir");
  s = good_settings();
  s.peers.push_back("2=127.0.0.1:7009");
  rejects(s, "duplicate node id 2");
  s = good_settings();
  s.peers.push_back("1=127.0.0.2:7001");
  rejects(s, "duplicate node id 1");
  s = good_settings();
  s.peers.push_back("4=127.0.0.1:7002");
  rejects(s, "same address");
  s = good_settings();
  s.peers.push_back("4=127.0.0.1:7001");
  rejects(s, "this node's own address");
  s = good_settings();
  s.heartbeat_interval_ms = 60;
  rejects(s, "at most a third of raft.election-timeout-min");
  s = good_settings();
  s.election_timeout_min_ms = 400;
  rejects(s, "must be below raft.election-timeout-max");
  s = good_settings();
  s.election_timeout_max_ms = 155;
  rejects(s, "fall into the same tick");
  s = good_settings();
  s.tick_ms = 0;
  rejects(s, "raft.tick");
  s = good_settings();
  s.log_level = "loud";
  rejects(s, "raft.log-level");
}

TEST_CASE("validation of the Redis client port's options", "[config][redis]") {
  auto s = good_settings();
  auto v = validate(s);
  REQUIRE(v.plan);
  CHECK(v.plan->client_port == 0); // off unless configured
  s.client_port = 6379;
  s.client_password = "pw";
  s.client_max_pipeline = 10;
  v = validate(s);
  REQUIRE(v.plan);
  CHECK(v.plan->client_port == 6379);
  CHECK(v.plan->client_host == "127.0.0.1"); // the node's host by default
  CHECK(v.plan->client_password == "pw");
  CHECK(v.plan->client_max_pipeline == 10);
  CHECK(v.plan->client_max_bulk == 16u * 1024 * 1024);

  auto rejects = [](node_settings bad, const std::string& phrase) {
    auto r = validate(bad);
    INFO("error: " << r.error);
    CHECK_FALSE(r.plan);
    CHECK(r.error.find(phrase) != std::string::npos);
  };
  s = good_settings();
  s.client_port = 0;
  rejects(s, "raft.client-port must be 1-65535");
  s.client_port = 70000;
  rejects(s, "raft.client-port must be 1-65535");
  s.client_port = 7001; // the node's own port
  rejects(s, "needs a port of its own");
  s = good_settings();
  s.client_password = "pw";
  rejects(s, "need raft.client-port");
  s = good_settings();
  s.client_host = "0.0.0.0";
  rejects(s, "need raft.client-port");
  s = good_settings();
  s.client_port = 6379;
  s.client_max_clients = 0;
  rejects(s, "raft.client-max-clients must be at least 1");
  s.client_max_clients = 1;
  s.client_max_pipeline = 0;
  rejects(s, "raft.client-max-pipeline must be at least 1");
  s.client_max_pipeline = 1;
  s.client_max_bulk = (512ull << 20) + 1;
  rejects(s, "raft.client-max-bulk is too large");
  // Another address may use the same port number.
  s = good_settings();
  s.client_port = 7001;
  s.client_host = "127.0.0.2";
  CHECK(validate(s).plan);
}

TEST_CASE("raft-node rejects bad configurations with one clear line", "[process][config]") {
  temp_dir dir;
  auto port = free_ports(1)[0];

  SECTION("duplicate ids") {
    check_rejected(run_with(dir, port, {"--raft.peers=[\"2=127.0.0.1:1\",\"2=127.0.0.1:2\"]"}),
                   "duplicate node id 2");
  }
  SECTION("a peer with this node's id but another address") {
    check_rejected(run_with(dir, port, {"--raft.peers=[\"1=127.0.0.1:1\"]"}),
                   "duplicate node id 1");
  }
  SECTION("heartbeat not well below the election timeout") {
    check_rejected(run_with(dir, port,
                            {"--raft.heartbeat-interval=100", "--raft.election-timeout-min=200"}),
                   "heartbeat-interval (100 ms) must be at most a third");
  }
  SECTION("election-timeout-min above max") {
    check_rejected(run_with(dir, port, {"--raft.election-timeout-min=500"}),
                   "must be below raft.election-timeout-max");
  }
  SECTION("malformed peer entry") {
    check_rejected(run_with(dir, port, {"--raft.peers=[\"2=127.0.0.1\"]"}),
                   "malformed peer entry \"2=127.0.0.1\"");
  }
  SECTION("missing id") {
    check_rejected(run_raft_node({"--raft.port=" + std::to_string(port)}), "missing raft.id");
  }
  SECTION("id 0") {
    check_rejected(run_with(dir, port, {"--raft.id=0"}), "raft.id must not be 0");
  }
  SECTION("unwritable data directory (a path under a regular file)") {
    auto file = dir.path() + "/plain-file";
    std::ofstream(file) << "x";
    check_rejected(run_with(dir, port, {"--raft.data-dir=" + file + "/data"}), "is not writable");
  }
  SECTION("port in use") {
    int fd = hold_port(port);
    auto r = run_with(dir, port, {});
    ::close(fd);
    check_rejected(r, "port " + std::to_string(port) + " is already in use");
  }
  SECTION("client port in use") {
    auto client = free_ports(1)[0];
    int fd = hold_port(client);
    auto r = run_with(dir, port, {"--raft.client-port=" + std::to_string(client)});
    ::close(fd);
    check_rejected(r, "cannot open the redis port at 127.0.0.1:" + std::to_string(client));
  }
  SECTION("client password without a client port") {
    check_rejected(run_with(dir, port, {"--raft.client-password=x"}), "need raft.client-port");
  }
  SECTION("unknown option") {
    check_rejected(run_with(dir, port, {"--raft.bogus=1"}), "invalid option");
  }
}
