// cluster-cli's parts without processes: splitting lines, the command
// table and argument checks, the line editor fed with terminal bytes, and
// the JSON output.

#include "app/cluster_cli/command_line.hpp"
#include "app/cluster_cli/line_editor.hpp"
#include "app/cluster_cli/output.hpp"
#include "app/cluster_cli/session.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <sstream>

using namespace raft;
using namespace raft::cli;

namespace {

line_editor::event feed(line_editor& e, const std::string& bytes) {
  auto last = line_editor::event::none;
  for (char c : bytes)
    last = e.feed(c);
  return last;
}

} // namespace

TEST_CASE("cli: lines split into words, with quotes and escapes", "[cli]") {
  using words = std::vector<std::string>;
  CHECK(split_words("  put  k   v ").words == words{"put", "k", "v"});
  CHECK(split_words("put k \"a b\"").words == words{"put", "k", "a b"});
  CHECK(split_words("put k 'a \"b\"'").words == words{"put", "k", "a \"b\""});
  CHECK(split_words("put k a\\ b").words == words{"put", "k", "a b"});
  CHECK(split_words("put k \"\"").words == words{"put", "k", ""});
  CHECK(split_words("").words.empty());
  CHECK_FALSE(split_words("put k \"open").error.empty());
  CHECK_FALSE(split_words("put k 'open").error.empty());
  CHECK_FALSE(split_words("put k v\\").error.empty());
}

TEST_CASE("cli: arguments are checked before anything runs", "[cli]") {
  const auto* put = find_command("put");
  REQUIRE(put != nullptr);
  CHECK(check_arity(*put, {"put", "k", "v"}).empty());
  CHECK(check_arity(*put, {"put", "k"}) == "put takes 2 arguments, got 1");
  CHECK(usage(*put).rfind("usage: put KEY VALUE", 0) == 0);
  CHECK(find_command("exit") == find_command("quit"));
  CHECK(find_command("nope") == nullptr);
  CHECK(parse_id("3") == node_id{3});
  CHECK_FALSE(parse_id("0"));
  CHECK_FALSE(parse_id("-1"));
  CHECK_FALSE(parse_id("3x"));
  CHECK_FALSE(parse_id("99999999999999999999999"));
  CHECK(parse_count("5") == std::size_t{5});
  CHECK_FALSE(parse_count("16"));
  std::string error;
  CHECK(parse_group("1,2,3", error) == std::vector<node_id>{1, 2, 3});
  CHECK_FALSE(parse_group("1,,3", error));
  CHECK_FALSE(parse_group("1,1", error));
  CHECK_FALSE(parse_group("", error));
  CHECK(parse_addresses("127.0.0.1:7001,[::1]:7002", error)
        == std::vector<std::string>{"127.0.0.1:7001", "[::1]:7002"});
  CHECK_FALSE(parse_addresses("127.0.0.1", error));
  CHECK_FALSE(parse_addresses("127.0.0.1:0", error));
  CHECK_FALSE(parse_addresses("127.0.0.1:70000", error));
  CHECK_FALSE(parse_addresses(":7001", error));
}

TEST_CASE("cli: the membership commands add, remove, transfer and snapshot check their "
          "arguments",
          "[cli]") {
  for (const char* name : {"add", "remove", "transfer", "snapshot"}) {
    INFO(name);
    REQUIRE(find_command(name) != nullptr);
    CHECK(find_command(name)->one_shot); // they work with --connect too
  }
  const auto& add = *find_command("add");
  CHECK(check_arity(add, {"add", "4"}).empty());
  CHECK(check_arity(add, {"add", "4", "127.0.0.1:7004"}).empty());
  CHECK(check_arity(add, {"add"}) == "add takes 1 to 2 arguments, got 0");
  CHECK(check_arity(add, {"add", "4", "a:1", "b:2"}) == "add takes 1 to 2 arguments, got 3");
  const auto& transfer = *find_command("transfer");
  CHECK(check_arity(transfer, {"transfer"}).empty());
  CHECK(check_arity(transfer, {"transfer", "2"}).empty());
  CHECK(check_arity(transfer, {"transfer", "2", "3"}) == "transfer takes 0 to 1 arguments, got 2");
  CHECK(check_arity(*find_command("snapshot"), {"snapshot"})
        == "snapshot takes 1 argument, got 0");
  CHECK(check_arity(*find_command("remove"), {"remove"}) == "remove takes 1 argument, got 0");
  CHECK(usage(transfer).rfind("usage: transfer [ID]", 0) == 0);
  auto help = help_text();
  CHECK(help.find("add ID [HOST:PORT]") != std::string::npos);
  CHECK(help.find("remove ID") != std::string::npos);
  CHECK(help.find("transfer [ID]") != std::string::npos);
  CHECK(help.find("snapshot ID") != std::string::npos);
  CHECK(help.find("no membership changes") == std::string::npos); // the old caveat is gone

  // Malformed ids and addresses are usage errors before any cluster is needed.
  std::ostringstream out;
  std::ostringstream err;
  session s(out, err, {});
  CHECK(s.execute_line("add x") == exit_usage);
  CHECK(err.str().find("add: 'x' is not a node id") != std::string::npos);
  CHECK(s.execute_line("add 0") == exit_usage);
  CHECK(s.execute_line("add 4 nohost") == exit_usage);
  CHECK(err.str().find("'nohost' is not an address") != std::string::npos);
  CHECK(s.execute_line("add 4 127.0.0.1:99999") == exit_usage);
  CHECK(s.execute_line("add 4 127.0.0.1:1,127.0.0.1:2") == exit_usage);
  CHECK(err.str().find("one address only") != std::string::npos);
  CHECK(s.execute_line("remove") == exit_usage);
  CHECK(s.execute_line("remove -2") == exit_usage);
  CHECK(s.execute_line("transfer two") == exit_usage);
  CHECK(err.str().find("transfer: 'two' is not a node id") != std::string::npos);
  CHECK(s.execute_line("snapshot") == exit_usage);
  CHECK(s.execute_line("snapshot 1 2") == exit_usage);
  // Well-formed, but there is no cluster.
  CHECK(s.execute_line("add 4") == exit_failed);
  CHECK(s.execute_line("remove 4") == exit_failed);
  CHECK(s.execute_line("transfer") == exit_failed);
  CHECK(s.execute_line("snapshot 1") == exit_failed);
  CHECK(err.str().find("no cluster") != std::string::npos);
}

TEST_CASE("cli: status shows learners as such, the configuration and snapshot indexes, in "
          "the table and in JSON",
          "[cli]") {
  auto report = [](node_id id, raft_role role, node_id leader) {
    node_report r;
    r.id = id;
    r.address = "127.0.0.1:700" + std::to_string(id);
    r.reachable = true;
    r.status.id = id;
    r.status.role = role;
    r.status.term = 4;
    r.status.leader = leader;
    r.status.voters = {1, 2, 3};
    r.status.learners = {4};
    for (node_id v : {1, 2, 3})
      r.status.config.voters.push_back(member{v, "127.0.0.1:700" + std::to_string(v)});
    r.status.config.learners.push_back(member{4, "127.0.0.1:7004"});
    r.status.config_index = 12;
    r.status.commit_index = 15;
    r.status.snapshot_index = 10;
    r.status.first_index = 11;
    return r;
  };
  std::vector<node_report> reports{report(1, raft_role::leader, 1),
                                   report(2, raft_role::follower, 1),
                                   report(3, raft_role::follower, 1),
                                   report(4, raft_role::follower, 1)};
  auto h = evaluate_health(reports);
  CHECK(h.health == cluster_health::healthy);
  CHECK(h.voters == std::vector<node_id>{1, 2, 3});
  CHECK(h.learners == std::vector<node_id>{4});
  auto table = status_table(reports, h);
  INFO(table);
  CHECK(table.find("SNAPSHOT") != std::string::npos);
  CHECK(table.find("learner") != std::string::npos);
  CHECK(table.find("configuration: voters 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 "
                   "learners 4=127.0.0.1:7004 (index 12)")
        != std::string::npos);
  auto json = status_json(reports, h);
  INFO(json);
  CHECK(json.find("\"voters\":[1,2,3],\"learners\":[4],\"config_index\":12") != std::string::npos);
  CHECK(json.find("\"config\":{\"voters\":[{\"id\":1,\"address\":\"127.0.0.1:7001\"}")
        != std::string::npos);
  CHECK(json.find("\"config_committed\":true") != std::string::npos);
  CHECK(json.find("\"id\":4,\"address\":\"127.0.0.1:7004\",\"reachable\":true,\"role\":\"learner\"")
        != std::string::npos);
  CHECK(json.find("\"snapshot_index\":10,\"first_index\":11") != std::string::npos);
  CHECK(result_json("transfer", true, "node 2 leads", {{"leader", "2"}})
        == R"({"command":"transfer","ok":true,"leader":2,"message":"node 2 leads"})");
}

TEST_CASE("cli: the line editor inserts, moves, deletes and walks the history", "[cli]") {
  line_editor e;
  CHECK(feed(e, "helo") == line_editor::event::none);
  feed(e, "\x1b[D");  // left
  feed(e, "l");
  CHECK(e.line() == "hello");
  CHECK(e.cursor() == 4);
  feed(e, "\x1b[H"); // home
  CHECK(e.cursor() == 0);
  feed(e, "\x1b[3~"); // delete
  CHECK(e.line() == "ello");
  feed(e, "\x05");     // Ctrl-E: end
  feed(e, "\x7f");     // backspace
  CHECK(e.line() == "ell");
  feed(e, "\x01" "\x1b[C" "\x1b[C"); // home, right, right
  CHECK(e.cursor() == 2);
  feed(e, "\x0b");     // Ctrl-K
  CHECK(e.line() == "el");
  CHECK(feed(e, "\r") == line_editor::event::accept);
  e.add_history(e.line());

  e.reset();
  feed(e, "status");
  e.add_history(e.line());
  e.reset();
  feed(e, "dra");
  feed(e, "\x1b[A"); // up: newest entry
  CHECK(e.line() == "status");
  feed(e, "\x1bOA"); // up again (SS3 form)
  CHECK(e.line() == "el");
  feed(e, "\x1b[A"); // nothing older
  CHECK(e.line() == "el");
  feed(e, "\x1b[B\x1b[B"); // down, down: back to the draft
  CHECK(e.line() == "dra");
  CHECK(feed(e, "\x03") == line_editor::event::cancel); // Ctrl-C drops the line
  CHECK(e.line().empty());
  CHECK(feed(e, "\x04") == line_editor::event::end_of_input); // Ctrl-D on an empty line
  feed(e, "ab\x01\x04"); // Ctrl-D deletes under the cursor
  CHECK(e.line() == "b");
}

TEST_CASE("cli: the line editor moves over UTF-8 by code point and ignores unknown keys",
          "[cli]") {
  line_editor e;
  feed(e, "k\xc3\xa4y"); // "käy"
  feed(e, "\x1b[D\x1b[D"); // two code points left
  CHECK(e.cursor() == 1);
  CHECK(e.cursor_column() == 1);
  feed(e, "\x1b[C\x7f"); // right over ä, backspace removes it whole
  CHECK(e.line() == "ky");
  feed(e, "\t\x1bx\x1b[99~\x1b[5~"); // Tab, Alt-x, unknown, Page Up: no effect
  CHECK(e.line() == "ky");
  CHECK(e.render("> ") == "\r> ky\x1b[K\x1b[1D");
  feed(e, "\x1b[1;5C"); // Ctrl-Right: the modifier is ignored, it moves right
  CHECK(e.render("> ") == "\r> ky\x1b[K");
}

TEST_CASE("cli: random bytes never break the line editor", "[cli]") {
  std::mt19937 rng(4711);
  line_editor e;
  for (int i = 0; i < 100000; ++i) {
    auto ev = e.feed(static_cast<char>(rng() & 0xff));
    REQUIRE(e.cursor() <= e.line().size());
    if (ev == line_editor::event::accept) {
      e.add_history(e.line());
      e.reset();
    }
  }
}

TEST_CASE("cli: JSON output escapes what it must", "[cli]") {
  CHECK(json_string("a\"b\\c\n\x01") == "\"a\\\"b\\\\c\\n\\u0001\"");
  client_reply r;
  r.status = reply_status::ok;
  r.value = "v 1";
  CHECK(reply_json("get", "k", r) == R"({"command":"get","key":"k","status":"ok","value":"v 1"})");
  r.status = reply_status::not_found;
  CHECK(reply_json("get", "k", r) == R"({"command":"get","key":"k","status":"not_found"})");
  CHECK(error_json("bad", "") == R"({"error":"bad"})");
}

TEST_CASE("cli: a session without a cluster rejects every command with a message, never "
          "crashes",
          "[cli]") {
  std::ostringstream out;
  std::ostringstream err;
  session s(out, err, {});
  CHECK(s.execute_line("") == exit_ok);
  CHECK(s.execute_line("frobnicate") == exit_usage);
  CHECK(err.str().find("unknown command 'frobnicate'") != std::string::npos);
  CHECK(s.execute_line("put k") == exit_usage);
  CHECK(err.str().find("usage: put KEY VALUE") != std::string::npos);
  CHECK(s.execute_line("get k") == exit_failed);
  CHECK(err.str().find("no cluster") != std::string::npos);
  CHECK(s.execute_line("init 0") == exit_usage);
  CHECK(s.execute_line("init many") == exit_usage);
  CHECK(s.execute_line("partition 1,,2") == exit_usage);
  CHECK(s.execute_line("kill -3") == exit_usage);
  CHECK(s.execute_line("connect nowhere") == exit_usage);
  CHECK(s.execute_line("put \"open") == exit_usage);
  CHECK(s.execute_line("help put") == exit_ok);
  CHECK(s.execute_line("help nope") == exit_usage);
  CHECK_FALSE(s.quit_requested());
  CHECK(s.execute_line("quit") == exit_ok);
  CHECK(s.quit_requested());
}
