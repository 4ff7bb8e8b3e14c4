// The Redis command layer: what each request becomes (a reply now, a
// kv_command for the node, or a status request), the session's state (AUTH,
// READONLY, CLIENT SETNAME), and how every node answer is written back.
// Deterministic; the process tests drive the same code through redis-cli.
#include "actors/redis/redis_commands.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace raft;
using namespace raft::redis;
using namespace std::string_literals;

namespace {

using args_t = std::vector<std::string>;

action run(const args_t& args, session& s, const command_settings& settings = {}) {
  return interpret(args, s, settings);
}

/// The reply written at once; fails the test if the command goes elsewhere.
std::string now(const args_t& args, session& s, const command_settings& settings = {}) {
  auto a = run(args, s, settings);
  INFO("command " << args.front());
  REQUIRE(a.what == action::kind::reply);
  return a.reply;
}

std::string now(const args_t& args) {
  session s;
  return now(args, s);
}

/// The kv_command sent to the node; fails the test if answered at once.
action to_node(const args_t& args, session& s) {
  auto a = run(args, s);
  INFO("command " << args.front() << " answered " << a.reply);
  REQUIRE(a.what == action::kind::node);
  return a;
}

action to_node(const args_t& args) {
  session s;
  return to_node(args, s);
}

client_reply reply(reply_status st, std::string value = {}, int64_t number = 0) {
  client_reply r;
  r.status = st;
  r.value = std::move(value);
  r.number = number;
  return r;
}

} // namespace

TEST_CASE("redis commands: PING, ECHO, SELECT and QUIT are answered at once", "[redis][commands]") {
  CHECK(now({"PING"}) == "+PONG\r\n");
  CHECK(now({"ping", "hi"}) == "$2\r\nhi\r\n");
  CHECK(now({"PING", "a", "b"}) == "-ERR wrong number of arguments for 'ping' command\r\n");
  CHECK(now({"ECHO", "a\r\nb"}) == "$4\r\na\r\nb\r\n");
  CHECK(now({"SELECT", "0"}) == "+OK\r\n");
  CHECK(now({"SELECT", "1"}) == "-ERR DB index is out of range\r\n");
  CHECK(now({"SELECT", "x"}) == "-ERR value is not an integer or out of range\r\n");
  session s;
  auto quit = run({"QUIT"}, s);
  CHECK(quit.reply == "+OK\r\n");
  CHECK(quit.close_after);
  CHECK_FALSE(run({"PING"}, s).close_after);
}

TEST_CASE("redis commands: unknown commands and wrong arity get Redis's errors", "[redis][commands]") {
  CHECK(now({"FLUSHALL"}) == "-ERR unknown command 'FLUSHALL', with args beginning with: \r\n");
  CHECK(now({"foo", "a", "b"})
        == "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n");
  CHECK(now({"GET"}) == "-ERR wrong number of arguments for 'get' command\r\n");
  CHECK(now({"GET", "a", "b"}) == "-ERR wrong number of arguments for 'get' command\r\n");
  CHECK(now({"SET", "k"}) == "-ERR wrong number of arguments for 'set' command\r\n");
  CHECK(now({"MSET", "k", "v", "k2"}) == "-ERR wrong number of arguments for 'mset' command\r\n");
  CHECK(now({"CAS", "k", "v"}) == "-ERR wrong number of arguments for 'cas' command\r\n");
  // A command name with CR/LF in it cannot break the reply line.
  auto bad = now({"x\r\ny"});
  CHECK(bad.find("\r\n") == bad.size() - 2);
}

TEST_CASE("redis commands: key-value commands become the node's ops", "[redis][commands]") {
  auto get = to_node({"get", "k"});
  CHECK(get.cmd.op == kv_op::get);
  CHECK(get.cmd.key == "k");
  CHECK(get.shape == reply_shape::bulk);
  CHECK(get.cmd.local_read == 0);

  auto set = to_node({"SET", "k", "v"});
  CHECK(set.cmd.op == kv_op::set);
  CHECK(set.cmd.value == "v");
  CHECK(set.cmd.flags == 0);
  CHECK(set.shape == reply_shape::set_result);

  auto nxget = to_node({"SET", "k", "v", "nx", "GET"});
  CHECK(nxget.cmd.flags == (set_if_absent | set_return_old));
  CHECK(nxget.shape == reply_shape::set_get);
  CHECK(to_node({"SET", "k", "v", "XX", "KEEPTTL"}).cmd.flags == set_if_present);

  auto del = to_node({"DEL", "a", "b"});
  CHECK(del.cmd.op == kv_op::del_keys);
  CHECK(del.cmd.args == args_t{"a", "b"});
  CHECK(del.shape == reply_shape::integer);

  CHECK(to_node({"EXISTS", "a", "a"}).cmd.args == args_t{"a", "a"});
  auto mget = to_node({"MGET", "a", "b"});
  CHECK(mget.cmd.op == kv_op::mget);
  CHECK(mget.shape == reply_shape::array);
  auto mset = to_node({"MSET", "a", "1", "b", "2"});
  CHECK(mset.cmd.op == kv_op::mset);
  CHECK(mset.cmd.args == args_t{"a", "1", "b", "2"});
  CHECK(mset.shape == reply_shape::ok);

  auto cas = to_node({"CAS", "k", "old", "new"});
  CHECK(cas.cmd.op == kv_op::cas);
  CHECK(cas.cmd.expected == "old");
  CHECK(cas.cmd.value == "new");
  CHECK(cas.shape == reply_shape::cas);

  CHECK(to_node({"DBSIZE"}).cmd.op == kv_op::dbsize);
}

TEST_CASE("redis commands: INCR, DECR, INCRBY and DECRBY send a checked delta", "[redis][commands]") {
  CHECK(to_node({"INCR", "n"}).cmd.value == "1");
  CHECK(to_node({"DECR", "n"}).cmd.value == "-1");
  CHECK(to_node({"INCRBY", "n", "-5"}).cmd.value == "-5");
  CHECK(to_node({"DECRBY", "n", "5"}).cmd.value == "-5");
  CHECK(to_node({"INCRBY", "n", "9223372036854775807"}).cmd.value == "9223372036854775807");
  for (const auto& bad : {"x"s, "1.0"s, ""s, "+1"s, "01"s, "9223372036854775808"s, " 1"s}) {
    INFO(bad);
    CHECK(now({"INCRBY", "n", bad}) == "-ERR value is not an integer or out of range\r\n");
  }
  CHECK(now({"DECRBY", "n", "-9223372036854775808"}) == "-ERR decrement would overflow\r\n");
}

TEST_CASE("redis commands: SET options that cannot go together or are unknown are refused",
          "[redis][commands]") {
  CHECK(now({"SET", "k", "v", "NX", "XX"}) == "-ERR syntax error\r\n");
  CHECK(now({"SET", "k", "v", "XX", "NX"}) == "-ERR syntax error\r\n");
  CHECK(now({"SET", "k", "v", "bogus"}) == "-ERR syntax error\r\n");
  CHECK(now({"SET", "k", "v", "EX", "10"}).rfind("-ERR expiring keys are not supported", 0) == 0);
}

TEST_CASE("redis commands: AUTH guards every command but AUTH, PING, HELLO and QUIT",
          "[redis][commands][auth]") {
  command_settings settings;
  settings.password = "s3cret";
  session s;
  CHECK(now({"GET", "k"}, s, settings) == "-NOAUTH Authentication required.\r\n");
  CHECK(now({"INFO"}, s, settings) == "-NOAUTH Authentication required.\r\n");
  CHECK(now({"CLIENT", "SETNAME", "x"}, s, settings) == "-NOAUTH Authentication required.\r\n");
  CHECK(now({"PING"}, s, settings) == "+PONG\r\n");
  CHECK(now({"AUTH", "wrong"}, s, settings)
        == "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  CHECK(now({"AUTH", "other", "s3cret"}, s, settings)
        == "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  CHECK(now({"AUTH", "s3cre"}, s, settings)
        == "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  CHECK_FALSE(s.authenticated);
  CHECK(now({"AUTH", "s3cret"}, s, settings) == "+OK\r\n");
  CHECK(s.authenticated);
  CHECK(run({"GET", "k"}, s, settings).what == action::kind::node);

  session t;
  CHECK(now({"AUTH", "default", "s3cret"}, t, settings) == "+OK\r\n");

  // A failed AUTH after a good one leaves the session authenticated (Redis).
  CHECK(now({"AUTH", "wrong"}, t, settings).rfind("-WRONGPASS", 0) == 0);
  CHECK(t.authenticated);

  // Without a password: AUTH with the password alone is an error, with the
  // default user named any password passes (the default user has none).
  session none;
  CHECK(now({"AUTH", "x"}, none).rfind("-ERR AUTH <password> called without any password", 0)
        == 0);
  CHECK(now({"AUTH", "default", "x"}, none) == "+OK\r\n");
  CHECK(now({"AUTH", "other", "x"}, none).rfind("-ERR AUTH <password>", 0) == 0);
}

TEST_CASE("redis commands: HELLO answers as Redis does for protocol 2, with AUTH and SETNAME",
          "[redis][commands][auth]") {
  session s;
  s.client_id = 7;
  auto hello = now({"HELLO"}, s);
  CHECK(hello.rfind("*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n", 0) == 0);
  CHECK(hello.find("$5\r\nproto\r\n:2\r\n") != std::string::npos);
  CHECK(hello.find("$2\r\nid\r\n:7\r\n") != std::string::npos);
  CHECK(now({"HELLO", "2"}, s) == hello);
  CHECK(now({"HELLO", "3"}, s) == "-NOPROTO unsupported protocol version\r\n");
  CHECK(now({"HELLO", "x"}, s) == "-ERR Protocol version is not an integer or out of range\r\n");

  command_settings settings;
  settings.password = "pw";
  session t;
  CHECK(now({"HELLO", "2"}, t, settings).rfind("-NOAUTH HELLO must be called", 0) == 0);
  CHECK(now({"HELLO", "2", "AUTH", "default", "bad"}, t, settings)
        == "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  CHECK_FALSE(t.authenticated);
  CHECK(now({"HELLO", "2", "AUTH", "default", "pw", "SETNAME", "app"}, t, settings)
          .rfind("*14\r\n", 0)
        == 0);
  CHECK(t.authenticated);
  CHECK(t.name == "app");
  // A wrong password in HELLO is refused even on an authenticated session.
  CHECK(now({"HELLO", "2", "AUTH", "default", "bad"}, t, settings)
        == "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
}

TEST_CASE("redis commands: what client libraries send on connect is accepted", "[redis][commands]") {
  session s;
  s.client_id = 3;
  CHECK(now({"CLIENT", "SETINFO", "lib-name", "redis-py"}, s) == "+OK\r\n");
  CHECK(now({"CLIENT", "SETINFO", "LIB-VER", "5.0"}, s) == "+OK\r\n");
  CHECK(now({"CLIENT", "SETINFO", "other", "x"}, s) == "-ERR Unrecognized option 'other'\r\n");
  CHECK(now({"CLIENT", "GETNAME"}, s) == "$-1\r\n");
  CHECK(now({"CLIENT", "SETNAME", "worker-1"}, s) == "+OK\r\n");
  CHECK(now({"CLIENT", "GETNAME"}, s) == "$8\r\nworker-1\r\n");
  CHECK(now({"CLIENT", "SETNAME", "has space"}, s)
        == "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
  CHECK(now({"CLIENT", "ID"}, s) == ":3\r\n");
  CHECK(now({"CLIENT", "KILL"}, s).rfind("-ERR unknown subcommand", 0) == 0);
  CHECK(now({"COMMAND"}, s) == "*0\r\n");
  CHECK(now({"COMMAND", "DOCS"}, s) == "*0\r\n");
  CHECK(now({"COMMAND", "COUNT"}, s) == ":0\r\n");
  CHECK(now({"CONFIG", "GET", "save"}, s) == "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
  CHECK(now({"CONFIG", "GET", "appendonly"}, s) == "*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n");
  CHECK(now({"CONFIG", "GET", "nothing"}, s) == "*0\r\n");
  CHECK(now({"CONFIG", "SET", "save", ""}, s).rfind("-ERR CONFIG SET is not supported", 0) == 0);
}

TEST_CASE("redis commands: READONLY makes this connection's reads local, READWRITE undoes it",
          "[redis][commands]") {
  session s;
  CHECK(now({"READONLY"}, s) == "+OK\r\n");
  CHECK(s.readonly);
  CHECK(to_node({"GET", "k"}, s).cmd.local_read == 1);
  CHECK(to_node({"MGET", "k"}, s).cmd.local_read == 1);
  CHECK(to_node({"DBSIZE"}, s).cmd.local_read == 1);
  // Writes still go through the leader.
  CHECK(to_node({"SET", "k", "v"}, s).cmd.local_read == 0);
  CHECK(now({"READWRITE"}, s) == "+OK\r\n");
  CHECK(to_node({"GET", "k"}, s).cmd.local_read == 0);
}

TEST_CASE("redis commands: INFO asks the node and renders the raft section", "[redis][commands]") {
  session s;
  auto a = run({"INFO", "Raft"}, s);
  REQUIRE(a.what == action::kind::info);
  CHECK(a.section == "raft");
  node_status st;
  st.id = 2;
  st.role = raft_role::follower;
  st.term = 9;
  st.leader = 1;
  st.commit_index = 40;
  st.applied_index = 39;
  st.voters = {1, 2, 3};
  st.learners = {4};
  st.keys = 12;
  command_settings settings;
  settings.port = 6400;
  auto raft = render_info("raft", st, settings, 5);
  CHECK(raft.find("# Raft\r\nnode_id:2\r\nrole:follower\r\nterm:9\r\nleader:1\r\n")
        != std::string::npos);
  CHECK(raft.find("commit_index:40\r\napplied_index:39\r\n") != std::string::npos);
  CHECK(raft.find("voters:1,2,3\r\nlearners:4\r\n") != std::string::npos);
  CHECK(raft.find("# Server") == std::string::npos);
  auto all = render_info("", st, settings, 5);
  CHECK(all.find("redis_version:") != std::string::npos);
  CHECK(all.find("tcp_port:6400") != std::string::npos);
  CHECK(all.find("connected_clients:5") != std::string::npos);
  CHECK(all.find("db0:keys=12,expires=0,avg_ttl=0") != std::string::npos);
  CHECK(render_info("nosuch", st, settings, 5) == "$0\r\n\r\n");
  // Several sections at once (Redis 7).
  auto two = run({"INFO", "Raft", "keyspace"}, s);
  REQUIRE(two.what == action::kind::info);
  CHECK(two.section == "raft keyspace");
  auto both = render_info(two.section, st, settings, 5);
  CHECK(both.find("# Raft") != std::string::npos);
  CHECK(both.find("# Keyspace") != std::string::npos);
  CHECK(both.find("# Server") == std::string::npos);
  // The bulk's length matches its body.
  auto header_end = all.find("\r\n");
  CHECK(std::stoul(all.substr(1, header_end - 1)) == all.size() - header_end - 4);
}

TEST_CASE("redis commands: the node's answers are written in each command's shape",
          "[redis][commands]") {
  using rs = reply_status;
  CHECK(render(reply_shape::ok, reply(rs::ok)) == "+OK\r\n");
  CHECK(render(reply_shape::bulk, reply(rs::ok, "v")) == "$1\r\nv\r\n");
  CHECK(render(reply_shape::bulk, reply(rs::ok, "")) == "$0\r\n\r\n");
  CHECK(render(reply_shape::bulk, reply(rs::not_found)) == "$-1\r\n");
  CHECK(render(reply_shape::set_result, reply(rs::ok)) == "+OK\r\n");
  CHECK(render(reply_shape::set_result, reply(rs::cas_failed)) == "$-1\r\n");
  CHECK(render(reply_shape::set_get, reply(rs::ok, "old", 1)) == "$3\r\nold\r\n");
  CHECK(render(reply_shape::set_get, reply(rs::cas_failed, "old", 1)) == "$3\r\nold\r\n");
  CHECK(render(reply_shape::set_get, reply(rs::ok, "", 0)) == "$-1\r\n");
  CHECK(render(reply_shape::set_get, reply(rs::ok, "", 1)) == "$0\r\n\r\n");
  CHECK(render(reply_shape::integer, reply(rs::ok, "", -42)) == ":-42\r\n");
  CHECK(render(reply_shape::cas, reply(rs::ok)) == ":1\r\n");
  CHECK(render(reply_shape::cas, reply(rs::cas_failed, "cur")) == ":0\r\n");
  CHECK(render(reply_shape::cas, reply(rs::not_found)) == ":0\r\n");
  auto m = reply(rs::ok);
  m.values = {"a", "", ""};
  m.present = {1, 0, 1};
  CHECK(render(reply_shape::array, m) == "*3\r\n$1\r\na\r\n$-1\r\n$0\r\n\r\n");
}

TEST_CASE("redis commands: failures become NOLEADER, NOQUORUM, TRYAGAIN, UNKNOWN or ERR lines",
          "[redis][commands]") {
  using rs = reply_status;
  auto with = [](rs st, std::string message) {
    auto r = reply(st);
    r.message = std::move(message);
    return render(reply_shape::ok, r);
  };
  CHECK(with(rs::not_leader, "").rfind("-NOLEADER ", 0) == 0);
  CHECK(with(rs::not_leader, "").find("nothing was applied") != std::string::npos);
  CHECK(with(rs::no_quorum, "read timed out").rfind("-NOQUORUM ", 0) == 0);
  CHECK(with(rs::unavailable, "stopping").rfind("-TRYAGAIN ", 0) == 0);
  auto unknown = with(rs::unknown, "timed out waiting for the outcome");
  CHECK(unknown.rfind("-UNKNOWN the outcome is unknown", 0) == 0);
  CHECK(unknown.find("may or may not have been applied") != std::string::npos);
  CHECK(with(rs::bad_request, "value is not an integer or out of range")
        == "-ERR value is not an integer or out of range\r\n");
  // A message with a line break cannot split the reply.
  auto split = with(rs::unavailable, "a\r\nb");
  CHECK(split.find("\r\n") == split.size() - 2);

  CHECK(render_no_answer(kv_op::set, "request_timeout").rfind("-UNKNOWN ", 0) == 0);
  CHECK(render_no_answer(kv_op::incr_by, "request_timeout").rfind("-UNKNOWN ", 0) == 0);
  CHECK(render_no_answer(kv_op::mget, "request_timeout").rfind("-TIMEOUT ", 0) == 0);
  CHECK(render_no_answer(kv_op::get, "request_timeout").rfind("-TIMEOUT ", 0) == 0);
}

TEST_CASE("redis commands: parse_int64 reads integers as Redis does", "[redis][commands]") {
  int64_t v = 0;
  CHECK(parse_int64("0", v));
  CHECK(v == 0);
  CHECK(parse_int64("-9223372036854775808", v));
  CHECK(v == std::numeric_limits<int64_t>::min());
  for (const auto& bad : {""s, "-"s, "-0"s, "00"s, "+5"s, "5 "s, "9223372036854775808"s, "1e3"s})
    CHECK_FALSE(parse_int64(bad, v));
}
