// The Redis-protocol client port of real raft-node processes, driven by
// Debian's redis-cli and redis-benchmark (redis-tools) and by raw sockets:
// every command from the leader and from a follower, AUTH, READONLY on a
// node cut off from the leader, fast errors without a leader, a protocol
// fuzz that must not disturb well-formed clients or lose acknowledged
// writes, and redis-benchmark as a smoke test.
#include "tests/process/process_harness.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace raft;
using namespace raft::process_test;
using namespace std::string_literals;

namespace {

/// A cluster of `n` raft-node processes, each with a Redis port.
struct redis_cluster {
  explicit redis_cluster(std::size_t n, std::vector<std::string> extra = {})
    : cluster(n, client) {
    auto ports = free_ports(n);
    std::size_t k = 0;
    for (auto id : cluster.ids()) {
      redis_ports[id] = ports[k++];
      auto& a = cluster.node_args[id];
      a.push_back("--raft.client-port=" + std::to_string(redis_ports[id]));
      a.insert(a.end(), extra.begin(), extra.end());
    }
  }
  /// Starts every node; the leader they elect (the test fails without one).
  node_id start() {
    REQUIRE(cluster.start_all());
    auto leader = cluster.wait_for_leader(cluster.ids());
    REQUIRE(leader != no_node);
    return leader;
  }
  test_client client;
  test_cluster cluster;
  std::map<node_id, uint16_t> redis_ports;
};

/// The path of `name` on PATH; fails the test if there is none (redis-cli
/// and redis-benchmark come with Debian's redis-tools, which
/// scripts/install-deps.sh installs).
std::string program_path(const std::string& name) {
  if (name.find('/') != std::string::npos)
    return name;
  const char* path = std::getenv("PATH");
  std::istringstream dirs{path != nullptr ? path : "/usr/bin:/bin"};
  for (std::string dir; std::getline(dirs, dir, ':');) {
    auto candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  FAIL(name << " not found on PATH: install redis-tools (scripts/install-deps.sh)");
  return {};
}

/// Runs a program found on PATH (see program_path).
run_result run_tool(std::vector<std::string> argv, ms limit = 20s) {
  argv[0] = program_path(argv[0]);
  return run_program(argv, limit);
}

/// redis-cli with one command; its output in the formatted (tty-like) form:
/// `"value"`, `(integer) 3`, `(nil)`, `(error) ERR ...`. Trailing newline cut.
std::string cli(uint16_t port, const std::vector<std::string>& command,
                const std::vector<std::string>& options = {}) {
  std::vector<std::string> argv{"redis-cli", "--no-raw", "-p", std::to_string(port)};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.insert(argv.end(), command.begin(), command.end());
  auto r = run_tool(argv);
  INFO("redis-cli stderr: " << r.err);
  REQUIRE(r.exit_code.has_value());
  while (!r.out.empty() && r.out.back() == '\n')
    r.out.pop_back();
  return r.out;
}

/// redis-cli reading several commands (one per line) from a file: one
/// connection, so session state (AUTH, READONLY) carries across them.
std::string cli_session(uint16_t port, const std::string& commands,
                        const std::vector<std::string>& options = {}) {
  temp_dir dir;
  auto in = dir.path() + "/in";
  std::ofstream{in} << commands;
  std::string cmd = "exec redis-cli --no-raw -p " + std::to_string(port);
  for (const auto& o : options)
    cmd += " " + o;
  cmd += " < " + in;
  auto r = run_tool({"/bin/sh", "-c", cmd});
  REQUIRE(r.exit_code.has_value());
  return r.out;
}

/// Repeats `command` until redis-cli's answer satisfies `accept`; the last
/// answer (elections may be in progress when a test starts).
std::string cli_until(uint16_t port, const std::vector<std::string>& command,
                      const std::function<bool(const std::string&)>& accept, ms limit = 10s) {
  std::string last;
  wait_until(
    [&] {
      last = cli(port, command);
      return accept(last);
    },
    limit, 50ms);
  return last;
}

bool is_error(const std::string& out) { return out.rfind("(error)", 0) == 0; }

/// A raw TCP connection for what redis-cli would not send.
class raw_connection {
public:
  explicit raw_connection(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    int one = 1;
    if (fd_ >= 0)
      ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~raw_connection() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  bool connected() const { return fd_ >= 0; }

  /// Sends everything; false if the peer closed or reset the connection.
  bool send(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      auto n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  /// Reads until `want` bytes arrived, the peer closed, or `limit` passed.
  std::string receive(std::size_t want, ms limit) {
    std::string got;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (got.size() < want) {
      auto left = std::chrono::duration_cast<ms>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        break;
      char buf[65536];
      auto n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
  }

  /// Reads until `text` ends what arrived (or the peer closed / limit).
  std::string receive_until(const std::string& text, ms limit) {
    std::string got;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (got.size() < text.size() || got.compare(got.size() - text.size(), text.size(), text) != 0) {
      auto left = std::chrono::duration_cast<ms>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        break;
      auto more = receive(1, left);
      if (more.empty())
        break;
      got += more;
    }
    return got;
  }

  /// Whether the server closed the connection (seen by a read).
  bool closed_by_peer(ms limit) {
    receive(std::size_t(-1), limit);
    return closed_;
  }

private:
  int fd_ = -1;
  bool closed_ = false;
};

std::string resp_command(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args)
    out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

node_id some_follower(test_cluster& c, node_id leader) {
  for (auto id : c.ids())
    if (id != leader)
      return id;
  return no_node;
}

} // namespace

TEST_CASE("redis port: every command through redis-cli from the leader and from a follower",
          "[process][redis]") {
  redis_cluster rc{3};
  auto& c = rc.cluster;
  REQUIRE(c.start_all());
  for (auto id : c.ids())
    CHECK(c.output(id).find("redis port on 127.0.0.1:" + std::to_string(rc.redis_ports[id]))
          != std::string::npos);
  auto leader = c.wait_for_leader(c.ids());
  REQUIRE(leader != no_node);
  auto follower = some_follower(c, leader);
  for (auto via : {leader, follower}) {
    auto p = rc.redis_ports[via];
    auto k = [&](const std::string& name) { return name + "-" + std::to_string(via); };
    INFO("through node " << via << (via == leader ? " (leader)" : " (follower)"));
    CHECK(cli(p, {"PING"}) == "PONG");
    CHECK(cli(p, {"ECHO", "hello world"}) == "\"hello world\"");
    CHECK(cli_until(p, {"SET", k("a"), "1"}, [](auto& o) { return !is_error(o); }) == "OK");
    CHECK(cli(p, {"GET", k("a")}) == "\"1\"");
    CHECK(cli(p, {"GET", k("missing")}) == "(nil)");
    CHECK(cli(p, {"SET", k("a"), "2", "NX"}) == "(nil)");
    CHECK(cli(p, {"SET", k("b"), "x", "XX"}) == "(nil)");
    CHECK(cli(p, {"SET", k("a"), "3", "XX", "GET"}) == "\"1\"");
    CHECK(cli(p, {"SET", k("a"), "4", "GET"}) == "\"3\"");
    CHECK(cli(p, {"INCR", k("n")}) == "(integer) 1");
    CHECK(cli(p, {"INCRBY", k("n"), "41"}) == "(integer) 42");
    CHECK(cli(p, {"DECR", k("n")}) == "(integer) 41");
    CHECK(cli(p, {"DECRBY", k("n"), "50"}) == "(integer) -9");
    CHECK(cli(p, {"SET", k("txt"), "abc"}) == "OK");
    CHECK(cli(p, {"INCR", k("txt")}) == "(error) ERR value is not an integer or out of range");
    CHECK(cli(p, {"MSET", k("m1"), "v1", k("m2"), "v2"}) == "OK");
    CHECK(cli(p, {"MGET", k("m1"), k("nope"), k("m2")}) == "1) \"v1\"\n2) (nil)\n3) \"v2\"");
    CHECK(cli(p, {"EXISTS", k("m1"), k("m2"), k("nope"), k("m1")}) == "(integer) 3");
    CHECK(cli(p, {"CAS", k("m1"), "v1", "w1"}) == "(integer) 1");
    CHECK(cli(p, {"CAS", k("m1"), "v1", "z1"}) == "(integer) 0");
    CHECK(cli(p, {"GET", k("m1")}) == "\"w1\"");
    CHECK(cli(p, {"DEL", k("m1"), k("m2"), k("nope")}) == "(integer) 2");
    CHECK(cli(p, {"SELECT", "0"}) == "OK");
    CHECK(cli(p, {"SELECT", "3"}) == "(error) ERR DB index is out of range");
    CHECK(cli(p, {"FLUSHALL"})
          == "(error) ERR unknown command 'FLUSHALL', with args beginning with: ");
    CHECK(cli(p, {"GET"}) == "(error) ERR wrong number of arguments for 'get' command");
    CHECK(cli(p, {"SET", "k", "v", "EX", "10"}).rfind("(error) ERR expiring keys", 0) == 0);
    // Binary-safe values, through redis-cli's quoting.
    CHECK(cli(p, {"SET", k("bin"), "a\tb\nc"}) == "OK");
    CHECK(cli(p, {"GET", k("bin")}) == "\"a\\tb\\nc\"");
    auto info = cli(p, {"INFO", "raft"});
    CHECK(info.find("node_id:" + std::to_string(via)) != std::string::npos);
    CHECK(info.find("role:" + std::string(via == leader ? "leader" : "follower"))
          != std::string::npos);
    CHECK(info.find("leader:" + std::to_string(leader)) != std::string::npos);
    CHECK(info.find("voters:1,2,3") != std::string::npos);
    CHECK(info.find("commit_index:") != std::string::npos);
    CHECK(info.find("applied_index:") != std::string::npos);
  }
  // DBSIZE counts both rounds' keys: a, n, txt, bin per node (b never set).
  CHECK(cli(rc.redis_ports[follower], {"DBSIZE"}) == "(integer) 8");
  // Linearizable reads: what one node acknowledged, every node reads back.
  REQUIRE(cli(rc.redis_ports[follower], {"SET", "shared", "v-final"}) == "OK");
  for (auto id : c.ids())
    CHECK(cli(rc.redis_ports[id], {"GET", "shared"}) == "\"v-final\"");
  // And the C++ client sees the same state.
  CHECK(c.get(leader, "shared") == "v-final");
}

TEST_CASE("redis port: AUTH with a configured password", "[process][redis]") {
  redis_cluster rc{3, {"--raft.client-password=open-sesame"}};
  rc.start();
  auto p = rc.redis_ports[1];
  CHECK(cli(p, {"GET", "k"}) == "(error) NOAUTH Authentication required.");
  CHECK(cli(p, {"SET", "k", "v"}) == "(error) NOAUTH Authentication required.");
  CHECK(cli(p, {"PING"}) == "PONG");
  CHECK(cli_session(p, "AUTH wrong\nGET k\n")
        == "(error) WRONGPASS invalid username-password pair or user is disabled.\n"
           "(error) NOAUTH Authentication required.\n");
  CHECK(cli_until(p, {"SET", "k", "v"}, [](auto& o) { return !is_error(o); }) != "");
  auto authed = [&](const std::vector<std::string>& cmd) {
    return cli(p, cmd, {"--no-auth-warning", "-a", "open-sesame"});
  };
  CHECK(authed({"SET", "k", "v"}) == "OK");
  CHECK(authed({"GET", "k"}) == "\"v\"");
  // One connection: refused before AUTH, served after it.
  auto session = cli_session(p, "GET k\nAUTH open-sesame\nGET k\n");
  CHECK(session == "(error) NOAUTH Authentication required.\nOK\n\"v\"\n");
  // HELLO with AUTH, as RESP2 client libraries send it.
  raw_connection raw{p};
  REQUIRE(raw.connected());
  REQUIRE(raw.send(resp_command({"HELLO", "2", "AUTH", "default", "open-sesame"})
                   + resp_command({"GET", "k"})));
  auto got = raw.receive_until("$1\r\nv\r\n", 5s);
  CHECK(got.rfind("*14\r\n$6\r\nserver\r\n", 0) == 0);
  CHECK(got.find("$1\r\nv\r\n") != std::string::npos);
}

TEST_CASE("redis port: without a leader commands fail fast; READONLY still reads a cut-off node",
          "[process][redis]") {
  redis_cluster rc{3};
  auto& c = rc.cluster;
  auto leader = rc.start();
  auto lone = some_follower(c, leader);
  auto p = rc.redis_ports[lone];
  REQUIRE(cli_until(p, {"SET", "before", "cut"}, [](auto& o) { return !is_error(o); }) == "OK");
  // Wait until the lone node applied it (its local state is what READONLY reads).
  REQUIRE(wait_until([&] { return cli_session(p, "READONLY\nGET before\n") == "OK\n\"cut\"\n"; },
                     10s));
  // The other two stop: the lone node has no quorum and soon no leader.
  for (auto id : c.ids())
    if (id != lone)
      c.kill9(id);
  auto answer = cli_until(p, {"SET", "after", "cut"},
                          [](auto& o) { return o.rfind("(error) NOLEADER", 0) == 0; }, 15s);
  CHECK(answer.rfind("(error) NOLEADER", 0) == 0);
  // Fails fast: NOLEADER is the node's own answer, not a timeout (that would
  // be TIMEOUT for a read, UNKNOWN for a write).
  CHECK(cli(p, {"GET", "before"}).rfind("(error) NOLEADER", 0) == 0);
  CHECK(cli(p, {"SET", "x", "y"}).rfind("(error) NOLEADER", 0) == 0);
  // READONLY: this connection reads the node's own state; writes still
  // need the leader; READWRITE goes back to linearizable reads.
  auto out = cli_session(p, "READONLY\nGET before\nMGET before after\nDBSIZE\nSET z 1\n"
                            "READWRITE\nGET before\n");
  std::vector<std::string> lines;
  std::istringstream in{out};
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  INFO(out);
  REQUIRE(lines.size() == 8);
  CHECK(lines[0] == "OK");
  CHECK(lines[1] == "\"cut\"");
  CHECK(lines[2] == "1) \"cut\"");
  CHECK(lines[3] == "2) (nil)");
  CHECK(lines[4] == "(integer) 1");
  CHECK(lines[5].rfind("(error) NOLEADER", 0) == 0);
  CHECK(lines[6] == "OK");
  CHECK(lines[7].rfind("(error) NOLEADER", 0) == 0);
}

TEST_CASE("redis port: limits answer Redis's errors and close only the offending connection",
          "[process][redis]") {
  redis_cluster rc{3, {"--raft.client-max-bulk=1024", "--raft.client-max-inline=256",
                       "--raft.client-max-multibulk=16", "--raft.client-max-clients=8"}};
  rc.start();
  auto p = rc.redis_ports[1];
  raw_connection good{p};
  REQUIRE(good.connected());
  struct bad_input {
    std::string bytes;
    std::string error;
  };
  std::vector<bad_input> cases = {
    {"*1\r\n$2000\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
    {"*17\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
    {"*1\r\n+PING\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"},
    {std::string(300, 'a'), "-ERR Protocol error: too big inline request\r\n"},
    {"GET \"unbalanced\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
    {"*-5\r\n*1\r\n$-3\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
  };
  for (const auto& bad : cases) {
    INFO(bad.error);
    raw_connection conn{p};
    REQUIRE(conn.connected());
    // A command before the bad input is still answered, in order.
    REQUIRE(conn.send("PING\r\n" + bad.bytes));
    auto got = conn.receive_until(bad.error, 5s);
    CHECK(got == "+PONG\r\n" + bad.error);
    CHECK(conn.closed_by_peer(5s));
    // The other connection is untouched.
    REQUIRE(good.send(resp_command({"ECHO", "still here"})));
    CHECK(good.receive_until("still here\r\n", 5s) == "$10\r\nstill here\r\n");
  }
  // At most 8 connections: the 9th is told and closed; the first 8 work.
  std::vector<std::unique_ptr<raw_connection>> conns;
  for (int i = 0; i < 7; ++i) {
    conns.push_back(std::make_unique<raw_connection>(p));
    REQUIRE(conns.back()->send("PING\r\n"));
    REQUIRE(conns.back()->receive_until("+PONG\r\n", 5s) == "+PONG\r\n");
  }
  raw_connection ninth{p};
  REQUIRE(ninth.connected());
  CHECK(ninth.receive_until("reached\r\n", 5s) == "-ERR max number of clients reached\r\n");
  CHECK(ninth.closed_by_peer(5s));
  REQUIRE(good.send("PING\r\n"));
  CHECK(good.receive_until("+PONG\r\n", 5s) == "+PONG\r\n");
  conns.clear();
}

TEST_CASE("redis port: pipelined commands are answered in order, beyond the pipeline limit",
          "[process][redis]") {
  redis_cluster rc{3, {"--raft.client-max-pipeline=16"}};
  auto& c = rc.cluster;
  auto leader = rc.start();
  auto p = rc.redis_ports[some_follower(c, leader)];
  REQUIRE(cli_until(p, {"SET", "warm", "up"}, [](auto& o) { return !is_error(o); }) == "OK");
  // 2,000 commands in one write, writes and reads interleaved with answers
  // that arrive at once (ECHO): the replies must come back in order.
  std::string batch;
  std::string expected;
  for (int i = 0; i < 500; ++i) {
    auto key = "p" + std::to_string(i);
    auto val = "v" + std::to_string(i);
    batch += resp_command({"SET", key, val}) + resp_command({"ECHO", key})
             + resp_command({"GET", key}) + resp_command({"INCR", "counter"});
    expected += "+OK\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n$"
                + std::to_string(val.size()) + "\r\n" + val + "\r\n:" + std::to_string(i + 1)
                + "\r\n";
  }
  raw_connection conn{p};
  REQUIRE(conn.connected());
  std::thread writer{[&] { conn.send(batch); }};
  auto got = conn.receive(expected.size(), 60s);
  writer.join();
  CHECK(got.size() == expected.size());
  CHECK(got == expected);
  // The connection still takes commands after the burst (it once stopped
  // reading for good after a pipeline deeper than the limit).
  REQUIRE(conn.send("PING\r\n"));
  CHECK(conn.receive_until("+PONG\r\n", 5s) == "+PONG\r\n");
  // And a second burst, sent in small writes.
  std::string again;
  std::string want;
  for (int i = 0; i < 200; ++i) {
    again += "ECHO e" + std::to_string(i) + "\r\n";
    want += "$" + std::to_string(1 + std::to_string(i).size()) + "\r\ne" + std::to_string(i)
            + "\r\n";
  }
  for (std::size_t off = 0; off < again.size(); off += 7)
    REQUIRE(conn.send(again.substr(off, 7)));
  CHECK(conn.receive(want.size(), 20s) == want);
}

TEST_CASE("redis port: a client that never reads its replies cannot make the node buffer them",
          "[process][redis]") {
  // Values of 512 KiB; the client pipelines thousands of GETs of them and
  // reads nothing. Unbounded, the node would hold gigabytes of replies.
  redis_cluster rc{3, {"--raft.client-max-bulk=1048576",
                       "--raft.client-max-query-buffer=2097152"}};
  auto& c = rc.cluster;
  auto leader = rc.start();
  auto p = rc.redis_ports[leader];
  std::string big(512 * 1024, 'v');
  {
    raw_connection setter{p};
    REQUIRE(setter.connected());
    REQUIRE(setter.send(resp_command({"SET", "big", big})));
    REQUIRE(setter.receive_until("+OK\r\n", 10s) == "+OK\r\n");
  }
  // The peak resident memory of the leader's process so far (VmHWM).
  auto rss_kib = [&](node_id id) {
    std::istringstream in{read_file("/proc/" + std::to_string(c.pid(id)) + "/status")};
    for (std::string line; std::getline(in, line);)
      if (line.rfind("VmHWM:", 0) == 0)
        return std::stol(line.substr(6));
    return -1L;
  };
  auto before = rss_kib(leader);
  raw_connection hog{p};
  REQUIRE(hog.connected());
  // 4,000 GETs (4,000 x 512 KiB = 2 GiB of replies), 100 at a time: the
  // node stops taking them once the unread replies pass its limit (4 MiB),
  // and the rest wait in its query buffer.
  std::string hundred;
  for (int i = 0; i < 100; ++i)
    hundred += resp_command({"GET", "big"});
  bool send_failed = false;
  for (int i = 0; i < 40 && !send_failed; ++i)
    send_failed = !hog.send(hundred);
  // Then requests that do not fit the 2 MiB query buffer while it waits.
  auto filler = resp_command({"SET", "filler", std::string(900 * 1024, 'f')});
  for (int i = 0; i < 4 && !send_failed; ++i)
    send_failed = !hog.send(filler);
  // Meanwhile others are served.
  CHECK(cli(rc.redis_ports[leader], {"PING"}) == "PONG");
  // The waiting requests passed the query buffer limit: the node closed the
  // connection (the unread replies are discarded).
  CHECK(wait_until(
    [&] {
      return c.output(leader).find("closed a connection: more than 2097152 bytes")
             != std::string::npos;
    },
    20s));
  auto peak = rss_kib(leader);
  INFO("leader peak RSS before the hog " << before << " KiB, after it " << peak << " KiB");
  CHECK(peak - before < 100 * 1024); // far below the 2 GiB the replies would take
  auto read_back = cli_until(rc.redis_ports[leader], {"GET", "big"},
                             [](auto& o) { return !is_error(o); });
  INFO("GET big answered " << read_back.substr(0, 200));
  CHECK(read_back.size() == big.size() + 2);
}

TEST_CASE("redis port: before AUTH only small requests are buffered", "[process][redis]") {
  redis_cluster rc{3, {"--raft.client-password=pw"}};
  rc.start();
  auto p = rc.redis_ports[1];
  {
    raw_connection conn{p};
    REQUIRE(conn.connected());
    REQUIRE(conn.send("*2\r\n$4\r\nECHO\r\n$100000\r\n"));
    CHECK(conn.receive_until("\r\n", 5s) == "-ERR Protocol error: invalid bulk length\r\n");
    CHECK(conn.closed_by_peer(5s));
  }
  {
    raw_connection conn{p};
    REQUIRE(conn.connected());
    REQUIRE(conn.send("*11\r\n"));
    CHECK(conn.receive_until("\r\n", 5s) == "-ERR Protocol error: invalid multibulk length\r\n");
  }
  {
    // After AUTH the full limits hold.
    raw_connection conn{p};
    REQUIRE(conn.connected());
    std::string value(100000, 'x');
    REQUIRE(conn.send(resp_command({"AUTH", "pw"}) + resp_command({"ECHO", value})));
    auto want = "+OK\r\n$100000\r\n" + value + "\r\n";
    CHECK(conn.receive(want.size(), 10s) == want);
  }
}

TEST_CASE("redis port: a protocol fuzz never disturbs well-formed clients or loses writes",
          "[process][redis][fuzz]") {
  redis_cluster rc{3, {"--raft.client-max-bulk=65536", "--raft.client-max-multibulk=1024"}};
  auto& c = rc.cluster;
  auto leader = rc.start();
  auto follower = some_follower(c, leader);
  auto seed = std::random_device{}();
  if (const char* env = std::getenv("REDIS_FUZZ_SEED"))
    seed = static_cast<unsigned>(std::stoul(env));
  INFO("REDIS_FUZZ_SEED=" << seed << " replays this run");
  std::mt19937 rng{seed};
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>{0, n - 1}(rng); };
  const std::vector<std::string> valid = {
    resp_command({"SET", "fz", "1"}),   resp_command({"GET", "fz"}),
    resp_command({"MSET", "a", "b"}),   resp_command({"INCR", "fz-n"}),
    resp_command({"DEL", "fz", "q"}),   "PING\r\n", "ECHO 'x y'\r\n",
    resp_command({"CAS", "fz", "1", "2"}), resp_command({"HELLO", "2"}),
    resp_command({"INFO", "raft"}),     resp_command({"MGET", "a", "fz"}),
  };
  auto mutate = [&](std::string s) {
    auto edits = 1 + pick(4);
    for (std::size_t e = 0; e < edits && !s.empty(); ++e) {
      auto at = pick(s.size());
      switch (pick(5)) {
        case 0: s[at] = static_cast<char>(pick(256)); break;
        case 1: s.insert(at, 1, static_cast<char>(pick(256))); break;
        case 2: s.erase(at, 1); break;
        case 3: s.insert(at, std::to_string(static_cast<int64_t>(rng()) - (1ll << 31))); break;
        default: s = s.substr(0, at); break;
      }
    }
    return s;
  };
  auto frame = [&]() -> std::string {
    switch (pick(4)) {
      case 0: { // random garbage
        std::string g(1 + pick(200), '\0');
        for (auto& ch : g)
          ch = static_cast<char>(pick(256));
        return g;
      }
      case 1: // absurd lengths
        return std::vector<std::string>{"*99999999999999999999\r\n", "*1\r\n$-7\r\n",
                                        "*2\r\n$999999999\r\nab", "*1048577\r\n",
                                        "$5\r\nhello\r\n", "*1\r\n$3\r\nab"}[pick(6)];
      default: { // valid frames, some mutated, several per write
        std::string out;
        for (std::size_t n = 1 + pick(5); n > 0; --n)
          out += pick(2) == 0 ? valid[pick(valid.size())] : mutate(valid[pick(valid.size())]);
        return out;
      }
    }
  };
  // A well-formed client writes and reads back throughout; every write it
  // saw acknowledged must be there at the end.
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::atomic<int> failures{0};
  std::string failure_text;
  std::thread honest{[&] {
    raw_connection conn{rc.redis_ports[follower]};
    if (!conn.connected()) {
      ++failures;
      return;
    }
    for (int i = 0; !stop; ++i) {
      auto key = "honest-" + std::to_string(i);
      if (!conn.send(resp_command({"SET", key, key}) + resp_command({"GET", key}))) {
        ++failures;
        return;
      }
      auto want = "+OK\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n";
      auto got = conn.receive_until(want, 10s);
      if (got != want) {
        ++failures;
        failure_text = "wrote " + key + ", got '" + got + "'";
        return;
      }
      acked = i + 1;
    }
  }};
  int frames = 0;
  auto fuzz_ports = std::vector<uint16_t>{rc.redis_ports[leader], rc.redis_ports[follower]};
  auto until = std::chrono::steady_clock::now() + 20s;
  while (frames < 20000 && std::chrono::steady_clock::now() < until) {
    raw_connection conn{fuzz_ports[pick(2)]};
    REQUIRE(conn.connected());
    for (int n = 0; n < 50 && frames < 20000; ++n, ++frames) {
      if (!conn.send(frame()))
        break; // closed after a protocol error, as it should be
    }
    // Sometimes read what came back, sometimes hang up at once.
    if (pick(2) == 0)
      conn.receive(1 << 20, 20ms);
  }
  stop = true;
  honest.join();
  INFO(failure_text);
  CHECK(failures == 0);
  CHECK(frames >= 5000);
  CHECK(acked > 0);
  for (auto id : c.ids())
    CHECK(c.running(id));
  // Every acknowledged write reads back, from every node.
  for (auto id : c.ids())
    for (int i = 0; i < acked; i += std::max(1, acked.load() / 50)) {
      auto key = "honest-" + std::to_string(i);
      CHECK(cli(rc.redis_ports[id], {"GET", key}) == "\"" + key + "\"");
    }
  UNSCOPED_INFO("fuzz frames sent: " << frames << ", honest writes acknowledged: " << acked);
}

TEST_CASE("redis port: a Redis client library (python3-redis) works against a follower, with AUTH",
          "[process][redis]") {
  redis_cluster rc{3, {"--raft.client-password=library-pw"}};
  auto& c = rc.cluster;
  auto leader = rc.start();
  auto via = some_follower(c, leader);
  REQUIRE(cli_until(rc.redis_ports[via], {"SET", "warm", "up"},
                    [](auto& o) { return !is_error(o); })
          != "");
  // Debian's python3, which python3-redis (scripts/install-deps.sh) is for.
  auto r = run_tool({"/usr/bin/python3", RAFT_SOURCE_DIR "/tests/process/redis_py_client.py",
                        std::to_string(rc.redis_ports[via]), "library-pw"},
                       60s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "ok\n");
}

TEST_CASE("redis port: redis-benchmark -t set,get completes without errors", "[process][redis]") {
  redis_cluster rc{3};
  auto& c = rc.cluster;
  auto leader = rc.start();
  for (auto via : {leader, some_follower(c, leader)}) {
    INFO("through node " << via);
    auto r = run_tool({"redis-benchmark", "-p", std::to_string(rc.redis_ports[via]), "-t",
                          "set,get", "-n", "2000", "-c", "8", "-P", "4", "-q"},
                         120s);
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("SET: ") != std::string::npos);
    CHECK(r.out.find("GET: ") != std::string::npos);
    CHECK(r.out.find("rror") == std::string::npos);
    CHECK(r.err.find("rror") == std::string::npos);
  }
  // redis-benchmark's keys are there.
  CHECK(cli(rc.redis_ports[leader], {"EXISTS", "key:__rand_int__"}) == "(integer) 1");
}
