// evaluate_health: the verdicts from made-up status rounds (no processes).

#include "actors/manager/cluster_health.hpp"

#include <catch2/catch.hpp>

using namespace raft;

namespace {

node_report up(node_id id, raft_role role, term_t term, node_id leader,
               std::vector<node_id> voters = {1, 2, 3}) {
  node_report r;
  r.id = id;
  r.address = "127.0.0.1:" + std::to_string(7000 + id);
  r.reachable = true;
  r.status.id = id;
  r.status.role = role;
  r.status.term = term;
  r.status.leader = leader;
  r.status.voters = std::move(voters);
  return r;
}

node_report down(node_id id) {
  node_report r;
  r.id = id;
  r.address = "127.0.0.1:" + std::to_string(7000 + id);
  r.error = "connection refused";
  return r;
}

} // namespace

TEST_CASE("health: all voters up and following one leader is healthy", "[health]") {
  auto h = evaluate_health({up(1, raft_role::follower, 2, 2), up(2, raft_role::leader, 2, 2),
                            up(3, raft_role::follower, 2, 2)});
  CHECK(h.health == cluster_health::healthy);
  CHECK(h.leader == 2);
  CHECK(h.term == 2);
  CHECK(h.following == std::vector<node_id>{1, 2, 3});
  CHECK(h.summary.rfind("healthy: leader 2 (term 2), 3 of 3", 0) == 0);
}

TEST_CASE("health: a leader with a majority but a node down is degraded", "[health]") {
  auto h = evaluate_health(
    {up(1, raft_role::leader, 3, 1), up(2, raft_role::follower, 3, 1), down(3)});
  CHECK(h.health == cluster_health::degraded);
  CHECK(h.leader == 1);
  CHECK(h.down == std::vector<node_id>{3});
}

TEST_CASE("health: a voter with no report at all counts as down", "[health]") {
  auto h = evaluate_health({up(1, raft_role::leader, 3, 1), up(2, raft_role::follower, 3, 1)});
  CHECK(h.health == cluster_health::degraded);
  CHECK(h.down == std::vector<node_id>{3});
}

TEST_CASE("health: a deposed leader in a minority is not the leader, the majority's is",
          "[health]") {
  // Node 1 still believes it leads term 2; 2 and 3 elected 2 in term 3.
  auto h = evaluate_health({up(1, raft_role::leader, 2, 1), up(2, raft_role::leader, 3, 2),
                            up(3, raft_role::follower, 3, 2)});
  CHECK(h.health == cluster_health::degraded);
  CHECK(h.leader == 2);
  CHECK(h.astray == std::vector<node_id>{1});
}

TEST_CASE("health: no leader followed by a majority is unhealthy", "[health]") {
  SECTION("nobody leads") {
    auto h = evaluate_health({up(1, raft_role::candidate, 4, 0), up(2, raft_role::follower, 4, 0),
                              up(3, raft_role::pre_candidate, 3, 0)});
    CHECK(h.health == cluster_health::unhealthy);
    CHECK(h.leader == no_node);
  }
  SECTION("a leader alone, the others down") {
    auto h = evaluate_health({up(1, raft_role::leader, 2, 1), down(2), down(3)});
    CHECK(h.health == cluster_health::unhealthy);
    CHECK(h.summary.find("only 1 of 3") != std::string::npos);
  }
  SECTION("nothing answered") {
    auto h = evaluate_health({down(1), down(2), down(3)});
    CHECK(h.health == cluster_health::unhealthy);
    CHECK(h.down.size() == 3);
  }
  SECTION("no reports") {
    CHECK(evaluate_health({}).health == cluster_health::unhealthy);
  }
}

TEST_CASE("health: a running non-voter that follows nobody keeps the cluster degraded",
          "[health]") {
  auto h = evaluate_health({up(1, raft_role::leader, 2, 1), up(2, raft_role::follower, 2, 1),
                            up(3, raft_role::follower, 2, 1),
                            up(4, raft_role::pre_candidate, 0, 0, {1, 2, 3, 4})});
  CHECK(h.health == cluster_health::degraded);
  CHECK(h.leader == 1);
  CHECK(h.astray == std::vector<node_id>{4});
}

TEST_CASE("converged: healthy and every node at the same commit, applied index and digest",
          "[health]") {
  std::vector<node_report> rs{up(1, raft_role::follower, 2, 2), up(2, raft_role::leader, 2, 2),
                              up(3, raft_role::follower, 2, 2)};
  for (auto& r : rs) {
    r.status.commit_index = 7;
    r.status.applied_index = 7;
    r.status.state_digest = 0xabc;
  }
  CHECK(converged(rs));
  auto behind = rs;
  behind[2].status.applied_index = 6;
  CHECK_FALSE(converged(behind));
  auto uncommitted = rs;
  uncommitted[0].status.commit_index = 6;
  CHECK_FALSE(converged(uncommitted));
  auto diverged = rs;
  diverged[1].status.state_digest = 0xabd;
  CHECK_FALSE(converged(diverged));
  auto one_down = rs;
  one_down[0] = down(1);
  CHECK_FALSE(converged(one_down));
  CHECK_FALSE(converged({}));
}

TEST_CASE("health: learners are reported but never counted in the majority", "[health]") {
  auto learner = [](node_id id, node_id leader) {
    auto r = up(id, raft_role::follower, 5, leader);
    r.status.learners = {4, 5};
    return r;
  };
  auto lead = up(1, raft_role::leader, 5, 1);
  lead.status.learners = {4, 5};
  lead.status.config_index = 9;
  // Two voters of three follow: a majority, whatever the learners do.
  auto h = evaluate_health({lead, learner(2, 1), down(3), learner(4, 1), learner(5, 1)});
  CHECK(h.leader == 1);
  CHECK(h.voters == std::vector<node_id>{1, 2, 3});
  CHECK(h.learners == std::vector<node_id>{4, 5});
  CHECK(h.config_index == 9);
  CHECK(h.following == std::vector<node_id>{1, 2});
  CHECK(h.health == cluster_health::degraded);
  CHECK(h.summary.find("2 of 3 voters") != std::string::npos);
  // One voter of three and two learners follow: no majority.
  auto lonely = evaluate_health({lead, down(2), down(3), learner(4, 1), learner(5, 1)});
  CHECK(lonely.health == cluster_health::unhealthy);
  CHECK(lonely.leader == no_node);
}

TEST_CASE("health: without a leader the voters are the newest configuration any node reports",
          "[health]") {
  auto old_view = up(1, raft_role::candidate, 7, 0, {1, 2, 3});
  old_view.status.config_index = 3;
  auto new_view = up(2, raft_role::follower, 7, 0, {2, 3, 4});
  new_view.status.config_index = 8;
  auto h = evaluate_health({old_view, new_view, down(3)});
  CHECK(h.health == cluster_health::unhealthy);
  CHECK(h.voters == std::vector<node_id>{2, 3, 4});
  CHECK(h.config_index == 8);
  auto c = reported_configuration({old_view, new_view, down(3)});
  REQUIRE(c);
  CHECK(c->from == 2);
  CHECK(c->config_index == 8);
  CHECK(has_voter(c->config, 4)); // from status.voters when config has no addresses
  CHECK_FALSE(has_voter(c->config, 1));
  CHECK_FALSE(reported_configuration({down(1)}));
}
