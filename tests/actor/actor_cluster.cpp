#include "tests/actor/actor_cluster.hpp"

#include "actors/node/membership.hpp"
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

void checking_observer::snapshot_installed(node_id id, index_t index) {
  checker.snapshot_installed(id, index);
  installed[id].push_back(index);
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

void status_impl(caf::event_based_actor* self, node_actor target,
                 std::shared_ptr<std::optional<node_status>> out) {
  self->request(target, std::chrono::seconds(1), status_atom::value)
    .then([out](node_status& s) { *out = std::move(s); }, [](caf::error&) {});
}

} // namespace

actor_cluster::actor_cluster(std::size_t n, uint64_t seed,
                             const std::function<void(node_options&)>& tweak)
  : seed_(seed) {
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
  if (tweak)
    tweak(base_);
  for (node_id id = 1; id <= n; ++id)
    ids_.push_back(id);
  for (auto id : ids_) {
    nodes_[id].dir = root_ + "/node-" + std::to_string(id);
    nodes_[id].bootstrap = ids_;
  }
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

peer_link_actor actor_cluster::link(node_id from, node_id to) {
  auto& links = nodes_.at(from).links;
  if (auto i = links.find(to); i != links.end())
    return i->second;
  peer_endpoint_actor target;
  if (auto j = nodes_.find(to); j != nodes_.end() && j->second.alive)
    target = j->second.actor;
  auto l = spawn_peer_link(*sys_, target);
  if (partitioned_) {
    auto a = group_of_.find(from);
    auto b = group_of_.find(to);
    bool cut = a == group_of_.end() || b == group_of_.end() || a->second != b->second;
    caf::anon_send(l, drop_atom::value, cut);
  }
  links.emplace(to, l);
  return l;
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
  opts.raft.voters = nodes_.at(id).bootstrap;
  opts.raft.seed = seed_;
  opts.data_dir = nodes_.at(id).dir;
  // Links to members the node learns about at run time, made on demand.
  opts.connect = [this, id](const member& m) -> peer_endpoint_actor { return link(id, m.id); };
  peer_map peers;
  for (auto& [peer, l] : nodes_.at(id).links)
    peers.emplace(peer, l);
  auto node = spawn_node(*sys_, opts, std::move(peers));
  if (!node)
    throw std::runtime_error("spawn_node failed: " + sys_->render(node.error()));
  auto& slot = nodes_.at(id);
  slot.actor = *node;
  slot.alive = true;
  for (auto& [other, n] : nodes_)
    if (auto l = n.links.find(id); other != id && l != n.links.end())
      caf::anon_send(l->second, target_atom::value, peer_endpoint_actor{slot.actor});
}

void actor_cluster::wipe(node_id id) {
  if (nodes_.at(id).alive)
    kill(id);
  std::error_code ec;
  std::filesystem::remove_all(nodes_.at(id).dir, ec);
}

std::optional<node_status> actor_cluster::query_status(node_id id) {
  if (!nodes_.contains(id) || !nodes_.at(id).alive)
    return std::nullopt;
  auto out = std::make_shared<std::optional<node_status>>();
  sys_->spawn(status_impl, nodes_.at(id).actor, out);
  run();
  return *out;
}

client_reply actor_cluster::to_leader(kv_command cmd, caf::timespan limit) {
  client_reply last;
  last.status = reply_status::unavailable;
  last.message = "no leader";
  auto deadline = elapsed_ + limit;
  node_id via = no_node;
  while (elapsed_ < deadline) {
    if (via == no_node || !nodes_.contains(via) || !nodes_.at(via).alive)
      via = wait_for_leader(ms(1000));
    if (via == no_node)
      continue;
    last = request(via, cmd);
    if (last.status == reply_status::not_leader) {
      via = last.leader_hint;
      advance(ms(20));
      continue;
    }
    if (last.status != reply_status::unavailable)
      return last;
    advance(ms(50)); // busy (another change, or a new leader not ready yet)
    via = no_node;
  }
  return last;
}

client_reply actor_cluster::join(node_id id, caf::timespan limit) {
  if (!nodes_.contains(id)) {
    nodes_[id].dir = root_ + "/node-" + std::to_string(id);
    ids_.push_back(id);
  }
  auto r = to_leader(kv_command{kv_op::add_member, std::to_string(id), "", {}}, limit);
  if (r.status != reply_status::ok)
    return r;
  auto m = decode_membership(r.value);
  if (!m)
    throw std::logic_error("join: the reply carries no configuration");
  nodes_.at(id).bootstrap = voter_ids(*m);
  spawn(id);
  run();
  return r;
}

client_reply actor_cluster::remove(node_id id, caf::timespan limit) {
  return to_leader(kv_command{kv_op::remove_member, std::to_string(id), {}, {}}, limit);
}

std::vector<node_id> actor_cluster::voters() const {
  auto l = leader();
  return l == no_node ? std::vector<node_id>{} : observer_->latest.at(l).voters;
}

std::vector<node_id> actor_cluster::learners() const {
  auto l = leader();
  return l == no_node ? std::vector<node_id>{} : observer_->latest.at(l).learners;
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
  group_of_ = group_of;
  partitioned_ = true;
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
  partitioned_ = false;
  group_of_.clear();
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
