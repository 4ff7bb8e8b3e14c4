// cluster-demo: runs the failure scenarios on a local 5-node cluster and
// narrates them with timings.
//
// This version runs the nodes inside one process (one actor system on the
// real, multi-threaded scheduler, real storage actors with fsync in a
// temporary directory, peer links between local actors). Timings are wall
// clock and for illustration; measured figures live in the benchmarks.

#include "actors/node/node_actor.hpp"
#include "actors/peer_link/peer_link.hpp"
#include "messages/registration.hpp"

#include <caf/all.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

using namespace raft;
using namespace std::chrono;
using clock_type = steady_clock;

namespace {

struct demo_cluster {
  caf::actor_system& sys;
  std::string root;
  std::vector<node_id> ids{1, 2, 3, 4, 5};
  std::map<node_id, node_actor> nodes;
  std::map<node_id, std::map<node_id, peer_link_actor>> links;
  caf::scoped_actor self{sys};

  explicit demo_cluster(caf::actor_system& s, std::string dir) : sys(s), root(std::move(dir)) {
    for (auto a : ids)
      for (auto b : ids)
        if (a != b)
          links[a][b] = spawn_peer_link(sys, peer_endpoint_actor{});
  }

  void start(node_id id) {
    node_options opts;
    opts.raft.id = id;
    opts.raft.voters = ids;
    opts.raft.election_ticks = 15;
    opts.raft.heartbeat_ticks = 5;
    opts.raft.seed = static_cast<uint64_t>(system_clock::now().time_since_epoch().count());
    opts.tick_interval = milliseconds(10);
    opts.data_dir = root + "/node-" + std::to_string(id);
    peer_map peers(links[id].begin(), links[id].end());
    auto n = spawn_node(sys, opts, peers);
    if (!n) {
      std::fprintf(stderr, "cannot start node %llu: %s\n", static_cast<unsigned long long>(id),
                   sys.render(n.error()).c_str());
      std::exit(1);
    }
    nodes[id] = *n;
    for (auto other : ids)
      if (other != id)
        self->send(links[other][id], target_atom::value, peer_endpoint_actor{*n});
  }

  void kill(node_id id) {
    self->send_exit(nodes[id], caf::exit_reason::kill);
    nodes.erase(id);
  }

  void cut(const std::vector<node_id>& a, const std::vector<node_id>& b, bool on) {
    for (auto x : a)
      for (auto y : b) {
        self->send(links[x][y], drop_atom::value, on);
        self->send(links[y][x], drop_atom::value, on);
      }
  }

  std::optional<node_status> status(node_id id) {
    std::optional<node_status> out;
    if (!nodes.contains(id))
      return out;
    self->request(nodes[id], milliseconds(500), status_atom::value)
      .receive([&](node_status& s) { out = s; }, [](caf::error&) {});
    return out;
  }

  node_id leader(const std::vector<node_id>& among) {
    node_id best = no_node;
    term_t term = 0;
    for (auto id : among)
      if (auto s = status(id); s && s->role == raft_role::leader && s->term >= term) {
        best = id;
        term = s->term;
      }
    return best;
  }

  node_id wait_for_leader(const std::vector<node_id>& among, milliseconds limit) {
    auto until = clock_type::now() + limit;
    while (clock_type::now() < until) {
      if (auto l = leader(among); l != no_node)
        return l;
      std::this_thread::sleep_for(milliseconds(5)); // polling a live system
    }
    return no_node;
  }

  client_reply request(node_id via, kv_command cmd, milliseconds timeout = milliseconds(2000)) {
    client_reply out;
    out.status = reply_status::unknown;
    self->request(nodes.at(via), timeout, std::move(cmd))
      .receive([&](client_reply& r) { out = std::move(r); },
               [&](caf::error& e) { out.message = caf::to_string(e); });
    return out;
  }
};

double ms_since(clock_type::time_point t) {
  return duration<double, std::milli>(clock_type::now() - t).count();
}

std::vector<node_id> all_but(const std::vector<node_id>& ids, const std::vector<node_id>& out) {
  std::vector<node_id> r;
  for (auto id : ids)
    if (std::find(out.begin(), out.end(), id) == out.end())
      r.push_back(id);
  return r;
}

} // namespace

int main() {
  caf::actor_system_config cfg;
  register_message_types(cfg);
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system sys{cfg};
  auto root = (std::filesystem::temp_directory_path() / "caf-raft-demo-XXXXXX").string();
  if (mkdtemp(root.data()) == nullptr)
    return 1;
  int rc = 0;
  {
    demo_cluster c(sys, root);
    std::printf("== bootstrap: 5 nodes, election timeout 150-300 ms, data in %s\n", root.c_str());
    auto t0 = clock_type::now();
    for (auto id : c.ids)
      c.start(id);
    auto leader = c.wait_for_leader(c.ids, milliseconds(3000));
    std::printf("   leader %llu elected after %.0f ms\n", static_cast<unsigned long long>(leader), ms_since(t0));

    std::printf("== writes: 100 keys through the leader\n");
    t0 = clock_type::now();
    for (int i = 0; i < 100; ++i)
      c.request(leader, kv_command{kv_op::put, "key" + std::to_string(i), "value" + std::to_string(i), {}});
    std::printf("   100 writes acknowledged in %.0f ms\n", ms_since(t0));

    std::printf("== kill the leader (%llu)\n", static_cast<unsigned long long>(leader));
    auto old = leader;
    c.kill(old);
    t0 = clock_type::now();
    auto rest = all_but(c.ids, {old});
    leader = c.wait_for_leader(rest, milliseconds(3000));
    std::printf("   new leader %llu after %.0f ms\n", static_cast<unsigned long long>(leader), ms_since(t0));
    client_reply r;
    do
      r = c.request(leader, kv_command{kv_op::put, "after-failover", "yes", {}});
    while (r.status != reply_status::ok && ms_since(t0) < 3000);
    std::printf("   next write acknowledged %.0f ms after the kill\n", ms_since(t0));
    c.start(old);
    std::printf("   node %llu restarted from its data directory\n", static_cast<unsigned long long>(old));

    std::printf("== partition: leader %llu and one follower cut off from the other three\n",
                static_cast<unsigned long long>(leader));
    std::vector<node_id> minority{leader, leader == 1 ? node_id{2} : node_id{1}};
    auto majority = all_but(c.ids, minority);
    c.cut(minority, majority, true);
    r = c.request(minority[0], kv_command{kv_op::put, "minority", "x", {}}, milliseconds(1000));
    std::printf("   write on the minority side: %s\n", to_string(r.status));
    t0 = clock_type::now();
    auto maj_leader = c.wait_for_leader(majority, milliseconds(3000));
    std::printf("   majority elected %llu after %.0f ms\n", static_cast<unsigned long long>(maj_leader), ms_since(t0));
    r = c.request(maj_leader, kv_command{kv_op::put, "majority", "y", {}});
    std::printf("   write on the majority side: %s\n", to_string(r.status));

    std::printf("== heal\n");
    c.cut(minority, majority, false);
    t0 = clock_type::now();
    bool same = false;
    while (!same && ms_since(t0) < 5000) {
      std::this_thread::sleep_for(milliseconds(20));
      auto l = c.leader(c.ids);
      auto ls = c.status(l);
      same = ls.has_value();
      for (auto id : c.ids) {
        auto s = c.status(id);
        same = same && s && s->applied_index == ls->commit_index && s->state_digest == ls->state_digest;
      }
    }
    std::printf("   %s after %.0f ms\n", same ? "all nodes hold the same state" : "NOT CONVERGED", ms_since(t0));
    for (auto id : c.ids)
      if (auto s = c.status(id))
        std::printf("   node %llu: %-9s term %llu applied %llu keys %llu digest %016llx\n",
                    static_cast<unsigned long long>(id), to_string(s->role),
                    static_cast<unsigned long long>(s->term),
                    static_cast<unsigned long long>(s->applied_index),
                    static_cast<unsigned long long>(s->keys),
                    static_cast<unsigned long long>(s->state_digest));
    auto l = c.leader(c.ids);
    auto minority_read = c.request(l, kv_command{kv_op::get, "minority", {}, {}});
    std::printf("   the minority's unacknowledged write: %s\n", to_string(minority_read.status));
    rc = same ? 0 : 1;
    for (auto id : c.ids)
      if (c.nodes.contains(id))
        c.kill(id);
    for (auto& [a, m] : c.links)
      for (auto& [b, link] : m)
        c.self->send_exit(link, caf::exit_reason::kill);
  }
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  return rc;
}
