// raft-bench join: a node joins a loaded cluster (issue #4: dynamic
// membership and snapshots).
//
//   1. fill: a fresh 3-node cluster is given --keys keys ("key-0000000" ...)
//      of --value-size-byte values, through the client library: --fill-clients
//      kv_client actors, each with --fill-pipeline puts in flight (one
//      coroutine per in-flight put, each a closed loop over the next unwritten
//      key). A put that ends other than ok is retried (puts are idempotent).
//      Timed from the first put to the last acknowledgement.
//   2. snapshot: once every node has applied everything, take_snapshot is
//      sent to the leader (answered by it when the snapshot is written and
//      the log compacted). Timed send to reply; the reply names index, keys
//      and bytes. Then the leader's data directory is measured.
//   3. a baseline window: --clients closed-loop writers (the write workload of
//      `raft-bench writes`: one put in flight each, --value-size bytes, client
//      i cycling over its own --keys-per-client keys) for --warmup + --window,
//      3 voters, nobody joining.
//   4. the join window: the same workload; when its measured part starts, a
//      4th raft-node is started with an empty data directory and
//      --raft.join=<the three members> (launched by raft-bench itself, the way
//      the cluster manager launches nodes). Every --poll the status of every
//      node is asked for (in parallel), and the times since the start of that
//      process are taken of: its "listening on" line (= admitted as a
//      learner), the leader reporting it as a learner, it reporting a snapshot
//      (snapshot_index > 0: it was sent one), the leader reporting it as a
//      voter in a committed configuration, its applied index reaching the
//      leader's commit index of when it was started, and reaching the
//      leader's commit index of the previous poll round (it keeps up). The
//      window's throughput counts whatever part of the join fell into it.
//   5. an after window: the same workload once the 4 voters are in step.
// Throughput and latency are counted as in `raft-bench writes`: ok replies
// inside the measured window, send to acknowledgement.

#include "app/raft_bench/bench.hpp"

#include "actors/client/connect.hpp"
#include "actors/client/endpoint.hpp"
#include "actors/client/kv_client.hpp"
#include "actors/client/task.hpp"
#include "actors/manager/posix_process.hpp"

#include <caf/all.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

namespace raft::bench {

namespace {

namespace fs = std::filesystem;

double secs(clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string fmt_s(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), s < 10 ? "%.2f" : "%.1f", s);
  return buf;
}

std::string fmt_mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

/// Bytes of every regular file under `path`.
uint64_t dir_bytes(const std::string& path) {
  std::error_code ec;
  uint64_t n = 0;
  for (auto it = fs::recursive_directory_iterator(path, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    if (it->is_regular_file(ec2))
      n += it->file_size(ec2);
  }
  return n;
}

/// "VmRSS" / "VmHWM" of a process in bytes (0 if gone).
uint64_t proc_memory(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field, 0) == 0) {
      std::istringstream rest(line.substr(std::strlen(field) + 1));
      uint64_t kb = 0;
      rest >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

bool contains(const std::vector<node_id>& ids, node_id id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

/// The commit of the tree: $BENCH_COMMIT (scripts/bench.sh sets it), else
/// git in the current directory.
std::string commit_of_tree() {
  if (const char* c = std::getenv("BENCH_COMMIT"); c != nullptr && *c != '\0')
    return c;
  std::string out;
  if (FILE* p = ::popen("git rev-parse --short HEAD 2>/dev/null", "r")) {
    char buf[128];
    while (std::fgets(buf, sizeof(buf), p) != nullptr)
      out += buf;
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  if (out.empty())
    return "unknown";
  if (FILE* p = ::popen("git status --porcelain 2>/dev/null | head -1", "r")) {
    char buf[256];
    if (std::fgets(buf, sizeof(buf), p) != nullptr)
      out += " (with uncommitted changes)";
    ::pclose(p);
  }
  return out;
}

const node_report* leader_of(const std::vector<node_report>& rs) {
  auto h = evaluate_health(rs);
  if (auto* r = report_of(rs, h.leader))
    return r;
  const node_report* best = nullptr;
  for (const auto& r : rs)
    if (r.reachable && r.status.role == raft_role::leader
        && (best == nullptr || r.status.term > best->status.term))
      best = &r;
  return best;
}

// -- following the nodes' logs -------------------------------------------------------

/// Milliseconds since local midnight of a time point.
int64_t local_ms_of_day(std::chrono::system_clock::time_point t) {
  auto tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count()
            % 1000;
  return ((tm.tm_hour * 60 + tm.tm_min) * 60 + tm.tm_sec) * 1000LL + ms;
}

/// The seconds from `t0_ms` (local milliseconds of the day) to a node log
/// line's own time stamp ("HH:MM:SS.mmm ..."), if it has one.
std::optional<double> stamp_offset(const std::string& line, int64_t t0_ms) {
  int h = 0, mi = 0, sec = 0, ms = 0;
  if (line.size() < 13 || line[2] != ':' || line[5] != ':' || line[8] != '.'
      || std::sscanf(line.c_str(), "%2d:%2d:%2d.%3d", &h, &mi, &sec, &ms) != 4)
    return std::nullopt;
  int64_t day = 86'400'000;
  int64_t d = ((h * 60 + mi) * 60 + sec) * 1000LL + ms - t0_ms;
  d = ((d % day) + day) % day;
  if (d > day / 2)
    d -= day; // before t0
  return static_cast<double>(d) / 1000.0;
}

struct log_follower {
  std::string name;
  std::string path;
  uint64_t offset = 0;
  std::string partial;

  /// Complete lines written since the last call.
  std::vector<std::string> poll() {
    auto text = read_from(path, offset);
    offset += text.size();
    partial += text;
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (auto nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n', start)) {
      lines.push_back(partial.substr(start, nl - start));
      start = nl + 1;
    }
    partial.erase(0, start);
    return lines;
  }
};

// -- the fill ------------------------------------------------------------------------

struct fill_shared {
  uint64_t total = 0;
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> failed{0};
  std::mutex mtx;
  std::condition_variable cv;
  int finished_actors = 0;
  std::vector<int64_t> latencies;
  std::map<std::string, uint64_t> non_ok;
  std::vector<std::string> samples;
};

std::string fill_key(uint64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "key-%07llu", static_cast<unsigned long long>(n));
  return buf;
}

struct fill_tally {
  std::vector<int64_t> latencies;
  std::map<std::string, uint64_t> non_ok;
  std::vector<std::string> samples;
};

task<void> fill_loop(kv_client* c, std::shared_ptr<fill_shared> sh, std::string value,
                     fill_tally* t) {
  for (;;) {
    auto n = sh->next.fetch_add(1);
    if (n >= sh->total)
      break;
    auto key = fill_key(n);
    for (int attempt = 0;; ++attempt) {
      auto t0 = clock::now();
      auto r = co_await c->put(key, value);
      if (r.status == reply_status::ok) {
        t->latencies.push_back(
          std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - t0).count());
        ++sh->acked;
        break;
      }
      ++sh->retries;
      ++t->non_ok[to_string(r.status)];
      if (t->samples.size() < 2)
        t->samples.push_back(std::string{to_string(r.status)} + ": " + r.message);
      if (attempt >= 20) {
        ++sh->failed;
        break;
      }
    }
  }
}

struct fill_actor_state {
  std::unique_ptr<kv_client> client;
  std::vector<fill_tally> tallies;
  int running = 0;
};

caf::behavior fill_actor(caf::stateful_actor<fill_actor_state>* self,
                         std::vector<endpoint> endpoints, std::shared_ptr<fill_shared> sh,
                         int pipeline, std::size_t value_size, uint64_t seed) {
  auto& st = self->state;
  st.client = std::make_unique<kv_client>(self, std::move(endpoints), client_options{});
  st.tallies.resize(static_cast<std::size_t>(pipeline));
  st.running = pipeline;
  for (int i = 0; i < pipeline; ++i) {
    auto* tally = &st.tallies[static_cast<std::size_t>(i)];
    launch(self,
           fill_loop(st.client.get(), sh,
                     make_value(value_size, seed * 1000 + static_cast<uint64_t>(i)), tally),
           [self, sh] {
             auto& s = self->state;
             if (--s.running > 0)
               return;
             {
               std::lock_guard<std::mutex> guard{sh->mtx};
               for (auto& t : s.tallies) {
                 sh->latencies.insert(sh->latencies.end(), t.latencies.begin(),
                                      t.latencies.end());
                 for (auto& [k, v] : t.non_ok)
                   sh->non_ok[k] += v;
                 for (auto& x : t.samples)
                   if (sh->samples.size() < 5)
                     sh->samples.push_back(x);
               }
               ++sh->finished_actors;
             }
             sh->cv.notify_all();
             self->quit();
           });
  }
  return {[](int) {}};
}

// -- the write workload of a window ----------------------------------------------------

struct window_run {
  clock::time_point measure_from;
  clock::time_point end;
  std::size_t keys_per_client = 1000;
  std::size_t value_size = 256;

  std::mutex mtx;
  std::condition_variable cv;
  std::size_t finished = 0;
  std::vector<int64_t> latencies;
  /// Acknowledgements per second of the measured window.
  std::vector<uint64_t> per_second;
  std::map<std::string, uint64_t> non_ok;
  std::vector<std::string> samples;
  uint64_t warmup_ok = 0;
};

task<void> window_loop(kv_client* c, std::shared_ptr<window_run> run, std::size_t idx) {
  std::vector<int64_t> lat;
  std::vector<uint64_t> per_second(run->per_second.size());
  std::map<std::string, uint64_t> non_ok;
  std::vector<std::string> samples;
  uint64_t warmup_ok = 0;
  auto value = make_value(run->value_size, 7000 + idx);
  auto prefix = "w" + std::to_string(idx) + "-";
  uint64_t n = 0;
  while (clock::now() < run->end) {
    auto key = prefix + std::to_string(n++ % run->keys_per_client);
    auto t0 = clock::now();
    auto r = co_await c->put(std::move(key), value);
    auto t1 = clock::now();
    bool ok = r.status == reply_status::ok;
    if (t1 < run->measure_from) {
      if (ok)
        ++warmup_ok;
    } else if (t1 <= run->end) {
      if (ok) {
        lat.push_back(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count());
        auto sec = static_cast<std::size_t>(
          std::chrono::duration_cast<std::chrono::seconds>(t1 - run->measure_from).count());
        if (sec < per_second.size())
          ++per_second[sec];
      } else {
        ++non_ok[to_string(r.status)];
      }
    }
    if (!ok && samples.size() < 3)
      samples.push_back(std::string{to_string(r.status)} + ": " + r.message);
  }
  std::lock_guard<std::mutex> guard{run->mtx};
  run->latencies.insert(run->latencies.end(), lat.begin(), lat.end());
  for (std::size_t i = 0; i < per_second.size(); ++i)
    run->per_second[i] += per_second[i];
  for (auto& [k, v] : non_ok)
    run->non_ok[k] += v;
  for (auto& s : samples)
    if (run->samples.size() < 5)
      run->samples.push_back(s);
  run->warmup_ok += warmup_ok;
  ++run->finished;
  run->cv.notify_all();
}

struct window_client_state {
  std::unique_ptr<kv_client> client;
};

caf::behavior window_client(caf::stateful_actor<window_client_state>* self,
                            std::vector<endpoint> endpoints, std::shared_ptr<window_run> run,
                            std::size_t idx) {
  self->state.client = std::make_unique<kv_client>(self, std::move(endpoints), client_options{});
  launch(self, window_loop(self->state.client.get(), std::move(run), idx),
         [self] { self->quit(); });
  return {[](int) {}};
}

struct window_result {
  std::string name;
  bool ran = false;
  double ops_per_s = 0;
  summary lat;
  uint64_t non_ok = 0;
  std::string non_ok_text;
  std::string cpu;
  std::vector<uint64_t> per_second;
  std::string snapshots;
  std::string leader_note;
  /// The highest term any node reported before and after the window.
  std::string terms;
};

/// Endpoints with ids, the leader's first (see writes.cpp).
std::vector<endpoint> endpoints_for(const std::vector<node_config>& nodes, node_id leader) {
  std::vector<endpoint> out;
  for (const auto& n : nodes) {
    endpoint e;
    e.id = n.id;
    e.address = n.endpoint();
    out.push_back(std::move(e));
  }
  std::stable_partition(out.begin(), out.end(), [&](const endpoint& e) { return e.id == leader; });
  return out;
}

std::shared_ptr<window_run> start_window(caf::actor_system& sys, const join_options& o,
                                         const std::vector<endpoint>& endpoints) {
  auto run = std::make_shared<window_run>();
  run->keys_per_client = o.keys_per_client;
  run->value_size = o.value_size;
  auto start = clock::now();
  run->measure_from = start + o.warmup;
  run->end = run->measure_from + o.window;
  run->per_second.resize(static_cast<std::size_t>((o.window.count() + 999) / 1000));
  for (int i = 0; i < o.clients; ++i)
    sys.spawn(window_client, endpoints, run, static_cast<std::size_t>(i));
  return run;
}

bool finish_window(window_run& run, int clients) {
  std::unique_lock<std::mutex> lock{run.mtx};
  return run.cv.wait_until(lock, run.end + std::chrono::seconds(30), [&] {
    return run.finished == static_cast<std::size_t>(clients);
  });
}

window_result result_of(const std::string& name, window_run& run, milliseconds window) {
  window_result r;
  r.name = name;
  r.ran = true;
  r.lat = summarize(run.latencies);
  r.ops_per_s = static_cast<double>(r.lat.count) / secs(window);
  r.non_ok = total(run.non_ok);
  r.non_ok_text = status_counts(run.non_ok);
  r.per_second = run.per_second;
  return r;
}

std::string per_second_text(const std::vector<uint64_t>& xs) {
  std::string out;
  for (auto x : xs)
    out += (out.empty() ? "" : " ") + std::to_string(x);
  return out;
}

term_t max_term(const std::vector<node_report>& rs) {
  term_t t = 0;
  for (const auto& r : rs)
    if (r.reachable)
      t = std::max(t, r.status.term);
  return t;
}

/// "17 -> 19 (2 elections)".
std::string terms_text(term_t before, term_t after) {
  auto n = after >= before ? after - before : 0;
  return std::to_string(before) + " -> " + std::to_string(after) + " ("
         + (n == 0 ? std::string{"no election"}
                   : std::to_string(n) + (n == 1 ? " new term" : " new terms"))
         + ")";
}

/// "node 2 wrote a snapshot (index 1000004 -> 1100007)" for every node whose
/// newest snapshot changed between two rounds.
std::string snapshot_changes(const std::vector<node_report>& before,
                             const std::vector<node_report>& after) {
  std::string out;
  for (const auto& a : after) {
    if (!a.reachable)
      continue;
    index_t from = 0;
    if (auto* b = report_of(before, a.id))
      from = b->status.snapshot_index;
    if (a.status.snapshot_index != from)
      out += (out.empty() ? "" : "; ") + std::string{"node "} + std::to_string(a.id) + " "
             + std::to_string(from) + " -> " + std::to_string(a.status.snapshot_index);
  }
  return out.empty() ? "none" : out;
}

void say_window(const window_result& r) {
  char line[512];
  std::snprintf(line, sizeof(line),
                "   %-34s %8s ops/s  p50 %6s ms  p99 %6s ms  max %6s ms  (%zu acks, non-ok %s)",
                (r.name + ":").c_str(), fmt_thousands(r.ops_per_s).c_str(),
                fmt_ms(r.lat.p50_us).c_str(), fmt_ms(r.lat.p99_us).c_str(),
                fmt_ms(r.lat.max_us).c_str(), r.lat.count, r.non_ok_text.c_str());
  say(line);
  say("       CPU: " + r.cpu);
  say("       acks per second: " + per_second_text(r.per_second));
  say("       snapshots written during the window (snapshot_index before -> after): "
      + r.snapshots);
  say("       terms (highest any node reported) before -> after: " + r.terms);
  if (!r.leader_note.empty())
    say("       NOTE: " + r.leader_note);
}

// -- the joining node ------------------------------------------------------------------

struct log_entry {
  double at = 0;
  std::string shown; // "t+ 1.234 s  node 2: <line>"
  std::string line;
};

struct join_result {
  bool started = false;
  std::string start_error;
  node_id id = no_node;
  pid_t pid = -1;
  std::string exit;
  index_t commit_at_start = 0;
  std::optional<double> listening, learner, snapshot, voter, caught_up_start, caught_up;
  index_t snapshot_index = 0;
  index_t applied_at_voter = 0;
  index_t leader_commit_at_caught_up = 0;
  double max_round_ms = 0;
  uint64_t rounds = 0;
  std::vector<log_entry> log_lines;
  /// Transfers started ("sending snapshot ... to <id>" lines), by node.
  std::map<std::string, int> transfers;
  double last_transfer = 0;
  /// From the nodes' logs (their own time stamps): the leader starts sending
  /// the snapshot, the new node has loaded it, transfers abandoned, and
  /// leaders elected while it joined.
  std::optional<double> transfer_started, installed;
  std::string transfer_line, installed_line;
  int abandoned = 0;
  std::vector<std::pair<double, std::string>> elections;
  bool done() const { return voter && caught_up; }
};

void stop_process(pid_t pid) {
  if (pid <= 0)
    return;
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 500; ++i) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid)
      return;
    std::this_thread::sleep_for(milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  int st = 0;
  ::waitpid(pid, &st, 0);
}

} // namespace

int run_join(const join_options& o, const std::string& command_line, std::string& md) {
  auto load_before = load_average();
  auto commit = commit_of_tree();
  say("== raft-bench join: " + std::to_string(o.cluster.nodes) + "-node loopback cluster, "
      + fmt_thousands(static_cast<double>(o.keys)) + " keys of " + std::to_string(o.value_size)
      + "-byte values, then a node joins while " + std::to_string(o.clients)
      + " clients write (windows of " + std::to_string(o.warmup.count()) + " ms + "
      + std::to_string(o.window.count()) + " ms)");
  say("   machine: " + machine_line() + "; load average " + load_before + "; commit " + commit);
  std::string error;
  bench_cluster cluster{o.cluster, error};
  if (!error.empty()) {
    say("raft-bench: " + error);
    return 1;
  }
  auto& m = cluster.manager();
  auto dir = cluster.dir();
  say("   data directory " + dir + " (" + filesystem_of(dir) + ")");
  auto nodes = cluster.nodes();

  bench_config cfg{o.cluster.client_threads};
  caf::actor_system sys{cfg};
  status_poller poll{sys, nodes, milliseconds(2000)};
  bool clean = true;

  // -- 1. the fill ------------------------------------------------------------------
  auto first = evaluate_health(poll.round());
  auto fill_endpoints = endpoints_for(nodes, first.leader);
  auto fill = std::make_shared<fill_shared>();
  fill->total = o.keys;
  say("-- fill: " + fmt_thousands(static_cast<double>(o.keys)) + " keys through "
      + std::to_string(o.fill_clients) + " kv_client actors x " + std::to_string(o.fill_pipeline)
      + " puts in flight, leader node " + std::to_string(first.leader));
  auto fill_start = clock::now();
  auto fill_cpu0 = sample_cpu(cluster);
  for (int i = 0; i < o.fill_clients; ++i)
    sys.spawn(fill_actor, fill_endpoints, fill, o.fill_pipeline, o.value_size,
              static_cast<uint64_t>(i + 1));
  {
    auto last_report = fill_start;
    uint64_t last_acked = 0;
    auto last_progress = fill_start;
    std::unique_lock<std::mutex> lock{fill->mtx};
    while (fill->finished_actors < o.fill_clients) {
      fill->cv.wait_for(lock, milliseconds(500));
      auto now = clock::now();
      auto acked = fill->acked.load();
      if (acked != last_acked)
        last_progress = now;
      if (now - last_report >= std::chrono::seconds(10)) {
        char line[256];
        std::snprintf(line, sizeof(line),
                      "   %6.1f s: %s keys acknowledged (%s/s over the last %.0f s), %llu retried",
                      secs(now - fill_start), fmt_thousands(static_cast<double>(acked)).c_str(),
                      fmt_thousands(static_cast<double>(acked - last_acked) / secs(now - last_report))
                        .c_str(),
                      secs(now - last_report),
                      static_cast<unsigned long long>(fill->retries.load()));
        say(line);
        last_report = now;
        last_acked = acked;
      }
      if (now - last_progress > std::chrono::seconds(60)) {
        say("raft-bench: the fill made no progress for 60 s (" + std::to_string(acked)
            + " keys acknowledged); giving up");
        return 1;
      }
    }
  }
  auto fill_end = clock::now();
  auto fill_cpu1 = sample_cpu(cluster);
  auto fill_s = secs(fill_end - fill_start);
  auto fill_lat = summarize(fill->latencies);
  auto fill_rate = static_cast<double>(fill->acked.load()) / fill_s;
  auto fill_reports = poll.round();
  auto fill_health = evaluate_health(fill_reports);
  auto fill_terms = terms_text(first.term, max_term(fill_reports));
  auto fill_cpu = cpu_usage(fill_cpu0, fill_cpu1, fill_s, nodes, fill_health.leader);
  {
    char line[512];
    std::snprintf(line, sizeof(line),
                  "   fill: %s keys in %.1f s = %s puts/s; latency p50 %s ms, p99 %s ms, max %s "
                  "ms; %llu non-ok replies retried (%s), %llu keys given up",
                  fmt_thousands(static_cast<double>(fill->acked.load())).c_str(), fill_s,
                  fmt_thousands(fill_rate).c_str(), fmt_ms(fill_lat.p50_us).c_str(),
                  fmt_ms(fill_lat.p99_us).c_str(), fmt_ms(fill_lat.max_us).c_str(),
                  static_cast<unsigned long long>(fill->retries.load()),
                  status_counts(fill->non_ok).c_str(),
                  static_cast<unsigned long long>(fill->failed.load()));
    say(line);
    say("       CPU during the fill: " + fill_cpu + "; terms " + fill_terms);
    for (const auto& s : fill->samples)
      say("       e.g. " + s);
  }
  if (fill->failed.load() > 0)
    clean = false;

  // Every node applies everything (followers may still be applying, or
  // writing a snapshot).
  auto settle_start = clock::now();
  std::vector<node_report> settled;
  bool same = false;
  while (clock::now() - settle_start < std::chrono::seconds(180)) {
    settled = poll.round();
    if ((same = raft::converged(settled)))
      break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  auto settle_s = secs(clock::now() - settle_start);
  uint64_t keys_held = 0;
  for (const auto& r : settled)
    keys_held = std::max<uint64_t>(keys_held, r.status.keys);
  say("   " + std::string{same ? "all nodes converged" : "WARNING: the nodes did not converge"}
      + " " + fmt_s(settle_s) + " s after the fill; " + fmt_thousands(static_cast<double>(keys_held))
      + " keys held");
  if (!same)
    clean = false;

  // -- 2. a snapshot on the leader ------------------------------------------------------
  auto pre = poll.round();
  const auto* pre_leader = leader_of(pre);
  if (pre_leader == nullptr) {
    say("raft-bench: no leader before the snapshot");
    return 1;
  }
  node_id leader = pre_leader->id;
  auto leader_applied = pre_leader->status.applied_index;
  auto leader_snap_before = pre_leader->status.snapshot_index;
  kv_command snap_cmd;
  snap_cmd.op = kv_op::take_snapshot;
  auto snap_t0 = clock::now();
  auto snap_reply = m.send_to(leader, snap_cmd, o.snapshot_timeout);
  auto snap_ms = std::chrono::duration<double, std::milli>(clock::now() - snap_t0).count();
  unsigned long long snap_index = 0, snap_term = 0, snap_keys = 0, snap_bytes = 0;
  {
    auto pos = snap_reply.message.find("snapshot through index");
    if (pos != std::string::npos)
      std::sscanf(snap_reply.message.c_str() + pos,
                  "snapshot through index %llu (term %llu, %llu keys, %llu bytes)", &snap_index,
                  &snap_term, &snap_keys, &snap_bytes);
  }
  auto post = poll.round();
  index_t snap_status_index = 0, first_index_after = 0;
  if (auto* lr = report_of(post, leader)) {
    snap_status_index = lr->status.snapshot_index;
    first_index_after = lr->status.first_index;
  }
  auto leader_dir = dir + "/node-" + std::to_string(leader);
  auto dir_total = dir_bytes(leader_dir);
  auto dir_snaps = dir_bytes(leader_dir + "/snapshots");
  std::string all_dirs;
  for (const auto& n : nodes)
    all_dirs += (all_dirs.empty() ? "" : ", ") + std::string{"node "} + std::to_string(n.id) + " "
                + fmt_mib(dir_bytes(dir + "/node-" + std::to_string(n.id)));
  {
    char line[512];
    std::snprintf(line, sizeof(line),
                  "-- snapshot on leader node %llu (applied index %llu, newest snapshot %llu "
                  "before): %s after %.0f ms: %s",
                  static_cast<unsigned long long>(leader),
                  static_cast<unsigned long long>(leader_applied),
                  static_cast<unsigned long long>(leader_snap_before),
                  to_string(snap_reply.status), snap_ms, snap_reply.message.c_str());
    say(line);
    say("   leader status afterwards: snapshot_index " + std::to_string(snap_status_index)
        + ", first_index " + std::to_string(first_index_after) + "; its data directory "
        + fmt_mib(dir_total) + " (snapshots " + fmt_mib(dir_snaps) + ", the rest "
        + fmt_mib(dir_total - std::min(dir_total, dir_snaps)) + "); all: " + all_dirs);
  }
  if (snap_reply.status != reply_status::ok || snap_bytes == 0)
    clean = false;

  auto leader_now = [&](const std::vector<node_report>& rs) {
    auto* l = leader_of(rs);
    return l != nullptr ? l->id : no_node;
  };

  // -- 3. the baseline window -----------------------------------------------------------
  window_result base;
  {
    auto before = poll.round();
    auto lead = leader_now(before);
    say("-- window without a join: " + std::to_string(o.clients) + " clients, 3 voters, leader node "
        + std::to_string(lead));
    auto run = start_window(sys, o, endpoints_for(nodes, lead));
    std::this_thread::sleep_until(run->measure_from);
    auto cpu0 = sample_cpu(cluster);
    std::this_thread::sleep_until(run->end);
    auto cpu1 = sample_cpu(cluster);
    if (!finish_window(*run, o.clients)) {
      say("raft-bench: the clients did not finish within 30 s of the window's end");
      return 1;
    }
    auto after = poll.round();
    base = result_of("3 voters, no join", *run, o.window);
    base.cpu = cpu_usage(cpu0, cpu1, secs(o.window), nodes, leader_now(after));
    base.snapshots = snapshot_changes(before, after);
    base.terms = terms_text(max_term(before), max_term(after));
    if (leader_now(after) != lead)
      base.leader_note = "the leader changed during the window: node " + std::to_string(lead)
                         + " -> node " + std::to_string(leader_now(after));
    say_window(base);
    if (base.non_ok > 0)
      clean = false;
  }

  // -- 4. the join window ----------------------------------------------------------------
  join_result j;
  j.id = static_cast<node_id>(nodes.size() + 1);
  node_config joiner;
  joiner.id = j.id;
  joiner.address = "127.0.0.1";
  {
    std::string perr;
    auto ports = pick_free_ports(joiner.address, 1, perr);
    if (ports.empty()) {
      say("raft-bench: " + perr);
      return 1;
    }
    joiner.raft_port = ports[0];
  }
  auto all_nodes = nodes;
  all_nodes.push_back(joiner);
  window_result during;
  std::vector<log_follower> logs;
  for (const auto& n : all_nodes)
    logs.push_back(log_follower{"node " + std::to_string(n.id),
                                dir + "/node-" + std::to_string(n.id) + ".log",
                                file_size(dir + "/node-" + std::to_string(n.id) + ".log"), ""});
  std::vector<node_report> join_before, join_after;
  clock::time_point t0;
  {
    join_before = poll.round();
    auto lead = leader_now(join_before);
    say("-- window with a join: " + std::to_string(o.clients) + " clients; node "
        + std::to_string(j.id) + " joins when the window starts (leader node "
        + std::to_string(lead) + ")");
    auto run = start_window(sys, o, endpoints_for(nodes, lead));
    std::this_thread::sleep_until(run->measure_from);
    auto cpu0 = sample_cpu(cluster);
    cpu0.nodes.push_back(0); // the joining node has used nothing yet
    if (auto* lr = report_of(poll.round(), lead))
      j.commit_at_start = lr->status.commit_index;
    // Start it the way the cluster manager does (cluster_manager.cpp).
    launch_spec spec;
    spec.binary = default_raft_node_binary();
    auto ms = [](milliseconds d) { return std::to_string(d.count()); };
    std::string join_list = "[";
    for (const auto& n : nodes)
      join_list += (join_list.size() > 1 ? "," : "") + ("\"" + n.endpoint() + "\"");
    join_list += "]";
    auto node_dir = dir + "/node-" + std::to_string(j.id);
    std::error_code ec;
    fs::create_directories(node_dir, ec);
    spec.args = {"--raft.id=" + std::to_string(j.id),
                 "--raft.host=" + joiner.address,
                 "--raft.port=" + std::to_string(joiner.raft_port),
                 "--raft.join=" + join_list,
                 "--raft.data-dir=" + node_dir,
                 "--raft.election-timeout-min=" + ms(o.cluster.election_timeout),
                 "--raft.election-timeout-max=" + ms(2 * o.cluster.election_timeout),
                 "--raft.heartbeat-interval=" + ms(o.cluster.heartbeat),
                 "--raft.log-level=info"};
    spec.args.insert(spec.args.end(), o.cluster.extra_args.begin(), o.cluster.extra_args.end());
    spec.log_path = dir + "/node-" + std::to_string(j.id) + ".log";
    std::string cmdline = spec.binary;
    for (const auto& a : spec.args)
      cmdline += " '" + a + "'";
    say("   t0: " + cmdline);
    t0 = clock::now();
    auto t0_ms = local_ms_of_day(std::chrono::system_clock::now());
    auto spawned = spawn_child(spec);
    j.pid = spawned.pid;
    j.started = spawned.pid > 0;
    j.start_error = spawned.error;
    if (!j.started)
      say("raft-bench: cannot start node " + std::to_string(j.id) + ": " + spawned.error);
    auto listen_line = "raft-node " + std::to_string(j.id) + " listening on ";
    index_t prev_leader_commit = 0;
    std::optional<cpu_sample> cpu1;
    auto last_progress = t0;
    auto take_cpu1 = [&] {
      cpu1 = sample_cpu(cluster);
      cpu1->nodes.push_back(j.pid > 0 ? cpu_seconds(j.pid) : -1);
    };
    auto read_logs = [&] {
      auto read_at = secs(clock::now() - t0);
      for (auto& lf : logs)
        for (auto& line : lf.poll()) {
          // The line's own time stamp if it has one, else when we read it.
          auto own = stamp_offset(line, t0_ms);
          auto at = own ? *own : read_at;
          char stamp[48];
          std::snprintf(stamp, sizeof(stamp), "t+%7.3f s%s %s: ", at, own ? " " : "~",
                        lf.name.c_str());
          if (j.log_lines.size() < 2000)
            j.log_lines.push_back(log_entry{at, stamp + line, line});
          say("     " + std::string{stamp} + line);
          if (!j.listening && line.find(listen_line) != std::string::npos) {
            j.listening = read_at;
            poll.add(joiner);
          }
          auto to_joiner = " to " + std::to_string(j.id);
          if (line.find("sending snapshot") != std::string::npos
              && line.find(to_joiner) != std::string::npos) {
            if (!j.transfer_started) {
              j.transfer_started = at;
              j.transfer_line = lf.name + ": " + line;
            }
            ++j.transfers[lf.name];
            j.last_transfer = at;
          }
          if (line.find("snapshot transfer to " + std::to_string(j.id)) != std::string::npos
              && line.find("abandoned") != std::string::npos)
            ++j.abandoned;
          if (!j.installed && lf.name == "node " + std::to_string(j.id)
              && line.find("installed snapshot") != std::string::npos) {
            j.installed = at;
            j.installed_line = line;
          }
          if (line.find(" leader (leader ") != std::string::npos)
            j.elections.emplace_back(at, lf.name + " leads (t+" + fmt_s(at) + " s)");
        }
    };
    while (j.started) {
      auto round_start = clock::now();
      if (!cpu1 && round_start >= run->end)
        take_cpu1();
      auto since = [&] { return secs(clock::now() - t0); };
      read_logs();
      int wst = 0;
      if (::waitpid(j.pid, &wst, WNOHANG) == j.pid) {
        j.exit = describe_wait_status(wst);
        say("raft-bench: node " + std::to_string(j.id) + " " + j.exit);
        j.pid = -1;
        break;
      }
      auto rs = poll.round();
      ++j.rounds;
      j.max_round_ms = std::max(
        j.max_round_ms, std::chrono::duration<double, std::milli>(clock::now() - round_start).count());
      auto t = since();
      const auto* lr = leader_of(rs);
      const auto* r4 = report_of(rs, j.id);
      if (lr != nullptr) {
        if (!j.learner && contains(lr->status.learners, j.id))
          j.learner = t;
        if (!j.voter && contains(lr->status.voters, j.id)
            && lr->status.commit_index >= lr->status.config_index) {
          j.voter = t;
          if (r4 != nullptr)
            j.applied_at_voter = r4->status.applied_index;
        }
      }
      if (r4 != nullptr) {
        if (!j.snapshot && r4->status.snapshot_index > 0) {
          j.snapshot = t;
          j.snapshot_index = r4->status.snapshot_index;
        }
        if (!j.caught_up_start && r4->status.applied_index >= j.commit_at_start)
          j.caught_up_start = t;
        if (!j.caught_up && prev_leader_commit > 0
            && r4->status.applied_index >= prev_leader_commit) {
          j.caught_up = t;
          j.leader_commit_at_caught_up = prev_leader_commit;
        }
      }
      if (lr != nullptr)
        prev_leader_commit = lr->status.commit_index;
      if (clock::now() - last_progress >= std::chrono::seconds(2)) {
        last_progress = clock::now();
        std::string line = "   t+" + fmt_s(t) + " s: ";
        if (r4 != nullptr)
          line += "node " + std::to_string(j.id) + " " + to_string(r4->status.role) + ", applied "
                  + std::to_string(r4->status.applied_index) + ", snapshot_index "
                  + std::to_string(r4->status.snapshot_index) + ", "
                  + std::to_string(r4->status.keys) + " keys";
        else
          line += "node " + std::to_string(j.id) + " not answering yet";
        if (lr != nullptr)
          line += "; leader node " + std::to_string(lr->id) + " commit "
                  + std::to_string(lr->status.commit_index) + ", voters "
                  + std::to_string(lr->status.voters.size()) + ", learners "
                  + std::to_string(lr->status.learners.size());
        say(line);
      }
      if (j.done() && clock::now() >= run->end)
        break;
      if (!j.done() && clock::now() - t0 > o.join_timeout) {
        say("raft-bench: node " + std::to_string(j.id) + " was not a caught-up voter "
            + std::to_string(o.join_timeout.count()) + " ms after its start");
        break;
      }
      if (j.done()) {
        // Until the window ends: no more polling (it would load the nodes).
        std::this_thread::sleep_until(run->end);
        continue;
      }
      std::this_thread::sleep_until(round_start + o.poll);
    }
    if (j.started)
      read_logs(); // what was written after the last round
    if (!cpu1) {
      std::this_thread::sleep_until(run->end);
      take_cpu1();
    }
    if (!finish_window(*run, o.clients)) {
      say("raft-bench: the clients did not finish within 30 s of the window's end");
      stop_process(j.pid);
      return 1;
    }
    join_after = poll.round();
    during = result_of("during the join", *run, o.window);
    during.cpu = cpu_usage(cpu0, *cpu1, secs(o.window), all_nodes, leader_now(join_after));
    during.snapshots = snapshot_changes(join_before, join_after);
    during.terms = terms_text(max_term(join_before), max_term(join_after));
    if (leader_now(join_after) != lead)
      during.leader_note = "the leader changed during the window: node " + std::to_string(lead)
                           + " -> node " + std::to_string(leader_now(join_after));
    auto opt = [](const std::optional<double>& x) {
      return x ? fmt_s(*x) + " s" : std::string{"NOT REACHED"};
    };
    say("   node " + std::to_string(j.id) + " (from starting raft-node): listening (admitted) "
        + opt(j.listening) + "; learner at the leader " + opt(j.learner)
        + "; the leader starts sending a snapshot " + opt(j.transfer_started)
        + "; reports a snapshot " + opt(j.snapshot) + " (snapshot_index "
        + std::to_string(j.snapshot_index) + "); has loaded it " + opt(j.installed)
        + "; voter (committed) " + opt(j.voter)
        + "; applied >= commit index at its start (" + std::to_string(j.commit_at_start) + ") "
        + opt(j.caught_up_start) + "; applied >= the leader's commit index of the previous "
        + "round " + opt(j.caught_up));
    say_window(during);
    if (during.non_ok > 0 || !j.done())
      clean = false;
  }
  uint64_t hwm_joiner = j.pid > 0 ? proc_memory(j.pid, "VmHWM") : 0;
  uint64_t rss_joiner = j.pid > 0 ? proc_memory(j.pid, "VmRSS") : 0;
  std::string memory;
  for (const auto& n : nodes) {
    auto p = cluster.pid(n.id);
    memory += (memory.empty() ? "" : ", ") + std::string{"node "} + std::to_string(n.id) + " "
              + fmt_mib(proc_memory(p, "VmRSS")) + " (peak " + fmt_mib(proc_memory(p, "VmHWM"))
              + ")";
  }
  memory += ", node " + std::to_string(j.id) + " " + fmt_mib(rss_joiner) + " (peak "
            + fmt_mib(hwm_joiner) + ")";
  auto joiner_dir_bytes = dir_bytes(dir + "/node-" + std::to_string(j.id));
  say("   memory after the join window (RSS, peak RSS): " + memory);
  say("   node " + std::to_string(j.id) + "'s data directory: " + fmt_mib(joiner_dir_bytes));

  // -- 5. the after window -----------------------------------------------------------------
  window_result after_join;
  if (o.after && j.done() && j.pid > 0) {
    auto before = poll.round();
    auto lead = leader_now(before);
    say("-- window after the join: " + std::to_string(o.clients) + " clients, 4 voters, leader node "
        + std::to_string(lead));
    auto run = start_window(sys, o, endpoints_for(all_nodes, lead));
    std::this_thread::sleep_until(run->measure_from);
    auto cpu0 = sample_cpu(cluster);
    cpu0.nodes.push_back(cpu_seconds(j.pid));
    std::this_thread::sleep_until(run->end);
    auto cpu1 = sample_cpu(cluster);
    cpu1.nodes.push_back(cpu_seconds(j.pid));
    if (!finish_window(*run, o.clients)) {
      say("raft-bench: the clients did not finish within 30 s of the window's end");
      stop_process(j.pid);
      return 1;
    }
    auto after = poll.round();
    after_join = result_of("4 voters, after the join", *run, o.window);
    after_join.cpu = cpu_usage(cpu0, cpu1, secs(o.window), all_nodes, leader_now(after));
    after_join.snapshots = snapshot_changes(before, after);
    after_join.terms = terms_text(max_term(before), max_term(after));
    if (leader_now(after) != lead)
      after_join.leader_note = "the leader changed during the window: node "
                               + std::to_string(lead) + " -> node "
                               + std::to_string(leader_now(after));
    say_window(after_join);
    if (after_join.non_ok > 0)
      clean = false;
  }

  // Every node, the new one included, holds the same state.
  bool final_same = false;
  std::vector<node_report> final_reports;
  auto conv_deadline = clock::now() + std::chrono::seconds(60);
  while (clock::now() < conv_deadline) {
    final_reports = poll.round();
    if ((final_same = raft::converged(final_reports)))
      break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  index_t final_applied = 0;
  uint64_t final_keys = 0;
  for (const auto& r : final_reports) {
    final_applied = std::max(final_applied, r.status.applied_index);
    final_keys = std::max<uint64_t>(final_keys, r.status.keys);
  }
  say(final_same ? "   all " + std::to_string(final_reports.size())
                     + " nodes hold the same state (applied index "
                     + std::to_string(final_applied) + ", " + fmt_thousands(static_cast<double>(final_keys))
                     + " keys, same digest)"
                 : "   WARNING: the nodes did not converge within 60 s");
  if (!final_same)
    clean = false;
  stop_process(j.pid);

  // -- the report ------------------------------------------------------------------------
  auto opt_s = [](const std::optional<double>& x) {
    return x ? fmt_s(*x) : std::string{"**not reached**"};
  };
  md += "## Join: a 4th node joins a 3-node cluster holding "
        + fmt_thousands(static_cast<double>(o.keys)) + " keys\n\n";
  {
    auto cpus = static_cast<double>(::sysconf(_SC_NPROCESSORS_ONLN));
    auto first_of = [](const std::string& l) { return l.substr(0, l.find(' ')); };
    auto load_after = load_average();
    if (std::atof(load_before.c_str()) > cpus || std::atof(load_after.c_str()) > 2 * cpus)
      md += "**This run shared the machine with other work** (load average "
            + first_of(load_before) + " at the start, " + first_of(load_after) + " at the end, on "
            + std::to_string(static_cast<int>(cpus))
            + " CPUs, of which the cluster and raft-bench themselves are a part): the figures "
              "are noisy and lower than on a quiet machine. Rerun on a quiet machine before "
              "comparing.\n\n";
  }
  md += conditions_markdown(command_line, dir, load_before);
  md += "- commit: " + commit + "\n";
  md += "- cluster: " + std::to_string(o.cluster.nodes)
        + " raft-node processes on 127.0.0.1 launched by the cluster manager, election timeout "
        + std::to_string(o.cluster.election_timeout.count()) + "-"
        + std::to_string(2 * o.cluster.election_timeout.count()) + " ms, heartbeat "
        + std::to_string(o.cluster.heartbeat.count()) + " ms; node options: "
        + (o.cluster.extra_args.empty() ? std::string{"the defaults (a snapshot every 100,000 "
                                                      "applied entries or 64 MiB of log)"}
                                        : "`" + [&] {
                                            std::string s;
                                            for (const auto& a : o.cluster.extra_args)
                                              s += (s.empty() ? "" : " ") + a;
                                            return s;
                                          }() + "`, the rest defaults")
        + "\n";
  md += "- fill: " + fmt_thousands(static_cast<double>(o.keys)) + " keys `key-0000000` .. of "
        + std::to_string(o.value_size) + "-byte values, written once each through the client "
        "library: " + std::to_string(o.fill_clients) + " kv_client actors with "
        + std::to_string(o.fill_pipeline) + " puts in flight each ("
        + std::to_string(o.fill_clients * o.fill_pipeline)
        + " in all; every put a closed loop over the next unwritten key; a put that is not ok is "
          "retried); timed from the first put to the last acknowledgement\n";
  md += "- snapshot: once every node had applied everything, `take_snapshot` was sent to the "
        "leader (cluster_manager::send_to; the leader answers once the snapshot is written and "
        "its log compacted); timed send to reply. Sizes are of the files on disk\n";
  md += "- windows: " + std::to_string(o.clients)
        + " closed-loop writers (as in `raft-bench writes`: kv_client, one put in flight each, "
        + std::to_string(o.value_size) + "-byte values, client i cycling over its own "
        + std::to_string(o.keys_per_client) + " keys), " + std::to_string(o.warmup.count())
        + " ms warm-up then " + std::to_string(o.window.count())
        + " ms measured; ops/s = acknowledged puts in the window / its length; latency = send to "
          "acknowledgement; percentiles by nearest rank; terms: the highest term any node "
          "reported before and after (each new term is an election). First without a join (3 "
          "voters), then with one, then (once the new node is a caught-up voter) again with 4 "
          "voters\n";
  md += "- the join: when the measured part of the second window starts, raft-bench starts "
        "`raft-node --raft.id=" + std::to_string(j.id) + " --raft.join=<the 3 members> "
        "--raft.data-dir=<empty>` (the arguments the cluster manager gives a node, launched by "
        "raft-bench itself) and asks every node for its status every "
        + std::to_string(o.poll.count())
        + " ms (all in parallel; a round waits for the slowest reply, at most "
        + fmt_s(j.max_round_ms / 1000.0) + " s in this run). Times are from the start of that "
          "process to the first round that showed the event\n\n";

  md += "### Fill\n\n";
  md += "| keys | time | puts/s | p50 ms | p99 ms | max ms | retried | terms | CPU |\n";
  md += "|---:|---:|---:|---:|---:|---:|---|---|---|\n";
  md += "| " + fmt_thousands(static_cast<double>(fill->acked.load())) + " | " + fmt_s(fill_s)
        + " s | " + fmt_thousands(fill_rate) + " | " + fmt_ms(fill_lat.p50_us) + " | "
        + fmt_ms(fill_lat.p99_us) + " | " + fmt_ms(fill_lat.max_us) + " | "
        + std::to_string(fill->retries.load()) + " (" + status_counts(fill->non_ok) + ") | "
        + fill_terms + " | " + fill_cpu + " |\n\n";
  md += std::string{same ? "All nodes had applied everything " : "**The nodes had not converged** "}
        + fmt_s(settle_s) + " s after the last acknowledgement (" + fmt_thousands(static_cast<double>(keys_held))
        + " keys).\n\n";

  md += "### Snapshot of the leader's state\n\n";
  md += "| | |\n|---|---|\n";
  md += "| leader | node " + std::to_string(leader) + ", applied index "
        + std::to_string(leader_applied) + ", newest snapshot before: index "
        + std::to_string(leader_snap_before) + " (automatic) |\n";
  md += "| reply | " + std::string{to_string(snap_reply.status)} + ": \"" + snap_reply.message
        + "\" |\n";
  char snap_ms_text[32];
  std::snprintf(snap_ms_text, sizeof(snap_ms_text), "%.0f ms", snap_ms);
  md += "| time of the take_snapshot command | " + std::string{snap_ms_text} + " |\n";
  md += "| snapshot size | " + fmt_thousands(static_cast<double>(snap_bytes)) + " bytes ("
        + fmt_mib(snap_bytes) + "), " + fmt_thousands(static_cast<double>(snap_keys)) + " keys: "
        + (snap_keys > 0 ? std::to_string(snap_bytes / snap_keys) : std::string{"?"})
        + " bytes per key |\n";
  md += "| leader's status afterwards | snapshot_index " + std::to_string(snap_status_index)
        + ", first_index " + std::to_string(first_index_after) + " |\n";
  md += "| leader's data directory | " + fmt_mib(dir_total) + ": snapshots " + fmt_mib(dir_snaps)
        + " (at most two are kept), log and the rest " + fmt_mib(dir_total - std::min(dir_total, dir_snaps))
        + " |\n";
  md += "| every node's data directory | " + all_dirs + " |\n\n";

  md += "### Joining: node " + std::to_string(j.id) + "\n\n";
  md += "| from starting raft-node --raft.join (polls every " + std::to_string(o.poll.count())
        + " ms, or the nodes' logs where marked) | s |\n|---|---:|\n";
  md += "| admitted: it printed \"listening on\" | " + opt_s(j.listening) + " |\n";
  md += "| the leader reports it as a learner | " + opt_s(j.learner) + " |\n";
  md += "| the leader starts sending it a snapshot (leader's log) | " + opt_s(j.transfer_started)
        + " |\n";
  md += "| it reports the snapshot received (status snapshot_index " + std::to_string(j.snapshot_index)
        + ") | " + opt_s(j.snapshot) + " |\n";
  md += "| it has loaded the snapshot (its log: \"installed snapshot ...\") | " + opt_s(j.installed)
        + " |\n";
  md += "| **the leader reports it as a voter** (configuration committed) | **"
        + opt_s(j.voter) + "** |\n";
  md += "| its applied index reaches the leader's commit index at its start ("
        + std::to_string(j.commit_at_start) + ") | " + opt_s(j.caught_up_start) + " |\n";
  md += "| **its applied index reaches the leader's commit index** (of the previous poll round, "
        + std::to_string(j.leader_commit_at_caught_up) + ") | **" + opt_s(j.caught_up) + "** |\n\n";
  md += std::string{"It was "} + (j.snapshot_index > 0 ? "" : "**not** ")
        + "sent a snapshot (its status: snapshot_index " + std::to_string(j.snapshot_index)
        + "). Its data directory afterwards: " + fmt_mib(joiner_dir_bytes)
        + ". Memory after the join window (RSS, peak RSS): " + memory + ".";
  if (!j.transfers.empty()) {
    int n = 0;
    std::string by;
    for (const auto& [node, k] : j.transfers) {
      n += k;
      by += (by.empty() ? "" : ", ") + node + " " + std::to_string(k);
    }
    md += " Snapshot transfers to it started (\"sending snapshot ... to " + std::to_string(j.id)
          + "\" log lines): " + (n > 1 ? "**" : "") + std::to_string(n) + (n > 1 ? "**" : "")
          + " (" + by + "), the first at t+" + fmt_s(j.transfer_started.value_or(0))
          + " s, the last at t+" + fmt_s(j.last_transfer) + " s.";
  }
  if (j.abandoned > 0)
    md += " **" + std::to_string(j.abandoned) + " snapshot transfer(s) to it were abandoned.**";
  // Until it was a caught-up voter (or the end of the polling).
  double join_end = j.done() ? std::max(*j.voter, *j.caught_up) : 1e18;
  {
    std::vector<std::string> during_join;
    std::size_t later = 0;
    for (const auto& [at, e] : j.elections) {
      if (at <= join_end)
        during_join.push_back(e);
      else
        ++later;
    }
    md += " Leader elections while it joined (until it was a caught-up voter): "
          + std::string{during_join.empty() ? "none" : "**" + std::to_string(during_join.size()) + "**:"};
    for (const auto& e : during_join)
      md += " " + e + ";";
    if (!during_join.empty())
      md.pop_back();
    md += later > 0 ? "; " + std::to_string(later) + " more later in the window." : ".";
  }
  if (!j.exit.empty())
    md += " **The joining node " + j.exit + ".**";
  if (!j.start_error.empty())
    md += " **It could not be started: " + j.start_error + ".**";
  // The log lines that tell the story, in time order: membership, snapshot
  // transfers (repeats of the same node's "sending" line folded), roles.
  auto wanted = [](const std::string& l) {
    for (const char* w : {"configuration", "snapshot", "leader", "follower", "candidate",
                          "joined", "listening on", "refused", "abandoned", "lost peer"})
      if (l.find(w) != std::string::npos)
        return true;
    return false;
  };
  std::vector<log_entry> story;
  for (const auto& l : j.log_lines)
    if (wanted(l.line) && l.at <= join_end + 0.5)
      story.push_back(l);
  std::stable_sort(story.begin(), story.end(),
                   [](const log_entry& a, const log_entry& b) { return a.at < b.at; });
  md += "\n\nThe nodes' log lines about membership, snapshots and roles from its start until it "
        "was a caught-up voter, in time order (t+: the line's own time stamp, from the start of "
        "the process; t~: when raft-bench read a line without one; repeated \"sending "
        "snapshot\" lines are counted, not shown):\n\n```\n";
  std::size_t shown = 0;
  std::map<std::string, int> repeats;
  for (const auto& l : story) {
    bool sending = l.line.find("sending snapshot") != std::string::npos;
    auto node = l.shown.substr(l.shown.find("node"), l.shown.find(':') - l.shown.find("node"));
    if (sending && repeats[node]++ > 0)
      continue;
    if (++shown > 80) {
      md += "... (more lines in the nodes' logs)\n";
      break;
    }
    md += l.shown + "\n";
  }
  for (const auto& [node, k] : repeats)
    if (k > 1)
      md += "(" + node + " logged \"sending snapshot ...\" " + std::to_string(k)
            + " times in all)\n";
  md += "```\n\n";

  md += "### Write throughput with and without the join\n\n";
  md += "| window (" + std::to_string(o.window.count() / 1000) + " s, " + std::to_string(o.clients)
        + " clients) | ops/s | p50 ms | p99 ms | max ms | acks | non-ok | terms | CPU |\n";
  md += "|---|---:|---:|---:|---:|---:|---|---|---|\n";
  for (const auto* r : {&base, &during, &after_join}) {
    if (!r->ran)
      continue;
    md += "| " + r->name + " | " + fmt_thousands(r->ops_per_s) + " | " + fmt_ms(r->lat.p50_us)
          + " | " + fmt_ms(r->lat.p99_us) + " | " + fmt_ms(r->lat.max_us) + " | "
          + fmt_thousands(static_cast<double>(r->lat.count)) + " | " + r->non_ok_text + " | "
          + r->terms + " | " + r->cpu + " |\n";
  }
  {
    auto joined_at = j.voter && j.caught_up ? std::max(*j.voter, *j.caught_up) : -1.0;
    md += "\nThe node started joining when the measured part of the window \"during the join\" "
          "began; it was a caught-up voter "
          + (joined_at >= 0 ? fmt_s(joined_at) + " s later" : std::string{"**never**"})
          + (joined_at > secs(o.window) ? " (**after the window ended**: the window holds only "
                                          "part of the join)"
                                        : "")
          + ", of the window's " + fmt_s(secs(o.window)) + " s.\n";
  }
  md += "\nAcknowledged puts per second of each window:\n\n";
  for (const auto* r : {&base, &during, &after_join})
    if (r->ran)
      md += "- " + r->name + ": " + per_second_text(r->per_second) + "\n";
  md += "\nSnapshots the nodes wrote during each window (snapshot_index before -> after): ";
  for (const auto* r : {&base, &during, &after_join})
    if (r->ran)
      md += r->name + ": " + r->snapshots + "; ";
  md.resize(md.size() - 2);
  md += ".\n\n";
  for (const auto* r : {&base, &during, &after_join})
    if (r->ran && !r->leader_note.empty())
      md += "Note (" + r->name + "): " + r->leader_note + ".\n\n";
  md += final_same ? "After the run all " + std::to_string(final_reports.size())
                       + " nodes held the same state (applied index "
                       + std::to_string(final_applied) + ", "
                       + fmt_thousands(static_cast<double>(final_keys)) + " keys, equal digests).\n\n"
                   : "**After the run the nodes did not converge within 60 s.**\n\n";
  return clean ? 0 : 2;
}

} // namespace raft::bench
