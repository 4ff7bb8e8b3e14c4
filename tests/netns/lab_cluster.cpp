#include "tests/netns/lab_cluster.hpp"

#include "messages/registration.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace raft::netns_test {

using process_test::raft_node_binary;
using process_test::read_file;
using process_test::wait_until;
using namespace std::chrono_literals;

namespace {

std::string out_path(const temp_dir& dir, node_id id) {
  return dir.path() + "/node-" + std::to_string(id) + ".out";
}

std::string err_path(const temp_dir& dir, node_id id) {
  return dir.path() + "/node-" + std::to_string(id) + ".err";
}

std::string tail(const std::string& text, std::size_t lines) {
  std::size_t at = text.size();
  std::size_t seen = 0;
  while (at > 0 && seen <= lines) {
    at = text.rfind('\n', at - 1);
    if (at == std::string::npos) {
      at = 0;
      break;
    }
    ++seen;
  }
  return text.substr(at == 0 ? 0 : at + 1);
}

} // namespace

std::string render(const std::map<node_id, node_status>& statuses) {
  std::ostringstream os;
  for (const auto& [id, s] : statuses) {
    os << "  node " << id << ": " << to_string(s.role) << " term " << s.term << " leader "
       << s.leader << " last " << s.last_index << " commit " << s.commit_index << " applied "
       << s.applied_index << " digest " << std::hex << s.state_digest << std::dec << " keys "
       << s.keys << " voters";
    for (std::size_t i = 0; i < s.voters.size(); ++i)
      os << (i == 0 ? " " : ",") << s.voters[i];
    if (!s.learners.empty()) {
      os << " learners";
      for (std::size_t i = 0; i < s.learners.size(); ++i)
        os << (i == 0 ? " " : ",") << s.learners[i];
    }
    os << " snapshot " << s.snapshot_index << " first " << s.first_index << " peers";
    for (const auto& p : s.peers)
      os << ' ' << p.id << (p.connected ? '+' : '-');
    os << '\n';
  }
  return os.str();
}

// -- lab_cluster --------------------------------------------------------------

lab_cluster::lab_cluster(std::size_t n) : lab_cluster(lab_cluster_options{n, n, {}}) {
}

lab_cluster::lab_cluster(const lab_cluster_options& shape)
  : lab_(std::make_unique<netns_lab>(shape.hosts)), dir_(std::make_unique<temp_dir>()),
    opts_(shape) {
  if (shape.members == 0 || shape.members > shape.hosts)
    throw std::invalid_argument("lab_cluster: 1 to hosts members");
  std::string peers = "[";
  for (std::size_t i = 1; i <= shape.members; ++i) {
    if (i > 1)
      peers += ",";
    peers += "\"" + std::to_string(i) + "=" + address(static_cast<node_id>(i)) + "\"";
  }
  peers += "]";
  for (std::size_t i = 1; i <= shape.members; ++i) {
    auto id = static_cast<node_id>(i);
    auto argv = node_args(id);
    argv.push_back("--raft.peers=" + peers);
    lab_->spawn(i, argv, out_path(*dir_, id), err_path(*dir_, id));
    started_.push_back(id);
  }
  for (auto id : started_) {
    auto line = "raft-node " + std::to_string(id) + " listening on " + address(id);
    auto out = out_path(*dir_, id);
    if (!wait_until([&] { return read_file(out).find(line) != std::string::npos; }, 15s))
      throw std::runtime_error("node " + std::to_string(id) + " did not print '" + line
                               + "' within 15 s in " + lab_->describe() + "\n"
                               + output_tails());
  }

  cfg_ = std::make_unique<caf::actor_system_config>();
  register_message_types(*cfg_);
  cfg_->load<caf::io::middleman>();
  cfg_->set("logger.verbosity", caf::atom("quiet"));
  // The nodes close connections that stay silent for their
  // middleman.connection-timeout: send heartbeats like they do.
  cfg_->set("middleman.heartbeat-interval", caf::timespan{500ms});
  sys_ = std::make_unique<caf::actor_system>(*cfg_);
  client_options opts;
  opts.request_timeout = 1s;
  opts.overall_timeout = 3s;
  // Every host, also those no node runs on yet: a connect there is refused
  // at once, and a node that joins later is seen as soon as it listens.
  std::vector<node_id> every_host;
  for (std::size_t i = 1; i <= opts_.hosts; ++i)
    every_host.push_back(static_cast<node_id>(i));
  observer_ = std::make_unique<blocking_client>(*sys_, addresses(every_host), opts);
}

std::vector<std::string> lab_cluster::node_args(node_id id) const {
  auto host = static_cast<std::size_t>(id);
  std::vector<std::string> argv{raft_node_binary(),
                                "--raft.id=" + std::to_string(id),
                                "--raft.host=" + lab_->address(host),
                                "--raft.port=" + std::to_string(port),
                                "--raft.data-dir=" + dir_->path() + "/data-" + std::to_string(id)};
  argv.insert(argv.end(), opts_.extra_args.begin(), opts_.extra_args.end());
  return argv;
}

std::string lab_cluster::join(node_id id, const std::vector<node_id>& via, ms limit) {
  auto host = static_cast<std::size_t>(id);
  if (host < 1 || host > opts_.hosts
      || std::find(started_.begin(), started_.end(), id) != started_.end())
    throw std::invalid_argument("lab_cluster::join: no free host " + std::to_string(id));
  std::string seeds = "[";
  for (auto v : via)
    seeds += (seeds.size() > 1 ? ",\"" : "\"") + address(v) + "\"";
  seeds += "]";
  auto argv = node_args(id);
  argv.push_back("--raft.join=" + seeds);
  auto out = out_path(*dir_, id);
  auto& proc = lab_->spawn(host, argv, out, err_path(*dir_, id));
  auto line = "raft-node " + std::to_string(id) + " listening on " + address(id);
  bool listening = false;
  wait_until(
    [&] {
      listening = read_file(out).find(line) != std::string::npos;
      return listening || !proc.running();
    },
    limit, 50ms);
  if (listening) {
    started_.push_back(id);
    return "";
  }
  auto code = proc.wait_exit(ms{0});
  std::string why = code ? "node " + std::to_string(id) + " exited with code "
                             + std::to_string(*code) + " before it was admitted"
                         : "node " + std::to_string(id) + " was not admitted (no '" + line
                             + "') within " + std::to_string(limit.count()) + " ms";
  return why + "\n  " + join_command(argv) + "\n-- node " + std::to_string(id) + " stdout\n"
         + tail(read_file(out), 40) + "-- node " + std::to_string(id) + " stderr\n"
         + tail(read_file(err_path(*dir_, id)), 40);
}

lab_cluster::~lab_cluster() {
  if (std::uncaught_exceptions() > 0)
    std::cerr << "== " << lab_->describe() << "\n== node output (tails)\n" << output_tails();
  observer_.reset();
  sys_.reset();
  lab_->kill_processes();
  dir_.reset();
  lab_.reset();
}

std::vector<node_id> lab_cluster::ids() const {
  auto r = started_;
  std::sort(r.begin(), r.end());
  return r;
}

std::string lab_cluster::address(node_id id) const {
  return lab_->address(static_cast<std::size_t>(id)) + ":" + std::to_string(port);
}

std::vector<std::string> lab_cluster::addresses(const std::vector<node_id>& ids) const {
  std::vector<std::string> r;
  for (auto id : ids)
    r.push_back(address(id));
  return r;
}

std::map<node_id, node_status> lab_cluster::statuses() {
  std::map<node_id, node_status> r;
  auto all = observer_->status();
  for (std::size_t i = 0; i < all.size() && i < opts_.hosts; ++i)
    if (all[i].reachable)
      r.emplace(static_cast<node_id>(i + 1), all[i].status);
  return r;
}

node_id lab_cluster::wait_for_leader(const std::vector<node_id>& among, term_t above, ms limit,
                                     term_t* term) {
  node_id leader = no_node;
  wait_until(
    [&] {
      auto all = statuses();
      term_t top = 0;
      node_id candidate = no_node;
      for (auto id : among) {
        auto i = all.find(id);
        if (i == all.end())
          continue;
        const auto& s = i->second;
        if (s.term > top) {
          top = s.term;
          candidate = no_node;
        }
        if (s.role == raft_role::leader && s.term == top)
          candidate = id;
      }
      if (candidate != no_node && top > above) {
        leader = candidate;
        if (term)
          *term = top;
      }
      return leader != no_node;
    },
    limit, 50ms);
  return leader;
}

bool lab_cluster::wait_all_connected(ms limit) {
  return wait_until(
    [&] {
      auto all = statuses();
      auto n = started_.size();
      for (auto id : started_)
        if (all.count(id) == 0)
          return false;
      for (const auto& [id, s] : all) {
        if (s.peers.size() != n - 1)
          return false;
        for (const auto& p : s.peers)
          if (!p.connected)
            return false;
      }
      return true;
    },
    limit, 50ms);
}

bool lab_cluster::wait_converged(ms limit, std::string& why) {
  std::map<node_id, node_status> last;
  bool ok = wait_until(
    [&] {
      last = statuses();
      for (auto id : started_)
        if (last.count(id) == 0)
          return false;
      const node_status* leader = nullptr;
      term_t top = 0;
      for (const auto& [id, s] : last)
        top = std::max(top, s.term);
      for (const auto& [id, s] : last)
        if (s.role == raft_role::leader && s.term == top)
          leader = &s;
      if (!leader || leader->applied_index != leader->commit_index)
        return false;
      for (const auto& [id, s] : last)
        if (s.applied_index != leader->commit_index || s.state_digest != leader->state_digest
            || s.keys != leader->keys)
          return false;
      return true;
    },
    limit, 50ms);
  why = ok ? "" : "not converged; last statuses:\n" + render(last);
  return ok;
}

client_reply lab_cluster::write_through(node_id via, const std::string& key,
                                        const std::string& value, client_options opts) {
  blocking_client one(*sys_, std::vector<std::string>{address(via)}, opts);
  return one.put(key, value);
}

std::string lab_cluster::output(node_id id) const {
  return read_file(out_path(*dir_, id));
}

std::string lab_cluster::output_tails(std::size_t lines) const {
  std::string r;
  for (std::size_t i = 1; i <= opts_.hosts; ++i) {
    auto id = static_cast<node_id>(i);
    if (!std::filesystem::exists(out_path(*dir_, id)))
      continue; // no node was started there
    r += "-- node " + std::to_string(id) + " stdout\n";
    r += tail(read_file(out_path(*dir_, id)), lines);
    auto err = read_file(err_path(*dir_, id));
    if (!err.empty())
      r += "-- node " + std::to_string(id) + " stderr\n" + tail(err, lines);
  }
  return r;
}

// -- workload -----------------------------------------------------------------

workload::workload(caf::actor_system& sys, std::vector<std::string> addresses,
                   std::string prefix, client_options opts)
  : prefix_(std::move(prefix)), opts_(opts) {
  thread_ = std::thread(
    [this, &sys, a = std::move(addresses)]() mutable { run(sys, std::move(a)); });
}

workload::~workload() {
  stop();
}

void workload::run(caf::actor_system& sys, std::vector<std::string> addresses) {
  try {
    // Made on this thread: a blocking_client is used by one thread only.
    blocking_client client(sys, std::move(addresses), opts_);
    for (uint64_t seq = 0; !stop_; ++seq) {
      write_record w;
      w.key = seq % 4 == 3 ? prefix_ + "hot-" + std::to_string(seq / 4 % 5)
                           : prefix_ + "k-" + std::to_string(seq);
      w.value = prefix_ + "v-" + std::to_string(seq);
      auto r = client.put(w.key, w.value);
      w.status = r.status;
      w.message = r.message;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        history_.push_back(std::move(w));
      }
      if (r.status == reply_status::ok)
        ++acked_;
    }
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> guard{mtx_};
    error_ = e.what();
  }
  ended_ = true;
}

bool workload::wait_acked(std::size_t n, ms limit) {
  wait_until([&] { return acked_ >= n || ended_; }, limit, 10ms);
  return acked_ >= n;
}

void workload::stop() {
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
}

std::vector<write_record> workload::history() {
  std::lock_guard<std::mutex> guard{mtx_};
  return history_;
}

std::string workload::error() {
  std::lock_guard<std::mutex> guard{mtx_};
  return error_;
}

// -- checking -----------------------------------------------------------------

std::vector<std::string> check_writes(blocking_client& reader,
                                      const std::vector<write_record>& history,
                                      std::size_t& present) {
  std::map<std::string, std::vector<const write_record*>> by_key;
  for (const auto& w : history)
    by_key[w.key].push_back(&w);
  std::vector<std::string> problems;
  present = 0;
  for (const auto& [key, writes] : by_key) {
    // What the key may hold: nullopt = absent.
    std::set<std::optional<std::string>> allowed{std::nullopt};
    for (const auto* w : writes) {
      if (w->status == reply_status::ok)
        allowed = {w->value}; // supersedes everything acknowledged before
    }
    for (const auto* w : writes)
      if (w->status != reply_status::ok && w->status != reply_status::not_leader
          && w->status != reply_status::unavailable)
        allowed.insert(w->value); // unknown: may have been applied, even late
    auto r = reader.get(key);
    std::optional<std::string> got;
    if (r.status == reply_status::ok)
      got = r.value;
    else if (r.status != reply_status::not_found) {
      problems.push_back("cannot read " + key + ": " + to_string(r.status) + " " + r.message);
      continue;
    }
    if (got)
      ++present;
    if (allowed.count(got) == 0) {
      std::string line = "key " + key + " holds " + (got ? "'" + *got + "'" : "nothing")
                         + "; its writes, in order:";
      for (const auto* w : writes)
        line += " '" + w->value + "'=" + to_string(w->status);
      problems.push_back(line);
    }
  }
  return problems;
}

} // namespace raft::netns_test
