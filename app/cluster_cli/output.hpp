#pragma once

// What cluster-cli prints: the status table for people, JSON for scripts.
// Plain C++ over the manager's report types.

#include "actors/manager/cluster_health.hpp"
#include "messages/kv_messages.hpp"

#include <string>
#include <vector>

namespace raft::cli {

/// A JSON string literal (quotes, backslashes and control characters escaped).
std::string json_string(const std::string& s);

/// The status table with one row per node and a health line below:
/// ID ADDRESS ROLE TERM LEADER COMMIT APPLIED KEYS CONNECTED LAST-CONTACT.
std::string status_table(const std::vector<node_report>& reports, const health_report& health);

/// {"health":..., "leader":..., "term":..., "summary":..., "nodes":[...]}.
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

/// {"error":..., "usage":...}; usage omitted if empty.
std::string error_json(const std::string& error, const std::string& usage);

} // namespace raft::cli
