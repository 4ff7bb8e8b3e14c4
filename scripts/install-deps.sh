#!/usr/bin/env bash
# Installs the Debian packages caf-raft needs, if any is missing.
# Usage: scripts/install-deps.sh [extra-package ...]
set -euo pipefail

# iproute2 (ip) and nftables (nft): the netns tests build hosts in network
# namespaces and cut them apart with nftables rules. redis-tools (redis-cli,
# redis-benchmark): the tests of the Redis-protocol client port, and the way
# to talk to a cluster from a shell; python3-redis: a Redis client library in
# those tests.
packages=(g++ cmake make libcaf-dev libboost-serialization-dev catch2 iproute2 nftables
          redis-tools python3-redis "$@")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing missing packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
