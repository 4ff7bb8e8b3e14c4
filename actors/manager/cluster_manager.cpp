#include "actors/manager/cluster_manager.hpp"

#include "actors/client/blocking_client.hpp"
#include "actors/client/endpoint.hpp"
#include "messages/interfaces.hpp"
#include "messages/registration.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <typeindex>

namespace raft {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

caf::error fail(std::string text) {
  return caf::make_error(caf::sec::runtime_error, std::move(text));
}

std::string join(const std::vector<node_id>& ids) {
  std::string out;
  for (auto id : ids)
    out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

/// The last `n` non-empty lines of `text`, joined with " | ".
std::string last_lines(const std::string& text, std::size_t n) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty())
      lines.push_back(line);
  std::string out;
  for (auto i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i)
    out += (out.empty() ? "" : " | ") + lines[i];
  return out;
}

/// The manager's own actor system: the middleman (with heartbeats, as on
/// every node: a frozen peer is noticed), the wire protocol, a quiet
/// sharing scheduler (the default work stealing spins idle threads).
struct manager_system_config : caf::actor_system_config {
  manager_system_config() {
    load<caf::io::middleman>();
    set("middleman.heartbeat-interval", caf::timespan{milliseconds(500)});
    set("middleman.connection-timeout", caf::timespan{std::chrono::seconds(3)});
    set("scheduler.policy", caf::atom("sharing"));
    set("scheduler.max-threads", size_t{2});
    set("logger.verbosity", caf::atom("quiet"));
    register_message_types(*this);
  }
};

/// One node as the manager keeps it. Whether it votes is the cluster's
/// business: see reported_configuration().
struct managed_node {
  node_config cfg;
  /// Cached proxy of its gateway; null until connected or after a failure.
  gateway_actor handle;
};

bool is_write(kv_op op) {
  return !is_read(op);
}

} // namespace

// -- node_config / cluster_config -----------------------------------------

std::string node_config::endpoint() const {
  auto host = address.find(':') == std::string::npos ? address : "[" + address + "]";
  return host + ":" + std::to_string(raft_port);
}

cluster_config cluster_config::local(std::size_t n) {
  cluster_config cfg;
  for (std::size_t i = 1; i <= n; ++i) {
    node_config nc;
    nc.id = i;
    cfg.nodes.push_back(nc);
  }
  return cfg;
}

std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return caf::to_string(err);
}

// -- impl -----------------------------------------------------------------

struct cluster_manager::impl {
  bool launch_mode = true;
  cluster_config cfg;
  manager_system_config sys_cfg;
  caf::actor_system sys{sys_cfg};
  std::vector<managed_node> nodes;
  std::unique_ptr<process_supervisor> supervisor;
  std::unique_ptr<blocking_client> client;
  /// The addresses `client` was made for.
  std::vector<std::string> client_addresses;
  std::string data_dir;
  bool owns_data_dir = false;

  ~impl() {
    stop();
  }

  // -- connections --------------------------------------------------------

  managed_node* find(node_id id) {
    for (auto& n : nodes)
      if (n.cfg.id == id && id != no_node)
        return &n;
    return nullptr;
  }

  /// Connects every node in `which` that has no handle (errors by node).
  void connect(const std::vector<managed_node*>& which, caf::timespan timeout,
               std::map<managed_node*, std::string>& errors) {
    caf::scoped_actor self{sys};
    auto mm = sys.middleman().actor_handle();
    // One at a time: the middleman connects one at a time anyway, and on
    // loopback a refused connect fails at once.
    for (auto* n : which) {
      if (n->handle)
        continue;
      auto h = self->request(mm, timeout, caf::connect_atom::value, n->cfg.address,
                             n->cfg.raft_port);
      h.receive(
        [&](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>& ifs) {
          if (!ptr)
            errors[n] = "nothing published at " + n->cfg.endpoint();
          else if (!sys.assignable<gateway_actor>(ifs))
            errors[n] = "the actor at " + n->cfg.endpoint() + " is not a raft-node gateway";
          else
            n->handle = caf::actor_cast<gateway_actor>(std::move(ptr));
        },
        [&](caf::error& err) {
          errors[n] = "cannot connect to " + n->cfg.endpoint() + ": " + sys.render(err);
        });
    }
  }

  /// Drops a node's proxy after any failed request, a timeout included: in
  /// CAF 0.17 a proxy whose connection was lost silently drops what it is
  /// sent (nothing bounces), so a kept proxy of a restarted process would
  /// time out forever. Connecting again is cheap: the middleman hands out
  /// its cached proxy while the connection lives, else a new connection.
  void forget(managed_node& n) {
    n.handle = nullptr;
  }

  std::vector<managed_node*> all_nodes() {
    std::vector<managed_node*> out;
    for (auto& n : nodes)
      out.push_back(&n);
    return out;
  }

  /// One status round over every managed node. Attach mode follows the
  /// membership: members the cluster reports (with an address) that are
  /// not managed yet -- added by a node that joined, or by another
  /// operator -- are managed from then on, and asked in the same round.
  std::vector<node_report> status(milliseconds timeout) {
    auto out = status_of(all_nodes(), timeout);
    if (launch_mode)
      return out;
    auto c = reported_configuration(out);
    if (!c)
      return out;
    auto before = nodes.size();
    for (const auto* list : {&c->config.voters, &c->config.learners})
      for (const auto& m : *list) {
        if (m.id == no_node || m.address.empty() || find(m.id) != nullptr)
          continue;
        auto hp = parse_address(m.address);
        if (!hp)
          continue;
        node_config nc;
        nc.id = m.id;
        nc.address = hp->first;
        nc.raft_port = hp->second;
        auto same = [&](const managed_node& n) { return n.cfg.endpoint() == nc.endpoint(); };
        if (std::none_of(nodes.begin(), nodes.end(), same))
          nodes.push_back(managed_node{nc, {}});
      }
    if (nodes.size() == before)
      return out;
    std::vector<managed_node*> added;
    for (auto i = before; i < nodes.size(); ++i)
      added.push_back(&nodes[i]);
    auto more = status_of(added, timeout);
    out.insert(out.end(), more.begin(), more.end());
    return out;
  }

  std::vector<node_report> status_of(const std::vector<managed_node*>& targets,
                                     milliseconds timeout) {
    std::map<managed_node*, std::string> errors;
    connect(targets, timeout, errors);
    std::vector<node_report> out;
    caf::scoped_actor self{sys};
    // All requests go out first, then the replies are collected: one round
    // takes as long as the slowest node, not the sum.
    using handle_type = decltype(self->request(gateway_actor{}, caf::timespan{timeout},
                                               status_atom::value));
    std::vector<std::optional<handle_type>> pending;
    for (auto* n : targets) {
      node_report r;
      r.id = n->cfg.id;
      r.address = n->cfg.endpoint();
      if (auto e = errors.find(n); e != errors.end())
        r.error = e->second;
      out.push_back(std::move(r));
      if (n->handle)
        pending.emplace_back(self->request(n->handle, caf::timespan{timeout}, status_atom::value));
      else
        pending.emplace_back(std::nullopt);
    }
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (!pending[i])
        continue;
      auto* n = targets[i];
      auto& r = out[i];
      pending[i]->receive(
        [&](node_status& s) {
          if (n->cfg.id != no_node && s.id != n->cfg.id) {
            r.error = "the node at " + r.address + " says it is node " + std::to_string(s.id)
                      + ", not " + std::to_string(n->cfg.id);
            return;
          }
          if (n->cfg.id == no_node)
            n->cfg.id = s.id; // attach mode learns ids
          r.id = s.id;
          r.reachable = true;
          r.status = std::move(s);
        },
        [&](caf::error& err) {
          r.error = "no status from " + r.address + ": " + sys.render(err);
          forget(*n);
        });
    }
    return out;
  }

  // -- client -------------------------------------------------------------

  /// Every managed node: voters and learners alike (a learner forwards
  /// commands to its leader like a follower does).
  std::vector<std::string> member_addresses() {
    std::vector<std::string> out;
    for (auto& n : nodes)
      out.push_back(n.cfg.endpoint());
    return out;
  }

  /// The client, made afresh when the set of managed nodes changed. (It
  /// survives killed and restarted nodes: after a failed request it
  /// reconnects.)
  blocking_client& kv() {
    auto addrs = member_addresses();
    if (!client || addrs != client_addresses) {
      client.reset();
      client = std::make_unique<blocking_client>(sys, addrs, cfg.client);
      client_addresses = std::move(addrs);
    }
    return *client;
  }

  // -- membership ---------------------------------------------------------

  /// The configuration one status round reports.
  std::optional<reported_config> configuration(milliseconds timeout = milliseconds(1000)) {
    return reported_configuration(status(timeout));
  }

  /// Polls the reported configuration every ~20 ms until `pred` holds
  /// (true) or `deadline` passes (false).
  bool wait_config(const std::function<bool(const reported_config&)>& pred,
                   steady_clock::time_point deadline) {
    for (;;) {
      auto round = steady_clock::now();
      auto left = std::chrono::duration_cast<milliseconds>(deadline - round);
      auto c = configuration(std::clamp(left, milliseconds(50), milliseconds(1000)));
      if (c && pred(*c))
        return true;
      auto next = round + milliseconds(20);
      if (next >= deadline)
        return false;
      std::this_thread::sleep_until(next); // polling a live cluster
    }
  }

  /// Sends an operator command (add_member, remove_member, transfer_leader)
  /// through the client until it has an outcome. The client already follows
  /// leader hints and tries every node; on top of that a busy cluster
  /// (`unavailable`: another change pending, a new leader not ready) and a
  /// leader that is handing over (`not_leader`) are asked again every 50 ms
  /// until change_timeout. After an `unknown` (it may have been applied)
  /// the command is sent again only if `done()` says it has not taken
  /// effect; a `bad_request` after an `unknown` is checked with `done()`
  /// too (a repeated remove finds the node gone).
  client_reply change(const kv_command& cmd, const std::function<bool()>& done) {
    auto deadline = steady_clock::now() + cfg.change_timeout;
    bool maybe_applied = false;
    for (;;) {
      auto round = steady_clock::now();
      auto r = kv().execute(cmd);
      if (r.status == reply_status::ok)
        return r;
      if (r.status == reply_status::unknown || r.status == reply_status::bad_request) {
        maybe_applied = maybe_applied || r.status == reply_status::unknown;
        if (maybe_applied && done && done()) {
          r.status = reply_status::ok;
          r.message = "done (confirmed by the cluster's status)";
          return r;
        }
        if (r.status == reply_status::bad_request)
          return r;
      }
      auto next = round + milliseconds(50);
      if (next >= deadline) {
        r.message = "still " + std::string{to_string(r.status)} + " after "
                    + std::to_string(cfg.change_timeout.count()) + " ms"
                    + (r.message.empty() ? "" : ": " + r.message);
        return r;
      }
      std::this_thread::sleep_until(next); // pacing a busy cluster, not a wait
    }
  }

  /// The text of a reply that is no success: "bad_request: not a member".
  static std::string reason(const client_reply& r) {
    return std::string{to_string(r.status)} + (r.message.empty() ? "" : ": " + r.message);
  }

  // -- launching ----------------------------------------------------------

  /// raft-node's arguments: a bootstrap member knows its `peers`; a node
  /// that joins a running cluster gets the members' addresses in `join`
  /// instead (the two exclude each other).
  std::vector<std::string> node_args(const managed_node& n, const std::vector<node_config>& peers,
                                     const std::vector<std::string>& join = {}) {
    auto list = [](const std::vector<std::string>& items) {
      std::string out = "[";
      for (const auto& i : items)
        out += (out.size() > 1 ? "," : "") + ("\"" + i + "\"");
      return out + "]";
    };
    std::vector<std::string> peer_entries;
    for (const auto& p : peers)
      if (p.id != n.cfg.id)
        peer_entries.push_back(std::to_string(p.id) + "=" + p.endpoint());
    auto ms = [](milliseconds d) { return std::to_string(d.count()); };
    std::vector<std::string> args{
      "--raft.id=" + std::to_string(n.cfg.id),
      "--raft.host=" + n.cfg.address,
      "--raft.port=" + std::to_string(n.cfg.raft_port),
      join.empty() ? "--raft.peers=" + list(peer_entries) : "--raft.join=" + list(join),
      "--raft.data-dir=" + node_dir(n.cfg.id),
      "--raft.election-timeout-min=" + ms(cfg.election_timeout),
      "--raft.election-timeout-max=" + ms(2 * cfg.election_timeout),
      "--raft.heartbeat-interval=" + ms(cfg.heartbeat_timeout),
      "--raft.log-level=" + cfg.log_level,
    };
    if (n.cfg.client_port != 0)
      args.push_back("--raft.client-port=" + std::to_string(n.cfg.client_port));
    args.insert(args.end(), cfg.extra_args.begin(), cfg.extra_args.end());
    return args;
  }

  std::string node_dir(node_id id) const {
    return data_dir + "/node-" + std::to_string(id);
  }

  std::string log_path(node_id id) const {
    return data_dir + "/node-" + std::to_string(id) + ".log";
  }

  static std::string listen_line(node_id id) {
    return "raft-node " + std::to_string(id) + " listening on ";
  }

  /// Picks ports for every node in `which` that has none.
  caf::expected<void> assign_ports(const std::vector<managed_node*>& which) {
    // One list of wanted ports per host, so that no two are picked twice.
    std::map<std::string, std::vector<uint16_t*>> by_host;
    for (auto* n : which) {
      if (n->cfg.raft_port == 0)
        by_host[n->cfg.address].push_back(&n->cfg.raft_port);
      if (cfg.client_ports && n->cfg.client_port == 0)
        by_host[n->cfg.address].push_back(&n->cfg.client_port);
    }
    for (auto& [host, list] : by_host) {
      std::string error;
      auto ports = pick_free_ports(host, list.size(), error);
      if (ports.size() != list.size())
        return fail(error);
      for (std::size_t i = 0; i < list.size(); ++i)
        *list[i] = ports[i];
    }
    return caf::unit;
  }

  caf::expected<void> prepare_data_dir() {
    std::error_code ec;
    if (cfg.data_dir.empty()) {
      auto tmpl = (std::filesystem::temp_directory_path(ec) / "caf-raft-XXXXXX").string();
      if (ec || ::mkdtemp(tmpl.data()) == nullptr)
        return fail("cannot create a temporary data directory: " + std::string{std::strerror(errno)});
      data_dir = tmpl;
      owns_data_dir = true;
    } else {
      data_dir = cfg.data_dir;
      std::filesystem::create_directories(data_dir, ec);
      if (ec)
        return fail("cannot create data directory " + data_dir + ": " + ec.message());
    }
    return caf::unit;
  }

  /// Launches `n` under supervision (wait_started() waits for it).
  caf::expected<void> launch(managed_node& n, const std::vector<node_config>& peers,
                             const std::vector<std::string>& join = {}) {
    launch_spec spec;
    spec.binary = cfg.raft_node_binary;
    spec.args = node_args(n, peers, join);
    spec.log_path = log_path(n.cfg.id);
    if (auto why = supervisor->start(n.cfg.id, spec, listen_line(n.cfg.id)); !why.empty())
      return fail("cannot start node " + std::to_string(n.cfg.id) + ": " + why);
    return caf::unit;
  }

  /// Waits until every node in `ids` listens. The first one that ends or
  /// times out fails the wait, quoting its log.
  caf::expected<void> wait_started(const std::vector<node_id>& ids,
                                   steady_clock::time_point deadline) {
    for (auto id : ids) {
      auto done = [](const child_info& c) {
        return (c.running && c.listening) || !c.last_exit.empty();
      };
      bool ended = supervisor->wait_for(id, deadline, done);
      auto info = supervisor->info(id);
      if (ended && info && info->running && info->listening)
        continue;
      auto tail = last_lines(read_from(log_path(id), 0), 3);
      std::string why = !info ? "it is gone"
                        : !info->last_exit.empty()
                          ? info->last_exit
                          : "it did not listen within "
                              + std::to_string(cfg.startup_timeout.count()) + " ms";
      return fail("node " + std::to_string(id) + " did not start: " + why
                  + (tail.empty() ? "" : "; its log: " + tail));
    }
    return caf::unit;
  }

  caf::expected<void> check_config() {
    if (cfg.nodes.empty())
      return fail("a cluster needs at least one node");
    std::set<node_id> ids;
    std::set<std::pair<std::string, uint16_t>> endpoints;
    for (const auto& n : cfg.nodes) {
      if (n.id == no_node)
        return fail("node ids start at 1 (0 is not an id)");
      if (!ids.insert(n.id).second)
        return fail("node id " + std::to_string(n.id) + " appears twice");
      if (n.raft_port != 0 && !endpoints.emplace(n.address, n.raft_port).second)
        return fail("two nodes on " + n.endpoint());
    }
    if (cfg.election_timeout.count() <= 0 || cfg.heartbeat_timeout.count() <= 0)
      return fail("timeouts must be positive");
    if (cfg.heartbeat_timeout * 3 > cfg.election_timeout)
      return fail("the heartbeat interval (" + std::to_string(cfg.heartbeat_timeout.count())
                  + " ms) must be at most a third of the election timeout ("
                  + std::to_string(cfg.election_timeout.count()) + " ms)");
    if (cfg.raft_node_binary.empty())
      cfg.raft_node_binary = default_raft_node_binary();
    if (cfg.raft_node_binary.empty())
      return fail("cannot find the raft-node program: set RAFT_NODE or "
                  "cluster_config::raft_node_binary");
    if (::access(cfg.raft_node_binary.c_str(), X_OK) != 0)
      return fail("raft-node program " + cfg.raft_node_binary + " is not executable");
    return caf::unit;
  }

  std::vector<node_config> configs() const {
    std::vector<node_config> out;
    for (const auto& n : nodes)
      out.push_back(n.cfg);
    return out;
  }

  caf::expected<void> bootstrap_launch() {
    if (supervisor)
      return fail("the cluster is already running");
    if (auto ok = check_config(); !ok)
      return ok;
    nodes.clear();
    for (const auto& nc : cfg.nodes)
      nodes.push_back(managed_node{nc, {}});
    if (auto ok = assign_ports(all_nodes()); !ok)
      return ok;
    if (auto ok = prepare_data_dir(); !ok)
      return ok;
    supervisor = std::make_unique<process_supervisor>(cfg.supervision);
    auto deadline = steady_clock::now() + cfg.startup_timeout;
    auto peers = configs();
    std::vector<node_id> ids;
    for (auto& n : nodes) {
      if (auto ok = launch(n, peers); !ok) {
        stop();
        return ok;
      }
      ids.push_back(n.cfg.id);
    }
    if (auto ok = wait_started(ids, deadline); !ok) {
      stop();
      return ok;
    }
    return caf::unit;
  }

  caf::expected<void> bootstrap_attach() {
    auto reports = status(milliseconds(2000));
    std::string errors;
    bool any = false;
    for (const auto& r : reports) {
      any = any || r.reachable;
      if (!r.reachable)
        errors += (errors.empty() ? "" : "; ") + r.error;
    }
    if (!any)
      return fail("no node answered: " + errors);
    return caf::unit;
  }

  caf::expected<void> require_launch(const char* what) {
    if (!launch_mode)
      return fail(std::string{"cannot "} + what
                  + ": this manager is attached to a cluster it did not start");
    if (!supervisor)
      return fail(std::string{"cannot "} + what + ": the cluster is not running (bootstrap first)");
    return caf::unit;
  }

  void stop() {
    if (supervisor) {
      supervisor->stop_all(std::chrono::seconds(5));
      supervisor.reset();
    }
    client.reset();
    client_addresses.clear();
    for (auto& n : nodes)
      n.handle = nullptr;
    if (owns_data_dir) {
      std::error_code ec;
      std::filesystem::remove_all(data_dir, ec);
      owns_data_dir = false;
      data_dir.clear();
    }
  }
};

// -- cluster_manager ------------------------------------------------------

cluster_manager::cluster_manager() : impl_(std::make_unique<impl>()) {
  // nop
}

cluster_manager::cluster_manager(cluster_config cfg) : cluster_manager() {
  impl_->cfg = std::move(cfg);
  for (const auto& nc : impl_->cfg.nodes)
    impl_->nodes.push_back(managed_node{nc, {}});
}

cluster_manager cluster_manager::attach(std::vector<std::string> addresses, client_options opts) {
  cluster_manager m;
  m.impl_->launch_mode = false;
  m.impl_->cfg.client = opts;
  for (const auto& a : addresses) {
    managed_node n;
    if (auto hp = parse_address(a)) {
      n.cfg.address = hp->first;
      n.cfg.raft_port = hp->second;
    } else {
      n.cfg.address = a; // stays unreachable; status() says why
    }
    m.impl_->nodes.push_back(std::move(n));
  }
  return m;
}

cluster_manager::cluster_manager(cluster_manager&&) noexcept = default;
cluster_manager& cluster_manager::operator=(cluster_manager&&) noexcept = default;

cluster_manager::~cluster_manager() = default;

bool cluster_manager::launched() const {
  return impl_->launch_mode;
}

caf::expected<void> cluster_manager::bootstrap() {
  return impl_->launch_mode ? impl_->bootstrap_launch() : impl_->bootstrap_attach();
}

node_id cluster_manager::wait_for_leader(milliseconds timeout, term_t newer_than) {
  auto deadline = steady_clock::now() + timeout;
  for (;;) {
    auto round = steady_clock::now();
    auto left = std::chrono::duration_cast<milliseconds>(deadline - round);
    auto h = evaluate_health(impl_->status(std::clamp(left, milliseconds(50), milliseconds(1000))));
    if (h.leader != no_node && h.term > newer_than)
      return h.leader;
    auto next = round + milliseconds(20);
    if (next >= deadline)
      return no_node;
    std::this_thread::sleep_until(next); // polling a live cluster
  }
}

std::vector<node_report> cluster_manager::status(milliseconds timeout) {
  return impl_->status(timeout);
}

cluster_health cluster_manager::health() {
  return health_details().health;
}

health_report cluster_manager::health_details() {
  return evaluate_health(impl_->status(milliseconds(1000)));
}

caf::expected<void> cluster_manager::partition(const std::vector<std::vector<node_id>>& groups) {
  auto& im = *impl_;
  // partition_atom carries a std::vector<node_id>, which is no CAF builtin:
  // unregistered, the message cannot leave this process (nor be read by a
  // node), and every gateway would just time out.
  if (im.sys_cfg.type_names_by_rtti.count(std::type_index(typeid(std::vector<node_id>))) == 0)
    return fail("this build cannot send partitions: messages/registration.cpp does not "
                "register std::vector<node_id> (add_message_type<std::vector<node_id>>)");
  if (std::any_of(im.nodes.begin(), im.nodes.end(),
                  [](const managed_node& n) { return n.cfg.id == no_node; }))
    im.status(milliseconds(1000)); // attach mode: learn the ids first
  std::map<node_id, std::size_t> group_of;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].empty())
      return fail("a group without nodes");
    for (auto id : groups[g]) {
      if (im.find(id) == nullptr)
        return fail("no node " + std::to_string(id));
      if (!group_of.emplace(id, g).second)
        return fail("node " + std::to_string(id) + " is in two groups");
    }
  }
  auto rest = groups.size();
  for (auto& n : im.nodes) {
    if (n.cfg.id == no_node)
      return fail("the node at " + n.cfg.endpoint()
                  + " never answered, so its id is unknown");
    if (!group_of.contains(n.cfg.id))
      group_of.emplace(n.cfg.id, rest);
  }
  std::map<managed_node*, std::vector<node_id>> cuts;
  for (auto& n : im.nodes) {
    auto& cut = cuts[&n];
    for (auto& [id, g] : group_of)
      if (g != group_of[n.cfg.id])
        cut.push_back(id);
  }
  std::map<managed_node*, std::string> errors;
  auto targets = im.all_nodes();
  im.connect(targets, std::chrono::seconds(1), errors);
  caf::scoped_actor self{im.sys};
  std::vector<node_id> failed;
  std::string why;
  for (auto* n : targets) {
    if (!n->handle) {
      failed.push_back(n->cfg.id);
      why = errors[n];
      continue;
    }
    self->request(n->handle, std::chrono::seconds(2), partition_atom::value, cuts[n])
      .receive([&](bool applied) {
                 if (!applied) {
                   failed.push_back(n->cfg.id);
                   why = "the gateway refused";
                 }
               },
               [&](caf::error& err) {
                 failed.push_back(n->cfg.id);
                 why = im.sys.render(err);
                 im.forget(*n);
               });
  }
  if (!failed.empty())
    return fail("partition not applied on node(s) " + join(failed) + " (" + why + ")");
  return caf::unit;
}

caf::expected<void> cluster_manager::heal() {
  return partition({});
}

caf::expected<void> cluster_manager::kill(node_id id) {
  auto& im = *impl_;
  if (auto ok = im.require_launch("kill a node"); !ok)
    return ok;
  auto* n = im.find(id);
  if (n == nullptr)
    return fail("no node " + std::to_string(id));
  auto before = im.supervisor->info(id);
  if (!before || !im.supervisor->signal(id, SIGKILL))
    return fail("node " + std::to_string(id) + " is not running");
  im.forget(*n);
  // Done when the process is gone (reaped): a status right after the kill
  // then finds the connection closed instead of a proxy about to die.
  im.supervisor->wait_for(id, steady_clock::now() + std::chrono::seconds(2),
                          [&](const child_info& c) { return c.pid != before->pid; });
  return caf::unit;
}

caf::expected<void> cluster_manager::add_node(node_config nc) {
  auto& im = *impl_;
  if (nc.id == no_node)
    return fail("node ids start at 1 (0 is not an id)");
  auto id_text = std::to_string(nc.id);
  if (im.find(nc.id) != nullptr)
    return fail("node " + id_text + " already exists");
  auto in_config = [&](const reported_config& c) { return has_member(c.config, nc.id); };
  if (!im.launch_mode) {
    // Attach mode: the operator starts the process; we ask for admission.
    if (nc.raft_port == 0)
      return fail("cannot add node " + id_text + " to a cluster this manager did not start "
                  "without its address: give the host:port the new node listens on (and "
                  "start raft-node --raft.join=... there)");
    if (std::any_of(im.nodes.begin(), im.nodes.end(),
                    [](const managed_node& n) { return n.cfg.id == no_node; }))
      im.status(milliseconds(1000)); // learn the ids first
    kv_command cmd;
    cmd.op = kv_op::add_member;
    cmd.key = id_text;
    cmd.value = nc.endpoint();
    // A repeated add of the same member at the same address is answered
    // `ok` again: no done() check needed.
    auto r = im.change(cmd, nullptr);
    if (r.status != reply_status::ok)
      return fail("cannot add node " + id_text + " at " + nc.endpoint() + ": "
                  + impl::reason(r));
    im.nodes.push_back(managed_node{nc, {}});
    return caf::unit;
  }
  if (auto ok = im.require_launch("add a node"); !ok)
    return ok;
  if (auto c = im.configuration(); c && in_config(*c))
    return fail("node " + id_text + " is a member of the cluster already ("
                + describe_config(c->config) + "): remove it first");
  // A node joins empty. State left from an earlier incarnation (this id was
  // removed, and a removed node is not replicated to any more) would make
  // raft-node restart from it instead of joining.
  {
    std::error_code ec;
    auto dir = im.node_dir(nc.id);
    if (std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec)) {
      std::filesystem::remove_all(dir, ec);
      if (ec)
        return fail("cannot wipe " + dir + " (left by an earlier node " + id_text
                    + "; a node must join empty): " + ec.message());
      if (im.cfg.supervision.log)
        im.cfg.supervision.log("node " + id_text + ": wiped " + dir
                               + " (left by an earlier incarnation; a node joins empty)");
    }
  }
  std::vector<std::string> join = im.member_addresses();
  im.nodes.push_back(managed_node{nc, {}});
  auto& n = im.nodes.back();
  if (auto ok = im.assign_ports({&n}); !ok) {
    im.nodes.pop_back();
    return ok;
  }
  // raft-node asks the cluster to add it and listens only once that is
  // committed: "listening" means "admitted".
  auto deadline = steady_clock::now() + im.cfg.startup_timeout;
  auto ok = im.launch(n, {}, join);
  if (ok)
    ok = im.wait_started({nc.id}, deadline);
  if (ok && !im.wait_config(in_config, steady_clock::now() + im.cfg.change_timeout))
    ok = fail("node " + id_text + " listens on " + n.cfg.endpoint()
              + ", but the cluster does not report it as a member within "
              + std::to_string(im.cfg.change_timeout.count()) + " ms");
  if (!ok) {
    im.supervisor->stop(nc.id, std::chrono::seconds(2));
    std::erase_if(im.nodes, [&](const managed_node& m) { return m.cfg.id == nc.id; });
    return ok;
  }
  return caf::unit;
}

bool cluster_manager::wait_for_voter(node_id id, milliseconds timeout) {
  return impl_->wait_config(
    [id](const reported_config& c) { return c.committed && has_voter(c.config, id); },
    steady_clock::now() + timeout);
}

caf::expected<void> cluster_manager::remove_node(node_id id) {
  auto& im = *impl_;
  if (im.launch_mode) {
    if (auto ok = im.require_launch("remove a node"); !ok)
      return ok;
  } else if (std::any_of(im.nodes.begin(), im.nodes.end(),
                         [](const managed_node& n) { return n.cfg.id == no_node; })) {
    im.status(milliseconds(1000)); // learn the ids first
  }
  auto id_text = std::to_string(id);
  auto current = im.configuration();
  if (im.find(id) == nullptr && (!current || !has_member(current->config, id)))
    return fail("no node " + id_text
                + (current ? " (the cluster has " + describe_config(current->config) + ")"
                           : std::string{}));
  kv_command cmd;
  cmd.op = kv_op::remove_member;
  cmd.key = id_text;
  auto gone = [&] {
    auto c = im.configuration();
    return c && c->committed && !has_member(c->config, id);
  };
  auto r = im.change(cmd, gone);
  if (r.status != reply_status::ok)
    return fail("cannot remove node " + id_text + ": " + impl::reason(r));
  // Committed: the others no longer count it. Stop it for good.
  if (im.supervisor)
    im.supervisor->stop(id, std::chrono::seconds(5));
  std::erase_if(im.nodes, [id](const managed_node& m) { return m.cfg.id == id; });
  return caf::unit;
}

caf::expected<node_id> cluster_manager::transfer_leader(node_id id) {
  auto& im = *impl_;
  auto before = evaluate_health(im.status(milliseconds(1000)));
  if (id != no_node && before.leader == id)
    return id; // nothing to hand over
  auto target_text = id == no_node ? std::string{"another voter"} : "node " + std::to_string(id);
  auto moved = [&](const health_report& h) {
    return h.leader != no_node && (id != no_node ? h.leader == id : h.leader != before.leader);
  };
  kv_command cmd;
  cmd.op = kv_op::transfer_leader;
  cmd.key = id == no_node ? std::string{} : std::to_string(id);
  auto r = im.change(cmd, [&] { return moved(evaluate_health(im.status(milliseconds(1000)))); });
  if (r.status != reply_status::ok)
    return fail("cannot hand leadership to " + target_text + ": " + impl::reason(r));
  // The reply comes when the target won its election; wait until a
  // majority follows it too.
  auto deadline = steady_clock::now() + im.cfg.change_timeout;
  for (;;) {
    auto round = steady_clock::now();
    auto h = evaluate_health(im.status(milliseconds(1000)));
    if (moved(h))
      return h.leader;
    auto next = round + milliseconds(20);
    if (next >= deadline)
      return fail("the cluster accepted the handover to " + target_text + ", but " + h.summary);
    std::this_thread::sleep_until(next); // polling a live cluster
  }
}

client_reply cluster_manager::snapshot(node_id id, milliseconds timeout) {
  kv_command cmd;
  cmd.op = kv_op::take_snapshot;
  return send_to(id, std::move(cmd), timeout);
}

std::optional<reported_config> cluster_manager::configuration() {
  return impl_->configuration();
}

client_reply cluster_manager::put(const std::string& key, const std::string& value) {
  return impl_->kv().put(key, value);
}

client_reply cluster_manager::get(const std::string& key) {
  return impl_->kv().get(key);
}

client_reply cluster_manager::del(const std::string& key) {
  return impl_->kv().del(key);
}

client_reply cluster_manager::cas(const std::string& key, const std::string& expected,
                                  const std::string& value) {
  return impl_->kv().cas(key, expected, value);
}

client_reply cluster_manager::send_to(node_id id, kv_command cmd, milliseconds timeout) {
  auto& im = *impl_;
  client_reply out;
  out.status = reply_status::unavailable;
  auto* n = im.find(id);
  if (n == nullptr) {
    out.message = "no node " + std::to_string(id);
    return out;
  }
  std::map<managed_node*, std::string> errors;
  im.connect({n}, timeout, errors);
  if (!n->handle) {
    out.message = errors[n];
    return out;
  }
  auto write = is_write(cmd.op);
  caf::scoped_actor self{im.sys};
  self->request(n->handle, caf::timespan{timeout}, std::move(cmd))
    .receive([&](client_reply& r) { out = std::move(r); },
             [&](caf::error& err) {
               if (err == caf::sec::request_timeout) {
                 // Sent, and maybe applied: never report a failure.
                 out.status = write ? reply_status::unknown : reply_status::unavailable;
                 out.message = "no answer from node " + std::to_string(id) + " within "
                               + std::to_string(timeout.count()) + " ms";
               } else {
                 out.message = "node " + std::to_string(id) + ": " + im.sys.render(err);
               }
               im.forget(*n);
             });
  return out;
}

std::vector<node_config> cluster_manager::nodes() const {
  return impl_->configs();
}

std::vector<std::string> cluster_manager::addresses() const {
  std::vector<std::string> out;
  for (const auto& n : impl_->nodes)
    out.push_back(n.cfg.endpoint());
  return out;
}

bool cluster_manager::is_voter(node_id id) const {
  auto c = impl_->configuration();
  return c && has_voter(c->config, id);
}

std::optional<child_info> cluster_manager::process(node_id id) const {
  if (!impl_->supervisor)
    return std::nullopt;
  return impl_->supervisor->info(id);
}

bool cluster_manager::wait_until_listening(node_id id, milliseconds timeout) const {
  return impl_->supervisor
         && impl_->supervisor->wait_listening(id, steady_clock::now() + timeout);
}

std::string cluster_manager::data_dir() const {
  return impl_->data_dir;
}

void cluster_manager::stop() {
  impl_->stop();
}

} // namespace raft
