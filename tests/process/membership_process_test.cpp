// Membership changes with real raft-node processes on loopback (issue 4):
// raft-node --join against a live cluster under load, a wiped node that
// rejoins and catches up by snapshot, and joins the cluster must refuse.

#include "tests/process/process_harness.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

using namespace raft;
using namespace raft::process_test;

namespace {

bool has(const std::vector<node_id>& ids, node_id id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

/// The leader's view of the configuration (empty if no leader answers).
node_status leader_status(test_cluster& c, test_client& client, const std::vector<node_id>& among) {
  auto l = c.wait_for_leader(among, 5s);
  if (l == no_node)
    return {};
  return client.status(c.port(l)).value_or(node_status{});
}

/// Writes keys through the given nodes on its own thread (a test_client is
/// for one thread) until stopped, and records what was acknowledged.
class background_writer {
public:
  background_writer(test_cluster& c, std::vector<node_id> via) : c_(c), via_(std::move(via)) {
    thread_ = std::thread([this] { run(); });
  }
  ~background_writer() { stop(); }

  void stop() {
    done_ = true;
    if (thread_.joinable())
      thread_.join();
  }

  std::map<std::string, std::string> acked() {
    std::lock_guard<std::mutex> guard{mtx_};
    return acked_;
  }
  int count() const { return count_; }

private:
  void run() {
    test_client client;
    for (int i = 0; !done_; ++i) {
      auto key = "load-" + std::to_string(i % 500);
      auto value = "v" + std::to_string(i);
      auto via = via_[static_cast<std::size_t>(i) % via_.size()];
      auto r = client.command(c_.port(via), kv_command{kv_op::put, key, value, {}}, 2s);
      if (r && r->status == reply_status::ok) {
        std::lock_guard<std::mutex> guard{mtx_};
        acked_[key] = value;
        ++count_;
      }
    }
  }

  test_cluster& c_;
  std::vector<node_id> via_;
  std::atomic<bool> done_{false};
  std::atomic<int> count_{0};
  std::mutex mtx_;
  std::map<std::string, std::string> acked_;
  std::thread thread_;
};

} // namespace

TEST_CASE("raft-node --join adds a node to a live cluster under load: admitted as a "
          "learner, caught up, promoted to voter, serving") {
  test_client client;
  test_cluster c(3, client);
  c.extra_args = {"--raft.snapshot-entries=300"};
  REQUIRE(c.start_all());
  REQUIRE(c.wait_for_leader({1, 2, 3}) != no_node);
  background_writer load(c, {1, 2, 3});
  REQUIRE(wait_until([&] { return load.count() > 500; }, 20s));

  REQUIRE(c.join(4, {1, 2}));
  REQUIRE(c.output(4).find("joined; configuration") != std::string::npos);
  REQUIRE(wait_until([&] { return has(leader_status(c, client, {1, 2, 3, 4}).voters, 4); },
                     20s));
  auto before = load.count();
  REQUIRE(wait_until([&] { return load.count() > before + 300; }, 20s)); // still taking writes
  load.stop();
  auto acked = load.acked();
  REQUIRE(acked.size() > 100);

  auto leader = c.wait_for_leader({1, 2, 3, 4});
  REQUIRE(leader != no_node);
  REQUIRE(c.wait_caught_up(4, leader, 20s));
  auto s4 = client.status(c.port(4));
  REQUIRE(s4);
  CHECK(s4->voters.size() == 4);
  CHECK(s4->learners.empty());
  for (const auto& [key, value] : acked) {
    INFO(key);
    auto got = c.get(4, key);
    REQUIRE(got);
    CHECK(*got == value);
  }
  // A restart of the joined node comes back from its data, not by joining again.
  REQUIRE(c.terminate(4) == 0);
  REQUIRE(c.start(4));
  CHECK(c.output(4).find("not joining again") != std::string::npos);
  REQUIRE(c.wait_caught_up(4, c.wait_for_leader({1, 2, 3, 4}), 20s));
}

TEST_CASE("a node with a wiped data directory is removed, rejoins and catches up by "
          "snapshot") {
  test_client client;
  test_cluster c(3, client);
  c.extra_args = {"--raft.snapshot-entries=200"};
  REQUIRE(c.start_all());
  auto leader = c.wait_for_leader({1, 2, 3});
  REQUIRE(leader != no_node);
  std::map<std::string, std::string> acked;
  for (int i = 0; i < 300; ++i) {
    auto key = "k" + std::to_string(i);
    REQUIRE(c.put(static_cast<node_id>(1 + i % 3), key, "first-" + key));
    acked[key] = "first-" + key;
  }
  // Node 3 loses its disk. The operator removes it and wipes it.
  c.kill9(3);
  c.wipe(3);
  auto r = c.until_definite(leader == 3 ? 1 : leader,
                            kv_command{kv_op::remove_member, "3", {}, {}}, 15s);
  REQUIRE(r);
  REQUIRE(r->status == reply_status::ok);
  REQUIRE(wait_until([&] { return leader_status(c, client, {1, 2}).voters.size() == 2; }, 10s));
  // The two go on past more snapshots: the log no longer reaches back.
  for (int i = 300; i < 900; ++i) {
    auto key = "k" + std::to_string(i);
    REQUIRE(c.put(static_cast<node_id>(1 + i % 2), key, "second-" + key));
    acked[key] = "second-" + key;
  }
  auto ls = leader_status(c, client, {1, 2});
  REQUIRE(ls.first_index > 1); // compacted

  // It rejoins with its empty directory.
  REQUIRE(c.join(3, {1, 2}));
  REQUIRE(wait_until([&] { return has(leader_status(c, client, {1, 2, 3}).voters, 3); }, 20s));
  leader = c.wait_for_leader({1, 2, 3});
  REQUIRE(c.wait_caught_up(3, leader, 20s));
  CHECK(c.output(3).find("installed snapshot through index") != std::string::npos);
  auto s3 = client.status(c.port(3));
  REQUIRE(s3);
  CHECK(s3->snapshot_index > 0);
  CHECK(s3->keys == acked.size());
  for (const auto& [key, value] : acked) {
    INFO(key);
    auto got = c.get(3, key);
    REQUIRE(got);
    CHECK(*got == value);
  }
}

TEST_CASE("a join is refused with a clear error when the id is taken or the cluster "
          "has another name, and the cluster is unchanged") {
  test_client client;
  test_cluster c(3, client);
  REQUIRE(c.start_all());
  REQUIRE(c.wait_for_leader({1, 2, 3}) != no_node);
  temp_dir dir;
  auto port = free_ports(1).front();
  auto join_arg = "--raft.join=[\"127.0.0.1:" + std::to_string(c.port(1)) + "\"]";

  SECTION("an id already a member, at another address") {
    auto res = run_raft_node({"--raft.id=2", "--raft.port=" + std::to_string(port),
                              "--raft.data-dir=" + dir.path() + "/n", join_arg},
                             30s);
    REQUIRE(res.exit_code == 1);
    CHECK(res.err.find("cannot join") != std::string::npos);
    CHECK(res.err.find("node 2 is already a member") != std::string::npos);
  }
  SECTION("another cluster's name") {
    auto res = run_raft_node({"--raft.id=9", "--raft.port=" + std::to_string(port),
                              "--raft.data-dir=" + dir.path() + "/n", join_arg,
                              "--raft.cluster-id=other"},
                             30s);
    REQUIRE(res.exit_code == 1);
    CHECK(res.err.find("cluster id mismatch") != std::string::npos);
  }
  SECTION("join together with a peer list is a configuration error") {
    auto res = run_raft_node({"--raft.id=9", "--raft.port=" + std::to_string(port),
                              "--raft.data-dir=" + dir.path() + "/n", join_arg,
                              "--raft.peers=[\"1=127.0.0.1:" + std::to_string(c.port(1)) + "\"]"});
    REQUIRE(res.exit_code == 1);
    CHECK(res.err.find("exclude each other") != std::string::npos);
  }
  auto s = leader_status(c, client, {1, 2, 3});
  CHECK(s.voters.size() == 3);
  CHECK(s.learners.empty());
}
