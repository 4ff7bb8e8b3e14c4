#include "app/cluster_cli/output.hpp"

#include <algorithm>
#include <cstdio>

namespace raft::cli {

namespace {

std::string hex(uint64_t x) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(x));
  return buf;
}

std::string id_text(node_id id) {
  return id == no_node ? "-" : std::to_string(id);
}

std::string ids_json(const std::vector<node_id>& ids) {
  std::string out = "[";
  for (auto id : ids)
    out += (out.size() > 1 ? "," : "") + std::to_string(id);
  return out + "]";
}

/// Columns padded to the widest cell.
std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i)
        width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

/// "learner" for a node its own configuration lists as one, else its role.
std::string role_text(const node_status& s) {
  if (s.role == raft_role::follower
      && std::find(s.learners.begin(), s.learners.end(), s.id) != s.learners.end())
    return "learner";
  return to_string(s.role);
}

/// In id order, like the text (a node lists its bootstrap configuration
/// self first).
std::string members_json(std::vector<member> ms) {
  std::sort(ms.begin(), ms.end(), [](const member& a, const member& b) { return a.id < b.id; });
  std::string out = "[";
  for (const auto& m : ms)
    out += (out.size() > 1 ? "," : "") + ("{\"id\":" + std::to_string(m.id)
                                          + ",\"address\":" + json_string(m.address) + "}");
  return out + "]";
}

std::string config_json(const membership& c) {
  return "{\"voters\":" + members_json(c.voters) + ",\"learners\":" + members_json(c.learners)
         + "}";
}

std::string leader_fields(const health_report& h) {
  return "\"leader\":" + (h.leader == no_node ? std::string{"null"} : std::to_string(h.leader))
         + ",\"term\":" + std::to_string(h.term) + ",\"health\":"
         + json_string(to_string(h.health)) + ",\"summary\":" + json_string(h.summary);
}

} // namespace

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20 || u == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", u);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string status_table(const std::vector<node_report>& reports, const health_report& health) {
  std::vector<std::vector<std::string>> rows{{"ID", "ADDRESS", "ROLE", "TERM", "LEADER",
                                              "COMMIT", "APPLIED", "SNAPSHOT", "KEYS",
                                              "CONNECTED", "LAST CONTACT (ms)"}};
  for (const auto& r : reports) {
    if (!r.reachable) {
      rows.push_back({id_text(r.id), r.address, "DOWN", "-", "-", "-", "-", "-", "-", "-",
                      r.error.empty() ? "-" : r.error});
      continue;
    }
    const auto& s = r.status;
    std::string connected;
    std::string contact;
    std::size_t up = 0;
    for (const auto& p : s.peers) {
      if (p.connected) {
        ++up;
        connected += (connected.empty() ? "" : ",") + std::to_string(p.id);
      }
      contact += (contact.empty() ? "" : " ") + std::to_string(p.id) + ":"
                 + (p.last_contact_ms < 0 ? std::string{"never"}
                                          : std::to_string(p.last_contact_ms));
    }
    rows.push_back({id_text(s.id), r.address, role_text(s), std::to_string(s.term),
                    id_text(s.leader), std::to_string(s.commit_index),
                    std::to_string(s.applied_index), std::to_string(s.snapshot_index),
                    std::to_string(s.keys),
                    std::to_string(up) + "/" + std::to_string(s.peers.size())
                      + (connected.empty() ? "" : " (" + connected + ")"),
                    contact.empty() ? "-" : contact});
  }
  std::string config_line;
  if (auto c = reported_configuration(reports))
    config_line = "configuration: " + describe_config(c->config) + " (index "
                  + std::to_string(c->config_index)
                  + (c->committed ? "" : ", not committed yet") + ")\n";
  return table(rows) + config_line + health.summary + "\n";
}

std::string status_json(const std::vector<node_report>& reports, const health_report& health) {
  std::string out = "{" + leader_fields(health) + ",\"voters\":" + ids_json(health.voters)
                    + ",\"learners\":" + ids_json(health.learners)
                    + ",\"config_index\":" + std::to_string(health.config_index);
  if (auto c = reported_configuration(reports))
    out += ",\"config\":" + config_json(c->config)
           + ",\"config_committed\":" + (c->committed ? "true" : "false");
  out += ",\"nodes\":[";
  bool first = true;
  for (const auto& r : reports) {
    out += first ? "" : ",";
    first = false;
    out += "{\"id\":" + (r.id == no_node ? std::string{"null"} : std::to_string(r.id))
           + ",\"address\":" + json_string(r.address)
           + ",\"reachable\":" + (r.reachable ? "true" : "false");
    if (!r.reachable) {
      out += ",\"error\":" + json_string(r.error) + "}";
      continue;
    }
    const auto& s = r.status;
    out += ",\"role\":" + json_string(role_text(s)) + ",\"term\":" + std::to_string(s.term)
           + ",\"leader\":" + (s.leader == no_node ? std::string{"null"} : std::to_string(s.leader))
           + ",\"last_index\":" + std::to_string(s.last_index)
           + ",\"commit_index\":" + std::to_string(s.commit_index)
           + ",\"applied_index\":" + std::to_string(s.applied_index)
           + ",\"keys\":" + std::to_string(s.keys)
           + ",\"state_digest\":" + json_string(hex(s.state_digest))
           + ",\"snapshot_index\":" + std::to_string(s.snapshot_index)
           + ",\"first_index\":" + std::to_string(s.first_index)
           + ",\"voters\":" + ids_json(s.voters) + ",\"learners\":" + ids_json(s.learners)
           + ",\"config_index\":" + std::to_string(s.config_index)
           + ",\"config\":" + config_json(s.config) + ",\"peers\":[";
    bool pf = true;
    for (const auto& p : s.peers) {
      out += pf ? "" : ",";
      pf = false;
      out += "{\"id\":" + std::to_string(p.id) + ",\"address\":" + json_string(p.address)
             + ",\"connected\":" + (p.connected ? "true" : "false")
             + ",\"last_contact_ms\":"
             + (p.last_contact_ms < 0 ? std::string{"null"} : std::to_string(p.last_contact_ms))
             + "}";
    }
    out += "]}";
  }
  return out + "]}";
}

std::string leader_json(const health_report& health) {
  return "{" + leader_fields(health) + "}";
}

std::string reply_text(const std::string& command, const client_reply& r) {
  switch (r.status) {
    case reply_status::ok: return command == "get" ? r.value : "ok";
    case reply_status::not_found: return "(not found)";
    case reply_status::cas_failed: return "cas failed: the key holds " + r.value;
    case reply_status::unknown:
      return "unknown: the outcome cannot be known (it may still be applied)"
             + (r.message.empty() ? "" : ": " + r.message);
    default:
      return std::string{to_string(r.status)} + (r.message.empty() ? "" : ": " + r.message);
  }
}

std::string reply_json(const std::string& command, const std::string& key, const client_reply& r) {
  std::string out = "{\"command\":" + json_string(command) + ",\"key\":" + json_string(key)
                    + ",\"status\":" + json_string(to_string(r.status));
  if (r.status == reply_status::ok && command == "get")
    out += ",\"value\":" + json_string(r.value);
  else if (r.status == reply_status::cas_failed)
    out += ",\"current\":" + json_string(r.value);
  // Where to retry: only for answers without an outcome (a node names its
  // leader in every answer, which says nothing new after a success).
  bool no_outcome = r.status == reply_status::not_leader || r.status == reply_status::unavailable
                    || r.status == reply_status::unknown;
  if (no_outcome && r.leader_hint != no_node)
    out += ",\"leader_hint\":" + std::to_string(r.leader_hint);
  if (!r.message.empty())
    out += ",\"message\":" + json_string(r.message);
  return out + "}";
}

std::string result_json(const std::string& command, bool ok, const std::string& message) {
  std::string out = "{\"command\":" + json_string(command) + ",\"ok\":" + (ok ? "true" : "false");
  if (!message.empty())
    out += ",\"message\":" + json_string(message);
  return out + "}";
}

std::string result_json(const std::string& command, bool ok, const std::string& message,
                        const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out = "{\"command\":" + json_string(command) + ",\"ok\":" + (ok ? "true" : "false");
  for (const auto& [name, value] : fields)
    out += "," + json_string(name) + ":" + value;
  if (!message.empty())
    out += ",\"message\":" + json_string(message);
  return out + "}";
}

std::string error_json(const std::string& error, const std::string& usage) {
  std::string out = "{\"error\":" + json_string(error);
  if (!usage.empty())
    out += ",\"usage\":" + json_string(usage);
  return out + "}";
}

} // namespace raft::cli
