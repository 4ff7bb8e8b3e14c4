#include "actors/manager/cluster_health.hpp"

#include <algorithm>
#include <set>

namespace raft {

namespace {

std::string join(const std::vector<node_id>& ids) {
  std::string out;
  for (auto id : ids)
    out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

bool contains(const std::vector<node_id>& ids, node_id id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

} // namespace

const char* to_string(cluster_health h) {
  switch (h) {
    case cluster_health::healthy: return "healthy";
    case cluster_health::degraded: return "degraded";
    case cluster_health::unhealthy: return "unhealthy";
  }
  return "invalid";
}

health_report evaluate_health(const std::vector<node_report>& reports) {
  health_report out;
  // The candidate: the highest-term node that says it leads.
  const node_status* lead = nullptr;
  for (const auto& r : reports)
    if (r.reachable && r.status.role == raft_role::leader
        && (lead == nullptr || r.status.term > lead->term))
      lead = &r.status;
  // Whose configuration counts: the leader's, else the newest reported.
  const node_status* conf = lead != nullptr && !lead->voters.empty() ? lead : nullptr;
  if (conf == nullptr)
    for (const auto& r : reports)
      if (r.reachable && !r.status.voters.empty()
          && (conf == nullptr || r.status.config_index > conf->config_index))
        conf = &r.status;
  if (conf != nullptr) {
    out.voters = conf->voters;
    out.learners = conf->learners;
    out.config_index = conf->config_index;
  } else {
    for (const auto& r : reports)
      if (r.reachable && r.status.id != no_node && !contains(out.voters, r.status.id))
        out.voters.push_back(r.status.id);
  }
  std::sort(out.voters.begin(), out.voters.end());
  std::sort(out.learners.begin(), out.learners.end());
  std::set<node_id> answered;
  for (const auto& r : reports) {
    if (!r.reachable) {
      out.unreachable.push_back(r.address);
      if (r.id != no_node)
        out.down.push_back(r.id);
      continue;
    }
    answered.insert(r.status.id);
    bool follows = lead != nullptr && r.status.term == lead->term
                   && (r.status.leader == lead->id || r.status.id == lead->id);
    if (follows && contains(out.voters, r.status.id))
      out.following.push_back(r.status.id);
    else if (!follows)
      out.astray.push_back(r.status.id);
  }
  for (auto v : out.voters)
    if (!answered.contains(v) && !contains(out.down, v))
      out.down.push_back(v);
  std::sort(out.down.begin(), out.down.end());
  std::sort(out.astray.begin(), out.astray.end());
  std::sort(out.following.begin(), out.following.end());
  auto majority = out.voters.size() / 2 + 1;
  if (lead == nullptr || out.voters.empty() || out.following.size() < majority) {
    out.health = cluster_health::unhealthy;
    out.summary = "unhealthy: no leader followed by a majority of the voters";
    if (lead != nullptr)
      out.summary += " (node " + std::to_string(lead->id) + " leads term "
                     + std::to_string(lead->term) + " but only "
                     + std::to_string(out.following.size()) + " of "
                     + std::to_string(out.voters.size()) + " voters follow it)";
  } else {
    out.leader = lead->id;
    out.term = lead->term;
    out.health = out.down.empty() && out.astray.empty() && out.unreachable.empty()
                   ? cluster_health::healthy
                                                        : cluster_health::degraded;
    out.summary = std::string{to_string(out.health)} + ": leader " + std::to_string(out.leader)
                  + " (term " + std::to_string(out.term) + "), "
                  + std::to_string(out.following.size()) + " of "
                  + std::to_string(out.voters.size()) + " voters follow it";
  }
  if (!out.down.empty())
    out.summary += "; down or unreachable: " + join(out.down);
  else if (!out.unreachable.empty())
    out.summary += "; unreachable: " + std::to_string(out.unreachable.size()) + " node(s)";
  if (!out.astray.empty())
    out.summary += "; not following the leader: " + join(out.astray);
  return out;
}

std::optional<reported_config> reported_configuration(const std::vector<node_report>& reports) {
  const node_status* lead = nullptr;
  const node_status* newest = nullptr;
  for (const auto& r : reports) {
    if (!r.reachable)
      continue;
    if (r.status.role == raft_role::leader && (lead == nullptr || r.status.term > lead->term))
      lead = &r.status;
    if (newest == nullptr || r.status.config_index > newest->config_index)
      newest = &r.status;
  }
  const auto* s = lead != nullptr ? lead : newest;
  if (s == nullptr)
    return std::nullopt;
  reported_config out;
  out.config = s->config;
  if (out.config.voters.empty() && out.config.learners.empty()) {
    for (auto id : s->voters)
      out.config.voters.push_back(member{id, {}});
    for (auto id : s->learners)
      out.config.learners.push_back(member{id, {}});
  }
  out.config_index = s->config_index;
  out.from = s->id;
  out.committed = s->commit_index >= s->config_index;
  return out;
}

namespace {

bool listed(const std::vector<member>& ms, node_id id) {
  return std::any_of(ms.begin(), ms.end(), [id](const member& m) { return m.id == id; });
}

/// In id order (nodes list their bootstrap configuration self first).
std::string members_text(std::vector<member> ms) {
  std::sort(ms.begin(), ms.end(), [](const member& a, const member& b) { return a.id < b.id; });
  std::string out;
  for (const auto& m : ms)
    out += (out.empty() ? "" : ",") + std::to_string(m.id)
           + (m.address.empty() ? "" : "=" + m.address);
  return out;
}

} // namespace

bool has_voter(const membership& c, node_id id) {
  return listed(c.voters, id);
}

bool has_learner(const membership& c, node_id id) {
  return listed(c.learners, id);
}

std::string describe_config(const membership& c) {
  auto out = "voters " + (c.voters.empty() ? std::string{"-"} : members_text(c.voters));
  if (!c.learners.empty())
    out += " learners " + members_text(c.learners);
  return out;
}

bool converged(const std::vector<node_report>& reports) {
  if (reports.empty() || evaluate_health(reports).health != cluster_health::healthy)
    return false;
  const auto& first = reports.front().status;
  for (const auto& r : reports)
    if (r.status.commit_index != first.commit_index
        || r.status.applied_index != first.applied_index
        || r.status.state_digest != first.state_digest)
      return false;
  return true;
}

} // namespace raft
