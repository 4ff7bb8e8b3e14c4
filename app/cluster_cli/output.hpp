#pragma once

// What cluster-cli prints: the status table for people, JSON for scripts.
// Plain C++ over the manager's report types.

#include "actors/manager/cluster_health.hpp"
#include "messages/kv_messages.hpp"

#include <string>
#include <utility>
#include <vector>

namespace raft::cli {

/// A JSON string literal (quotes, backslashes and control characters escaped).
std::string json_string(const std::string& s);

/// The status table with one row per node (ROLE "learner" for a learner),
/// the configuration and the health line below:
/// ID ADDRESS ROLE TERM LEADER COMMIT APPLIED SNAPSHOT KEYS CONNECTED LAST-CONTACT.
std::string status_table(const std::vector<node_report>& reports, const health_report& health);

/// {"health":..., "leader":..., "term":..., "summary":..., "voters":[...],
///  "learners":[...], "config_index":..., "config":{"voters":[{"id","address"}],
///  "learners":[...]}, "config_committed":..., "nodes":[...]}; each node with
/// its role ("learner" for a learner), indexes (snapshot_index, first_index,
/// config_index), voters, learners and config as it sees them.
std::string status_json(const std::vector<node_report>& reports, const health_report& health);

/// {"leader":..., "term":..., "health":..., "summary":...}.
std::string leader_json(const health_report& health);

/// How a reply reads for people: "ok", the value of a get, "not found", or
/// "<status>: <message>".
std::string reply_text(const std::string& command, const client_reply& r);

/// {"command":..., "key":..., "status":..., "value":..., "leader_hint":..., "message":...}.
std::string reply_json(const std::string& command, const std::string& key, const client_reply& r);

/// {"command":..., "ok":true|false, "message":...} for commands without data.
std::string result_json(const std::string& command, bool ok, const std::string& message);

/// The same with more fields, each a name and a ready JSON value, between
/// "ok" and "message".
std::string result_json(const std::string& command, bool ok, const std::string& message,
                        const std::vector<std::pair<std::string, std::string>>& fields);

/// {"error":..., "usage":...}; usage omitted if empty.
std::string error_json(const std::string& error, const std::string& usage);

} // namespace raft::cli
