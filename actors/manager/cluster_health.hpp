#pragma once

// How healthy a cluster is, judged from one round of node statuses. Plain
// C++; no CAF, no I/O (tests feed it made-up reports).

#include "messages/status.hpp"

#include <string>
#include <vector>

namespace raft {

/// One node as the cluster manager saw it in a status round.
struct node_report {
  /// The node's id: configured (launch mode) or learned from its status
  /// (attach mode; no_node until it answered once).
  node_id id = no_node;
  /// "host:port" of its gateway.
  std::string address;
  /// Whether it answered; `status` is meaningful only then.
  bool reachable = false;
  node_status status;
  /// Why it did not answer ("" if it did).
  std::string error;
};

/// healthy: every voter is up and follows one leader, every other managed
/// node is up. degraded: a leader followed by a majority of the voters, but
/// some node is down, unreachable or follows no/another leader. unhealthy:
/// no leader that a majority of the voters follows.
enum class cluster_health { healthy, degraded, unhealthy };

/// "healthy", "degraded", "unhealthy".
const char* to_string(cluster_health h);

/// The verdict with its reasons.
struct health_report {
  cluster_health health = cluster_health::unhealthy;
  /// The leader a majority of its voters follows (no_node if none), and its term.
  node_id leader = no_node;
  term_t term = 0;
  /// The voters (the leader's view; else every node that answered).
  std::vector<node_id> voters;
  /// Voters that follow `leader` in `term` (the leader included).
  std::vector<node_id> following;
  /// Nodes that did not answer (voters without a report count too), and
  /// nodes that answered but follow no or another leader.
  std::vector<node_id> down;
  std::vector<node_id> astray;
  /// Addresses of the nodes that did not answer.
  std::vector<std::string> unreachable;
  /// One line for people: "healthy: leader 2 (term 3), 3 of 3 voters follow it".
  std::string summary;
};

/// Judges one status round. The leader is the one with the highest term
/// among the nodes that say they lead, and it counts only if a majority of
/// its voters (itself included) report it as their leader in that term --
/// a deposed leader cut off in a minority is not "the" leader.
health_report evaluate_health(const std::vector<node_report>& reports);

/// Whether one status round shows a converged cluster: healthy (every node
/// answered, one leader followed by a majority) and every node at the same
/// commit index, applied index and state digest.
bool converged(const std::vector<node_report>& reports);

} // namespace raft
