#include "app/raft_bench/bench.hpp"

#include "actors/client/connect.hpp"
#include "messages/registration.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <unistd.h>

#include <filesystem>
#include <optional>
#include <random>

namespace raft::bench {

bench_config::bench_config(std::size_t threads) {
  load<caf::io::middleman>();
  set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(500)});
  set("middleman.connection-timeout", caf::timespan{std::chrono::seconds(3)});
  set("scheduler.policy", caf::atom("sharing"));
  set("scheduler.max-threads", threads);
  set("logger.verbosity", caf::atom("quiet"));
  register_message_types(*this);
}

bench_cluster::bench_cluster(const cluster_settings& s, std::string& error) : settings_(s) {
  dir_ = make_run_dir(s.data_parent, error);
  if (dir_.empty())
    return;
  auto cfg = cluster_config::local(static_cast<std::size_t>(s.nodes));
  cfg.election_timeout = s.election_timeout;
  cfg.heartbeat_timeout = s.heartbeat;
  cfg.data_dir = dir_;
  cfg.extra_args = s.extra_args;
  // The failover benchmark kills every node about trials/nodes times: no
  // restart budget, and no growing backoff (each kill is a new incident).
  cfg.supervision.max_restarts = 1'000'000;
  cfg.supervision.window = std::chrono::milliseconds(1);
  cfg.supervision.backoff = std::chrono::milliseconds(50);
  manager_ = std::make_unique<cluster_manager>(cfg);
  if (auto ok = manager_->bootstrap(); !ok) {
    error = "cannot launch the cluster: " + describe(ok.error());
    return;
  }
  if (manager_->wait_for_leader(std::chrono::seconds(15)) == no_node)
    error = "no leader within 15 s of the launch";
}

bench_cluster::~bench_cluster() {
  stop();
  if (!dir_.empty() && !settings_.keep_data) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

void bench_cluster::stop() {
  if (manager_)
    manager_->stop();
}

pid_t bench_cluster::pid(node_id id) const {
  if (!manager_)
    return -1;
  auto p = manager_->process(id);
  return p && p->running ? p->pid : -1;
}

cpu_sample sample_cpu(const bench_cluster& c) {
  cpu_sample s;
  for (const auto& n : c.nodes()) {
    auto p = c.pid(n.id);
    s.nodes.push_back(p > 0 ? cpu_seconds(p) : -1);
  }
  s.self = cpu_seconds(::getpid());
  return s;
}

std::string cpu_usage(const cpu_sample& before, const cpu_sample& after, double seconds,
                      const std::vector<node_config>& nodes, node_id leader) {
  auto pct = [&](double a, double b) {
    if (a < 0 || b < 0 || b < a || seconds <= 0)
      return std::string{"?"};
    return std::to_string(static_cast<int>(100.0 * (b - a) / seconds + 0.5)) + "%";
  };
  std::string out;
  for (std::size_t i = 0; i < nodes.size() && i < before.nodes.size() && i < after.nodes.size();
       ++i)
    out += (out.empty() ? "" : ", ") + std::string{"node "} + std::to_string(nodes[i].id)
           + (nodes[i].id == leader ? " (leader) " : " ") + pct(before.nodes[i], after.nodes[i]);
  return out + "; bench " + pct(before.self, after.self);
}

std::string conditions_markdown(const std::string& command_line, const std::string& dir,
                                const std::string& load_before) {
  std::string md;
  md += "- command: `" + command_line + "`\n";
  md += "- date: " + utc_now() + "\n";
  md += "- machine: " + machine_line() + "\n";
  md += "- data directory: `" + dir + "`, " + filesystem_of(dir)
        + "; every acknowledged write is fsynced by a majority\n";
  md += "- load average (1/5/15 min) at the start: " + load_before + ", at the end: "
        + load_average() + "\n";
  return md;
}

std::string make_value(std::size_t n, uint64_t seed) {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::mt19937_64 rng{seed};
  std::string v(n, 'x');
  for (auto& ch : v)
    ch = alphabet[rng() % (sizeof(alphabet) - 1)];
  return v;
}


// -- shared by the benchmarks --------------------------------------------------

status_poller::status_poller(caf::actor_system& sys, std::vector<node_config> nodes,
                             milliseconds timeout)
  : sys_(sys), nodes_(std::move(nodes)), handles_(nodes_.size()), timeout_(timeout) {}

void status_poller::add(const node_config& n) {
  nodes_.push_back(n);
  handles_.emplace_back();
}

std::vector<node_report> status_poller::round(node_id skip) {
  std::vector<node_report> out(nodes_.size());
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    out[i].id = nodes_[i].id;
    out[i].address = nodes_[i].endpoint();
    if (nodes_[i].id == skip) {
      out[i].error = "killed";
      continue;
    }
    if (!handles_[i]) {
      auto h = connect_blocking(sys_, nodes_[i].endpoint(), caf::timespan{timeout_});
      if (!h) {
        out[i].error = sys_.render(h.error());
        continue;
      }
      handles_[i] = *h;
    }
  }
  caf::scoped_actor self{sys_};
  using handle_type
    = decltype(self->request(peer_endpoint_actor{}, caf::timespan{}, status_atom::value));
  std::vector<std::optional<handle_type>> pending(nodes_.size());
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (handles_[i] && nodes_[i].id != skip)
      pending[i].emplace(self->request(handles_[i], caf::timespan{timeout_}, status_atom::value));
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!pending[i])
      continue;
    pending[i]->receive(
      [&](node_status& s) {
        out[i].reachable = true;
        out[i].status = std::move(s);
      },
      [&](caf::error& err) {
        out[i].error = sys_.render(err);
        handles_[i] = nullptr; // reconnect next round
      });
  }
  ++rounds_;
  return out;
}

void status_poller::forget(node_id id) {
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].id == id)
      handles_[i] = nullptr;
}

const node_report* report_of(const std::vector<node_report>& rs, node_id id) {
  for (const auto& r : rs)
    if (r.id == id)
      return &r;
  return nullptr;
}

std::string status_counts(const std::map<std::string, uint64_t>& m) {
  std::string out;
  for (const auto& [k, v] : m)
    out += (out.empty() ? "" : ", ") + k + " " + std::to_string(v);
  return out.empty() ? "0" : out;
}

uint64_t total(const std::map<std::string, uint64_t>& m) {
  uint64_t n = 0;
  for (const auto& [k, v] : m)
    n += v;
  return n;
}

} // namespace raft::bench
