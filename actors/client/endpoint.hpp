#pragma once

// Where a client sends its commands: one entry per node.

#include "messages/interfaces.hpp"

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace raft {

/// One node as a client knows it. Either `handle` is set (a local node, or
/// a proxy already connected), or `address` is (connected on first use, and
/// again after the connection is lost), or both.
struct endpoint {
  /// The node, its gateway, or a link to either. Null until connected.
  peer_endpoint_actor handle;
  /// The node's Raft id; learned from its status reply if not given here.
  /// Needed to follow `not_leader` hints to this endpoint.
  node_id id = no_node;
  /// "host:port" of the node's published gateway; empty for local handles.
  std::string address;
};

/// What one endpoint said when asked for its status.
struct endpoint_status {
  /// As configured ("" for local handles).
  std::string address;
  /// Its id, as configured or learned.
  node_id id = no_node;
  /// Whether it answered; `status` is meaningful only then.
  bool reachable = false;
  node_status status;
  /// Why it did not answer.
  std::string error;
};

/// For CAF messages between a blocking_client and its worker (local only:
/// the type is not registered for the wire).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, endpoint_status& x) {
  return f(caf::meta::type_name("raft_endpoint_status"), x.address, x.id, x.reachable,
           x.status, x.error);
}

/// Splits "host:port" ("[v6-host]:port" for IPv6). Fails on a missing or
/// invalid port or an empty host.
caf::expected<std::pair<std::string, uint16_t>> parse_address(const std::string& address);

/// One not yet connected endpoint per address, in order (the client
/// connects when it first needs one).
std::vector<endpoint> endpoints_from_addresses(const std::vector<std::string>& addresses);

} // namespace raft
