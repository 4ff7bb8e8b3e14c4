// cluster-cli as a process: one-shot commands with --connect against a
// running cluster (output and exit codes), and interactive mode fed a
// script on stdin -- bad input first, then a whole session that launches,
// breaks and heals a local cluster.

#include "tests/tools/tools_test_util.hpp"

#include "app/cluster_cli/session.hpp"

#include <catch2/catch.hpp>

#include <csignal>

using namespace raft;
using namespace raft::tools_test;

namespace {

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts)
    out += (out.empty() ? "" : ",") + p;
  return out;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1))
    ++n;
  return n;
}

} // namespace

TEST_CASE("cluster-cli --connect runs one command against a running cluster: status, put, "
          "get, partition, heal, with --json and exit codes",
          "[cli][process]") {
  cluster_manager m{test_config(3)};
  REQUIRE(m.bootstrap());
  REQUIRE(m.wait_for_leader(10s) != no_node);
  auto addrs = join(m.addresses());

  auto status = run_cli({"--connect", addrs, "status", "--json"});
  INFO(status.out << status.err);
  CHECK(status.exit_code == cli::exit_ok);
  CHECK(status.out.rfind("{\"leader\":", 0) == 0);
  CHECK(status.out.substr(status.out.size() - 2) == "}\n");
  CHECK(count(status.out, "\"reachable\":true") == 3);
  CHECK(count(status.out, "\"role\":\"leader\"") >= 1);

  auto table = run_cli({"--connect=" + addrs, "status"});
  CHECK(table.exit_code == cli::exit_ok);
  CHECK(table.out.find("ADDRESS") != std::string::npos);
  CHECK(table.out.find("LAST CONTACT") != std::string::npos);
  CHECK(count(table.out, "follower") >= 1);

  auto put = run_cli({"--json", "--connect", addrs, "put", "greeting", "hello world"});
  CHECK(put.exit_code == cli::exit_ok);
  CHECK(put.out == "{\"command\":\"put\",\"key\":\"greeting\",\"status\":\"ok\"}\n");
  auto get = run_cli({"--connect", addrs, "get", "greeting"});
  CHECK(get.exit_code == cli::exit_ok);
  CHECK(get.out == "hello world\n");
  auto get_json = run_cli({"--connect", addrs, "--json", "get", "greeting"});
  CHECK(get_json.out.find("\"value\":\"hello world\"") != std::string::npos);
  auto missing = run_cli({"--connect", addrs, "get", "nothing-here", "--json"});
  CHECK(missing.exit_code == cli::exit_failed);
  CHECK(missing.out.find("\"status\":\"not_found\"") != std::string::npos);
  auto leader = run_cli({"--connect", addrs, "leader", "--json"});
  CHECK(leader.exit_code == cli::exit_ok);
  CHECK(leader.out.find("\"health\":") != std::string::npos);

  // Through one node only: followers forward, the client follows hints.
  auto one = run_cli({"--connect", m.addresses()[2], "put", "via-one", "1"});
  CHECK(one.exit_code == cli::exit_ok);

  auto cut = run_cli({"--connect", addrs, "partition", "1", "2,3", "--json"});
  CHECK(cut.exit_code == cli::exit_ok);
  CHECK(cut.out.find("\"ok\":true") != std::string::npos);
  auto healed = run_cli({"--connect", addrs, "heal"});
  CHECK(healed.exit_code == cli::exit_ok);
  CHECK(wait_until([&] { return converged(m); }, 10s));

  // Errors: usage (2) before connecting, unreachable (3), refused (2).
  auto unknown = run_cli({"--connect", addrs, "frobnicate"});
  CHECK(unknown.exit_code == cli::exit_usage);
  CHECK(unknown.err.find("unknown command 'frobnicate'") != std::string::npos);
  auto arity = run_cli({"--connect", addrs, "put", "k"});
  CHECK(arity.exit_code == cli::exit_usage);
  CHECK(arity.err.find("usage: put KEY VALUE") != std::string::npos);
  auto arity_json = run_cli({"--connect", addrs, "--json", "get"});
  CHECK(arity_json.exit_code == cli::exit_usage);
  CHECK(arity_json.out.rfind("{\"error\":", 0) == 0);
  // Membership through one-shot commands (attach mode): a new node needs
  // its address; the cluster admits it as a learner; remove takes it out.
  auto status_cfg = run_cli({"--connect", addrs, "status", "--json"});
  CHECK(status_cfg.out.find("\"voters\":[1,2,3],\"learners\":[]") != std::string::npos);
  CHECK(status_cfg.out.find("\"config\":{\"voters\":[{\"id\":") != std::string::npos);
  CHECK(status_cfg.out.find("\"snapshot_index\":") != std::string::npos);
  auto add_no_address = run_cli({"--connect", addrs, "add", "5"});
  CHECK(add_no_address.exit_code == cli::exit_usage);
  CHECK(add_no_address.err.find("HOST:PORT") != std::string::npos);
  auto add_bad_address = run_cli({"--connect", addrs, "add", "5", "nohost"});
  CHECK(add_bad_address.exit_code == cli::exit_usage);
  std::string port_error;
  auto spare = pick_free_ports("127.0.0.1", 1, port_error);
  REQUIRE(spare.size() == 1);
  auto five = "127.0.0.1:" + std::to_string(spare[0]);
  auto add5 = run_cli({"--connect", addrs, "--json", "add", "5", five});
  INFO(add5.out << add5.err);
  CHECK(add5.exit_code == cli::exit_ok);
  CHECK(add5.out.find("\"ok\":true,\"node\":5") != std::string::npos);
  CHECK(add5.out.find("--raft.join=") != std::string::npos);
  auto with5 = run_cli({"--connect", addrs, "status"});
  CHECK(with5.out.find("learners 5=" + five) != std::string::npos);
  auto remove5 = run_cli({"--connect", addrs, "remove", "5"});
  INFO(remove5.out << remove5.err);
  CHECK(remove5.exit_code == cli::exit_ok);
  CHECK(remove5.out.find("node 5 removed from the configuration") != std::string::npos);
  auto remove_again = run_cli({"--connect", addrs, "remove", "5", "--json"});
  CHECK(remove_again.exit_code == cli::exit_failed);
  CHECK(remove_again.out.find("\"ok\":false") != std::string::npos);
  // Leadership and snapshots.
  auto to2 = run_cli({"--connect", addrs, "transfer", "2", "--json"});
  INFO(to2.out << to2.err);
  CHECK(to2.exit_code == cli::exit_ok);
  CHECK(to2.out.find("\"leader\":2") != std::string::npos);
  CHECK(m.health_details().leader == 2);
  auto snap = run_cli({"--connect", addrs, "snapshot", "2"});
  INFO(snap.out << snap.err);
  CHECK(snap.exit_code == cli::exit_ok);
  CHECK(snap.out.find("index") != std::string::npos);
  auto snap_json = run_cli({"--connect", addrs, "--json", "snapshot", "3"});
  CHECK(snap_json.out.find("\"status\":\"ok\"") != std::string::npos);
  auto snap_nobody = run_cli({"--connect", addrs, "snapshot", "9"});
  CHECK(snap_nobody.exit_code == cli::exit_failed);
  CHECK(run_cli({"--connect", addrs, "transfer", "x"}).exit_code == cli::exit_usage);
  CHECK(run_cli({"--connect", addrs, "snapshot"}).exit_code == cli::exit_usage);

  auto interactive_only = run_cli({"--connect", addrs, "kill", "1"});
  CHECK(interactive_only.exit_code == cli::exit_usage);
  auto no_connect = run_cli({"status"});
  CHECK(no_connect.exit_code == cli::exit_usage);
  auto bad_address = run_cli({"--connect", "localhost", "status"});
  CHECK(bad_address.exit_code == cli::exit_usage);
  auto bad_option = run_cli({"--frob", "status"});
  CHECK(bad_option.exit_code == cli::exit_usage);
  std::string error;
  auto free = pick_free_ports("127.0.0.1", 1, error);
  REQUIRE(free.size() == 1);
  auto nobody = run_cli({"--connect", "127.0.0.1:" + std::to_string(free[0]), "status"});
  CHECK(nobody.exit_code == cli::exit_unreachable);
  CHECK_FALSE(nobody.err.empty());
}

TEST_CASE("cluster-cli in interactive mode answers a script of bad input with errors and "
          "usage, never crashes, then runs a whole session on a cluster it launches",
          "[cli][process]") {
  std::string script =
    "frobnicate\n"
    "put\n"
    "put onlykey\n"
    "get a b c\n"
    "init\n"
    "init 0\n"
    "init 99\n"
    "init three\n"
    "kill\n"
    "kill x\n"
    "kill 0\n"
    "kill 18446744073709551616\n"
    "partition\n"
    "partition 1,,2\n"
    "partition a,b\n"
    "add 4 nohost\n"
    "add 4 127.0.0.1:0\n"
    "remove\n"
    "transfer 1 2\n"
    "transfer zero\n"
    "snapshot\n"
    "snapshot 1\n"
    "connect nowhere\n"
    "status\n"
    "put \"unterminated\n"
    "put k v\\\n"
    "help frobnicate\n"
    "GARBAGE\n"
    "                                               \n"
    "help\n"
    "init 3\n"
    "init 3\n"
    "put a 1\n"
    "get a\n"
    "status\n"
    "leader\n"
    "partition 1 2,3\n"
    "partition 1 1\n"
    "partition 7\n"
    "heal\n"
    "kill 2\n"
    "kill 9\n"
    "add 4\n"
    "status\n"
    "transfer 4\n"
    "snapshot 4\n"
    "remove 4\n"
    "remove 4\n"
    "transfer\n"
    "remove 3\n"
    "add 3\n"
    "del a\n"
    "get a\n"
    "stop\n"
    "status\n"
    "quit\n";
  std::string garbage = "\x01\x02\x1b[A\x7f\xff\xfe garbage ";
  garbage += '\0';
  garbage += " bytes";
  script.replace(script.find("GARBAGE"), 7, garbage);
  script += std::string(3000, 'x') + "\n"; // after quit: never read
  auto r = run_cli({}, script, 60s);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  CHECK(r.signal == 0);
  CHECK(r.exit_code == cli::exit_ok); // the last command was quit
  CHECK(r.err.find("unknown command 'frobnicate'") != std::string::npos);
  CHECK(r.err.find("usage: put KEY VALUE") != std::string::npos);
  CHECK(r.err.find("init takes 1 to 2 arguments, got 0") != std::string::npos);
  CHECK(r.err.find("N must be a number from 1 to 15") != std::string::npos);
  CHECK(r.err.find("'x' is not a node id") != std::string::npos);
  CHECK(r.err.find("unterminated double quote") != std::string::npos);
  CHECK(r.err.find("no cluster") != std::string::npos);
  CHECK(r.out.find("commands:") != std::string::npos);
  // The session on the launched cluster.
  CHECK(r.out.find("launched 3 raft-node processes") != std::string::npos);
  CHECK(r.err.find("a cluster is already managed here") != std::string::npos);
  CHECK(r.out.find("\n1\n") != std::string::npos); // get a
  CHECK(r.out.find("ADDRESS") != std::string::npos);
  CHECK(r.out.find("partitioned: {1} {2,3}") != std::string::npos);
  CHECK(r.err.find("partition: node 1 is in two groups") != std::string::npos);
  CHECK(r.err.find("partition: no node 7") != std::string::npos);
  CHECK(r.out.find("healed") != std::string::npos);
  CHECK(r.out.find("killed with SIGKILL") != std::string::npos);
  CHECK(r.err.find("kill: no node 9") != std::string::npos);
  CHECK(r.err.find("'127.0.0.1:0' is not an address") != std::string::npos);
  CHECK(r.err.find("remove takes 1 argument, got 0") != std::string::npos);
  CHECK(r.err.find("transfer takes 0 to 1 arguments, got 2") != std::string::npos);
  CHECK(r.err.find("'zero' is not a node id") != std::string::npos);
  CHECK(r.err.find("snapshot takes 1 argument, got 0") != std::string::npos);
  CHECK(r.out.find("node 4 joined at 127.0.0.1:") != std::string::npos);
  CHECK(r.out.find(" and is a voter") != std::string::npos);
  CHECK(r.out.find("configuration: voters 1=") != std::string::npos);
  CHECK(r.out.find("node 4 leads") != std::string::npos);
  CHECK(r.out.find("node 4: snapshot through index") != std::string::npos);
  CHECK(r.out.find("node 4 removed from the configuration; its process is stopped")
        != std::string::npos);
  CHECK(r.err.find("remove: no node 4") != std::string::npos);
  CHECK(count(r.out, " leads\n") == 2);
  CHECK(r.out.find("node 3 removed from the configuration") != std::string::npos);
  CHECK(r.out.find("node 3 joined at 127.0.0.1:") != std::string::npos);
  CHECK(r.out.find("(not found)") != std::string::npos);
  CHECK(r.out.find("stopped 3 node(s)") != std::string::npos); // 1, 2 and the new 3
  CHECK(r.out.find("[supervisor] node 2") != std::string::npos);
}

TEST_CASE("cluster-cli stops the cluster it launched when its input ends", "[cli][process]") {
  auto r = run_cli({}, "init 1\nstatus\n", 60s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == cli::exit_ok);
  CHECK(r.out.find("stopping the cluster") != std::string::npos);
  CHECK(r.out.find("stopped (exited with code 0)") != std::string::npos);
}
