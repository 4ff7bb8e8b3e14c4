#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs the
# whole test suite through CTest.
# Usage: scripts/test.sh [build-dir]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
"$root/scripts/build.sh" "$build"
cd "$build"
ctest --output-on-failure -j2 --timeout 900
