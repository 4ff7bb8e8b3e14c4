// raft-bench: the benchmarks of issues #3 and #4, over real raft-node processes on
// loopback launched by the cluster manager.
//
//   raft-bench writes   --nodes 3 --clients 1,8,32,128 --value-size 256
//                       --duration 10s --warmup 2s [--keys-per-client 1000] [--learn-ids]
//   raft-bench failover --nodes 5 --trials 100 [--poll 5ms] [--attempt-timeout 100ms]
//                       [--trial-timeout 10s] [--settle 500ms]
//   raft-bench join     --keys 1000000 --value-size 256 [--fill-clients 8] [--fill-pipeline 32]
//                       [--clients 32] [--window 60s] [--warmup 2s] [--poll 20ms]
//                       [--join-timeout 10m] [--no-after] [--snapshot-entries N]
//                       [--snapshot-log-mb N]
//   common: --election-timeout 150ms --heartbeat 50ms --data-dir /tmp
//           --client-threads 2 --keep-data --out FILE
//
// Figures are printed as they come; --out appends a markdown section with
// the figures, the conditions and the exact command to FILE. Exit code 0:
// the run completed and was clean (no non-ok reply, every trial recovered);
// 1: it could not run; 2: it ran but something was not clean (see output).

#include "app/raft_bench/bench.hpp"

#include <cstdio>
#include <cstdlib>
#include <set>

using namespace raft::bench;

namespace {

const char* usage_text =
  "usage: raft-bench writes   [--nodes 3] [--clients 1,8,32,128] [--value-size 256]\n"
  "                           [--duration 10s] [--warmup 2s] [--keys-per-client 1000]\n"
  "                           [--learn-ids]  (clients learn node ids by status requests)\n"
  "       raft-bench failover [--nodes 5] [--trials 100] [--value-size 256] [--poll 5ms]\n"
  "                           [--attempt-timeout 100ms] [--trial-timeout 10s] [--settle 500ms]\n"
  "       raft-bench join     [--keys 1000000] [--value-size 256] [--fill-clients 8]\n"
  "                           [--fill-pipeline 32] [--clients 32] [--keys-per-client 1000]\n"
  "                           [--warmup 2s] [--window 60s] [--poll 20ms] [--join-timeout 10m]\n"
  "                           [--snapshot-timeout 10m] [--no-after]\n"
  "                           [--snapshot-entries N] [--snapshot-log-mb N]  (passed to every node)\n"
  "         fills a 3-node cluster with --keys keys (fill-clients kv_client actors x\n"
  "         fill-pipeline puts in flight), times take_snapshot on the leader, then runs the\n"
  "         write workload (--clients closed-loop writers) for a window without a join, a\n"
  "         window during which a 4th node joins (raft-node --raft.join), and one with 4 voters\n"
  "         (unless --no-after)\n"
  "  common options:\n"
  "    --election-timeout 150ms  minimum election timeout (the maximum is twice this)\n"
  "    --heartbeat 50ms          heartbeat interval\n"
  "    --data-dir DIR            where the nodes' data goes (a fresh raft-bench-XXXXXX in it;\n"
  "                              default $TMPDIR or /tmp). fsync matters: use the disk you\n"
  "                              would use in production, not a tmpfs\n"
  "    --keep-data               keep that directory (and the nodes' logs) afterwards\n"
  "    --client-threads 2        scheduler threads of raft-bench's own actor system\n"
  "    --out FILE                append a markdown section with the figures to FILE\n"
  "  raft-node is found next to raft-bench, or in $RAFT_NODE.\n";

int usage(const std::string& error) {
  if (!error.empty())
    std::fprintf(stderr, "raft-bench: %s\n", error.c_str());
  std::fputs(usage_text, error.empty() ? stdout : stderr);
  return error.empty() ? 0 : 1;
}

/// Reads the options every benchmark has; false (and `error`) on a bad one.
bool read_common(arguments& args, cluster_settings& c, std::string& error) {
  auto& v = args.values;
  if (auto i = v.find("election-timeout"); i != v.end()) {
    auto d = parse_duration(i->second);
    if (!d || d->count() <= 0) {
      error = "bad --election-timeout '" + i->second + "'";
      return false;
    }
    c.election_timeout = *d;
  }
  if (auto i = v.find("heartbeat"); i != v.end()) {
    auto d = parse_duration(i->second);
    if (!d || d->count() <= 0) {
      error = "bad --heartbeat '" + i->second + "'";
      return false;
    }
    c.heartbeat = *d;
  }
  if (auto i = v.find("data-dir"); i != v.end()) {
    if (i->second.empty()) {
      error = "--data-dir needs a directory";
      return false;
    }
    c.data_parent = i->second;
  } else if (const char* tmp = std::getenv("TMPDIR"); tmp != nullptr && *tmp != '\0') {
    c.data_parent = tmp;
  }
  if (auto i = v.find("client-threads"); i != v.end()) {
    auto n = parse_positive(i->second);
    if (!n || *n > 64) {
      error = "bad --client-threads '" + i->second + "'";
      return false;
    }
    c.client_threads = static_cast<std::size_t>(*n);
  }
  if (auto i = v.find("nodes"); i != v.end()) {
    auto n = parse_positive(i->second);
    if (!n || *n > 15) {
      error = "bad --nodes '" + i->second + "' (1-15)";
      return false;
    }
    c.nodes = static_cast<int>(*n);
  }
  c.keep_data = v.count("keep-data") > 0;
  return true;
}

bool read_duration(arguments& args, const char* name, milliseconds& out, std::string& error) {
  if (auto i = args.values.find(name); i != args.values.end()) {
    auto d = parse_duration(i->second);
    if (!d || d->count() <= 0) {
      error = std::string{"bad --"} + name + " '" + i->second + "'";
      return false;
    }
    out = *d;
  }
  return true;
}

template <class Int>
bool read_positive(arguments& args, const char* name, Int& out, std::string& error) {
  if (auto i = args.values.find(name); i != args.values.end()) {
    auto n = parse_positive(i->second);
    if (!n) {
      error = std::string{"bad --"} + name + " '" + i->second + "'";
      return false;
    }
    out = static_cast<Int>(*n);
  }
  return true;
}

bool check_known(const arguments& args, const std::set<std::string>& known, std::string& error) {
  static const std::set<std::string> common{"election-timeout", "heartbeat",   "data-dir",
                                            "keep-data",        "client-threads", "out",
                                            "nodes"};
  for (const auto& [name, value] : args.values) {
    if (!known.contains(name) && !common.contains(name)) {
      error = "unknown option --" + name + " for '" + args.command + "'";
      return false;
    }
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  std::string error;
  auto parsed = parse_arguments(argc, argv, error);
  if (!parsed)
    return usage(error);
  auto& args = *parsed;
  if (args.values.count("help") > 0 || args.command == "help")
    return usage("");
  if (args.command.empty())
    return usage("name a benchmark: writes, failover or join");
  std::string markdown;
  int rc = 0;
  if (args.command == "writes") {
    writes_options o;
    o.cluster.nodes = 3;
    if (!check_known(args,
                     {"clients", "value-size", "duration", "warmup", "keys-per-client",
                      "learn-ids"},
                     error)
        || !read_common(args, o.cluster, error) || !read_duration(args, "duration", o.duration, error)
        || !read_positive(args, "value-size", o.value_size, error)
        || !read_positive(args, "keys-per-client", o.keys_per_client, error))
      return usage(error);
    if (auto i = args.values.find("warmup"); i != args.values.end()) {
      auto d = parse_duration(i->second);
      if (!d)
        return usage("bad --warmup '" + i->second + "'");
      o.warmup = *d;
    }
    if (auto i = args.values.find("clients"); i != args.values.end()) {
      auto list = parse_int_list(i->second);
      if (!list)
        return usage("bad --clients '" + i->second + "' (e.g. 1,8,32,128)");
      o.clients = *list;
    }
    o.learn_ids = args.values.count("learn-ids") > 0;
    rc = run_writes(o, args.command_line, markdown);
  } else if (args.command == "failover") {
    failover_options o;
    o.cluster.nodes = 5;
    if (!check_known(args,
                     {"trials", "value-size", "poll", "attempt-timeout", "trial-timeout", "settle"}, error)
        || !read_common(args, o.cluster, error) || !read_positive(args, "trials", o.trials, error)
        || !read_positive(args, "value-size", o.value_size, error)
        || !read_duration(args, "poll", o.poll, error)
        || !read_duration(args, "attempt-timeout", o.attempt_timeout, error)
        || !read_duration(args, "trial-timeout", o.trial_timeout, error)
        || !read_duration(args, "settle", o.settle, error))
      return usage(error);
    if (o.cluster.nodes < 3)
      return usage("failover needs at least 3 nodes");
    rc = run_failover(o, args.command_line, markdown);
  } else if (args.command == "join") {
    join_options o;
    o.cluster.nodes = 3;
    if (!check_known(args,
                     {"keys", "value-size", "fill-clients", "fill-pipeline", "clients",
                      "keys-per-client", "warmup", "window", "poll", "join-timeout",
                      "snapshot-timeout", "no-after", "snapshot-entries", "snapshot-log-mb"},
                     error)
        || !read_common(args, o.cluster, error) || !read_positive(args, "keys", o.keys, error)
        || !read_positive(args, "value-size", o.value_size, error)
        || !read_positive(args, "fill-clients", o.fill_clients, error)
        || !read_positive(args, "fill-pipeline", o.fill_pipeline, error)
        || !read_positive(args, "clients", o.clients, error)
        || !read_positive(args, "keys-per-client", o.keys_per_client, error)
        || !read_duration(args, "window", o.window, error)
        || !read_duration(args, "poll", o.poll, error)
        || !read_duration(args, "join-timeout", o.join_timeout, error)
        || !read_duration(args, "snapshot-timeout", o.snapshot_timeout, error))
      return usage(error);
    if (auto i = args.values.find("warmup"); i != args.values.end()) {
      auto d = parse_duration(i->second);
      if (!d)
        return usage("bad --warmup '" + i->second + "'");
      o.warmup = *d;
    }
    for (const char* name : {"snapshot-entries", "snapshot-log-mb"}) {
      if (auto i = args.values.find(name); i != args.values.end()) {
        if (!parse_positive(i->second))
          return usage(std::string{"bad --"} + name + " '" + i->second + "'");
        o.cluster.extra_args.push_back(std::string{"--raft."} + name + "=" + i->second);
      }
    }
    if (o.cluster.nodes != 3)
      return usage("join runs on a 3-node cluster (a 4th node joins)");
    if (o.fill_clients > 1000 || o.fill_pipeline > 10'000 || o.clients > 10'000)
      return usage("too many fill clients, fill pipeline or clients");
    o.after = args.values.count("no-after") == 0;
    rc = run_join(o, args.command_line, markdown);
  } else {
    return usage("unknown benchmark '" + args.command + "' (writes, failover or join)");
  }
  if (auto i = args.values.find("out"); i != args.values.end() && !markdown.empty()) {
    if (i->second.empty()) {
      std::fprintf(stderr, "raft-bench: --out needs a file\n");
      return 1;
    }
    if (!append_file(i->second, markdown, error)) {
      std::fprintf(stderr, "raft-bench: %s\n", error.c_str());
      return 1;
    }
    say("   report section appended to " + i->second);
  }
  return rc;
}
