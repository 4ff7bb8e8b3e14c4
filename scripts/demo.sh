#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs
# cluster-demo on a local cluster.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${CAF_RAFT_BUILD:-$root/build}"
"$root/scripts/build.sh" "$build"
exec "$build/app/cluster-demo" "$@"
