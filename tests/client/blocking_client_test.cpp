// blocking_client and the connect helpers over real loopback TCP: a
// "server" actor system publishes a stand-in gateway (a gateway_actor that
// serves commands from a map), a "client" actor system connects to it by
// address. Real threads and sockets, but no sleeps and no timing in the
// outcome: every check is about what was answered, not when.

#include "actors/client/blocking_client.hpp"
#include "actors/client/connect.hpp"
#include "messages/registration.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <string>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace raft;
using namespace std::chrono_literals;

namespace {

struct fake_gateway_state {
  static inline const char* name = "fake_gateway";
  std::map<std::string, std::string> kv;
};

/// A gateway_actor in front of no Raft at all: applies commands to a map.
gateway_actor::behavior_type fake_gateway(gateway_actor::stateful_pointer<fake_gateway_state> self,
                                          node_id id) {
  return {
    [](request_vote&) {},
    [](request_vote_reply&) {},
    [](append_entries&) {},
    [](append_entries_reply&) {},
    [](install_snapshot&) {},
    [](install_snapshot_reply&) {},
    [](timeout_now&) {},
    [self](kv_command& cmd) -> client_reply {
      auto& kv = self->state.kv;
      client_reply r;
      auto i = kv.find(cmd.key);
      switch (cmd.op) {
        case kv_op::get:
          if (i == kv.end())
            r.status = reply_status::not_found;
          else
            r.value = i->second;
          break;
        case kv_op::put:
          kv[cmd.key] = cmd.value;
          break;
        case kv_op::del:
          if (i == kv.end())
            r.status = reply_status::not_found;
          else
            kv.erase(i);
          break;
        case kv_op::cas:
          if (i == kv.end()) {
            r.status = reply_status::not_found;
          } else if (i->second != cmd.expected) {
            r.status = reply_status::cas_failed;
            r.value = i->second;
          } else {
            i->second = cmd.value;
          }
          break;
        case kv_op::add_member:
        case kv_op::remove_member:
        case kv_op::transfer_leader:
        case kv_op::take_snapshot:
          r.status = reply_status::bad_request; // this fake has no membership
          break;
        case kv_op::set:
        case kv_op::del_keys:
        case kv_op::incr_by:
        case kv_op::mset:
        case kv_op::mget:
        case kv_op::exists:
        case kv_op::dbsize:
          r.status = reply_status::bad_request; // the client library sends none of these
          break;
      }
      return r;
    },
    [id](status_atom) {
      node_status s;
      s.id = id;
      s.role = raft_role::leader;
      s.leader = id;
      return s;
    },
    [](partition_atom, std::vector<node_id>&) { return true; },
  };
}

/// A plain actor that is no raft node: echoes ints plus `offset`.
caf::behavior stranger_impl(caf::event_based_actor*, int offset) {
  return {[offset](int x) { return x + offset; }};
}

struct net_config : caf::actor_system_config {
  net_config() {
    load<caf::io::middleman>();
    register_message_types(*this);
    set("logger.verbosity", caf::atom("quiet"));
  }
};

/// Two actor systems in this process, talking over 127.0.0.1.
struct net_fixture {
  net_config server_cfg;
  caf::actor_system server{server_cfg};
  net_config client_cfg;
  caf::actor_system client{client_cfg};
  gateway_actor gateway = server.spawn(fake_gateway, node_id{7});
  caf::actor stranger = server.spawn(stranger_impl, 0);
  uint16_t gateway_port = 0;
  uint16_t stranger_port = 0;

  net_fixture() {
    auto p = server.middleman().publish(gateway, 0, "127.0.0.1");
    REQUIRE(p);
    gateway_port = *p;
    auto q = server.middleman().publish(stranger, 0, "127.0.0.1");
    REQUIRE(q);
    stranger_port = *q;
  }

  ~net_fixture() {
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(stranger, caf::exit_reason::user_shutdown);
  }

  static std::string at(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }
};

/// A loopback port with nothing listening (bound once by the OS, then
/// released): connecting to it is refused at once.
uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

} // namespace

TEST_CASE_METHOD(net_fixture, "connect_blocking reaches a published gateway and checks its interface",
                 "[client][network]") {
  auto ok = connect_blocking(client, at(gateway_port), 5s);
  REQUIRE(ok);
  CHECK(static_cast<bool>(*ok));
  auto wrong = connect_blocking(client, at(stranger_port), 5s);
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error() == caf::sec::unexpected_actor_messaging_interface);
  auto malformed = connect_blocking(client, "no-port-here", 5s);
  REQUIRE_FALSE(malformed);
  CHECK(malformed.error() == caf::sec::invalid_argument);
}

TEST_CASE_METHOD(net_fixture, "the blocking client skips unusable addresses and runs every command",
                 "[client][network]") {
  client_options opts;
  opts.request_timeout = 5s;
  opts.overall_timeout = 20s;
  blocking_client bc(client,
                     std::vector<std::string>{at(closed_port()), at(stranger_port),
                                              "not an address", at(gateway_port)},
                     opts);
  CHECK(bc.put("a", "1").status == reply_status::ok);
  auto r = bc.get("a");
  CHECK(r.status == reply_status::ok);
  CHECK(r.value == "1");
  auto c = bc.cas("a", "0", "2");
  CHECK(c.status == reply_status::cas_failed);
  CHECK(c.value == "1");
  CHECK(bc.cas("a", "1", "2").status == reply_status::ok);
  CHECK(bc.get("a").value == "2");
  CHECK(bc.del("a").status == reply_status::ok);
  CHECK(bc.get("a").status == reply_status::not_found);

  auto st = bc.status();
  REQUIRE(st.size() == 4);
  CHECK_FALSE(st[0].reachable);
  CHECK_FALSE(st[1].reachable);
  CHECK_FALSE(st[2].reachable);
  CHECK_FALSE(st[2].error.empty());
  REQUIRE(st[3].reachable);
  CHECK(st[3].id == 7);
  CHECK(st[3].status.leader == 7);
}

TEST_CASE("parse_address accepts host:port and [v6]:port only", "[client]") {
  auto a = parse_address("10.0.0.1:4242");
  REQUIRE(a);
  CHECK(a->first == "10.0.0.1");
  CHECK(a->second == 4242);
  auto b = parse_address("[::1]:7000");
  REQUIRE(b);
  CHECK(b->first == "::1");
  CHECK(b->second == 7000);
  for (auto bad : {"", "host", "host:", ":80", "host:0", "host:65536", "host:12x", "::1:80"})
    CHECK_FALSE(parse_address(bad));
}
