#include "app/cluster_cli/command_line.hpp"

#include <charconv>
#include <cstdint>
#include <limits>
#include <set>

namespace raft::cli {

split_result split_words(const std::string& line) {
  split_result r;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote == '\'') {
      if (c == '\'')
        quote = 0;
      else
        word += c;
      continue;
    }
    if (c == '\\' && quote != '\'') {
      if (i + 1 >= line.size()) {
        r.error = "a backslash at the end of the line escapes nothing";
        return r;
      }
      word += line[++i];
      in_word = true;
      continue;
    }
    if (quote == '"') {
      if (c == '"')
        quote = 0;
      else
        word += c;
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (in_word)
        r.words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    word += c;
    in_word = true;
  }
  if (quote != 0) {
    r.error = std::string{"unterminated "} + (quote == '"' ? "double" : "single") + " quote";
    r.words.clear();
    return r;
  }
  if (in_word)
    r.words.push_back(std::move(word));
  return r;
}

const std::vector<command_spec>& commands() {
  static const std::vector<command_spec> table{
    {"init", "N [DIR]", "launch a local cluster of N raft-node processes (data in DIR, or a "
                        "temporary directory removed by stop)", 1, 2, false},
    {"connect", "HOST:PORT[,HOST:PORT...]", "manage a running cluster by its nodes' addresses",
     1, 1, false},
    {"status", "", "a table of every node (role, term, leader, indexes, peers), the "
                   "configuration (voters, learners) and the health", 0, 0, true},
    {"leader", "", "the leader a majority follows, and the cluster's health", 0, 0, true},
    {"put", "KEY VALUE", "set KEY to VALUE (quote values with blanks)", 2, 2, true},
    {"get", "KEY", "read KEY (linearizable)", 1, 1, true},
    {"del", "KEY", "remove KEY", 1, 1, true},
    {"cas", "KEY EXPECTED VALUE", "set KEY to VALUE if it holds EXPECTED", 3, 3, true},
    {"add", "ID [HOST:PORT]", "add node ID: in a launched cluster start a raft-node that joins "
                              "(at HOST:PORT if given); in a connected one ask the cluster to "
                              "admit the node at HOST:PORT (required)", 1, 2, true},
    {"remove", "ID", "remove node ID from the configuration (a leader hands over first); a "
                     "launched node's process is then stopped", 1, 1, true},
    {"transfer", "[ID]", "hand leadership to node ID (without ID: to the most up-to-date voter)",
     0, 1, true},
    {"snapshot", "ID", "node ID writes a snapshot of its state now and compacts its log", 1, 1,
     true},
    {"partition", "GROUP GROUP...", "cut the cluster into groups of ids, e.g. partition 1,2 "
                                    "3,4,5 (unnamed nodes form one more group)", 1,
     std::numeric_limits<std::size_t>::max(), true},
    {"heal", "", "end every partition", 0, 0, true},
    {"kill", "ID", "kill -9 a node's process (supervision restarts it)", 1, 1, false},
    {"stop", "", "stop a launched cluster (or detach from a connected one)", 0, 0, false},
    {"help", "[COMMAND]", "this list, or one command's usage", 0, 1, true},
    {"quit", "", "leave (stops a launched cluster)", 0, 0, false},
  };
  return table;
}

const command_spec* find_command(const std::string& name) {
  auto n = name == "exit" ? std::string{"quit"} : name == "?" ? std::string{"help"} : name;
  for (const auto& c : commands())
    if (n == c.name)
      return &c;
  return nullptr;
}

std::string usage(const command_spec& c) {
  std::string u = std::string{"usage: "} + c.name;
  if (*c.args != '\0')
    u += std::string{" "} + c.args;
  return u + "  -- " + c.summary;
}

std::string help_text() {
  std::string out = "commands:\n";
  for (const auto& c : commands()) {
    std::string head = std::string{"  "} + c.name;
    if (*c.args != '\0')
      head += std::string{" "} + c.args;
    if (head.size() < 34)
      head.resize(34, ' ');
    else
      head += "  ";
    out += head + c.summary + "\n";
  }
  return out;
}

std::optional<node_id> parse_id(const std::string& s) {
  uint64_t x = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || x == 0
      || x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return std::nullopt;
  return x;
}

std::optional<std::size_t> parse_count(const std::string& s) {
  auto x = parse_id(s);
  if (!x || *x > max_cluster_size)
    return std::nullopt;
  return static_cast<std::size_t>(*x);
}

std::optional<std::vector<node_id>> parse_group(const std::string& s, std::string& error) {
  std::vector<node_id> ids;
  std::set<node_id> seen;
  std::size_t start = 0;
  for (;;) {
    auto comma = s.find(',', start);
    auto part = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto id = parse_id(part);
    if (!id) {
      error = "'" + s + "' is not a group of node ids like 1,2,3 ('" + part
              + "' is not an id)";
      return std::nullopt;
    }
    if (!seen.insert(*id).second) {
      error = "node " + part + " appears twice in '" + s + "'";
      return std::nullopt;
    }
    ids.push_back(*id);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return ids;
}

std::optional<std::vector<std::string>> parse_addresses(const std::string& s,
                                                        std::string& error) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto comma = s.find(',', start);
    auto part = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto colon = part.rfind(':');
    bool ok = colon != std::string::npos && colon > 0 && colon + 1 < part.size();
    if (ok) {
      uint64_t port = 0;
      auto p = part.substr(colon + 1);
      auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
      ok = ec == std::errc{} && end == p.data() + p.size() && port > 0 && port <= 65535;
    }
    if (!ok) {
      error = "'" + part + "' is not an address like 127.0.0.1:7001";
      return std::nullopt;
    }
    out.push_back(part);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return out;
}

std::string check_arity(const command_spec& c, const std::vector<std::string>& words) {
  auto n = words.empty() ? 0 : words.size() - 1;
  if (n >= c.min_args && n <= c.max_args)
    return {};
  auto plural = [](std::size_t k) { return k == 1 ? " argument" : " arguments"; };
  std::string expected;
  if (c.min_args == c.max_args)
    expected = std::to_string(c.min_args) + plural(c.min_args);
  else if (c.max_args == std::numeric_limits<std::size_t>::max())
    expected = "at least " + std::to_string(c.min_args) + plural(c.min_args);
  else
    expected = std::to_string(c.min_args) + " to " + std::to_string(c.max_args) + " arguments";
  return std::string{c.name} + " takes " + expected + ", got " + std::to_string(n);
}

} // namespace raft::cli
