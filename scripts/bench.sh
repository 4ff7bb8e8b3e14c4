#!/usr/bin/env bash
# The benchmarks of issue #3: builds raft-bench (RelWithDebInfo, through
# scripts/build.sh), runs the write and failover benchmarks with the issue's
# parameters and writes docs/benchmarks.md (figures, machine, commands).
#
# Usage: scripts/bench.sh [--quick]
#   --quick          3 s levels and 10 trials, to try the script (not for figures;
#                    the report then goes to BUILD_DIR/benchmarks-quick.md)
# Environment:
#   BUILD_DIR        build directory (default: build-bench; tests are not built)
#   BENCH_DATA_DIR   parent of the nodes' data directories (default: $TMPDIR or
#                    /tmp). fsync matters: put it on the disk you mean to measure.
#   BENCH_OUT        the report (default: docs/benchmarks.md)
#   SKIP_BUILD=1     use the raft-bench already in BUILD_DIR
#
# Takes about 5-6 minutes on a 2-core machine, plus the build. Exit code 0 if
# both runs were clean (no non-ok reply, every trial recovered).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-bench}"
data_parent="${BENCH_DATA_DIR:-${TMPDIR:-/tmp}}"

duration=10s
warmup=2s
trials=100
quick=""
for arg in "$@"; do
  case "$arg" in
    --quick) duration=3s; warmup=1s; trials=10; quick=" --quick" ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
if [ -n "$quick" ]; then
  out="${BENCH_OUT:-$build/benchmarks-quick.md}"
else
  out="${BENCH_OUT:-$root/docs/benchmarks.md}"
fi

if [ -z "${SKIP_BUILD:-}" ]; then
  echo "== building raft-bench and raft-node in $build"
  "$root/scripts/build.sh" "$build" -DRAFT_BUILD_TESTS=OFF
fi
bench="$build/app/raft-bench"
[ -x "$bench" ] || { echo "bench.sh: $bench not found (build first)" >&2; exit 1; }
mkdir -p "$data_parent" "$(dirname "$out")"

sections="$(mktemp)"
trap 'rm -f "$sections"' EXIT

# -- the machine ---------------------------------------------------------------
cpus="$(nproc)"
cpu_model="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
[ -n "$cpu_model" ] || cpu_model="unknown"
kernel="$(uname -srm)"
fs="$(df -T "$data_parent" | awk 'NR==2 {print $2 " on " $1 " (mounted at " $7 ")"}')"
memory="$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
started="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ]; then
  commit="$commit (with uncommitted changes)"
fi

# -- the runs --------------------------------------------------------------------
rc=0
writes=("$bench" writes --nodes 3 --clients 1,8,32,128 --value-size 256
        --duration "$duration" --warmup "$warmup" --data-dir "$data_parent")
failover=("$bench" failover --nodes 5 --trials "$trials" --data-dir "$data_parent")

echo "== ${writes[*]}"
"${writes[@]}" --out "$sections" || rc=1
echo "== ${failover[*]}"
"${failover[@]}" --out "$sections" || rc=1
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# -- the report ------------------------------------------------------------------
{
  cat <<EOF
# Benchmarks

Measured by \`scripts/bench.sh$quick\` (issue #3): write throughput and latency
of a 3-node cluster, and failover time after \`kill -9\` of the leader of a
5-node cluster. Every node is a real \`raft-node\` process on 127.0.0.1,
launched and supervised by the cluster manager; every acknowledged write was
fsynced by a majority. This file is generated: rerun the script rather than
editing the figures.

EOF
  # Judged by the load before the run only: the cluster and the clients
  # themselves keep 4-6 processes busy, which shows in the load at the end.
  busy="$(awk -v a="${load_start%% *}" -v n="$cpus" 'BEGIN { print (a > n) ? 1 : 0 }')"
  if [ "$busy" = 1 ]; then
    cat <<EOF
**These figures were taken on a busy machine** (load average ${load_start%% *} at the
start and ${load_end%% *} at the end, on $cpus CPUs): other work competed with the
cluster for CPU and disk. Rerun on a quiet machine before drawing conclusions
or comparing with other systems.

EOF
  fi
  cat <<EOF
## Machine and run

| | |
|---|---|
| CPUs | $cpus ($cpu_model) |
| memory | $memory |
| kernel | $kernel |
| data directory | \`$data_parent\`: $fs |
| date | $started |
| commit | $commit |
| command | \`scripts/bench.sh$quick\` (the raft-bench command of each run is in its section) |
| load average (1/5/15 min) | $load_start at the start, $load_end at the end |

## How to reproduce

\`\`\`sh
scripts/bench.sh                      # build (build-bench/), run both, rewrite docs/benchmarks.md
BENCH_DATA_DIR=/var/tmp scripts/bench.sh    # the nodes' data on another disk
build-bench/app/raft-bench writes --clients 32 --duration 30s   # one run by hand
build-bench/app/raft-bench failover --trials 20 --keep-data     # keeps the nodes' logs
build-bench/app/raft-bench --help
\`\`\`

## Caveats

- **Everything shares the machine's $cpus CPUs**: the client load generator
  (raft-bench) and all nodes of the cluster run on the same cores, and talk
  over loopback. Real deployments put each node on its own host; here a node
  competes with the others and with the clients for CPU, and network latency
  is near zero. The CPU column shows how the time was split.
- **fsync**: each node's log is fsynced before it acknowledges (group commit:
  one fsync covers every entry that arrived meanwhile). The data directories
  were on $fs; all nodes share that one disk. On a tmpfs the figures would be
  meaningless, on a slower disk lower.
- The write clients are closed-loop (one request in flight each), all in one
  raft-bench process with one CAF connection per node, and start with the
  node that leads (a client that starts at a follower moves to the leader
  after its first answer, which names the leader). Latency is measured in
  the client, send to acknowledgement.
- Failover times are late by up to one status-poll interval (5 ms) plus a
  round trip, and depend on the randomized election timeout (150-300 ms,
  counted from the last heartbeat the followers received); a trial whose
  first election round fails (split vote, pre-vote refused) takes one more
  election timeout. "Next acknowledged write" is measured twice: with a
  writer that gives up on a dead node at once (the cluster's recovery), and
  with the library client kv_client at its defaults (what an application
  sees: its put in flight to the killed leader ends \`unknown\` when the
  connection drops, then it retries through the others with backoff).
- Figures taken while other work ran on the machine (see the load average)
  are noisy; compare runs from a quiet machine only.
- The etcd 3.4 figure in the comparison is the reference figure from the
  project's brief for this machine; it was not measured by this script.

EOF
  cat "$sections"
  if [ "$rc" -ne 0 ]; then
    echo "**At least one run was not clean (non-ok replies, a failed trial, or a run that"
    echo "stopped early): see the sections above and the run's output.**"
    echo
  fi
} > "$out"

echo "== wrote $out"
exit "$rc"
