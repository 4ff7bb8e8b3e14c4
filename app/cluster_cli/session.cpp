#include "app/cluster_cli/session.hpp"

#include "app/cluster_cli/command_line.hpp"
#include "app/cluster_cli/output.hpp"

#include <algorithm>
#include <chrono>
#include <ostream>

namespace raft::cli {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

namespace {

const command_spec& spec(const char* name) {
  return *find_command(name);
}

std::string join_ids(const std::vector<node_id>& ids) {
  std::string out;
  for (auto id : ids)
    out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

long long ms_since(steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - t).count();
}

/// Checks the form of a command's arguments (before it needs a cluster).
std::string argument_error(const std::string& name, const std::vector<std::string>& w) {
  auto bad_id = [&](const std::string& s) { return "'" + s + "' is not a node id (1 or more)"; };
  std::string error;
  if (name == "init" && !parse_count(w[1]))
    return "N must be a number from 1 to " + std::to_string(max_cluster_size) + ", got '" + w[1]
           + "'";
  if (name == "connect" && !parse_addresses(w[1], error))
    return error;
  if ((name == "add" || name == "remove" || name == "kill" || name == "snapshot"
       || (name == "transfer" && w.size() == 2))
      && !parse_id(w[1]))
    return bad_id(w[1]);
  if (name == "add" && w.size() == 3) {
    auto addrs = parse_addresses(w[2], error);
    if (!addrs)
      return error;
    if (addrs->size() != 1)
      return "one address only";
  }
  if (name == "partition")
    for (std::size_t i = 1; i < w.size(); ++i)
      if (!parse_group(w[i], error))
        return error;
  return {};
}

} // namespace

session::session(std::ostream& out, std::ostream& err, session_options opts)
  : out_(out), err_(err), opts_(std::move(opts)), events_(std::make_shared<event_queue>()) {
  // nop
}

session::~session() {
  if (manager_ && manager_->launched() && !opts_.json)
    out_ << "stopping the cluster ..." << std::endl;
  manager_.reset();
  flush_events();
}

void session::flush_events() {
  std::deque<std::string> lines;
  {
    std::lock_guard<std::mutex> guard{events_->mtx};
    lines.swap(events_->lines);
  }
  for (const auto& line : lines) {
    if (opts_.json)
      out_ << "{\"event\":" << json_string(line) << "}\n";
    else
      out_ << "[supervisor] " << line << "\n";
  }
  out_.flush();
}

int session::usage_error(const std::string& error, const std::string& usage_line) {
  if (opts_.json)
    out_ << error_json(error, usage_line) << std::endl;
  else
    err_ << "error: " << error << "\n" << (usage_line.empty() ? "" : usage_line + "\n")
         << std::flush;
  return exit_usage;
}

int session::failure(const std::string& command, const std::string& message, int code) {
  if (opts_.json)
    out_ << result_json(command, false, message) << std::endl;
  else
    err_ << command << ": " << message << std::endl;
  return code;
}

int session::success(const std::string& command, const std::string& text) {
  if (opts_.json)
    out_ << result_json(command, true, text) << std::endl;
  else
    out_ << text << std::endl;
  return exit_ok;
}

int session::need_cluster(const std::string& command) {
  return failure(command, "no cluster: use 'init N' to launch one or 'connect HOST:PORT' to "
                          "attach to one (or start cluster-cli with --connect)");
}

int session::execute_line(const std::string& line) {
  auto split = split_words(line);
  if (!split.error.empty())
    return usage_error("cannot read the line: " + split.error, "");
  if (split.words.empty())
    return exit_ok;
  return execute(split.words);
}

int session::execute(const std::vector<std::string>& w) {
  const auto* c = find_command(w.at(0));
  if (c == nullptr)
    return usage_error("unknown command '" + w[0] + "'",
                       "type 'help' for the list of commands");
  if (auto why = check_arity(*c, w); !why.empty())
    return usage_error(why, usage(*c));
  if (opts_.one_shot && !c->one_shot)
    return usage_error(std::string{"'"} + c->name
                         + "' is for interactive sessions (run cluster-cli without a command)",
                       usage(*c));
  std::string name = c->name;
  if (auto why = argument_error(name, w); !why.empty())
    return usage_error(name + ": " + why, usage(*c));
  if (name == "help")
    return cmd_help(w);
  if (name == "quit") {
    quit_ = true;
    return exit_ok;
  }
  if (name == "init")
    return cmd_init(w);
  if (name == "connect")
    return cmd_connect(w);
  if (!manager_)
    return need_cluster(name);
  if (name == "status")
    return cmd_status();
  if (name == "leader")
    return cmd_leader();
  if (name == "put" || name == "get" || name == "del" || name == "cas")
    return cmd_kv(w);
  if (name == "add")
    return cmd_add(w);
  if (name == "remove")
    return cmd_remove(w);
  if (name == "transfer")
    return cmd_transfer(w);
  if (name == "snapshot")
    return cmd_snapshot(w);
  if (name == "partition")
    return cmd_partition(w);
  if (name == "heal")
    return cmd_heal();
  if (name == "kill")
    return cmd_kill(w);
  if (name == "stop")
    return cmd_stop();
  return usage_error("command '" + name + "' is not implemented", usage(*c));
}

int session::cmd_help(const std::vector<std::string>& w) {
  if (w.size() == 2) {
    const auto* c = find_command(w[1]);
    if (c == nullptr)
      return usage_error("unknown command '" + w[1] + "'", usage(spec("help")));
    return success("help", usage(*c));
  }
  return success("help", help_text());
}

int session::cmd_init(const std::vector<std::string>& w) {
  if (manager_)
    return failure("init", "a cluster is already managed here: 'stop' it first");
  auto n = parse_count(w[1]);
  if (!n)
    return usage_error("init: N must be a number from 1 to " + std::to_string(max_cluster_size)
                         + ", got '" + w[1] + "'",
                       usage(spec("init")));
  auto cfg = cluster_config::local(*n);
  cfg.client_ports = true; // redis-cli -p PORT works against every node
  if (w.size() == 3)
    cfg.data_dir = w[2];
  cfg.raft_node_binary = opts_.raft_node_binary;
  auto events = events_;
  cfg.supervision.log = [events](const std::string& line) {
    std::lock_guard<std::mutex> guard{events->mtx};
    events->lines.push_back(line);
  };
  auto start = steady_clock::now();
  auto m = std::make_unique<cluster_manager>(std::move(cfg));
  if (auto ok = m->bootstrap(); !ok)
    return failure("init", describe(ok.error()));
  manager_ = std::move(m);
  flush_events();
  auto leader = manager_->wait_for_leader(10s);
  std::string text = "launched " + std::to_string(*n) + " raft-node processes in "
                     + manager_->data_dir() + " (logs: node-<id>.log):";
  for (const auto& nc : manager_->nodes())
    text += " " + std::to_string(nc.id) + "=" + nc.endpoint();
  std::string redis;
  for (const auto& nc : manager_->nodes())
    if (nc.client_port != 0)
      redis += " " + std::to_string(nc.id) + "=" + std::to_string(nc.client_port);
  if (!redis.empty())
    text += "\nRedis ports (redis-cli -p PORT):" + redis;
  text += leader == no_node ? "\nno leader yet after " + std::to_string(ms_since(start)) + " ms"
                            : "\nleader " + std::to_string(leader) + " elected "
                                + std::to_string(ms_since(start)) + " ms after launch";
  return success("init", text);
}

int session::cmd_connect(const std::vector<std::string>& w) {
  std::string error;
  auto addrs = parse_addresses(w[1], error);
  if (!addrs)
    return usage_error("connect: " + error, usage(spec("connect")));
  return connect(*addrs);
}

int session::connect(const std::vector<std::string>& addresses) {
  if (manager_)
    return failure("connect", "a cluster is already managed here: 'stop' it first");
  auto m = std::make_unique<cluster_manager>(cluster_manager::attach(addresses));
  if (auto ok = m->bootstrap(); !ok)
    return failure("connect", describe(ok.error()), exit_unreachable);
  manager_ = std::move(m);
  if (opts_.one_shot)
    return exit_ok;
  std::string text = "connected to " + std::to_string(addresses.size()) + " node(s):";
  for (const auto& nc : manager_->nodes())
    text += " " + (nc.id == no_node ? std::string{"?"} : std::to_string(nc.id)) + "="
            + nc.endpoint();
  return success("connect", text);
}

int session::cmd_status() {
  auto reports = manager_->status();
  auto h = evaluate_health(reports);
  if (opts_.json)
    out_ << status_json(reports, h) << std::endl;
  else
    out_ << status_table(reports, h) << std::flush;
  for (const auto& r : reports)
    if (r.reachable)
      return exit_ok;
  return exit_unreachable;
}

int session::cmd_leader() {
  auto h = manager_->health_details();
  if (opts_.json)
    out_ << leader_json(h) << std::endl;
  else if (h.leader == no_node)
    out_ << "no leader -- " << h.summary << std::endl;
  else
    out_ << "leader " << h.leader << " (term " << h.term << ") -- " << h.summary << std::endl;
  return h.leader == no_node ? exit_failed : exit_ok;
}

int session::cmd_kv(const std::vector<std::string>& w) {
  const auto& name = w[0];
  client_reply r;
  if (name == "put")
    r = manager_->put(w[1], w[2]);
  else if (name == "get")
    r = manager_->get(w[1]);
  else if (name == "del")
    r = manager_->del(w[1]);
  else
    r = manager_->cas(w[1], w[2], w[3]);
  if (opts_.json)
    out_ << reply_json(name, w[1], r) << std::endl;
  else if (r.status == reply_status::ok || r.status == reply_status::not_found)
    out_ << reply_text(name, r) << std::endl;
  else
    err_ << name << ": " << reply_text(name, r) << std::endl;
  return r.status == reply_status::ok ? exit_ok : exit_failed;
}

int session::cmd_add(const std::vector<std::string>& w) {
  auto id = parse_id(w[1]);
  if (!id)
    return usage_error("add: '" + w[1] + "' is not a node id (1 or more)", usage(spec("add")));
  node_config nc;
  nc.id = *id;
  if (w.size() == 3) {
    std::string error;
    auto addrs = parse_addresses(w[2], error);
    if (!addrs || addrs->size() != 1)
      return usage_error("add: " + (error.empty() ? "one address only" : error),
                         usage(spec("add")));
    auto colon = w[2].rfind(':');
    nc.address = w[2].substr(0, colon);
    if (nc.address.size() > 2 && nc.address.front() == '[' && nc.address.back() == ']')
      nc.address = nc.address.substr(1, nc.address.size() - 2);
    nc.raft_port = static_cast<uint16_t>(std::stoul(w[2].substr(colon + 1)));
  } else if (!manager_->launched()) {
    return usage_error("add: a connected cluster needs the new node's HOST:PORT (this "
                       "session starts no process: run raft-node --raft.join=... there)",
                       usage(spec("add")));
  }
  auto members = manager_->addresses();
  auto ok = manager_->add_node(nc);
  flush_events();
  if (!ok)
    return failure("add", describe(ok.error()));
  std::string where;
  for (const auto& n : manager_->nodes())
    if (n.id == *id)
      where = n.endpoint();
  auto id_field = std::vector<std::pair<std::string, std::string>>{
    {"node", std::to_string(*id)}, {"address", json_string(where)}};
  if (!manager_->launched()) {
    std::string join;
    for (const auto& a : members)
      join += (join.empty() ? "" : ",") + ("\"" + a + "\"");
    auto text = "node " + std::to_string(*id) + " admitted at " + where
                + " as a learner (promoted to voter once it has caught up); start it there "
                  "with an empty data directory: raft-node --raft.id="
                + std::to_string(*id) + " --raft.host=" + nc.address + " --raft.port="
                + std::to_string(nc.raft_port) + " --raft.join='[" + join
                + "]' --raft.data-dir=DIR";
    if (opts_.json) {
      id_field.emplace_back("voter", "false");
      out_ << result_json("add", true, text, id_field) << std::endl;
      return exit_ok;
    }
    return success("add", text);
  }
  // Launched: it joined as a learner; the leader promotes it once caught up.
  bool voter = manager_->wait_for_voter(*id, 10s);
  auto text = "node " + std::to_string(*id) + " joined at " + where
              + (voter ? " and is a voter"
                       : " as a learner (not promoted within 10 s; it may still be catching "
                         "up -- see status)");
  if (opts_.json) {
    id_field.emplace_back("voter", voter ? "true" : "false");
    out_ << result_json("add", true, text, id_field) << std::endl;
    return exit_ok;
  }
  return success("add", text);
}

int session::cmd_remove(const std::vector<std::string>& w) {
  auto id = parse_id(w[1]);
  if (!id)
    return usage_error("remove: '" + w[1] + "' is not a node id (1 or more)",
                       usage(spec("remove")));
  bool launched = manager_->launched();
  auto ok = manager_->remove_node(*id);
  flush_events();
  if (!ok)
    return failure("remove", describe(ok.error()));
  return success("remove", "node " + std::to_string(*id) + " removed from the configuration"
                             + (launched ? "; its process is stopped"
                                         : "; it stays idle until you stop its process"));
}

int session::cmd_transfer(const std::vector<std::string>& w) {
  node_id target = no_node;
  if (w.size() == 2) {
    auto id = parse_id(w[1]);
    if (!id)
      return usage_error("transfer: '" + w[1] + "' is not a node id (1 or more)",
                         usage(spec("transfer")));
    target = *id;
  }
  auto leader = manager_->transfer_leader(target);
  if (!leader)
    return failure("transfer", describe(leader.error()));
  auto text = "node " + std::to_string(*leader) + " leads";
  if (opts_.json) {
    out_ << result_json("transfer", true, text, {{"leader", std::to_string(*leader)}})
         << std::endl;
    return exit_ok;
  }
  return success("transfer", text);
}

int session::cmd_snapshot(const std::vector<std::string>& w) {
  auto id = parse_id(w[1]);
  if (!id)
    return usage_error("snapshot: '" + w[1] + "' is not a node id (1 or more)",
                       usage(spec("snapshot")));
  auto r = manager_->snapshot(*id);
  bool ok = r.status == reply_status::ok;
  auto text = ok ? "node " + std::to_string(*id) + ": " + (r.message.empty() ? "ok" : r.message)
                 : "node " + std::to_string(*id) + ": " + reply_text("snapshot", r);
  if (opts_.json) {
    out_ << result_json("snapshot", ok, text,
                        {{"node", std::to_string(*id)},
                         {"status", json_string(to_string(r.status))}})
         << std::endl;
    return ok ? exit_ok : exit_failed;
  }
  return ok ? success("snapshot", text) : failure("snapshot", text);
}

int session::cmd_partition(const std::vector<std::string>& w) {
  std::vector<std::vector<node_id>> groups;
  for (std::size_t i = 1; i < w.size(); ++i) {
    std::string error;
    auto g = parse_group(w[i], error);
    if (!g)
      return usage_error("partition: " + error, usage(spec("partition")));
    groups.push_back(std::move(*g));
  }
  auto ok = manager_->partition(groups);
  if (!ok)
    return failure("partition", describe(ok.error()));
  std::string text = "partitioned:";
  for (const auto& g : groups)
    text += " {" + join_ids(g) + "}";
  std::vector<node_id> rest;
  for (const auto& nc : manager_->nodes()) {
    bool named = false;
    for (const auto& g : groups)
      named = named || std::find(g.begin(), g.end(), nc.id) != g.end();
    if (!named)
      rest.push_back(nc.id);
  }
  if (!rest.empty())
    text += " {" + join_ids(rest) + "}";
  return success("partition", text);
}

int session::cmd_heal() {
  auto ok = manager_->heal();
  if (!ok)
    return failure("heal", describe(ok.error()));
  return success("heal", "healed: every node talks to every other again");
}

int session::cmd_kill(const std::vector<std::string>& w) {
  auto id = parse_id(w[1]);
  if (!id)
    return usage_error("kill: '" + w[1] + "' is not a node id (1 or more)", usage(spec("kill")));
  auto before = manager_->process(*id);
  auto ok = manager_->kill(*id);
  if (!ok)
    return failure("kill", describe(ok.error()));
  return success("kill", "node " + std::to_string(*id) + " (pid "
                           + std::to_string(before ? before->pid : -1)
                           + ") killed with SIGKILL; supervision restarts it");
}

int session::cmd_stop() {
  bool launched = manager_->launched();
  auto count = manager_->nodes().size();
  manager_->stop();
  manager_.reset();
  flush_events();
  return success("stop", launched ? "stopped " + std::to_string(count) + " node(s)"
                                  : "disconnected (an attached cluster keeps running)");
}

} // namespace raft::cli
