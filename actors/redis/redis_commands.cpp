#include "actors/redis/redis_commands.hpp"

#include "actors/redis/resp.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

namespace raft::redis {

namespace {

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

action reply_now(std::string bytes) {
  action a;
  a.reply = std::move(bytes);
  return a;
}

action error(std::string_view text) {
  std::string out;
  append_error(out, text);
  return reply_now(std::move(out));
}

action simple(std::string_view text) {
  std::string out;
  append_simple(out, text);
  return reply_now(std::move(out));
}

action ok() { return simple("OK"); }

action integer(int64_t n) {
  std::string out;
  append_integer(out, n);
  return reply_now(std::move(out));
}

action bulk(std::string_view data) {
  std::string out;
  append_bulk(out, data);
  return reply_now(std::move(out));
}

action null_bulk() {
  std::string out;
  append_null_bulk(out);
  return reply_now(std::move(out));
}

action empty_array() {
  std::string out;
  append_array_header(out, 0);
  return reply_now(std::move(out));
}

action wrong_arity(std::string_view name) {
  return error("ERR wrong number of arguments for '" + lower(name) + "' command");
}

action not_an_integer() { return error("ERR value is not an integer or out of range"); }

action syntax_error() { return error("ERR syntax error"); }

action to_node(kv_command cmd, reply_shape shape, const session& s) {
  action a;
  a.what = action::kind::node;
  if (is_read(cmd.op) && s.readonly)
    cmd.local_read = 1;
  a.cmd = std::move(cmd);
  a.shape = shape;
  return a;
}

kv_command make(kv_op op, std::string key = {}, std::string value = {}) {
  kv_command c;
  c.op = op;
  c.key = std::move(key);
  c.value = std::move(value);
  return c;
}

kv_command make_multi(kv_op op, const std::vector<std::string>& args) {
  kv_command c;
  c.op = op;
  c.args.assign(args.begin() + 1, args.end());
  return c;
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell how much of a guessed password was right.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

/// AUTH's check: `user` (empty: AUTH with a password alone) must be
/// "default", the only user, then the password. `accepted` says whether it
/// passed (the session may have been authenticated before: a failed AUTH
/// does not undo that, as in Redis).
action authenticate(std::string_view user, std::string_view password, session& s,
                    const command_settings& settings, bool& accepted) {
  accepted = false;
  if (settings.password.empty()) {
    // Redis: the default user has no password, so any password passes when
    // the user is named; AUTH with a password alone is an error.
    if (user == "default") {
      accepted = true;
      return ok();
    }
    return error("ERR AUTH <password> called without any password configured for the "
                 "default user. Are you sure your configuration is correct?");
  }
  if ((user != "default" && !user.empty()) || !same_secret(password, settings.password))
    return error("WRONGPASS invalid username-password pair or user is disabled.");
  s.authenticated = true;
  accepted = true;
  return ok();
}

bool valid_client_name(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c <= '~'; });
}

action hello(const std::vector<std::string>& args, session& s,
             const command_settings& settings) {
  std::size_t i = 1;
  if (args.size() > 1) {
    int64_t version = 0;
    if (!parse_int64(args[1], version))
      return error("ERR Protocol version is not an integer or out of range");
    if (version != 2)
      return error("NOPROTO unsupported protocol version");
    i = 2;
  }
  std::string name;
  bool set_name = false;
  bool authenticating = false;
  for (; i < args.size(); ++i) {
    auto opt = lower(args[i]);
    if (opt == "auth" && i + 2 < args.size()) {
      bool accepted = false;
      auto r = authenticate(args[i + 1], args[i + 2], s, settings, accepted);
      if (!accepted)
        return r;
      authenticating = true;
      i += 2;
    } else if (opt == "setname" && i + 1 < args.size()) {
      name = args[++i];
      set_name = true;
    } else {
      return error("ERR Syntax error in HELLO option '" + args[i] + "'");
    }
  }
  if (!authenticating && !settings.password.empty() && !s.authenticated)
    return error("NOAUTH HELLO must be called with the client already authenticated, "
                 "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                 "authenticate the client and select the RESP protocol version at the same "
                 "time");
  if (set_name) {
    if (!valid_client_name(name))
      return error("ERR Client names cannot contain spaces, newlines or special characters.");
    s.name = name;
  }
  std::string out;
  append_array_header(out, 14);
  append_bulk(out, "server");
  append_bulk(out, "redis");
  append_bulk(out, "version");
  append_bulk(out, "7.0.0");
  append_bulk(out, "proto");
  append_integer(out, 2);
  append_bulk(out, "id");
  append_integer(out, static_cast<int64_t>(s.client_id));
  append_bulk(out, "mode");
  append_bulk(out, "standalone");
  append_bulk(out, "role");
  append_bulk(out, "master");
  append_bulk(out, "modules");
  append_array_header(out, 0);
  return reply_now(std::move(out));
}

action client(const std::vector<std::string>& args, session& s) {
  auto sub = lower(args[1]);
  if (sub == "setname" && args.size() == 3) {
    if (!valid_client_name(args[2]))
      return error("ERR Client names cannot contain spaces, newlines or special characters.");
    s.name = args[2];
    return ok();
  }
  if (sub == "getname" && args.size() == 2)
    return s.name.empty() ? null_bulk() : bulk(s.name);
  if (sub == "id" && args.size() == 2)
    return integer(static_cast<int64_t>(s.client_id));
  if (sub == "setinfo" && args.size() == 4) {
    auto attr = lower(args[2]);
    if (attr != "lib-name" && attr != "lib-ver")
      return error("ERR Unrecognized option '" + args[2] + "'");
    return ok();
  }
  if (sub == "info" && args.size() == 2)
    return bulk("id=" + std::to_string(s.client_id) + " name=" + s.name + " db=0\n");
  return error("ERR unknown subcommand or wrong number of arguments for '" + args[1]
               + "'. Try CLIENT HELP.");
}

action command_cmd(const std::vector<std::string>& args) {
  if (args.size() == 1)
    return empty_array(); // no command table: clients fall back to plain commands
  auto sub = lower(args[1]);
  if (sub == "docs" || sub == "info")
    return empty_array();
  if (sub == "count" && args.size() == 2)
    return integer(0);
  return error("ERR unknown subcommand or wrong number of arguments for '" + args[1]
               + "'. Try COMMAND HELP.");
}

action config(const std::vector<std::string>& args) {
  auto sub = lower(args[1]);
  if (sub != "get" || args.size() < 3)
    return error("ERR CONFIG " + args[1]
                 + " is not supported: configure raft-node instead (raft-node --help)");
  // What tools ask to understand the server (redis-benchmark reads these):
  // every write is fsynced to a majority's logs, which is what "appendonly
  // yes" (with appendfsync always) means to them.
  std::vector<std::pair<std::string, std::string>> found;
  for (std::size_t i = 2; i < args.size(); ++i) {
    auto name = lower(args[i]);
    if (name == "save")
      found.emplace_back("save", "");
    else if (name == "appendonly")
      found.emplace_back("appendonly", "yes");
    else if (name == "appendfsync")
      found.emplace_back("appendfsync", "always");
    else if (name == "databases")
      found.emplace_back("databases", "1");
  }
  std::string out;
  append_array_header(out, found.size() * 2);
  for (const auto& [k, v] : found) {
    append_bulk(out, k);
    append_bulk(out, v);
  }
  return reply_now(std::move(out));
}

action set(const std::vector<std::string>& args, const session& s) {
  auto cmd = make(kv_op::set, args[1], args[2]);
  for (std::size_t i = 3; i < args.size(); ++i) {
    auto opt = lower(args[i]);
    if (opt == "nx" && (cmd.flags & set_if_present) == 0)
      cmd.flags |= set_if_absent;
    else if (opt == "xx" && (cmd.flags & set_if_absent) == 0)
      cmd.flags |= set_if_present;
    else if (opt == "get")
      cmd.flags |= set_return_old;
    else if (opt == "keepttl")
      ; // no key expires here, so every TTL is kept
    else if (opt == "ex" || opt == "px" || opt == "exat" || opt == "pxat")
      return error("ERR expiring keys are not supported (" + args[i] + ")");
    else
      return syntax_error();
  }
  auto shape = (cmd.flags & set_return_old) != 0 ? reply_shape::set_get
                                                 : reply_shape::set_result;
  return to_node(std::move(cmd), shape, s);
}

action incr(const std::vector<std::string>& args, const session& s, int64_t sign,
            bool with_delta) {
  int64_t delta = 1;
  if (with_delta && !parse_int64(args[2], delta))
    return not_an_integer();
  if (sign < 0) {
    if (delta == std::numeric_limits<int64_t>::min())
      return error("ERR decrement would overflow");
    delta = -delta;
  }
  return to_node(make(kv_op::incr_by, args[1], std::to_string(delta)), reply_shape::integer,
                 s);
}

/// Arity as Redis's command table gives it: n exactly, or -n at least n.
struct command_spec {
  std::string_view name;
  int arity;
  bool needs_auth;
};

constexpr command_spec specs[] = {
  {"ping", -1, false},    {"echo", 2, true},      {"get", 2, true},
  {"set", -3, true},      {"del", -2, true},      {"exists", -2, true},
  {"incr", 2, true},      {"decr", 2, true},      {"incrby", 3, true},
  {"decrby", 3, true},    {"mget", -2, true},     {"mset", -3, true},
  {"cas", 4, true},       {"dbsize", 1, true},    {"info", -1, true},
  {"auth", -2, false},    {"select", 2, true},    {"quit", -1, false},
  {"hello", -1, false},   {"client", -2, true},   {"command", -1, true},
  {"readonly", 1, true},  {"readwrite", 1, true}, {"config", -2, true},
};

const command_spec* find_spec(std::string_view name) {
  for (const auto& s : specs)
    if (s.name == name)
      return &s;
  return nullptr;
}

} // namespace

bool parse_int64(std::string_view text, int64_t& out) {
  if (text.empty() || text.size() > 20)
    return false;
  if (text.size() > 1 && (text[0] == '0' || (text[0] == '-' && text[1] == '0')))
    return false;
  if (text == "-")
    return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

action interpret(const std::vector<std::string>& args, session& s,
                 const command_settings& settings) {
  if (args.empty())
    return error("ERR empty command");
  auto name = lower(args[0]);
  const auto* spec = find_spec(name);
  if (spec == nullptr) {
    std::string text = "ERR unknown command '" + args[0].substr(0, 128)
                       + "', with args beginning with: ";
    for (std::size_t i = 1; i < args.size() && text.size() < 512; ++i)
      text += "'" + args[i].substr(0, 128) + "' ";
    return error(text);
  }
  auto n = static_cast<int>(std::min<std::size_t>(args.size(), 1 << 30));
  if ((spec->arity > 0 && n != spec->arity) || (spec->arity < 0 && n < -spec->arity))
    return wrong_arity(args[0]);
  if (spec->needs_auth && !settings.password.empty() && !s.authenticated)
    return error("NOAUTH Authentication required.");

  if (name == "ping") {
    if (n > 2)
      return wrong_arity(args[0]);
    return n == 2 ? bulk(args[1]) : simple("PONG");
  }
  if (name == "echo")
    return bulk(args[1]);
  if (name == "quit") {
    auto a = ok();
    a.close_after = true;
    return a;
  }
  if (name == "auth") {
    if (n > 3)
      return syntax_error();
    bool accepted = false;
    return n == 2 ? authenticate({}, args[1], s, settings, accepted)
                  : authenticate(args[1], args[2], s, settings, accepted);
  }
  if (name == "hello")
    return hello(args, s, settings);
  if (name == "select") {
    int64_t db = 0;
    if (!parse_int64(args[1], db))
      return not_an_integer();
    return db == 0 ? ok() : error("ERR DB index is out of range");
  }
  if (name == "client")
    return client(args, s);
  if (name == "command")
    return command_cmd(args);
  if (name == "config")
    return config(args);
  if (name == "readonly" || name == "readwrite") {
    s.readonly = name == "readonly";
    return ok();
  }
  if (name == "info") {
    // Several sections may be named (Redis 7); they travel space-separated.
    action a;
    a.what = action::kind::info;
    for (std::size_t i = 1; i < args.size(); ++i)
      a.section += (i > 1 ? " " : "") + lower(args[i]);
    return a;
  }
  if (name == "get")
    return to_node(make(kv_op::get, args[1]), reply_shape::bulk, s);
  if (name == "set")
    return set(args, s);
  if (name == "del")
    return to_node(make_multi(kv_op::del_keys, args), reply_shape::integer, s);
  if (name == "exists")
    return to_node(make_multi(kv_op::exists, args), reply_shape::integer, s);
  if (name == "incr" || name == "decr")
    return incr(args, s, name == "incr" ? 1 : -1, false);
  if (name == "incrby" || name == "decrby")
    return incr(args, s, name == "incrby" ? 1 : -1, true);
  if (name == "mget")
    return to_node(make_multi(kv_op::mget, args), reply_shape::array, s);
  if (name == "mset") {
    if (n % 2 != 1)
      return wrong_arity(args[0]);
    return to_node(make_multi(kv_op::mset, args), reply_shape::ok, s);
  }
  if (name == "cas") {
    auto cmd = make(kv_op::cas, args[1], args[3]);
    cmd.expected = args[2];
    return to_node(std::move(cmd), reply_shape::cas, s);
  }
  // dbsize: the only one left in the table.
  return to_node(make(kv_op::dbsize), reply_shape::integer, s);
}

std::string render(reply_shape shape, const client_reply& r) {
  std::string out;
  auto with_message = [&](std::string text, std::string_view tail) {
    if (!r.message.empty())
      text += ": " + r.message;
    text += tail;
    append_error(out, text);
    return out;
  };
  switch (r.status) {
    case reply_status::not_leader:
      return with_message("NOLEADER no leader is reachable from this node",
                          " (an election may be in progress, or this node is cut off); "
                          "nothing was applied");
    case reply_status::unavailable:
      return with_message("TRYAGAIN the node cannot serve now", "; nothing was applied");
    case reply_status::no_quorum:
      return with_message("NOQUORUM the leader cannot reach a majority",
                          "; nothing was applied");
    case reply_status::unknown:
      return with_message("UNKNOWN the outcome is unknown",
                          "; the command may or may not have been applied");
    case reply_status::bad_request:
      append_error(out, "ERR " + (r.message.empty() ? std::string{"bad request"} : r.message));
      return out;
    case reply_status::ok:
    case reply_status::not_found:
    case reply_status::cas_failed:
      break;
  }
  bool found = r.status == reply_status::ok;
  switch (shape) {
    case reply_shape::ok:
      append_simple(out, "OK");
      break;
    case reply_shape::bulk:
      if (found)
        append_bulk(out, r.value);
      else
        append_null_bulk(out);
      break;
    case reply_shape::set_result:
      if (found)
        append_simple(out, "OK");
      else
        append_null_bulk(out);
      break;
    case reply_shape::set_get:
      if (r.number != 0)
        append_bulk(out, r.value);
      else
        append_null_bulk(out);
      break;
    case reply_shape::integer:
      append_integer(out, r.number);
      break;
    case reply_shape::cas:
      append_integer(out, found ? 1 : 0);
      break;
    case reply_shape::array:
      append_array_header(out, r.values.size());
      for (std::size_t i = 0; i < r.values.size(); ++i) {
        if (i < r.present.size() && r.present[i] != 0)
          append_bulk(out, r.values[i]);
        else
          append_null_bulk(out);
      }
      break;
  }
  return out;
}

std::string render_no_answer(kv_op op, std::string_view reason) {
  std::string out;
  if (is_read(op))
    append_error(out, "TIMEOUT no answer from the cluster in time (" + std::string{reason}
                        + "); a read, so nothing was applied");
  else
    append_error(out, "UNKNOWN the outcome is unknown: no answer in time ("
                        + std::string{reason} + "); the command may or may not have been applied");
  return out;
}

std::string render_info(std::string_view section, const node_status& st,
                        const command_settings& settings, std::size_t clients) {
  std::vector<std::string> wanted;
  for (std::size_t i = 0; i < section.size();) {
    auto j = section.find(' ', i);
    if (j == std::string_view::npos)
      j = section.size();
    if (j > i)
      wanted.emplace_back(section.substr(i, j - i));
    i = j + 1;
  }
  auto all = wanted.empty()
             || std::any_of(wanted.begin(), wanted.end(), [](const std::string& w) {
                  return w == "all" || w == "default" || w == "everything";
                });
  auto ids = [](const std::vector<node_id>& v) {
    std::string out;
    for (auto id : v)
      out += (out.empty() ? "" : ",") + std::to_string(id);
    return out;
  };
  std::string text;
  auto add = [&](std::string_view name, std::string body) {
    if (!all && std::find(wanted.begin(), wanted.end(), name) == wanted.end())
      return;
    if (!text.empty())
      text += "\r\n";
    text += body;
  };
  add("server", "# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\n"
                "server_name:caf-raft\r\ntcp_port:"
                  + std::to_string(settings.port) + "\r\n");
  add("clients", "# Clients\r\nconnected_clients:" + std::to_string(clients) + "\r\n");
  add("raft", "# Raft\r\nnode_id:" + std::to_string(st.id) + "\r\nrole:"
                + to_string(st.role) + "\r\nterm:" + std::to_string(st.term)
                + "\r\nleader:" + (st.leader == no_node ? "" : std::to_string(st.leader))
                + "\r\ncommit_index:" + std::to_string(st.commit_index)
                + "\r\napplied_index:" + std::to_string(st.applied_index)
                + "\r\nlast_index:" + std::to_string(st.last_index)
                + "\r\nsnapshot_index:" + std::to_string(st.snapshot_index)
                + "\r\nvoters:" + ids(st.voters) + "\r\nlearners:" + ids(st.learners)
                + "\r\n");
  add("keyspace", "# Keyspace\r\n"
                    + (st.keys == 0 ? std::string{}
                                    : "db0:keys=" + std::to_string(st.keys)
                                        + ",expires=0,avg_ttl=0\r\n"));
  std::string out;
  append_bulk(out, text);
  return out;
}

} // namespace raft::redis
