#pragma once

// How healthy a cluster is, judged from one round of node statuses. Plain
// C++; no CAF, no I/O (tests feed it made-up reports).

#include "messages/status.hpp"

#include <optional>
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
/// node (a learner, say) is up. degraded: a leader followed by a majority of the voters, but
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
  /// The voters: the leader's configuration; without a leader the newest
  /// configuration any node reports (highest config_index); else every node
  /// that answered. Majorities are counted over these only.
  std::vector<node_id> voters;
  /// The learners of that same configuration: they receive the log but are
  /// never counted in a majority.
  std::vector<node_id> learners;
  /// Index of the log entry holding that configuration (0: bootstrap).
  index_t config_index = 0;
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

/// The configuration a status round reports, as the cluster manager uses it.
struct reported_config {
  /// Voters and learners with their addresses.
  membership config;
  /// Index of its log entry (0: the bootstrap configuration).
  index_t config_index = 0;
  /// The node whose report it is.
  node_id from = no_node;
  /// That node has committed it (commit_index >= config_index).
  bool committed = false;
};

/// The leader's configuration (the highest-term node that says it leads),
/// else the newest one (highest config_index) any node reports; nullopt if
/// no node answered. A report without addresses (status.config empty) is
/// taken from status.voters / status.learners with empty addresses.
std::optional<reported_config> reported_configuration(const std::vector<node_report>& reports);

/// Whether `id` is a voter (learner, either) of `c`.
bool has_voter(const membership& c, node_id id);
bool has_learner(const membership& c, node_id id);
inline bool has_member(const membership& c, node_id id) {
  return has_voter(c, id) || has_learner(c, id);
}

/// "voters 1=127.0.0.1:7001,2=... learners 4=..." (in id order) -- for people.
std::string describe_config(const membership& c);

/// Whether one status round shows a converged cluster: healthy (every node
/// answered, one leader followed by a majority) and every node at the same
/// commit index, applied index and state digest.
bool converged(const std::vector<node_report>& reports);

} // namespace raft
