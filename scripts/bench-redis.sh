#!/usr/bin/env bash
# The Redis-port benchmark of issue #5: redis-benchmark (Debian's
# redis-tools) against the client port of a 3-node cluster of raft-node
# processes, at its leader and at a follower, and against one local
# redis-server with appendfsync always for reference. Writes the section
# "## Redis port: redis-benchmark against a 3-node cluster" of
# docs/benchmarks.md (replaced if it is there, appended if not).
#
# Usage: scripts/bench-redis.sh [--quick]
#   --quick          a tenth of the requests and a 10,000-key keyspace, to try
#                    the script (not for figures; the section then goes to
#                    BUILD_DIR/benchmarks-redis-quick.md)
# Environment:
#   BUILD_DIR        build directory (default: build-bench; tests are not built)
#   BENCH_DATA_DIR   parent of the nodes' and redis-server's data directories
#                    (default: $TMPDIR or /tmp). fsync matters: put it on the
#                    disk you mean to measure.
#   BENCH_OUT        the report (default: docs/benchmarks.md)
#   SKIP_BUILD=1     use the raft-node already in BUILD_DIR
#   BENCH_KEEP_DATA=1  keep the data directories and the processes' logs
#
# The matrix: redis-benchmark -t set,get -d 256 -r 100000 at 1, 32 and 128
# connections, without and with -P 16, once through each of the leader, a
# follower and redis-server (18 runs of SET and GET). Takes about 3-4
# minutes on a 2-core machine, plus the build. Exit code 0 if every run was
# clean (redis-benchmark exited 0, printed no error and both figures).
# shellcheck disable=SC2317  # functions called through trap and wait_for
set -euo pipefail
export LC_ALL=C   # decimal points in awk and printf
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-bench}"
data_parent="${BENCH_DATA_DIR:-${TMPDIR:-/tmp}}"

quick=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=" --quick" ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "bench-redis.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

# The matrix: pipeline depth, connections, requests per run. The requests
# are chosen so that a run takes a few seconds on a 2-core machine.
pipelines=(1 16)
clients=(1 32 128)
declare -A requests=([1:1]=2000 [1:32]=20000 [1:128]=40000
                     [16:1]=20000 [16:32]=100000 [16:128]=100000)
keys=100000
value_size=256
run_limit=300   # seconds before a redis-benchmark run counts as hung
if [ -n "$quick" ]; then
  for k in "${!requests[@]}"; do requests[$k]=$((${requests[$k]} / 10)); done
  keys=10000
  run_limit=120
fi
if [ -n "$quick" ]; then
  out="${BENCH_OUT:-$build/benchmarks-redis-quick.md}"
else
  out="${BENCH_OUT:-$root/docs/benchmarks.md}"
fi
heading="## Redis port: redis-benchmark against a 3-node cluster"

if [ -z "${SKIP_BUILD:-}" ]; then
  echo "== building raft-node in $build"
  "$root/scripts/build.sh" "$build" -DRAFT_BUILD_TESTS=OFF
fi
node_bin="$build/app/raft-node"
[ -x "$node_bin" ] || { echo "bench-redis.sh: $node_bin not found (build first)" >&2; exit 1; }
"$root/scripts/install-deps.sh" redis-server
for p in redis-cli redis-benchmark redis-server timeout; do
  command -v "$p" >/dev/null || { echo "bench-redis.sh: $p not found" >&2; exit 1; }
done
mkdir -p "$data_parent" "$(dirname "$out")"

# -- processes and clean-up --------------------------------------------------------
work="$(mktemp -d)"
data="$(mktemp -d "$data_parent/raft-bench-redis-XXXXXX")"
pids=()
cleanup() {
  local pid waited
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    waited=0
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 50 ]; do
      sleep 0.1
      waited=$((waited + 1))
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
  if [ -n "${BENCH_KEEP_DATA:-}" ]; then
    echo "== kept the data directories and logs in $data"
  else
    rm -rf "$data"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "bench-redis.sh: $*" >&2
  local log
  for log in "$data"/*.log; do
    [ -f "$log" ] || continue
    echo "-- last lines of $log" >&2
    tail -n 20 "$log" >&2
  done
  exit 1
}

# A port nobody listens on (in $port), below the usual ephemeral range
# (32768-60999) so that no outgoing connection holds it either; never one
# this script picked before.
used_ports=" "
free_port() {
  local i
  for ((i = 0; i < 200; i++)); do
    port=$((20000 + RANDOM % 12000))
    case "$used_ports" in *" $port "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      used_ports="$used_ports$port "
      return 0
    fi
  done
  fail "no free port found"
}

# A command line as one would type it: arguments with special characters in
# single quotes.
show_args() {
  local a out="" q="'"
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:=,+-]+$ ]]; then
      out+="$a "
    else
      out+="$q${a//$q/$q\\$q$q}$q "
    fi
  done
  echo "${out% }"
}

# Waits up to $2 seconds for the command $3... to succeed; $1 names it.
wait_for() {
  local what="$1" limit="$2" i
  shift 2
  for ((i = 0; i < limit * 10; i++)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  fail "timed out after ${limit} s waiting for $what"
}

# The value of field $2 in "INFO raft" of the node at port $1 (empty if the
# node does not answer).
raft_field() {
  { redis-cli -p "$1" INFO raft 2>/dev/null || true; } | tr -d '\r' |
    awk -F: -v f="$2" '$1 == f { print $2 }'
}

# -- the machine ---------------------------------------------------------------------
cpus="$(nproc)"
cpu_model="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
[ -n "$cpu_model" ] || cpu_model="unknown"
kernel="$(uname -srm)"
fs="$(df -T "$data_parent" | awk 'NR==2 {print $2 " on " $1 " (mounted at " $7 ")"}')"
memory="$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
started="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
started_s="$(date +%s)"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ]; then
  commit="$commit (with uncommitted changes)"
fi
build_type="$(grep -m1 '^CMAKE_BUILD_TYPE' "$build/CMakeCache.txt" 2>/dev/null | cut -d= -f2 || true)"
rb_version="$(redis-benchmark --version | awk '{print $2}')"
rs_version="$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')"
with_commas() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }

# -- the cluster and redis-server ----------------------------------------------------
ids=(1 2 3)
declare -A raft_port client_port node_cmd
for id in "${ids[@]}"; do
  free_port; raft_port[$id]="$port"
  free_port; client_port[$id]="$port"
done
peers="[$(for id in "${ids[@]}"; do printf '"%s=127.0.0.1:%s",' "$id" "${raft_port[$id]}"; done)"
peers="${peers%,}]"
for id in "${ids[@]}"; do
  mkdir -p "$data/node$id"
  args=("$node_bin" "--raft.id=$id" "--raft.port=${raft_port[$id]}" "--raft.peers=$peers"
        "--raft.data-dir=$data/node$id" "--raft.client-port=${client_port[$id]}")
  node_cmd[$id]="$(show_args "${args[@]}")"
  echo "== ${node_cmd[$id]}"
  "${args[@]}" > "$data/node$id.log" 2>&1 &
  pids+=("$!")
done
free_port; redis_port="$port"
mkdir -p "$data/redis-server"
redis_args=(redis-server --port "$redis_port" --bind 127.0.0.1 --appendonly yes
            --appendfsync always --save '' --dir "$data/redis-server")
redis_cmd="$(show_args "${redis_args[@]}")"
echo "== $redis_cmd"
"${redis_args[@]}" > "$data/redis-server.log" 2>&1 &
pids+=("$!")

for id in "${ids[@]}"; do
  wait_for "raft-node $id to listen" 30 grep -q "raft-node $id listening on" "$data/node$id.log"
done
answers_ping() { [ "$(redis-cli -p "$1" PING 2>/dev/null || true)" = PONG ]; }
wait_for "redis-server to answer PING" 30 answers_ping "$redis_port"

# A leader that every node follows: its id in $leader.
leader=""
one_leader() {
  local id l
  leader=""
  for id in "${ids[@]}"; do
    [ "$(raft_field "${client_port[$id]}" role)" = leader ] && leader="$id"
  done
  [ -n "$leader" ] || return 1
  for id in "${ids[@]}"; do
    l="$(raft_field "${client_port[$id]}" leader)"
    [ "$l" = "$leader" ] || return 1
  done
}
wait_for "a leader followed by all 3 nodes" 30 one_leader
follower=""
for id in "${ids[@]}"; do
  if [ "$id" != "$leader" ]; then follower="$id"; break; fi
done
term_start="$(raft_field "${client_port[$leader]}" term)"
echo "== node $leader leads (term $term_start, Redis port ${client_port[$leader]});" \
     "follower: node $follower (Redis port ${client_port[$follower]}); redis-server on $redis_port"

# -- the fill: every key of the keyspace, so that every GET finds its value ---------
# MSET of 100 keys per command, with the keys redis-benchmark's -r makes
# ("key:" and 12 digits) and its values (value_size times "x").
awk -v keys="$keys" -v size="$value_size" 'BEGIN {
  v = ""; for (i = 0; i < size; i++) v = v "x"
  for (i = 0; i < keys; i += 100) {
    n = (keys - i < 100) ? keys - i : 100
    printf "*%d\r\n$4\r\nMSET\r\n", 1 + 2 * n
    for (j = i; j < i + n; j++) printf "$16\r\nkey:%012d\r\n$%d\r\n%s\r\n", j, size, v
  }
}' > "$work/fill.resp"
declare -A fill_time
for target in cluster redis; do
  if [ "$target" = cluster ]; then port="${client_port[$leader]}"; else port="$redis_port"; fi
  t0="$(date +%s.%N)"
  if ! redis-cli -p "$port" --pipe < "$work/fill.resp" > "$work/fill-$target.out" 2>&1 \
     || ! grep -q '^errors: 0,' "$work/fill-$target.out"; then
    cat "$work/fill-$target.out" >&2
    fail "filling $target with $keys keys failed"
  fi
  fill_time[$target]="$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
  echo "== filled $target with $(with_commas "$keys") keys in ${fill_time[$target]} s"
done

# -- the runs ------------------------------------------------------------------------
# result[target:P:C:CMD] = "rps p50 p99", or "failed"; a failed run's reason
# goes to $work/failures.
declare -A result
bench_cmd() { # pipeline clients -> the redis-benchmark arguments after -p PORT
  local p="$1" c="$2"
  printf '%s ' -t set,get -d "$value_size" -r "$keys" -n "${requests[$p:$c]}" -c "$c"
  [ "$p" = 1 ] || printf '%s ' -P "$p"
  printf '%s' --csv
}
rc=0
: > "$work/failures"
for p in "${pipelines[@]}"; do
  for c in "${clients[@]}"; do
    for target in leader follower redis; do
      case "$target" in
        leader) port="${client_port[$leader]}" ;;
        follower) port="${client_port[$follower]}" ;;
        redis) port="$redis_port" ;;
      esac
      read -r -a cmd <<< "redis-benchmark -p $port $(bench_cmd "$p" "$c")"
      name="$target-$p-$c"
      t0="$(date +%s)"
      run_rc=0
      : > "$work/$name.out"
      # redis-benchmark 7.0 does not give up on a port that refuses
      # connections (it waits until the timeout): ask first.
      if ! answers_ping "$port"; then
        echo "the port did not answer PING" > "$work/$name.err"
        run_rc=255
      else
        timeout "$run_limit" "${cmd[@]}" > "$work/$name.out" 2> "$work/$name.err" || run_rc=$?
      fi
      secs=$(($(date +%s) - t0))
      # Column positions from the header, not assumed.
      tr -d '"\r' < "$work/$name.out" | awk -F, '
        $1 == "test" { for (i = 1; i <= NF; i++) col[$i] = i; next }
        ($1 == "SET" || $1 == "GET") && col["rps"] {
          p50 = col["p50_latency_ms"] ? $col["p50_latency_ms"] : "-"
          p99 = col["p99_latency_ms"] ? $col["p99_latency_ms"] : "-"
          print $1, $col["rps"], p50, p99
        }' > "$work/$name.csv"
      why=""
      if [ "$run_rc" = 124 ]; then
        why="no end after $run_limit s"
      elif [ "$run_rc" = 255 ]; then
        why="not run: the port did not answer PING"
      elif [ "$run_rc" != 0 ]; then
        why="exit code $run_rc"
      fi
      errs="$(grep -i -h 'error' "$work/$name.out" "$work/$name.err" | head -n 3 || true)"
      [ -z "$errs" ] || why="${why:+$why; }$(echo "$errs" | tr '\n' ' ')"
      for cmdname in SET GET; do
        line="$(awk -v n="$cmdname" '$1 == n { print $2, $3, $4 }' "$work/$name.csv")"
        # Only worth saying of a run that ended well otherwise.
        if [ -z "$line" ] && [ "$run_rc" = 0 ] && [ -z "$errs" ]; then
          why="${why:+$why; }no $cmdname figure in its output"
        fi
        [ -n "$line" ] || line=failed
        result[$target:$p:$c:$cmdname]="$line"
      done
      if [ -n "$why" ]; then
        rc=1
        for cmdname in SET GET; do result[$target:$p:$c:$cmdname]="failed"; done
        echo "\`${cmd[*]}\` ($target): $why" >> "$work/failures"
        echo "!! ${cmd[*]} ($target): $why" >&2
        sed 's/^/   /' "$work/$name.err" >&2
      fi
      echo "== ${cmd[*]} ($target, ${secs} s): $(tr '\n' ' ' < "$work/$name.csv")"
    done
  done
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
elapsed=$(($(date +%s) - started_s))

# The cluster after the runs: the same leader and term? Every node agrees?
term_end="$(raft_field "${client_port[$leader]}" term)"
role_end="$(raft_field "${client_port[$leader]}" role)"
state_end=""
dbsize_cluster=""
for id in "${ids[@]}"; do
  node_port="${client_port[$id]}"
  role="$(raft_field "$node_port" role)"
  if [ -z "$role" ]; then
    state_end+="node $id: no answer; "
    continue
  fi
  state_end+="node $id: $role, term $(raft_field "$node_port" term), applied index $(raft_field "$node_port" applied_index), snapshot index $(raft_field "$node_port" snapshot_index); "
  # DBSIZE is a linearizable read: any node that answers will do.
  [ -n "$dbsize_cluster" ] || dbsize_cluster="$(redis-cli -p "$node_port" DBSIZE 2>/dev/null || true)"
done
state_end="${state_end%; }"
dbsize_redis="$(redis-cli -p "$redis_port" DBSIZE 2>/dev/null || true)"
: "${dbsize_cluster:=?}" "${dbsize_redis:=?}"

# -- the section -----------------------------------------------------------------------
fmt_ms() { # latency in ms: 3 significant digits at most
  awk -v x="$1" 'BEGIN {
    if (x == "-" || x == "") { print "-"; exit }
    if (x < 10) printf "%.2f\n", x; else if (x < 100) printf "%.1f\n", x; else printf "%.0f\n", x }'
}
fmt_cells() { # "rps p50 p99" or "failed" -> three table cells
  local v="$1" rps p50 p99
  if [ "$v" = failed ] || [ -z "$v" ]; then
    printf ' failed | | |'
    return
  fi
  read -r rps p50 p99 <<< "$v"
  printf ' %s | %s | %s |' "$(with_commas "$(printf '%.0f' "$rps")")" "$(fmt_ms "$p50")" "$(fmt_ms "$p99")"
}
busy="$(awk -v a="${load_start%% *}" -v n="$cpus" 'BEGIN { print (a > n) ? 1 : 0 }')"
{
  echo "$heading"
  echo
  if [ -n "$quick" ]; then
    echo "**A --quick run: a tenth of the requests, a $(with_commas "$keys")-key keyspace. Not for figures.**"
    echo
  fi
  if [ "$busy" = 1 ]; then
    cat <<EOF
**This run shared the machine with other work** (load average ${load_start%% *} at the
start, ${load_end%% *} at the end, on $cpus CPUs, of which the cluster and
redis-benchmark themselves are a part): the figures are noisy and lower than
on a quiet machine. Rerun on a quiet machine before comparing.

EOF
  fi
  cat <<EOF
Measured by \`scripts/bench-redis.sh$quick\` (issue #5): Debian's
\`redis-benchmark\` $rb_version against the Redis-protocol client port of a 3-node
cluster of \`raft-node\` processes on 127.0.0.1, once through the node that leads
and once through a follower, and, for reference, against one local
\`redis-server\` $rs_version that writes an append-only file with \`appendfsync always\`.
What is compared: **every SET through Raft is fsynced on a majority of the 3
nodes** (2 of the 3 logs at least) before it is
acknowledged, while **redis-server fsyncs its append-only file before it
answers a write, on 1 node**; both batch (Raft's group commit: one fsync covers
the entries that arrived meanwhile; redis-server: one fsync per event-loop
round). A GET through Raft is a linearizable read (the leader confirms its
leadership with a majority round, then answers from its state; nothing is
fsynced); through a follower, every command is forwarded to the leader and its
answer back. A GET of redis-server is a lookup in memory. This section is
generated: rerun the script rather than editing the figures.

| | |
|---|---|
| CPUs | $cpus ($cpu_model) |
| memory | $memory |
| kernel | $kernel |
| data directory | \`$data_parent\`: $fs (the 3 nodes and redis-server share it) |
| date | $started |
| commit | $commit |
| raft-node | \`$node_bin\` (${build_type:-unknown} build) |
| command | \`scripts/bench-redis.sh$quick\` |
| load average (1/5/15 min) | $load_start at the start, $load_end at the end |
| time taken | $elapsed s from the cluster's start to the end of the last run |

- cluster: 3 \`raft-node\` processes at their defaults (election timeout
  150-300 ms, heartbeat 50 ms, a snapshot every 100,000 applied entries),
  each with a client port; node $leader led (term $term_start), node $follower was the
  follower measured
- before the runs, the cluster (through its leader) and redis-server were each
  filled with the $(with_commas "$keys") keys that \`-r $keys\` makes (\`key:000000000000\` ..),
  holding $value_size-byte values, by \`redis-cli --pipe\` (MSET of 100 keys each;
  cluster ${fill_time[cluster]} s, redis-server ${fill_time[redis]} s): every GET finds a value and every
  SET overwrites one
- runs, in this order: for each row of the tables, leader, follower,
  redis-server; one redis-benchmark process per run, which runs SET and then
  GET, each with the row's requests (\`-n\`) over its connections (\`-c\`).
  The commands:

\`\`\`sh
EOF
  for id in "${ids[@]}"; do echo "${node_cmd[$id]} &"; done
  echo "${redis_cmd} &"
  echo "# each against the leader's (${client_port[$leader]}), the follower's (${client_port[$follower]}) and redis-server's ($redis_port) port:"
  for p in "${pipelines[@]}"; do
    for c in "${clients[@]}"; do
      echo "redis-benchmark -p <port> $(bench_cmd "$p" "$c")"
    done
  done
  cat <<EOF
\`\`\`

- req/s, p50 and p99 are redis-benchmark's own (its \`--csv\` columns rps,
  p50_latency_ms and p99_latency_ms): requests per second over the run, and
  the time from sending a request to its answer. With \`-P 16\` it times a
  batch (from sending its 16 requests to the first answers read) and counts
  that time for each request of it. Connections are closed-loop: each sends
  its next request (or batch of 16) once it has every answer
- everything shares the machine's $cpus CPUs: redis-benchmark, the 3 nodes and
  redis-server (idle while the cluster is measured, and the cluster idle
  but for heartbeats while redis-server is)

EOF
  for cmdname in SET GET; do
    echo "### $cmdname ($value_size-byte values)"
    echo
    echo "| clients | pipeline | requests | leader req/s | p50 ms | p99 ms | follower req/s | p50 ms | p99 ms | redis-server req/s | p50 ms | p99 ms |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for p in "${pipelines[@]}"; do
      for c in "${clients[@]}"; do
        if [ "$p" = 1 ]; then pl="-"; else pl="$p"; fi
        row="| $c | $pl | $(with_commas "${requests[$p:$c]}") |"
        for target in leader follower redis; do
          row+="$(fmt_cells "${result[$target:$p:$c:$cmdname]}")"
        done
        echo "$row"
      done
    done
    echo
  done
  echo "After the runs: $state_end. Keys held: cluster $(with_commas "$dbsize_cluster"), redis-server $(with_commas "$dbsize_redis")."
  if [ "$term_end" != "$term_start" ] || [ "$role_end" != leader ]; then
    echo
    echo "**The leadership changed during the runs** (node $leader led in term $term_start at the"
    if [ -n "$role_end" ]; then
      echo "start; at the end it is $role_end in term $term_end): some \"leader\" figures may be"
    else
      echo "start; at the end it does not answer): some \"leader\" figures may be"
    fi
    echo "of a follower, some \"follower\" figures of a leader."
  fi
  echo
  if [ -s "$work/failures" ]; then
    echo "**This run was not clean**; the runs that failed (their cells say \"failed\"):"
    echo
    sed 's/^/- /' "$work/failures"
    echo
  fi
} > "$work/section.md"

# From the section's heading to the next "## " heading (or the end) is
# replaced; a report without the section gets it at the end.
if [ -f "$out" ]; then
  awk -v head="$heading" -v file="$work/section.md" '
    function emit(  line) { while ((getline line < file) > 0) print line; close(file); done = 1 }
    index($0, head) == 1 { emit(); skipping = 1; next }
    skipping && /^## / { skipping = 0 }
    !skipping { print; last = $0 }
    END { if (!done) { if (last != "") print ""; emit() } }
  ' "$out" > "$work/report.md"
  cp "$work/report.md" "$out"
else
  cp "$work/section.md" "$out"
fi
echo "== wrote the section \"${heading#\#\# }\" in $out ($elapsed s)"
[ "$rc" = 0 ] || echo "bench-redis.sh: some runs failed (see the section)" >&2
if [ "$term_end" != "$term_start" ] || [ "$role_end" != leader ]; then
  echo "bench-redis.sh: the leadership changed during the runs (see the section)" >&2
fi
exit "$rc"
