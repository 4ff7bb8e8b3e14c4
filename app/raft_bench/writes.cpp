// raft-bench writes: closed-loop clients against a loopback cluster.
//
// Every client is one event-based actor running the project's coroutine
// client (kv_client, actors/client/): it sends one put, waits for the
// acknowledgement, sends the next. All clients of a level share this
// process's actor system (and so, as CAF does, one connection per node).
// They are given every node's address and id, with the node leading at the
// start of the level first, so their puts go straight to the leader (and
// follow not_leader hints if it changes). Client i writes the keys "c<i>-0" ... "c<i>-<K-1>"
// in turn (K = --keys-per-client), so the key space is bounded and no two
// clients write the same key.
//
// One cluster serves all levels, one after the other. A level runs for
// warmup + duration; only replies that arrive inside the measured window
// count: ops/s = ok replies in the window / its length, and the latencies
// are those of the same replies (send to acknowledgement, steady_clock).
// A reply that is not ok is counted and printed, never timed.

#include "app/raft_bench/bench.hpp"

#include "actors/client/endpoint.hpp"
#include "actors/client/kv_client.hpp"
#include "actors/client/task.hpp"

#include <caf/all.hpp>

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

namespace raft::bench {

namespace {

/// One concurrency level, shared by its clients and the main thread.
struct level_run {
  clock::time_point measure_from;
  clock::time_point end;
  std::size_t keys_per_client = 1000;
  std::size_t value_size = 256;

  std::mutex mtx;
  std::condition_variable cv;
  std::size_t finished = 0;
  /// Latencies (us) of ok replies inside the window.
  std::vector<int64_t> latencies;
  /// Replies that were not ok, by status (inside the window / during warmup).
  std::map<std::string, uint64_t> non_ok;
  std::map<std::string, uint64_t> warmup_non_ok;
  /// The first few messages of non-ok replies.
  std::vector<std::string> samples;
  uint64_t warmup_ok = 0;
  uint64_t late = 0;
  client_stats client_totals;
};

struct client_tally {
  std::vector<int64_t> latencies;
  std::map<std::string, uint64_t> non_ok;
  std::map<std::string, uint64_t> warmup_non_ok;
  std::vector<std::string> samples;
  uint64_t warmup_ok = 0;
  uint64_t late = 0;
};

void add_stats(client_stats& into, const client_stats& x) {
  into.commands += x.commands;
  into.attempts += x.attempts;
  into.not_leader += x.not_leader;
  into.unavailable += x.unavailable;
  into.undelivered += x.undelivered;
  into.timeouts += x.timeouts;
  into.unknown += x.unknown;
  into.gave_up += x.gave_up;
  into.backoffs += x.backoffs;
  into.connects += x.connects;
}

task<void> client_loop(kv_client* c, std::shared_ptr<level_run> run, std::size_t idx) {
  client_tally t;
  auto value = make_value(run->value_size, idx + 1);
  auto prefix = "c" + std::to_string(idx) + "-";
  uint64_t n = 0;
  while (clock::now() < run->end) {
    auto key = prefix + std::to_string(n++ % run->keys_per_client);
    auto t0 = clock::now();
    auto r = co_await c->put(std::move(key), value);
    auto t1 = clock::now();
    bool ok = r.status == reply_status::ok;
    if (t1 < run->measure_from) {
      if (ok)
        ++t.warmup_ok;
      else
        ++t.warmup_non_ok[to_string(r.status)];
    } else if (t1 > run->end) {
      ++t.late; // after the window: neither counted nor timed
    } else if (ok) {
      t.latencies.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count());
    } else {
      ++t.non_ok[to_string(r.status)];
    }
    if (!ok && t.samples.size() < 3)
      t.samples.push_back(std::string{to_string(r.status)} + ": " + r.message);
  }
  std::lock_guard<std::mutex> guard{run->mtx};
  run->latencies.insert(run->latencies.end(), t.latencies.begin(), t.latencies.end());
  for (auto& [k, v] : t.non_ok)
    run->non_ok[k] += v;
  for (auto& [k, v] : t.warmup_non_ok)
    run->warmup_non_ok[k] += v;
  for (auto& s : t.samples)
    if (run->samples.size() < 5)
      run->samples.push_back(s);
  run->warmup_ok += t.warmup_ok;
  run->late += t.late;
  add_stats(run->client_totals, c->stats());
  ++run->finished;
  run->cv.notify_all();
}

struct client_state {
  std::unique_ptr<kv_client> client;
};

caf::behavior client_actor(caf::stateful_actor<client_state>* self,
                           std::vector<endpoint> endpoints, std::shared_ptr<level_run> run,
                           std::size_t idx) {
  client_options opts; // the library's defaults: 2 s per request, 10 s per command
  self->state.client = std::make_unique<kv_client>(self, std::move(endpoints), opts);
  launch(self, client_loop(self->state.client.get(), std::move(run), idx),
         [self] { self->quit(); });
  return {[](int) {
    // Nothing is ever sent to a client; a behavior keeps it alive while its
    // loop runs.
  }};
}

struct level_result {
  int clients = 0;
  double ops_per_s = 0;
  summary lat;
  uint64_t non_ok = 0;
  std::string non_ok_text;
  std::string cpu;
  std::string leader_note;
  double status_ms = 0;
  uint64_t keys = 0;
};

/// Every node answers, follows one leader and holds the same state.
bool converged(cluster_manager& m) {
  return raft::converged(m.status());
}

} // namespace

int run_writes(const writes_options& o, const std::string& command_line, std::string& md) {
  auto load_before = load_average();
  say("== raft-bench writes: " + std::to_string(o.cluster.nodes) + "-node loopback cluster, "
      + std::to_string(o.value_size) + "-byte values, warmup "
      + std::to_string(o.warmup.count()) + " ms + " + std::to_string(o.duration.count())
      + " ms per level");
  say("   machine: " + machine_line() + "; load average " + load_before);
  std::string error;
  bench_cluster cluster{o.cluster, error};
  if (!error.empty()) {
    say("raft-bench: " + error);
    return 1;
  }
  auto& m = cluster.manager();
  say("   data directory " + cluster.dir() + " (" + filesystem_of(cluster.dir()) + ")");
  auto nodes = cluster.nodes();
  // Endpoints with their node ids, so that a client follows leader hints
  // without first asking each node for its status (128 clients starting at
  // once would send 128 status requests to each node; up to e5bb57d a status
  // reply hashed the node's whole key-value state, which took the leader
  // long enough to lose its leadership -- --learn-ids does it the library's
  // default way, for comparison). Each level
  // puts the current leader first: kv_client starts with its first endpoint
  // and stays with whichever endpoint answered ok -- and a follower that
  // forwards a command to its leader does answer ok, so a client that
  // started at a follower would go through it for good (one hop more).
  std::vector<endpoint> endpoints;
  for (const auto& n : nodes) {
    endpoint e;
    e.id = o.learn_ids ? no_node : n.id;
    e.address = n.endpoint();
    endpoints.push_back(std::move(e));
  }

  bench_config cfg{o.cluster.client_threads};
  caf::actor_system sys{cfg};

  std::vector<level_result> results;
  bool all_ok = true;
  for (int clients : o.clients) {
    auto before = m.health_details();
    auto run = std::make_shared<level_run>();
    run->keys_per_client = o.keys_per_client;
    run->value_size = o.value_size;
    auto start = clock::now();
    run->measure_from = start + o.warmup;
    run->end = run->measure_from + o.duration;
    std::string leader_address;
    for (const auto& n : nodes)
      if (n.id == before.leader)
        leader_address = n.endpoint();
    auto ordered = endpoints;
    std::stable_partition(ordered.begin(), ordered.end(),
                          [&](const endpoint& e) { return e.address == leader_address; });
    for (int i = 0; i < clients; ++i)
      sys.spawn(client_actor, ordered, run, static_cast<std::size_t>(i));
    std::this_thread::sleep_until(run->measure_from);
    auto cpu0 = sample_cpu(cluster);
    std::this_thread::sleep_until(run->end);
    auto cpu1 = sample_cpu(cluster);
    {
      // Commands end within the client's overall timeout (10 s).
      std::unique_lock<std::mutex> lock{run->mtx};
      if (!run->cv.wait_until(lock, run->end + std::chrono::seconds(30), [&] {
            return run->finished == static_cast<std::size_t>(clients);
          })) {
        say("raft-bench: " + std::to_string(clients - static_cast<int>(run->finished))
            + " client(s) did not finish within 30 s of the end; giving up");
        return 1;
      }
    }
    // One status round of every node, timed: each node computes a digest of
    // its whole key-value state for it (the cost grows with the state).
    std::vector<node_report> reports;
    double status_ms = 1e9;
    for (int k = 0; k < 3; ++k) { // the fastest of three rounds
      auto status_start = clock::now();
      reports = m.status();
      status_ms = std::min(
        status_ms, std::chrono::duration<double, std::milli>(clock::now() - status_start).count());
    }
    auto after = evaluate_health(reports);
    uint64_t keys = 0;
    for (const auto& rep : reports)
      keys = std::max<uint64_t>(keys, rep.status.keys);
    level_result r;
    r.clients = clients;
    auto seconds = std::chrono::duration<double>(o.duration).count();
    r.lat = summarize(run->latencies);
    r.ops_per_s = static_cast<double>(r.lat.count) / seconds;
    r.non_ok = total(run->non_ok);
    r.non_ok_text = status_counts(run->non_ok);
    r.cpu = cpu_usage(cpu0, cpu1, seconds, nodes, after.leader);
    if (before.leader != after.leader || before.term != after.term)
      r.leader_note = "leader changed during the level: node " + std::to_string(before.leader)
                      + " term " + std::to_string(before.term) + " -> node "
                      + std::to_string(after.leader) + " term " + std::to_string(after.term);
    char line[512];
    std::snprintf(line, sizeof(line),
                  "   %3d clients: %8s ops/s  p50 %6s ms  p99 %6s ms  max %6s ms  (%zu acks, "
                  "non-ok %s; warmup: %llu ok, non-ok %s)",
                  clients, fmt_thousands(r.ops_per_s).c_str(), fmt_ms(r.lat.p50_us).c_str(),
                  fmt_ms(r.lat.p99_us).c_str(), fmt_ms(r.lat.max_us).c_str(), r.lat.count,
                  r.non_ok_text.c_str(), static_cast<unsigned long long>(run->warmup_ok),
                  status_counts(run->warmup_non_ok).c_str());
    say(line);
    say("       CPU (share of one core) during the window: " + r.cpu);
    char status_line[160];
    std::snprintf(status_line, sizeof(status_line),
                  "       afterwards: %llu keys; a status round of all nodes took %.1f ms (best of 3)",
                  static_cast<unsigned long long>(keys), status_ms);
    say(status_line);
    r.status_ms = status_ms;
    r.keys = keys;
    const auto& cs = run->client_totals;
    if (cs.not_leader + cs.unavailable + cs.undelivered + cs.timeouts + cs.gave_up > 0)
      say("       client retries: not_leader " + std::to_string(cs.not_leader)
          + ", unavailable " + std::to_string(cs.unavailable) + ", undelivered "
          + std::to_string(cs.undelivered) + ", timeouts " + std::to_string(cs.timeouts)
          + ", gave up " + std::to_string(cs.gave_up));
    for (const auto& s : run->samples)
      say("       e.g. " + s);
    if (!r.leader_note.empty())
      say("       NOTE: " + r.leader_note);
    if (r.non_ok > 0 || total(run->warmup_non_ok) > 0)
      all_ok = false;
    results.push_back(std::move(r));
  }

  bool same = false;
  auto deadline = clock::now() + std::chrono::seconds(10);
  while (!(same = converged(m)) && clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto final_reports = m.status();
  uint64_t applied = final_reports.empty() ? 0 : final_reports[0].status.applied_index;
  say(same ? "   all " + std::to_string(nodes.size())
               + " nodes hold the same state (applied index " + std::to_string(applied) + ")"
           : "   WARNING: the nodes did not converge within 10 s of the last level");
  if (!same)
    all_ok = false;

  // -- the report --------------------------------------------------------------
  md += "## Writes: " + std::to_string(o.cluster.nodes) + "-node cluster, "
        + std::to_string(o.value_size) + "-byte values\n\n";
  md += conditions_markdown(command_line, cluster.dir(), load_before);
  md += "- cluster: " + std::to_string(o.cluster.nodes)
        + " raft-node processes on 127.0.0.1, election timeout "
        + std::to_string(o.cluster.election_timeout.count()) + "-"
        + std::to_string(2 * o.cluster.election_timeout.count()) + " ms, heartbeat "
        + std::to_string(o.cluster.heartbeat.count()) + " ms; one cluster for all levels, in "
          "the order shown\n";
  md += "- clients: closed loop (one put in flight per client), each an actor running the "
        "coroutine kv_client in raft-bench's own actor system ("
        + std::to_string(o.cluster.client_threads)
        + " scheduler threads); the node leading when a level starts is every client's first "
          "endpoint, so puts go straight to it; client i writes keys `c<i>-0` .. `c<i>-"
        + std::to_string(o.keys_per_client - 1) + "` in turn (8-10 byte keys)\n";
  md += "- each level: " + std::to_string(o.warmup.count()) + " ms warm-up (not counted), then "
        + std::to_string(o.duration.count())
        + " ms measured; ops/s = acknowledged puts in the window / its length; latency = send "
          "to acknowledgement (steady_clock) of the same puts; percentiles by nearest rank\n";
  md += "- CPU: user+system time of each process during the window, in % of one core "
        "(the machine has " + std::to_string(::sysconf(_SC_NPROCESSORS_ONLN)) + ")\n\n";
  md += "| clients | ops/s | p50 ms | p99 ms | max ms | acks | non-ok replies | CPU |\n";
  md += "|---:|---:|---:|---:|---:|---:|---|---|\n";
  for (const auto& r : results) {
    md += "| " + std::to_string(r.clients) + " | " + fmt_thousands(r.ops_per_s) + " | "
          + fmt_ms(r.lat.p50_us) + " | " + fmt_ms(r.lat.p99_us) + " | " + fmt_ms(r.lat.max_us)
          + " | " + fmt_thousands(static_cast<double>(r.lat.count)) + " | " + r.non_ok_text
          + " | " + r.cpu + " |\n";
  }
  md += "\n";
  md += "Keys held after each level, and how long a status round of all nodes took then "
        "(best of 3; a status reply carries a digest of the node's state): ";
  for (std::size_t i = 0; i < results.size(); ++i) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "%s%d clients: %s keys, %.1f ms", i == 0 ? "" : "; ",
                  results[i].clients, fmt_thousands(static_cast<double>(results[i].keys)).c_str(),
                  results[i].status_ms);
    md += buf;
  }
  md += ".\n\n";
  for (const auto& r : results)
    if (!r.leader_note.empty())
      md += "Note (" + std::to_string(r.clients) + " clients): " + r.leader_note + ".\n\n";
  md += same ? "After the run all " + std::to_string(nodes.size())
                 + " nodes held the same state (applied index " + std::to_string(applied)
                 + ").\n\n"
             : "**After the run the nodes did not converge within 10 s.**\n\n";

  // The etcd reference figure of the project's brief, if this run has the matching level.
  for (const auto& r : results) {
    if (r.clients != 32 || o.value_size != 256 || o.cluster.nodes != 3)
      continue;
    char ratio[32];
    std::snprintf(ratio, sizeof(ratio), "%.2fx", r.ops_per_s / 2900.0);
    md += "### Compared with etcd 3.4 (32 clients, 256-byte values, 3 nodes)\n\n";
    auto cpus = static_cast<double>(::sysconf(_SC_NPROCESSORS_ONLN));
    auto load_after = load_average();
    auto first_of = [](const std::string& l) { return l.substr(0, l.find(' ')); };
    // The load before the run only: the cluster and the clients themselves
    // raise the load during it.
    if (std::atof(load_before.c_str()) > cpus)
      md += "**This run shared the machine with other work (load average " + first_of(load_before)
            + " at the start, " + first_of(load_after) + " at the end, on "
            + std::to_string(static_cast<int>(cpus))
            + " CPUs): its figures are not comparable with a reference taken on a quiet "
              "machine. Rerun on a quiet machine before comparing.**\n\n";
    md += "The etcd figures are the **reference figure from the project's brief** for etcd 3.4 on the "
          "same machine; they were **not measured by this run**.\n\n";
    md += "| | writes/s | p99 ms |\n|---|---:|---:|\n";
    md += "| etcd 3.4 (reference, not measured here) | ~2,900 | 36 |\n";
    md += "| caf-raft (this run) | " + fmt_thousands(r.ops_per_s) + " | " + fmt_ms(r.lat.p99_us)
          + " |\n";
    md += "| caf-raft / etcd | " + std::string{ratio} + " | |\n";
    md += "| the project's goal (3x etcd) | ~8,700 | |\n\n";
  }
  return all_ok ? 0 : 2;
}

} // namespace raft::bench
