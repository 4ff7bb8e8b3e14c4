#pragma once

// Where a peer's raft-node process listens. Plain data (no CAF).

#include "messages/raft_rpc.hpp"

#include <cstdint>
#include <string>

namespace raft {

/// One member of the cluster as configured: its id and its gateway's address.
struct peer_address {
  node_id id = no_node;
  std::string host;
  uint16_t port = 0;

  /// "host:port" (IPv6 hosts in brackets).
  std::string address() const {
    auto h = host.find(':') == std::string::npos ? host : "[" + host + "]";
    return h + ":" + std::to_string(port);
  }

  friend bool operator==(const peer_address&, const peer_address&) = default;
};

} // namespace raft
