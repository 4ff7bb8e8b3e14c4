// Hosts in network namespaces, the Redis client port: linearizable reads
// (ReadIndex through the leader) against a leader cut off from the rest.
//
// Three raft-node processes, each with --raft.client-port=6379 on its own
// address. k is set to v1 and applied everywhere; then the leader L is cut
// off (nftables rules, as in partition_test.cpp), the other two elect a new
// leader and acknowledge k = v2. From that acknowledgement on, a plain GET k
// at L must never answer v1: L cannot confirm its leadership (§6.4: a
// leader answers a read only after a majority confirmed it still leads, and
// a follower asks the leader), so every such read ends in an error, and
// within the node's client timeout, not never. A READONLY GET at L answers
// from its own state, v1: stale, which is what READONLY promises. After the
// heal L answers v2 both ways.
//
// The test speaks RESP2 itself over plain TCP sockets from the root
// namespace (the bridge reaches every host; the cuts are between hosts):
// one connection per request, so each read's answer time is its own.
//
// Needs root, ip (iproute2) and nft (nftables); without them it fails saying
// so. Leave the suite out with `ctest -LE netns`.

#include "tests/netns/lab_cluster.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace raft;
using namespace raft::netns_test;
using namespace std::chrono_literals;
using process_test::wait_until;

namespace {

using clock_type = std::chrono::steady_clock;

/// The client port of every node (each host has its own address).
constexpr uint16_t redis_port = 6379;

/// How long the test waits for one answer: the node answers every command
/// within its client timeout (5 s), its redis port gives up after 7 s.
constexpr ms answer_limit = 9s;

double seconds_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// -- a minimal RESP2 client -------------------------------------------------

/// One reply: its type byte ('+' simple, '-' error, ':' integer, '$' bulk)
/// and its text (a null bulk is '$' with `null` set).
struct resp_reply {
  char type = 0;
  std::string text;
  bool null = false;
};

/// As redis-cli --no-raw shows it.
std::string render(const resp_reply& r) {
  switch (r.type) {
    case '+':
      return r.text;
    case '-':
      return "(error) " + r.text;
    case ':':
      return "(integer) " + r.text;
    case '$':
      return r.null ? "(nil)" : "\"" + r.text + "\"";
    default:
      return "(nothing)";
  }
}

bool is_bulk(const resp_reply& r, const std::string& value) {
  return r.type == '$' && !r.null && r.text == value;
}

/// The first word of an error reply ("NOLEADER", ...); "" for other replies.
std::string error_code(const resp_reply& r) {
  if (r.type != '-')
    return "";
  return r.text.substr(0, r.text.find(' '));
}

/// Parses one reply starting at in[pos]: nullopt if it is not complete yet
/// (pos unchanged), else the reply with pos past it. Throws on a reply this
/// test never asks for (arrays) or on malformed input.
std::optional<resp_reply> parse_reply(const std::string& in, std::size_t& pos) {
  auto eol = in.find("\r\n", pos);
  if (eol == std::string::npos)
    return std::nullopt;
  resp_reply r;
  r.type = in[pos];
  auto line = in.substr(pos + 1, eol - pos - 1);
  auto next = eol + 2;
  switch (r.type) {
    case '+':
    case '-':
    case ':':
      r.text = line;
      break;
    case '$': {
      auto n = std::stol(line);
      if (n < 0) {
        r.null = true;
        break;
      }
      auto size = static_cast<std::size_t>(n);
      if (in.size() < next + size + 2)
        return std::nullopt;
      r.text = in.substr(next, size);
      next += size + 2;
      break;
    }
    default:
      throw std::runtime_error("unexpected reply: " + in.substr(pos, eol - pos));
  }
  pos = next;
  return r;
}

/// A command as RESP2 sends it: an array of bulk strings.
std::string encode(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args)
    out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

/// A socket closed when it goes.
struct socket_fd {
  int fd = -1;
  ~socket_fd() {
    if (fd >= 0)
      ::close(fd);
  }
};

/// What one connection got for the commands sent on it.
struct exchange {
  /// One per command, in order, as far as they came.
  std::vector<resp_reply> replies;
  /// Why not every command was answered ("" if it was).
  std::string failure;
  /// From connecting until the last reply (or the failure).
  double seconds = 0;
};

/// Waits until fd is ready for `events` or the deadline passed.
bool wait_ready(int fd, short events, clock_type::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<ms>(deadline - clock_type::now()).count();
    if (left <= 0)
      return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0)
      return true;
    if (n < 0 && errno != EINTR)
      return false;
  }
}

/// Connects to ip:port, sends `commands` pipelined and reads one reply for
/// each, all within `limit`.
exchange talk(const std::string& ip, const std::vector<std::vector<std::string>>& commands,
              ms limit = answer_limit) {
  exchange x;
  auto start = clock_type::now();
  auto deadline = start + limit;
  auto fail = [&](std::string why) {
    x.failure = std::move(why);
    x.seconds = seconds_between(start, clock_type::now());
    return x;
  };
  socket_fd s;
  s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd < 0)
    return fail(std::string{"socket: "} + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(redis_port);
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1)
    return fail("not an IPv4 address: " + ip);
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS)
      return fail(std::string{"connect: "} + std::strerror(errno));
    if (!wait_ready(s.fd, POLLOUT, deadline))
      return fail("connect: no connection in time");
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0)
      return fail(std::string{"connect: "} + std::strerror(err));
  }
  std::string out;
  for (const auto& c : commands)
    out += encode(c);
  for (std::size_t sent = 0; sent < out.size();) {
    auto n = ::send(s.fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_ready(s.fd, POLLOUT, deadline))
        return fail("send: not sent in time");
    } else {
      return fail(std::string{"send: "} + std::strerror(errno));
    }
  }
  std::string in;
  std::size_t pos = 0;
  while (x.replies.size() < commands.size()) {
    try {
      if (auto r = parse_reply(in, pos)) {
        x.replies.push_back(std::move(*r));
        continue;
      }
    } catch (const std::exception& e) {
      return fail(e.what());
    }
    if (!wait_ready(s.fd, POLLIN, deadline))
      return fail("no answer within " + std::to_string(limit.count()) + " ms");
    char buf[4096];
    auto n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n > 0)
      in.append(buf, static_cast<std::size_t>(n));
    else if (n == 0)
      return fail("the node closed the connection");
    else if (errno != EAGAIN && errno != EINTR)
      return fail(std::string{"recv: "} + std::strerror(errno));
  }
  x.seconds = seconds_between(start, clock_type::now());
  return x;
}

/// The one reply to one command, or what went wrong, for messages.
std::string describe(const exchange& x) {
  std::string r;
  for (const auto& reply : x.replies)
    r += (r.empty() ? "" : ", ") + render(reply);
  if (!x.failure.empty())
    r += (r.empty() ? "" : ", ") + x.failure;
  return r;
}

// -- the commands the test sends ----------------------------------------------

/// SET key value at node `via` until it answers OK (false after `limit`);
/// the last answer goes to `last`.
bool set_until_ok(lab_cluster& c, node_id via, const std::string& key, const std::string& value,
                  ms limit, std::string& last) {
  return wait_until(
    [&] {
      auto x = talk(c.lab().address(via), {{"SET", key, value}});
      last = describe(x);
      return x.failure.empty() && x.replies[0].type == '+' && x.replies[0].text == "OK";
    },
    limit, 100ms);
}

/// GET key at node `id` (linearizable).
exchange get(lab_cluster& c, node_id id, const std::string& key) {
  return talk(c.lab().address(id), {{"GET", key}});
}

/// GET key at node `id` on a READONLY connection: the node's own state.
/// The GET's reply is the last one.
exchange readonly_get(lab_cluster& c, node_id id, const std::string& key) {
  return talk(c.lab().address(id), {{"READONLY"}, {"GET", key}});
}

bool answered(const exchange& x, const std::string& value) {
  return x.failure.empty() && is_bulk(x.replies.back(), value);
}

/// One linearizable GET sent to the cut-off leader.
struct read_probe {
  /// When it was sent, in s after v2 was acknowledged.
  double sent_at = 0;
  exchange x;
};

} // namespace

TEST_CASE("netns: a partitioned old leader never answers a linearizable read with a stale "
          "value, READONLY reads it locally, after the heal it reads the new value",
          "[netns][redis]") {
  auto start = clock_type::now();
  lab_cluster_options shape;
  shape.hosts = 3;
  shape.members = 3;
  shape.extra_args = {"--raft.client-port=" + std::to_string(redis_port)};
  lab_cluster c(shape);
  INFO(c.lab().describe());
  auto ids = c.ids();
  const std::string key = "k";

  // -- k = v1, applied everywhere ---------------------------------------------
  auto first = c.wait_for_leader(ids, 0, 15s);
  REQUIRE(first != no_node);
  std::string last;
  {
    bool ok = set_until_ok(c, first, key, "v1", 15s, last);
    INFO("SET k v1 at node " << first << ", last answer: " << last);
    REQUIRE(ok);
  }
  for (auto id : ids) {
    exchange x;
    bool applied = wait_until(
      [&] {
        x = readonly_get(c, id, key);
        return answered(x, "v1");
      },
      10s, 50ms);
    INFO("READONLY GET k at node " << id << ": " << describe(x));
    REQUIRE(applied);
  }

  // -- the cut ------------------------------------------------------------------
  // Around the leader of the moment; if it was no longer leader at its term
  // right after the cut (an election slipped in), heal and cut again around
  // the new one (at most 3 times), as partition_test.cpp does.
  node_id old_leader = no_node;
  term_t first_term = 0;
  std::vector<node_id> majority;
  for (int attempt = 1;; ++attempt) {
    old_leader = c.wait_for_leader(ids, 0, 15s, &first_term);
    REQUIRE(old_leader != no_node);
    majority.clear();
    for (auto id : ids)
      if (id != old_leader)
        majority.push_back(id);
    std::vector<std::size_t> alone{static_cast<std::size_t>(old_leader)};
    std::vector<std::size_t> rest(majority.begin(), majority.end());
    c.lab().partition({alone, rest});
    auto after = c.statuses();
    auto i = after.find(old_leader);
    if (i != after.end() && i->second.term == first_term && i->second.role == raft_role::leader)
      break;
    std::cout << "netns redis: leader " << old_leader << " of term " << first_term
              << " was no longer leader when cut off; statuses:\n"
              << render(after);
    REQUIRE(attempt < 3);
    c.lab().heal();
  }
  auto cut_at = clock_type::now();
  INFO("old leader " << old_leader << " at term " << first_term << " cut off");

  // -- the majority acknowledges k = v2 -------------------------------------------
  auto next = c.wait_for_leader(majority, first_term, 15s);
  {
    INFO("no new leader among the majority; statuses:\n" << render(c.statuses()));
    REQUIRE(next != no_node);
  }
  {
    bool ok = set_until_ok(c, next, key, "v2", 15s, last);
    INFO("SET k v2 at node " << next << ", last answer: " << last << "; statuses:\n"
                             << render(c.statuses()));
    REQUIRE(ok);
  }
  auto acked_at = clock_type::now();

  // -- linearizable reads at the old leader -------------------------------------
  // A read started after v2 was acknowledged must not answer v1. One
  // connection per read, a new one every 200 ms for 2.5 s, each waited for on
  // its own thread, so a slow answer does not delay the others.
  constexpr auto window = 2500ms;
  constexpr auto every = 200ms;
  std::vector<read_probe> probes(window / every + 1);
  {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < probes.size(); ++i) {
      std::this_thread::sleep_until(acked_at + every * static_cast<int>(i)); // the pace of the reads
      threads.emplace_back([&, i] {
        probes[i].sent_at = seconds_between(acked_at, clock_type::now());
        probes[i].x = get(c, old_leader, key);
      });
    }
    for (auto& t : threads)
      t.join();
  }
  std::map<std::string, std::size_t> codes;
  std::size_t in_window = 0;
  double slowest = 0;
  std::string lines;
  for (const auto& p : probes) {
    lines += "  sent +" + std::to_string(p.sent_at) + " s, " + std::to_string(p.x.seconds)
             + " s: " + describe(p.x) + "\n";
    slowest = std::max(slowest, p.x.seconds);
    if (p.x.failure.empty()) {
      ++codes[error_code(p.x.replies[0])];
      if (p.sent_at + p.x.seconds <= std::chrono::duration<double>(window).count())
        ++in_window;
    }
  }
  INFO("linearizable GET k at the old leader " << old_leader << ":\n" << lines << "statuses:\n"
                                               << render(c.statuses()));
  for (const auto& p : probes) {
    REQUIRE(p.x.failure.empty()); // answered, within the limit
    REQUIRE_FALSE(is_bulk(p.x.replies[0], "v1")); // the stale value
    auto code = error_code(p.x.replies[0]);
    REQUIRE((code == "NOLEADER" || code == "NOQUORUM" || code == "TIMEOUT"));
  }
  // Every answer is the node's own error (checked above), not a timeout of
  // the test's; how many came within the window is printed, not asserted.
  std::cout << "netns redis: " << in_window << " of " << probes.size()
            << " reads answered within the " << std::chrono::duration<double>(window).count()
            << " s window, the slowest after " << slowest << " s\n";

  // -- READONLY at the old leader: its own, stale state -----------------------------
  {
    auto x = readonly_get(c, old_leader, key);
    INFO("READONLY GET k at the old leader " << old_leader << ": " << describe(x));
    REQUIRE(answered(x, "v1"));
  }

  // -- the heal --------------------------------------------------------------------
  c.lab().heal();
  auto healed_at = clock_type::now();
  exchange x;
  {
    bool fresh = wait_until(
      [&] {
        x = get(c, old_leader, key);
        return answered(x, "v2");
      },
      20s, 100ms);
    INFO("GET k at the old leader " << old_leader << " after the heal: " << describe(x)
                                    << "; statuses:\n"
                                    << render(c.statuses()));
    REQUIRE(fresh);
  }
  auto fresh_after = seconds_between(healed_at, clock_type::now());
  {
    bool local = wait_until(
      [&] {
        x = readonly_get(c, old_leader, key);
        return answered(x, "v2");
      },
      10s, 50ms);
    INFO("READONLY GET k at the old leader " << old_leader << " after the heal: "
                                             << describe(x));
    REQUIRE(local);
  }

  std::string summary;
  for (const auto& [code, n] : codes)
    summary += " " + std::to_string(n) + " " + code;
  std::cout << "netns redis: old leader " << old_leader << " (term " << first_term
            << ") cut off; node " << next << " acknowledged v2 "
            << seconds_between(cut_at, acked_at) << " s after the cut; " << probes.size()
            << " GETs at the old leader answered" << summary << ", slowest " << slowest
            << " s; v2 read there " << fresh_after << " s after the heal; "
            << seconds_between(start, clock_type::now()) << " s\n";
}
