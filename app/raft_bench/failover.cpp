// raft-bench failover: kill -9 the leader, again and again, and time the
// recovery.
//
// One trial:
//   1. the cluster is healthy: a leader followed by every node, and the node
//      killed in the previous trial has caught up;
//   2. SIGKILL to the leader's process (timing starts just before the
//      kill(2) call);
//   3. time to a new leader: the surviving nodes' status is polled every
//      --poll ms (all of them in parallel, one status request each); done
//      when a node other than the killed one leads in a higher term and a
//      majority of the voters report it as their leader in that term
//      (evaluate_health). The time is taken when that poll round's last reply
//      is in, so it is late by at most one poll interval plus a round trip;
//   4. time to the next acknowledged write: a writer (below) writes all the
//      time; this is the first acknowledgement, received after the kill, of
//      a put sent after the kill;
//   5. the cluster manager's supervision restarts the killed process; it
//      has to listen again and apply what the leader had committed when it
//      came back (not timed into 3 or 4);
//   6. the same as 4 for a second writer that uses the library client
//      (kv_client, default options): what an application sees.
//
// The writer is one closed-loop client (one put in flight) in raft-bench's
// own actor system. It is not kv_client, on purpose: kv_client's retry
// backoff (20 ms, doubling) would show in the "next write", which is meant
// to measure the cluster. (kv_client's own figure is measured beside it.)
// The writer instead
//   - monitors each node's proxy and abandons its put at once when the
//     connection to that node drops (what a gRPC client does on a reset);
//   - gives each attempt --attempt-timeout (a follower that has not yet
//     noticed the dead leader forwards the put to it, where it is lost);
//   - follows not_leader hints at once, and otherwise tries the next node
//     (after a 5 ms pause following a refusal, so an election is not spun on).
// Puts are idempotent, so an abandoned put that still commits does no harm.
// Both writers write their own 100 keys (the state stays small, so the
// status polling stays cheap).

#include "app/raft_bench/bench.hpp"

#include "actors/client/connect.hpp"
#include "actors/client/endpoint.hpp"
#include "actors/client/kv_client.hpp"
#include "actors/client/task.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>

#include <unistd.h>

#include <csignal>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace raft::bench {

namespace {

using retry_atom = caf::atom_constant<caf::atom("b_retry")>;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch())
    .count();
}

// -- the continuous writer ------------------------------------------------------

/// What the writer tells the main thread.
struct writer_shared {
  /// Set by the main thread just before a kill; 0: no kill pending.
  std::atomic<int64_t> kill_at{0};
  /// The first ok, received after kill_at, of a put sent after kill_at.
  std::atomic<int64_t> first_ack{0};
  std::atomic<int64_t> last_ack{0};
  std::atomic<uint64_t> ok{0}, not_leader{0}, other_reply{0}, timeouts{0}, errors{0},
    abandoned{0}, connects{0};
  /// Replies other than ok and not_leader, by status, with a sample message.
  std::mutex mtx;
  std::map<std::string, uint64_t> other;
  std::string other_sample;
};

/// The writer's failure counters at one moment.
struct writer_counts {
  uint64_t not_leader = 0, other_reply = 0, timeouts = 0, errors = 0, abandoned = 0;

  static writer_counts of(const writer_shared& w) {
    return {w.not_leader.load(), w.other_reply.load(), w.timeouts.load(), w.errors.load(),
            w.abandoned.load()};
  }

  /// "2 not_leader, 1 timeout" for what happened since `before`.
  std::string since(const writer_counts& before) const {
    std::string out;
    auto add = [&](uint64_t now, uint64_t then, const char* what) {
      if (now > then)
        out += (out.empty() ? "" : ", ") + std::to_string(now - then) + " " + what;
    };
    add(abandoned, before.abandoned, "abandoned");
    add(not_leader, before.not_leader, "not_leader");
    add(other_reply, before.other_reply, "unavailable/other");
    add(timeouts, before.timeouts, "timeouts");
    add(errors, before.errors, "errors");
    return out.empty() ? "no failed attempt" : out;
  }
};

struct writer_state {
  std::vector<node_config> nodes;
  std::vector<peer_endpoint_actor> handles;
  std::shared_ptr<writer_shared> shared;
  caf::timespan attempt_timeout{};
  std::string value;
  /// The node the current attempt goes to, and the attempt's generation:
  /// callbacks of older attempts are ignored.
  std::size_t target = 0;
  uint64_t gen = 0;
  uint64_t seq = 0;
};

using writer_ptr = caf::stateful_actor<writer_state>*;

void attempt(writer_ptr self);

std::size_t next_of(writer_ptr self, std::size_t i) {
  return (i + 1) % self->state.nodes.size();
}

void retry_later(writer_ptr self, std::size_t next) {
  auto& st = self->state;
  st.target = next;
  auto g = ++st.gen;
  self->delayed_send(self, std::chrono::milliseconds(5), retry_atom::value, g);
}

void retry_now(writer_ptr self, std::size_t next) {
  self->state.target = next;
  attempt(self);
}

void on_reply(writer_ptr self, std::size_t i, int64_t sent, client_reply& r) {
  auto& st = self->state;
  auto& sh = *st.shared;
  if (r.status == reply_status::ok) {
    auto now = now_ns();
    ++sh.ok;
    sh.last_ack = now;
    auto kill = sh.kill_at.load();
    int64_t none = 0;
    if (kill != 0 && sent >= kill)
      sh.first_ack.compare_exchange_strong(none, now);
    ++st.seq;
    retry_now(self, i);
    return;
  }
  if (r.status == reply_status::not_leader) {
    ++sh.not_leader;
    for (std::size_t j = 0; j < st.nodes.size(); ++j)
      if (st.nodes[j].id == r.leader_hint && j != i) {
        retry_now(self, j);
        return;
      }
    retry_later(self, next_of(self, i));
    return;
  }
  ++sh.other_reply;
  {
    std::lock_guard<std::mutex> guard{sh.mtx};
    ++sh.other[to_string(r.status)];
    if (sh.other_sample.empty())
      sh.other_sample = std::string{to_string(r.status)} + ": " + r.message;
  }
  retry_later(self, next_of(self, i));
}

void connect_then_attempt(writer_ptr self) {
  auto& st = self->state;
  auto i = st.target;
  auto g = st.gen;
  auto& node = st.nodes[i];
  ++st.shared->connects;
  auto mm = self->system().middleman().actor_handle();
  self
    ->request(mm, st.attempt_timeout, caf::connect_atom::value, node.address, node.raft_port)
    .then(
      [self, i, g](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>& ifs) {
        auto& s = self->state;
        if (g != s.gen)
          return;
        if (!ptr || !self->system().assignable<peer_endpoint_actor>(ifs)) {
          retry_later(self, next_of(self, i));
          return;
        }
        s.handles[i] = caf::actor_cast<peer_endpoint_actor>(std::move(ptr));
        self->monitor(s.handles[i]);
        attempt(self);
      },
      [self, i, g](caf::error&) {
        if (g != self->state.gen)
          return;
        ++self->state.shared->errors;
        retry_later(self, next_of(self, i)); // refused: the node is down
      });
}

void attempt(writer_ptr self) {
  auto& st = self->state;
  auto g = ++st.gen;
  auto i = st.target;
  if (!st.handles[i]) {
    connect_then_attempt(self);
    return;
  }
  kv_command cmd;
  cmd.op = kv_op::put;
  cmd.key = "failover-" + std::to_string(st.seq % 100);
  cmd.value = st.value;
  auto sent = now_ns();
  self->request(st.handles[i], st.attempt_timeout, std::move(cmd))
    .then(
      [self, i, g, sent](client_reply& r) {
        if (g == self->state.gen)
          on_reply(self, i, sent, r);
      },
      [self, i, g](caf::error& err) {
        auto& s = self->state;
        if (g != s.gen)
          return;
        // After a timeout the proxy may belong to a lost connection (CAF
        // 0.17 then drops what it is sent): connect again on the next use.
        s.handles[i] = nullptr;
        if (err == caf::sec::request_timeout) {
          ++s.shared->timeouts;
          retry_now(self, next_of(self, i));
        } else {
          ++s.shared->errors;
          retry_later(self, next_of(self, i));
        }
      });
}

caf::behavior writer_actor(writer_ptr self, std::vector<node_config> nodes, std::size_t first,
                           std::shared_ptr<writer_shared> shared, caf::timespan attempt_timeout,
                           std::string value) {
  auto& st = self->state;
  st.nodes = std::move(nodes);
  st.handles.resize(st.nodes.size());
  st.shared = std::move(shared);
  st.attempt_timeout = attempt_timeout;
  st.value = std::move(value);
  st.target = first;
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& s = self->state;
    for (std::size_t i = 0; i < s.handles.size(); ++i) {
      if (!s.handles[i] || s.handles[i].address() != dm.source)
        continue;
      s.handles[i] = nullptr;
      if (i == s.target) {
        // The connection to the node we wait for is gone: its answer will
        // never come. Abandon the put and go on elsewhere now.
        ++s.shared->abandoned;
        retry_now(self, next_of(self, i));
      }
    }
  });
  attempt(self);
  return {
    [self](retry_atom, uint64_t g) {
      if (g == self->state.gen)
        attempt(self);
    },
  };
}

// -- the library client as a writer --------------------------------------------------

/// What the kv_client writer tells the main thread.
struct library_shared {
  std::atomic<int64_t> kill_at{0};
  std::atomic<int64_t> first_ack{0};
  std::atomic<uint64_t> ok{0}, unknown{0}, other{0};
};

struct library_state {
  std::unique_ptr<kv_client> client;
};

task<void> library_loop(kv_client* c, std::shared_ptr<library_shared> sh, std::string value) {
  for (uint64_t n = 0;; ++n) {
    auto sent = now_ns();
    auto r = co_await c->put("library-" + std::to_string(n % 100), value);
    if (r.status == reply_status::ok) {
      ++sh->ok;
      auto kill = sh->kill_at.load();
      int64_t none = 0;
      if (kill != 0 && sent >= kill)
        sh->first_ack.compare_exchange_strong(none, now_ns());
    } else if (r.status == reply_status::unknown) {
      ++sh->unknown;
    } else {
      ++sh->other;
    }
  }
}

/// kv_client with the library's default options (2 s per request): what an
/// application sees. Runs until it is told to exit.
caf::behavior library_writer(caf::stateful_actor<library_state>* self,
                             std::vector<endpoint> endpoints, std::shared_ptr<library_shared> sh,
                             std::string value) {
  self->state.client = std::make_unique<kv_client>(self, std::move(endpoints), client_options{});
  launch(self, library_loop(self->state.client.get(), std::move(sh), std::move(value)));
  return {[](int) {
    // Nothing is sent to it; the behavior keeps it alive.
  }};
}

// -- polling the nodes ------------------------------------------------------------

double ms_between(int64_t from_ns, int64_t to_ns) {
  return static_cast<double>(to_ns - from_ns) / 1e6;
}

struct trial_result {
  int trial = 0;
  node_id killed = no_node;
  term_t old_term = 0;
  node_id new_leader = no_node;
  term_t new_term = 0;
  std::optional<int64_t> leader_us;
  std::optional<int64_t> write_us;
  double rejoin_ms = 0;
  /// What the writer went through until its first acknowledgement.
  std::string writer_path;
  /// The same for the kv_client writer, and its `unknown` outcomes.
  std::optional<int64_t> library_us;
  uint64_t library_unknown = 0;
};

} // namespace

int run_failover(const failover_options& o, const std::string& command_line, std::string& md) {
  auto load_before = load_average();
  say("== raft-bench failover: " + std::to_string(o.trials) + " trials of kill -9 on the leader "
      "of a " + std::to_string(o.cluster.nodes) + "-node loopback cluster, election timeout "
      + std::to_string(o.cluster.election_timeout.count()) + "-"
      + std::to_string(2 * o.cluster.election_timeout.count()) + " ms, heartbeat "
      + std::to_string(o.cluster.heartbeat.count()) + " ms");
  say("   machine: " + machine_line() + "; load average " + load_before);
  std::string error;
  bench_cluster cluster{o.cluster, error};
  if (!error.empty()) {
    say("raft-bench: " + error);
    return 1;
  }
  say("   data directory " + cluster.dir() + " (" + filesystem_of(cluster.dir()) + ")");
  auto& m = cluster.manager();
  auto nodes = cluster.nodes();

  bench_config cfg{o.cluster.client_threads};
  caf::actor_system sys{cfg};
  status_poller poll{sys, nodes, std::max(milliseconds(200), o.attempt_timeout)};

  auto wait_healthy = [&](milliseconds limit) -> std::optional<health_report> {
    auto deadline = clock::now() + limit;
    for (;;) {
      auto h = evaluate_health(poll.round());
      if (h.health == cluster_health::healthy)
        return h;
      if (clock::now() > deadline)
        return std::nullopt;
      std::this_thread::sleep_for(milliseconds(10));
    }
  };

  auto first = wait_healthy(std::chrono::seconds(15));
  if (!first) {
    say("raft-bench: the cluster is not healthy 15 s after the launch");
    return 1;
  }
  std::size_t first_index = 0;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].id == first->leader)
      first_index = i;
  auto shared = std::make_shared<writer_shared>();
  auto writer = sys.spawn(writer_actor, nodes, first_index, shared,
                          caf::timespan{o.attempt_timeout}, make_value(o.value_size, 42));
  // The library client starts at the leader (see writes.cpp for why).
  std::vector<endpoint> lib_endpoints;
  for (std::size_t k = 0; k < nodes.size(); ++k) {
    const auto& n = nodes[(first_index + k) % nodes.size()];
    endpoint e;
    e.id = n.id;
    e.address = n.endpoint();
    lib_endpoints.push_back(std::move(e));
  }
  auto lib = std::make_shared<library_shared>();
  auto lib_writer = sys.spawn(library_writer, lib_endpoints, lib, make_value(o.value_size, 43));

  std::vector<trial_result> trials;
  int failed = 0;
  auto bench_start = clock::now();
  auto self_cpu0 = cpu_seconds(::getpid());
  for (int t = 1; t <= o.trials; ++t) {
    // 1. Let the new term settle (the last trial's leader was just elected
    // and the killed node just rejoined); then a healthy cluster, and a
    // fresh acknowledgement of the writer.
    std::this_thread::sleep_for(o.settle);
    auto h = wait_healthy(std::chrono::seconds(30));
    if (!h) {
      say("raft-bench: trial " + std::to_string(t)
          + ": the cluster did not become healthy within 30 s; stopping");
      break;
    }
    auto ack_deadline = clock::now() + std::chrono::seconds(10);
    auto since = now_ns();
    while (shared->last_ack.load() < since && clock::now() < ack_deadline)
      std::this_thread::sleep_for(milliseconds(1));
    trial_result r;
    r.trial = t;
    r.killed = h->leader;
    r.old_term = h->term;
    auto pid = cluster.pid(r.killed);
    if (pid <= 0) {
      say("raft-bench: trial " + std::to_string(t) + ": no process for the leader; stopping");
      break;
    }
    // 2. kill -9.
    shared->first_ack = 0;
    lib->first_ack = 0;
    auto counts_at_kill = writer_counts::of(*shared);
    auto lib_unknown_at_kill = lib->unknown.load();
    auto kill_at = now_ns();
    shared->kill_at = kill_at;
    lib->kill_at = kill_at;
    ::kill(pid, SIGKILL);
    poll.forget(r.killed);
    // 3. a new leader followed by a majority.
    auto deadline = clock::now() + o.trial_timeout;
    for (;;) {
      auto round_start = clock::now();
      auto rh = evaluate_health(poll.round(r.killed));
      if (rh.leader != no_node && rh.leader != r.killed && rh.term > r.old_term) {
        r.leader_us = (now_ns() - kill_at) / 1000;
        r.new_leader = rh.leader;
        r.new_term = rh.term;
        break;
      }
      if (clock::now() > deadline)
        break;
      std::this_thread::sleep_until(round_start + o.poll);
    }
    // 4. the next acknowledged write.
    while (shared->first_ack.load() == 0 && clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    if (auto a = shared->first_ack.load(); a != 0)
      r.write_us = (a - kill_at) / 1000;
    r.writer_path = writer_counts::of(*shared).since(counts_at_kill);
    shared->kill_at = 0;
    // 5. the killed node comes back and catches up.
    auto back = m.wait_until_listening(r.killed, std::chrono::seconds(30));
    bool caught_up = false;
    if (back) {
      std::optional<index_t> target;
      auto until = clock::now() + std::chrono::seconds(30);
      while (clock::now() < until) {
        auto reports = poll.round();
        auto rh = evaluate_health(reports);
        const auto* lr = report_of(reports, rh.leader);
        const auto* kr = report_of(reports, r.killed);
        if (!target && lr != nullptr && lr->reachable)
          target = lr->status.commit_index;
        if (target && rh.health == cluster_health::healthy && kr != nullptr && kr->reachable
            && kr->status.applied_index >= *target) {
          caught_up = true;
          break;
        }
        std::this_thread::sleep_for(milliseconds(10));
      }
    }
    r.rejoin_ms = ms_between(kill_at, now_ns());
    // 6. the library client's next acknowledged write (it may wait out its
    // request timeout first).
    while (lib->first_ack.load() == 0 && clock::now() < deadline)
      std::this_thread::sleep_for(milliseconds(1));
    if (auto a = lib->first_ack.load(); a != 0)
      r.library_us = (a - kill_at) / 1000;
    lib->kill_at = 0;
    r.library_unknown = lib->unknown.load() - lib_unknown_at_kill;
    bool ok = r.leader_us && r.write_us;
    char line[768];
    std::snprintf(line, sizeof(line),
                  "   trial %3d: killed node %llu (term %llu) -> node %llu leads term %llu after "
                  "%s ms; next write acked after %s ms (%s); node %llu back and caught up "
                  "after %.0f ms; kv_client: next ack after %s ms, %llu unknown",
                  t, static_cast<unsigned long long>(r.killed),
                  static_cast<unsigned long long>(r.old_term),
                  static_cast<unsigned long long>(r.new_leader),
                  static_cast<unsigned long long>(r.new_term),
                  r.leader_us ? fmt_ms(static_cast<double>(*r.leader_us)).c_str() : "NONE",
                  r.write_us ? fmt_ms(static_cast<double>(*r.write_us)).c_str() : "NONE",
                  r.writer_path.c_str(),
                  static_cast<unsigned long long>(r.killed), r.rejoin_ms,
                  r.library_us ? fmt_ms(static_cast<double>(*r.library_us)).c_str() : "NONE",
                  static_cast<unsigned long long>(r.library_unknown));
    say(line);
    if (!ok)
      ++failed;
    trials.push_back(r);
    if (!back || !caught_up) {
      say("raft-bench: node " + std::to_string(r.killed)
          + (back ? " did not catch up" : " was not restarted") + " within 30 s; stopping");
      break;
    }
  }
  auto elapsed = std::chrono::duration<double>(clock::now() - bench_start).count();
  auto self_cpu = elapsed > 0 ? 100.0 * (cpu_seconds(::getpid()) - self_cpu0) / elapsed : 0.0;
  caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(lib_writer, caf::exit_reason::user_shutdown);

  std::vector<int64_t> leader_times, write_times, library_times;
  uint64_t library_unknown = 0;
  for (const auto& r : trials) {
    if (r.library_us)
      library_times.push_back(*r.library_us);
    library_unknown += r.library_unknown;
    if (r.leader_us)
      leader_times.push_back(*r.leader_us);
    if (r.write_us)
      write_times.push_back(*r.write_us);
  }
  auto ls = summarize(leader_times);
  auto ws = summarize(write_times);
  auto lbs = summarize(library_times);
  auto row = [](const char* what, const summary& s) {
    char line[256];
    std::snprintf(line, sizeof(line), "   %-28s n=%zu  min %s  p50 %s  p99 %s  max %s ms", what,
                  s.count, fmt_ms(s.min_us).c_str(), fmt_ms(s.p50_us).c_str(),
                  fmt_ms(s.p99_us).c_str(), fmt_ms(s.max_us).c_str());
    return std::string{line};
  };
  say("== failover over " + std::to_string(trials.size()) + " trials ("
      + std::to_string(failed) + " without a new leader or write within "
      + std::to_string(o.trial_timeout.count()) + " ms), " + std::to_string(poll.rounds())
      + " status rounds, " + std::to_string(static_cast<int>(elapsed)) + " s; raft-bench used "
      + std::to_string(static_cast<int>(self_cpu + 0.5)) + "% of one core");
  say(row("time to a new leader:", ls));
  say(row("time to the next ack. write:", ws));
  say(row("same with kv_client defaults:", lbs));
  say("   kv_client writer: " + std::to_string(lib->ok.load()) + " ok, "
      + std::to_string(lib->unknown.load()) + " unknown, " + std::to_string(lib->other.load())
      + " other outcomes");
  std::string writer_line
    = "writer: " + std::to_string(shared->ok.load()) + " ok, "
      + std::to_string(shared->not_leader.load()) + " not_leader, "
      + std::to_string(shared->other_reply.load()) + " other replies, "
      + std::to_string(shared->timeouts.load()) + " attempt timeouts, "
      + std::to_string(shared->abandoned.load()) + " abandoned on connection loss, "
      + std::to_string(shared->errors.load()) + " other errors, "
      + std::to_string(shared->connects.load()) + " connects";
  {
    std::lock_guard<std::mutex> guard{shared->mtx};
    if (!shared->other.empty()) {
      std::string kinds;
      for (const auto& [k, n] : shared->other)
        kinds += (kinds.empty() ? "" : ", ") + k + " " + std::to_string(n);
      writer_line += " (other replies: " + kinds + "; e.g. \"" + shared->other_sample + "\")";
    }
  }
  say("   " + writer_line);

  // -- the report --------------------------------------------------------------
  md += "## Failover: kill -9 of the leader, " + std::to_string(o.cluster.nodes)
        + "-node cluster\n\n";
  md += conditions_markdown(command_line, cluster.dir(), load_before);
  md += "- cluster: " + std::to_string(o.cluster.nodes)
        + " raft-node processes on 127.0.0.1, election timeout "
        + std::to_string(o.cluster.election_timeout.count()) + "-"
        + std::to_string(2 * o.cluster.election_timeout.count()) + " ms (randomized), heartbeat "
        + std::to_string(o.cluster.heartbeat.count())
        + " ms, pre-vote and check-quorum on; the cluster manager restarts the killed process\n";
  md += "- a trial: wait until the node killed last has caught up, "
        + std::to_string(o.settle.count()) + " ms more, until every node follows one leader and the writer has one more "
          "acknowledgement; then SIGKILL the leader's process (the clock starts just before "
          "kill(2))\n";
  md += "- time to a new leader: the surviving nodes' status is polled every "
        + std::to_string(o.poll.count())
        + " ms; it is the moment a poll round shows another node leading in a higher term, "
          "followed by a majority of the voters (late by at most one poll interval plus a "
          "round trip)\n";
  md += "- time to the next acknowledged write: one closed-loop writer ("
        + std::to_string(o.value_size)
        + "-byte puts) runs throughout; it is the first acknowledgement, after the kill, of a "
          "put sent after the kill. The writer abandons a put when the connection to its node "
          "drops, gives each attempt "
        + std::to_string(o.attempt_timeout.count())
        + " ms, follows leader hints, else tries the next node (this measures the cluster, "
          "not a client's timeout)\n";
  md += "- the same with the library client: a second closed-loop writer runs kv_client with "
        "its default options (2 s per request) -- what an application sees. A put in flight to "
        "the killed leader ends `unknown` as soon as the client sees the connection drop (it "
        "fails the requests in flight to a dead proxy itself: CAF 0.17 would not); the next put "
        "then retries through the other nodes with backoff (20 ms, doubling) until one leads\n\n";
  md += "| " + std::to_string(trials.size()) + " trials | min ms | p50 ms | p99 ms | max ms |\n";
  md += "|---|---:|---:|---:|---:|\n";
  md += "| time to a new leader | " + fmt_ms(ls.min_us) + " | " + fmt_ms(ls.p50_us) + " | "
        + fmt_ms(ls.p99_us) + " | " + fmt_ms(ls.max_us) + " |\n";
  md += "| time to the next acknowledged write | " + fmt_ms(ws.min_us) + " | "
        + fmt_ms(ws.p50_us) + " | " + fmt_ms(ws.p99_us) + " | " + fmt_ms(ws.max_us) + " |\n";
  md += "| the same through kv_client (library defaults) | " + fmt_ms(lbs.min_us) + " | "
        + fmt_ms(lbs.p50_us) + " | " + fmt_ms(lbs.p99_us) + " | " + fmt_ms(lbs.max_us)
        + " |\n\n";
  md += std::to_string(failed) + " of " + std::to_string(trials.size())
        + " trials had no new leader or no acknowledged write within "
        + std::to_string(o.trial_timeout.count()) + " ms";
  if (static_cast<int>(trials.size()) < o.trials)
    md += "; the run **stopped after " + std::to_string(trials.size()) + " of "
          + std::to_string(o.trials) + " trials** (see its output)";
  md += ". Over the whole run, the " + writer_line + ". The kv_client writer: "
        + std::to_string(lib->ok.load()) + " ok, " + std::to_string(lib->unknown.load())
        + " unknown (" + std::to_string(library_unknown) + " of them during trials), "
        + std::to_string(lib->other.load()) + " other outcomes. raft-bench itself (writers and "
        "polling) used " + std::to_string(static_cast<int>(self_cpu + 0.5))
        + "% of one core over the " + std::to_string(static_cast<int>(elapsed)) + " s of trials; "
        + std::to_string(poll.rounds()) + " status rounds.\n\n";
  return failed == 0 && static_cast<int>(trials.size()) == o.trials ? 0 : 2;
}

} // namespace raft::bench
