#!/usr/bin/env bash
# The benchmarks of issues #3 and #4: builds raft-bench (RelWithDebInfo,
# through scripts/build.sh), runs the write, failover and join benchmarks
# with the issues' parameters and writes docs/benchmarks.md (figures,
# machine, commands).
#
# Usage: scripts/bench.sh [--quick] [--only NAME[,NAME...]]
#   --quick          3 s levels, 10 trials, 100,000 keys and 10 s windows for
#                    join, to try the script (not for figures; the report then
#                    goes to BUILD_DIR/benchmarks-quick.md)
#   --only NAMES     run only these of writes, failover, join, and replace
#                    their sections in the existing report (the rest of it,
#                    the machine table included, is kept; the replaced
#                    sections say so). Without a report, one is written.
# Environment:
#   BUILD_DIR        build directory (default: build-bench; tests are not built)
#   BENCH_DATA_DIR   parent of the nodes' data directories (default: $TMPDIR or
#                    /tmp). fsync matters: put it on the disk you mean to measure.
#   BENCH_OUT        the report (default: docs/benchmarks.md)
#   SKIP_BUILD=1     use the raft-bench already in BUILD_DIR
#   BENCH_KEEP_DATA=1  keep the nodes' data directories and logs (--keep-data)
#
# Takes about 5-6 minutes for writes and failover on a 2-core machine, and
# about 6-10 more for join (1,000,000 keys), plus the build. Exit code 0 if
# every run was clean (no non-ok reply, every trial recovered, the joining
# node became a caught-up voter).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-bench}"
data_parent="${BENCH_DATA_DIR:-${TMPDIR:-/tmp}}"

duration=10s
warmup=2s
trials=100
keys=1000000
window=60s
quick=""
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) duration=3s; warmup=1s; trials=10; keys=100000; window=10s; quick=" --quick" ;;
    --only) [ $# -ge 2 ] || { echo "bench.sh: --only needs a list (writes,failover,join)" >&2; exit 2; }
            only="$2"; shift ;;
    --only=*) only="${1#--only=}" ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
runs=(writes failover join)
if [ -n "$only" ]; then
  IFS=',' read -r -a runs <<< "$only"
  for r in "${runs[@]}"; do
    case "$r" in
      writes|failover|join) ;;
      *) echo "bench.sh: unknown benchmark '$r' in --only (writes, failover, join)" >&2; exit 2 ;;
    esac
  done
fi
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

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

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
export BENCH_COMMIT="$commit"   # raft-bench join names it in its section
keys_text="$(echo "$keys" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta')"

# -- the runs --------------------------------------------------------------------
# Each run appends its section to $work/<name>.md; a run that was not clean
# says so at the end of its own section.
rc=0
for r in "${runs[@]}"; do
  case "$r" in
    writes) cmd=("$bench" writes --nodes 3 --clients 1,8,32,128 --value-size 256
                 --duration "$duration" --warmup "$warmup" --data-dir "$data_parent") ;;
    failover) cmd=("$bench" failover --nodes 5 --trials "$trials" --data-dir "$data_parent") ;;
    join) cmd=("$bench" join --keys "$keys" --value-size 256 --clients 32 --window "$window"
               --data-dir "$data_parent") ;;
  esac
  [ -z "${BENCH_KEEP_DATA:-}" ] || cmd+=(--keep-data)
  echo "== ${cmd[*]}"
  if ! "${cmd[@]}" --out "$work/$r.md"; then
    rc=1
    {
      echo "**This run was not clean (non-ok replies, a failed trial, a node that did not"
      echo "join, or a run that stopped early): see the section above and the run's output.**"
      echo
    } >> "$work/$r.md"
  fi
  [ -s "$work/$r.md" ] || printf '## %s\n\n**The run produced no section (it could not run).**\n\n' "$r" > "$work/$r.md"
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# The heading each benchmark's section starts with (raft-bench writes it).
heading_of() {
  case "$1" in
    writes) echo "## Writes:" ;;
    failover) echo "## Failover:" ;;
    join) echo "## Join:" ;;
  esac
}

# -- only some runs: replace their sections in the existing report ----------------
if [ -n "$only" ] && [ -f "$out" ]; then
  for r in "${runs[@]}"; do
    {
      echo "_This section was rerun alone by \`scripts/bench.sh$quick --only $only\` on $started"
      echo "(commit $commit; raft-bench and raft-node from $build, $(grep -m1 '^CMAKE_BUILD_TYPE' "$build/CMakeCache.txt" 2>/dev/null | cut -d= -f2 || true) build;"
      echo "load average $load_start at the start, $load_end at the end); the"
      echo "machine table at the top is of the last full run._"
      echo
    } >> "$work/$r.md"
    # From the section's heading to the next "## " heading (or the end) is
    # replaced; a report without the section gets it at the end.
    awk -v head="$(heading_of "$r")" -v file="$work/$r.md" '
      function emit(  line) { while ((getline line < file) > 0) print line; close(file); done = 1 }
      index($0, head) == 1 { emit(); skipping = 1; next }
      skipping && /^## / { skipping = 0 }
      !skipping { print; last = $0 }
      END { if (!done) { if (last != "") print ""; emit() } }
    ' "$out" > "$work/report.md"
    cp "$work/report.md" "$out"
  done
  echo "== replaced the section(s) of ${runs[*]} in $out"
  exit "$rc"
fi

# -- the report ------------------------------------------------------------------
{
  cat <<EOF
# Benchmarks

Measured by \`scripts/bench.sh$quick\` (issues #3 and #4): write throughput and
latency of a 3-node cluster; failover time after \`kill -9\` of the leader of a
5-node cluster; and a 4th node joining a 3-node cluster that holds
$keys_text keys (snapshot size and time, time to join and catch up, and the
write throughput meanwhile). Every node is a real \`raft-node\` process on 127.0.0.1,
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
| command | \`scripts/bench.sh$quick${only:+ --only $only}\` (the raft-bench command of each run is in its section) |
| load average (1/5/15 min) | $load_start at the start, $load_end at the end |

## How to reproduce

\`\`\`sh
scripts/bench.sh                      # build (build-bench/), run all three, rewrite docs/benchmarks.md
scripts/bench.sh --only join          # rerun one and replace its section only
BENCH_DATA_DIR=/var/tmp scripts/bench.sh    # the nodes' data on another disk
build-bench/app/raft-bench writes --clients 32 --duration 30s   # one run by hand
build-bench/app/raft-bench failover --trials 20 --keep-data     # keeps the nodes' logs
build-bench/app/raft-bench join --keys 100000 --window 10s      # a quick join run
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
- The join benchmark's windows run one after the other on one cluster whose
  state grows (and which writes automatic snapshots as it goes: see each
  window's snapshot line); the window "during the join" also holds the
  change from 3 to 4 voters (a majority of 3 instead of 2), which the third
  window measures alone. Join times are from the start of the new process
  and late by up to one status round, except those taken from the nodes'
  own log time stamps.

EOF
  for r in "${runs[@]}"; do
    cat "$work/$r.md"
  done
} > "$out"

echo "== wrote $out"
exit "$rc"
