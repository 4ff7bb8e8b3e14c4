#include "actors/node/membership.hpp"

#include <algorithm>
#include <set>

namespace raft {

namespace {

constexpr uint8_t membership_version = 1;

bool contains(const std::vector<member>& ms, node_id id) {
  return std::any_of(ms.begin(), ms.end(), [id](const member& x) { return x.id == id; });
}

void put_u64(std::string& out, uint64_t x) {
  for (int k = 0; k < 8; ++k)
    out.push_back(static_cast<char>((x >> (8 * k)) & 0xff));
}

void put_members(std::string& out, const std::vector<member>& ms) {
  put_u64(out, ms.size());
  for (const auto& x : ms) {
    put_u64(out, x.id);
    put_u64(out, x.address.size());
    out += x.address;
  }
}

struct reader {
  const std::string& in;
  std::size_t pos = 0;

  bool u64(uint64_t& x) {
    if (in.size() - pos < 8)
      return false;
    x = 0;
    for (int k = 0; k < 8; ++k)
      x |= uint64_t{static_cast<unsigned char>(in[pos + k])} << (8 * k);
    pos += 8;
    return true;
  }

  bool members(std::vector<member>& ms) {
    uint64_t n = 0;
    if (!u64(n) || n > (in.size() - pos) / 16)
      return false;
    for (uint64_t k = 0; k < n; ++k) {
      member x;
      uint64_t len = 0;
      if (!u64(x.id) || !u64(len) || len > in.size() - pos)
        return false;
      x.address = in.substr(pos, len);
      pos += len;
      ms.push_back(std::move(x));
    }
    return true;
  }
};

} // namespace

bool is_voter(const membership& m, node_id id) {
  return contains(m.voters, id);
}

bool is_learner(const membership& m, node_id id) {
  return contains(m.learners, id);
}

const member* find_member(const membership& m, node_id id) {
  for (const auto* list : {&m.voters, &m.learners})
    for (const auto& x : *list)
      if (x.id == id)
        return &x;
  return nullptr;
}

std::vector<node_id> voter_ids(const membership& m) {
  std::vector<node_id> out;
  for (const auto& x : m.voters)
    out.push_back(x.id);
  return out;
}

std::vector<node_id> learner_ids(const membership& m) {
  std::vector<node_id> out;
  for (const auto& x : m.learners)
    out.push_back(x.id);
  return out;
}

std::optional<std::string> apply_change(membership& m, const config_change& c) {
  auto id = std::to_string(c.who.id);
  if (c.who.id == no_node)
    return std::string{"node id 0 is reserved"};
  switch (c.op) {
    case config_change::kind::add_learner:
      if (is_member(m, c.who.id))
        return "node " + id + " is already a member";
      m.learners.push_back(c.who);
      return std::nullopt;
    case config_change::kind::promote: {
      auto i = std::find_if(m.learners.begin(), m.learners.end(),
                            [&](const member& x) { return x.id == c.who.id; });
      if (i == m.learners.end())
        return "node " + id + " is not a learner";
      m.voters.push_back(*i);
      m.learners.erase(i);
      return std::nullopt;
    }
    case config_change::kind::remove: {
      auto match = [&](const member& x) { return x.id == c.who.id; };
      if (auto i = std::find_if(m.learners.begin(), m.learners.end(), match);
          i != m.learners.end()) {
        m.learners.erase(i);
        return std::nullopt;
      }
      auto i = std::find_if(m.voters.begin(), m.voters.end(), match);
      if (i == m.voters.end())
        return "node " + id + " is not a member";
      if (m.voters.size() == 1)
        return "node " + id + " is the last voter; a cluster cannot remove it";
      m.voters.erase(i);
      return std::nullopt;
    }
  }
  return std::string{"unknown change"};
}

std::string encode_membership(const membership& m) {
  std::string out;
  out.push_back(static_cast<char>(membership_version));
  put_members(out, m.voters);
  put_members(out, m.learners);
  return out;
}

std::optional<membership> decode_membership(const std::string& bytes) {
  if (bytes.empty() || static_cast<uint8_t>(bytes[0]) != membership_version)
    return std::nullopt;
  reader r{bytes, 1};
  membership m;
  if (!r.members(m.voters) || !r.members(m.learners) || r.pos != bytes.size())
    return std::nullopt;
  std::set<node_id> seen;
  for (const auto* list : {&m.voters, &m.learners})
    for (const auto& x : *list)
      if (x.id == no_node || !seen.insert(x.id).second)
        return std::nullopt;
  return m;
}

std::string to_string(const membership& m) {
  // Appends piece by piece: g++ 12 at -O3 flags `"," + std::to_string(...)`
  // with a false -Wrestrict.
  std::string out;
  auto list = [&out](const std::vector<member>& ms) {
    bool first = true;
    for (const auto& x : ms) {
      if (!first)
        out.push_back(',');
      out.append(std::to_string(x.id));
      first = false;
    }
  };
  list(m.voters);
  if (!m.learners.empty()) {
    out.append(" learners ");
    list(m.learners);
  }
  return out.empty() ? std::string{"(none)"} : out;
}

} // namespace raft
