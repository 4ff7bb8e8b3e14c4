// raft-node: one member of a caf-raft cluster, as a process.
//
//   raft-node --raft.id=1 --raft.port=7001 --raft.data-dir=/var/lib/raft/1
//             --raft.peers='["2=127.0.0.1:7002","3=127.0.0.1:7003"]'
//   raft-node --config-file=node1.ini           # [raft] section, same names
//
// It validates its whole configuration first and exits 1 with one line on
// stderr naming the problem. Then it publishes its gateway on host:port,
// starts the node under a supervisor and prints
//
//   raft-node <id> listening on <host>:<port>
//
// once (tests and the cluster manager wait for that line). One log line per
// role or term change follows (log-level info). SIGTERM or SIGINT stop it
// cleanly (exit 0); if the supervisor runs out of restarts it exits 3.
//
// With --raft.join=host:port[,...] and an empty data directory the node first
// asks the cluster to add it (as a learner; the leader promotes it once it
// has caught up) and starts once the cluster has committed that, with the
// configuration the cluster sent; a refusal (its id is taken, another
// cluster) exits 1 with the cluster's reason. With state in the data
// directory it skips that and restarts from its data like any member.

#include "actors/client/blocking_client.hpp"
#include "actors/cluster/supervisor.hpp"
#include "actors/node/membership.hpp"
#include "actors/redis/redis_server.hpp"
#include "app/raft_node/basp_guard.hpp"
#include "app/raft_node/node_config.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <pthread.h>
#include <random>
#include <thread>
#include <unistd.h>

using namespace raft;

namespace {

/// Sent to ourselves when the supervisor gives up (never expected from outside).
constexpr int give_up_signal = SIGUSR1;

std::mutex output_mutex;

void print_line(FILE* out, const std::string& line) {
  std::lock_guard<std::mutex> guard{output_mutex};
  std::fputs(line.c_str(), out);
  std::fputc('\n', out);
  std::fflush(out);
}

/// A log line with a wall-clock timestamp (HH:MM:SS.mmm).
void log_line(const std::string& prefix, const std::string& line) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto t = system_clock::to_time_t(now);
  auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char stamp[32];
  std::snprintf(stamp, sizeof(stamp), "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  print_line(stdout, std::string{stamp} + " " + prefix + line);
}

int config_error(const std::string& why) {
  print_line(stderr, "raft-node: configuration error: " + why);
  return 1;
}

/// The text of an error made with make_error(code, "text"), or its rendering.
std::string error_text(caf::actor_system& sys, const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return sys.render(err);
}

struct give_up_record {
  std::atomic<bool> gave_up{false};
  std::mutex mtx;
  std::string reason;
};

/// Asks the members at plan.join to add this node. Returns the configuration
/// the cluster committed with it, or nothing with `error` set.
std::optional<membership> join_cluster(caf::actor_system& sys, const node_plan& plan,
                                       std::string& error) {
  client_options copts;
  copts.overall_timeout = std::chrono::seconds(20);
  blocking_client client{sys, plan.join, copts};
  kv_command cmd;
  cmd.op = kv_op::add_member;
  cmd.key = std::to_string(plan.id);
  cmd.value = plan.advertise;
  cmd.expected = plan.cluster_id;
  // The cluster may be electing, or busy with another change: keep asking
  // for a minute (the answer to a repeated request is the same once the
  // first was committed).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = client.execute(cmd);
    if (r.status == reply_status::ok) {
      if (auto m = decode_membership(r.value))
        return m;
      error = "the cluster accepted the join but sent no configuration";
      return std::nullopt;
    }
    if (r.status == reply_status::bad_request) {
      error = "the cluster refused the join: " + r.message;
      return std::nullopt;
    }
    last = std::string{to_string(r.status)} + (r.message.empty() ? "" : ": " + r.message);
    std::this_thread::sleep_for(std::chrono::milliseconds(500)); // pacing, not waiting on a condition
  }
  error = "no answer from the cluster at the join addresses within a minute (last: " + last
          + ")";
  return std::nullopt;
}

process_options make_process_options(const node_plan& plan, give_up_record& record,
                                     const std::optional<membership>& joined) {
  auto prefix = "raft-node " + std::to_string(plan.id) + " ";
  std::function<void(const std::string&)> info;
  std::function<void(const std::string&)> debug;
  if (plan.level != log_level::quiet)
    info = [prefix](const std::string& line) { log_line(prefix, line); };
  if (plan.level == log_level::debug)
    debug = info;
  process_options o;
  o.node.raft.id = plan.id;
  if (joined) {
    // Start as the cluster sent it: the voters (we are a learner among
    // them until promoted, which arrives through the log) and where every
    // member listens.
    for (const auto* list : {&joined->voters, &joined->learners})
      for (const auto& m : *list) {
        o.node.raft.addresses[m.id] = m.address;
        auto where = parse_endpoint(m.address);
        if (m.id != plan.id && where)
          o.peers.push_back(peer_address{m.id, where->host, where->port});
      }
    o.node.raft.voters = voter_ids(*joined);
  } else if (plan.join.empty()) {
    o.node.raft.voters.push_back(plan.id);
    o.node.raft.addresses[plan.id] = plan.advertise;
    for (const auto& p : plan.peers) {
      o.node.raft.voters.push_back(p.id);
      o.node.raft.addresses[p.id] = p.address();
    }
    // The same bootstrap configuration on every node, in the same order.
    std::sort(o.node.raft.voters.begin(), o.node.raft.voters.end());
    o.peers = plan.peers;
  }
  // (A joined node restarting from its data takes its configuration from
  // the log; it starts with no bootstrap voters and no static peers.)
  o.node.cluster_id = plan.cluster_id;
  o.node.snapshot_entries = plan.snapshot_entries;
  o.node.snapshot_log_bytes = plan.snapshot_log_bytes;
  // Keep up to 1,000 entries behind a snapshot for followers a little
  // behind, but never half the snapshot interval or more (small intervals,
  // as in tests, must still compact).
  if (plan.snapshot_entries > 0)
    o.node.compaction_margin = std::min<uint64_t>(o.node.compaction_margin,
                                                  plan.snapshot_entries / 2);
  o.node.raft.election_ticks = plan.election_ticks;
  o.node.raft.election_ticks_max = plan.election_ticks_max;
  o.node.raft.heartbeat_ticks = plan.heartbeat_ticks;
  o.node.raft.seed = std::random_device{}() ^ (plan.id << 32);
  o.node.tick_interval = plan.tick;
  o.node.data_dir = plan.data_dir;
  o.node.detached_storage = true;
  // Role and term changes are the node's info lines; errors always print.
  o.node.log = [prefix, info](const std::string& line) {
    if (info)
      info(line);
    else if (line.find("fail") != std::string::npos)
      print_line(stderr, prefix + line);
  };
  // The gateway listens on an internal loopback port; the guard owns the
  // configured host:port and relays to it (see basp_guard.hpp).
  o.host = "127.0.0.1";
  o.port = 0;
  o.link.seed = o.node.raft.seed;
  o.link.log = info;
  o.link.debug = debug;
  o.gateway.log = info;
  o.log = [prefix](const std::string& line) { log_line(prefix, line); }; // restarts: always
  o.on_give_up = [&record](int, const std::string& reason) {
    {
      std::lock_guard<std::mutex> guard{record.mtx};
      record.reason = reason;
    }
    record.gave_up = true;
    ::kill(::getpid(), give_up_signal);
  };
  return o;
}

} // namespace

int main(int argc, char** argv) {
  // Block the stop signals before any thread exists, so every thread the
  // actor system starts inherits the mask and main alone takes them (sigwait).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, give_up_signal);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  raft_node_config cfg;
  if (auto err = cfg.parse(argc, argv))
    return config_error("invalid option or config file: " + cfg.render(err)
                        + " (strings in a config file need quotes; see --long-help)");
  if (cfg.cli_helptext_printed)
    return 0;
  auto checked = validate(cfg.settings());
  if (!checked.plan)
    return config_error(checked.error);
  const auto& plan = *checked.plan;
  if (auto why = check_data_dir(plan.data_dir); !why.empty())
    return config_error(why);

  // Take the port before anything else, so "port in use" fails early.
  basp_guard::options guard_opts;
  if (plan.level != log_level::quiet) {
    auto prefix = "raft-node " + std::to_string(plan.id) + " ";
    guard_opts.log = [prefix](const std::string& line) { log_line(prefix, line); };
  }
  std::string listen_error;
  auto guard = basp_guard::listen(plan.host, plan.port, guard_opts, listen_error);
  if (!guard) {
    print_line(stderr, "raft-node: startup error: " + listen_error);
    return 1;
  }

  give_up_record record;
  int exit_code = 0;
  {
    caf::actor_system sys{cfg};
    auto prefix = "raft-node " + std::to_string(plan.id) + " ";
    if (plan.level != log_level::quiet) {
      log_line(prefix, "tick " + std::to_string(plan.tick.count()) + " ms, election timeout "
                         + std::to_string(plan.election_ticks) + "-"
                         + std::to_string(plan.election_ticks_max) + " ticks, heartbeat "
                         + std::to_string(plan.heartbeat_ticks) + " ticks, "
                         + std::to_string(plan.peers.size()) + " peers");
      for (const auto& note : plan.notes)
        log_line(prefix, "note: " + note);
    }
    std::optional<membership> joined;
    if (!plan.join.empty()) {
      if (has_node_state(plan.data_dir)) {
        if (plan.level != log_level::quiet)
          log_line(prefix, "data-dir holds state: restarting from it, not joining again");
      } else {
        if (plan.level != log_level::quiet)
          log_line(prefix, "asking the cluster to add node " + std::to_string(plan.id) + " at "
                             + plan.advertise);
        std::string why;
        joined = join_cluster(sys, plan, why);
        if (!joined) {
          print_line(stderr, "raft-node: cannot join: " + why);
          return 1;
        }
        if (plan.level != log_level::quiet)
          log_line(prefix, "joined; configuration " + to_string(*joined));
      }
    }
    auto proc = start_node_process(sys, make_process_options(plan, record, joined));
    if (!proc) {
      auto why = error_text(sys, proc.error());
      if (proc.error() == caf::sec::cannot_open_port)
        why += " (the internal port; is the loopback interface up?)";
      print_line(stderr, "raft-node: startup error: " + why);
      return 1; // the actor system's destructor waits for the (stopped) actors
    }
    guard->start(proc->port);
    std::optional<redis::redis_server> redis_port;
    if (plan.client_port != 0) {
      redis::redis_server_options ro;
      ro.host = plan.client_host;
      ro.port = plan.client_port;
      ro.password = plan.client_password;
      ro.max_clients = plan.client_max_clients;
      ro.max_pipeline = plan.client_max_pipeline;
      ro.limits.max_bulk = plan.client_max_bulk;
      ro.limits.max_inline = plan.client_max_inline;
      ro.limits.max_multibulk = plan.client_max_multibulk;
      ro.max_query_buffer = plan.client_max_query_buffer;
      if (plan.level != log_level::quiet)
        ro.log = [prefix](const std::string& line) { log_line(prefix, line); };
      auto started = redis::start_redis_server(
        sys, caf::actor_cast<kv_service_actor>(proc->gateway), std::move(ro));
      if (!started) {
        print_line(stderr, "raft-node: startup error: " + error_text(sys, started.error()));
        caf::scoped_actor self{sys};
        self->send_exit(proc->supervisor, caf::exit_reason::user_shutdown);
        self->wait_for(proc->supervisor);
        return 1;
      }
      redis_port = *started;
      print_line(stdout, "raft-node " + std::to_string(plan.id) + " redis port on "
                           + plan.client_host + ":" + std::to_string(redis_port->port)
                           + (plan.client_password.empty() ? "" : " (AUTH required)"));
    }
    print_line(stdout, "raft-node " + std::to_string(plan.id) + " listening on " + plan.host + ":"
                         + std::to_string(guard->port()));
    int sig = 0;
    while (sigwait(&signals, &sig) == 0) {
      if (sig != give_up_signal || record.gave_up)
        break;
    }
    if (record.gave_up) {
      std::lock_guard<std::mutex> lock{record.mtx};
      print_line(stderr, "raft-node " + std::to_string(plan.id)
                           + ": supervisor gave up: " + record.reason);
      exit_code = supervisor_gave_up_exit_code;
    } else if (plan.level != log_level::quiet) {
      log_line(prefix, std::string{"stopping ("} + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ")");
    }
    {
      caf::scoped_actor self{sys};
      if (redis_port) {
        self->send_exit(redis_port->broker, caf::exit_reason::user_shutdown);
        self->wait_for(redis_port->broker);
      }
      self->send_exit(proc->supervisor, caf::exit_reason::user_shutdown);
      self->wait_for(proc->supervisor);
    }
    guard.reset(); // closes every relayed connection
  } // the actor system's destructor waits for every actor to finish
  return exit_code;
}
