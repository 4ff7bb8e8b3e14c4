#include "tests/actor/actor_cluster.hpp"

#include "actors/peer_link/peer_link.hpp"
#include "messages/registration.hpp"

#include <caf/all.hpp>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace raft::test {

// -- observer -----------------------------------------------------------------

void checking_observer::stepped(const raft_core& core) {
  checker.observe(core);
  auto s = core.status();
  s.applied_index = core.log().applied();
  latest[core.id()] = s;
}

void checking_observer::applied(node_id id, const log_entry& e) {
  checker.observe_applied(id, e);
  applied_log[id].push_back(e);
}

// -- cluster ------------------------------------------------------------------

namespace {

std::string make_temp_dir() {
  auto pattern = (std::filesystem::temp_directory_path() / "caf-raft-actor-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  return pattern;
}

void client_impl(caf::event_based_actor* self, node_actor target, kv_command cmd,
                 caf::timespan timeout, reply_slot out) {
  self->request(target, timeout, std::move(cmd))
    .then([out](client_reply& r) { *out = std::move(r); },
          [out](caf::error& err) {
            // The request was sent; without an answer its outcome is unknown.
            client_reply r;
            r.status = reply_status::unknown;
            r.message = caf::to_string(err);
            *out = std::move(r);
          });
}

} // namespace

actor_cluster::actor_cluster(std::size_t n, uint64_t seed) : seed_(seed) {
  cfg_.set("scheduler.policy", caf::atom("testing"));
  cfg_.set("logger.verbosity", caf::atom("quiet"));
  register_message_types(cfg_);
  sys_ = std::make_unique<caf::actor_system>(cfg_);
  sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
  root_ = make_temp_dir();
  observer_ = std::make_shared<checking_observer>();
  base_.tick_interval = ms(10);
  base_.raft.election_ticks = 15;
  base_.raft.heartbeat_ticks = 5;
  base_.detached_storage = false;
  base_.client_timeout = ms(3000);
  base_.observer = observer_;
  for (node_id id = 1; id <= n; ++id)
    ids_.push_back(id);
  for (auto id : ids_)
    nodes_[id].dir = root_ + "/node-" + std::to_string(id);
  // Every node gets a link to every other node; targets are set once the
  // nodes exist.
  for (auto from : ids_)
    for (auto to : ids_)
      if (from != to)
        nodes_[from].links[to] = spawn_peer_link(*sys_, peer_endpoint_actor{});
  for (auto id : ids_)
    spawn(id);
  run();
}

actor_cluster::~actor_cluster() {
  for (auto& [id, n] : nodes_) {
    if (n.alive)
      caf::anon_send_exit(n.actor, caf::exit_reason::kill);
    for (auto& [peer, link] : n.links)
      caf::anon_send_exit(link, caf::exit_reason::kill);
  }
  sched_->run();
  nodes_.clear();
  sys_.reset();
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

void actor_cluster::spawn(node_id id) {
  auto opts = base_;
  opts.raft.id = id;
  opts.raft.voters = ids_;
  opts.raft.seed = seed_;
  opts.data_dir = nodes_.at(id).dir;
  peer_map peers;
  for (auto& [peer, link] : nodes_.at(id).links)
    peers.emplace(peer, link);
  auto node = spawn_node(*sys_, opts, std::move(peers));
  if (!node)
    throw std::runtime_error("spawn_node failed: " + sys_->render(node.error()));
  auto& slot = nodes_.at(id);
  slot.actor = *node;
  slot.alive = true;
  for (auto& [other, n] : nodes_)
    if (other != id)
      caf::anon_send(n.links.at(id), target_atom::value, peer_endpoint_actor{slot.actor});
}

void actor_cluster::run() {
  sched_->run();
}

void actor_cluster::advance(caf::timespan d) {
  auto tick = base_.tick_interval;
  for (caf::timespan t{0}; t < d; t += tick) {
    sched_->advance_time(tick);
    elapsed_ += tick;
    sched_->run();
  }
}

bool actor_cluster::run_until(const std::function<bool()>& pred, caf::timespan limit) {
  run();
  for (caf::timespan t{0}; t < limit; t += base_.tick_interval) {
    if (pred())
      return true;
    advance(base_.tick_interval);
  }
  return pred();
}

node_id actor_cluster::leader() const {
  node_id best = no_node;
  term_t best_term = 0;
  for (const auto& [id, s] : observer_->latest)
    if (nodes_.at(id).alive && s.role == raft_role::leader && s.term >= best_term) {
      best = id;
      best_term = s.term;
    }
  return best;
}

node_id actor_cluster::wait_for_leader(caf::timespan limit) {
  run_until([this] { return leader() != no_node; }, limit);
  return leader();
}

void actor_cluster::kill(node_id id) {
  auto& slot = nodes_.at(id);
  caf::anon_send_exit(slot.actor, caf::exit_reason::kill);
  slot.alive = false;
  sched_->run(); // the node and its linked storage actor go down
  slot.actor = nullptr;
  observer_->checker.node_restarted(id);
  observer_->latest.erase(id);
  observer_->applied_log.erase(id);
}

void actor_cluster::respawn(node_id id) {
  spawn(id);
  run();
}

void actor_cluster::partition(const std::vector<std::vector<node_id>>& groups) {
  std::map<node_id, std::size_t> group_of;
  for (std::size_t g = 0; g < groups.size(); ++g)
    for (auto id : groups[g])
      group_of[id] = g;
  for (auto& [from, n] : nodes_)
    for (auto& [to, link] : n.links) {
      auto a = group_of.find(from);
      auto b = group_of.find(to);
      bool cut = a == group_of.end() || b == group_of.end() || a->second != b->second;
      caf::anon_send(link, drop_atom::value, cut);
    }
  run();
}

void actor_cluster::heal() {
  for (auto& [from, n] : nodes_)
    for (auto& [to, link] : n.links)
      caf::anon_send(link, drop_atom::value, false);
  run();
}

reply_slot actor_cluster::send(node_id via, kv_command cmd, caf::timespan timeout) {
  auto slot = std::make_shared<std::optional<client_reply>>();
  sys_->spawn(client_impl, nodes_.at(via).actor, std::move(cmd), timeout, slot);
  return slot;
}

client_reply actor_cluster::request(node_id via, kv_command cmd, caf::timespan timeout) {
  auto slot = send(via, std::move(cmd), timeout);
  run_until([&] { return slot->has_value(); }, timeout + base_.tick_interval);
  if (!slot->has_value())
    throw std::logic_error("client got neither a reply nor its timeout");
  return **slot;
}

client_reply actor_cluster::put(const std::string& key, const std::string& value) {
  auto l = wait_for_leader();
  if (l == no_node)
    throw std::runtime_error("no leader to put to");
  return request(l, kv_command{kv_op::put, key, value, {}});
}

client_reply actor_cluster::get(const std::string& key) {
  auto l = wait_for_leader();
  if (l == no_node)
    throw std::runtime_error("no leader to get from");
  return request(l, kv_command{kv_op::get, key, {}, {}});
}

} // namespace raft::test
