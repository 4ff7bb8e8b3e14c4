#include "app/raft_node/node_config.hpp"

#include "messages/registration.hpp"

#include <caf/config_option_adder.hpp>
#include <caf/io/middleman.hpp>
#include <caf/settings.hpp>
#include <caf/timespan.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <unistd.h>

namespace raft {

namespace {

std::optional<uint64_t> parse_number(const std::string& s) {
  if (s.empty() || s.size() > 19)
    return std::nullopt;
  uint64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    x = x * 10 + static_cast<uint64_t>(c - '0');
  }
  return x;
}

std::string ms(uint64_t x) {
  return std::to_string(x) + " ms";
}

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

} // namespace

std::optional<peer_address> parse_peer(const std::string& entry) {
  auto eq = entry.find('=');
  if (eq == std::string::npos)
    return std::nullopt;
  auto id = parse_number(entry.substr(0, eq));
  auto rest = entry.substr(eq + 1);
  std::string host;
  std::string port_text;
  if (!rest.empty() && rest.front() == '[') { // [v6-address]:port
    auto close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
      return std::nullopt;
    host = rest.substr(1, close - 1);
    port_text = rest.substr(close + 2);
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string::npos || rest.find(':') != colon)
      return std::nullopt;
    host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
  }
  auto port = parse_number(port_text);
  if (!id || *id == 0 || host.empty() || !port || *port == 0 || *port > 65535)
    return std::nullopt;
  return peer_address{*id, host, static_cast<uint16_t>(*port)};
}

std::optional<peer_address> parse_endpoint(const std::string& text) {
  return parse_peer("1=" + text);
}

bool has_node_state(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto name = e.path().filename().string();
    if (name.starts_with("log-") && name.ends_with(".seg") && e.file_size(ec) > 16)
      return true;
  }
  for (const auto& e : fs::directory_iterator(fs::path(dir) / "snapshots", ec))
    if (e.path().extension() == ".snap")
      return true;
  return false;
}

validation validate(const node_settings& s) {
  auto fail = [](std::string why) { return validation{std::nullopt, std::move(why)}; };
  node_plan p;
  // -- identity and address ---------------------------------------------------
  if (!s.id)
    return fail("missing raft.id (this node's id, 1 or more)");
  if (*s.id == 0)
    return fail("raft.id must not be 0 (node ids start at 1)");
  if (!s.port)
    return fail("missing raft.port (the port this node listens on)");
  if (*s.port == 0 || *s.port > 65535)
    return fail("raft.port must be 1-65535 (peers need to know it), got " + std::to_string(*s.port));
  if (s.host.empty())
    return fail("raft.host must not be empty");
  if (s.data_dir.empty())
    return fail("missing raft.data-dir (where term, vote and log are kept)");
  p.id = *s.id;
  p.host = s.host;
  p.port = static_cast<uint16_t>(*s.port);
  p.data_dir = s.data_dir;
  peer_address self{p.id, p.host, p.port};
  // -- peers ------------------------------------------------------------------
  std::map<node_id, peer_address> by_id;
  std::map<std::string, node_id> by_address;
  for (const auto& entry : s.peers) {
    auto peer = parse_peer(entry);
    if (!peer)
      return fail("malformed peer entry " + quoted(entry)
                  + ": expected id=host:port with id >= 1 and port 1-65535");
    if (peer->id == self.id) {
      if (*peer == self)
        continue; // this node's own entry in a shared member list
      return fail("duplicate node id " + std::to_string(peer->id) + ": peer entry "
                  + quoted(entry) + " has this node's id but not its address "
                  + self.address());
    }
    if (peer->address() == self.address())
      return fail("peer entry " + quoted(entry) + " has this node's own address "
                  + self.address() + " but another id");
    if (by_id.contains(peer->id))
      return fail("duplicate node id " + std::to_string(peer->id) + " in raft.peers");
    if (auto i = by_address.find(peer->address()); i != by_address.end())
      return fail("peers " + std::to_string(i->second) + " and " + std::to_string(peer->id)
                  + " have the same address " + peer->address());
    by_address.emplace(peer->address(), peer->id);
    by_id.emplace(peer->id, *peer);
  }
  for (auto& [id, peer] : by_id)
    p.peers.push_back(peer);
  // -- joining ----------------------------------------------------------------
  if (!s.join.empty() && !p.peers.empty())
    return fail("raft.join and raft.peers exclude each other: a joining node learns its "
                "peers from the cluster it joins");
  for (const auto& entry : s.join) {
    if (!parse_endpoint(entry))
      return fail("malformed raft.join entry " + quoted(entry) + ": expected host:port");
    p.join.push_back(entry);
  }
  if (s.advertise.empty()) {
    if (s.host == "0.0.0.0" || s.host == "::")
      return fail("raft.host " + s.host + " listens on every interface: set raft.advertise "
                  "to the host:port other members reach this node at");
    p.advertise = self.address();
  } else {
    auto a = parse_endpoint(s.advertise);
    if (!a)
      return fail("malformed raft.advertise " + quoted(s.advertise) + ": expected host:port");
    p.advertise = a->address();
  }
  if (s.cluster_id.empty())
    return fail("raft.cluster-id must not be empty");
  p.cluster_id = s.cluster_id;
  p.snapshot_entries = s.snapshot_entries;
  if (s.snapshot_log_mb > (1u << 20))
    return fail("raft.snapshot-log-mb is too large (at most 1048576)");
  p.snapshot_log_bytes = s.snapshot_log_mb << 20;
  // -- the Redis-protocol client port ------------------------------------------
  if (s.client_port) {
    if (*s.client_port == 0 || *s.client_port > 65535)
      return fail("raft.client-port must be 1-65535, got " + std::to_string(*s.client_port));
    if (*s.client_port == p.port && (s.client_host.empty() || s.client_host == p.host))
      return fail("raft.client-port " + std::to_string(*s.client_port)
                  + " is raft.port: the client port needs a port of its own");
    p.client_port = static_cast<uint16_t>(*s.client_port);
    p.client_host = s.client_host.empty() ? p.host : s.client_host;
    p.client_password = s.client_password;
    auto at_least_one = [&](const char* name, uint64_t v) {
      return v == 0 ? std::string{"raft."} + name + " must be at least 1" : std::string{};
    };
    for (auto [name, v] : {std::pair{"client-max-clients", s.client_max_clients},
                           std::pair{"client-max-pipeline", s.client_max_pipeline},
                           std::pair{"client-max-bulk", s.client_max_bulk},
                           std::pair{"client-max-inline", s.client_max_inline},
                           std::pair{"client-max-multibulk", s.client_max_multibulk}})
      if (auto why = at_least_one(name, v); !why.empty())
        return fail(why);
    if (s.client_max_bulk > (512ull << 20))
      return fail("raft.client-max-bulk is too large (at most 536870912, Redis's own limit)");
    p.client_max_clients = s.client_max_clients;
    p.client_max_pipeline = s.client_max_pipeline;
    p.client_max_bulk = s.client_max_bulk;
    p.client_max_inline = s.client_max_inline;
    p.client_max_multibulk = s.client_max_multibulk;
    if (s.client_max_query_buffer < s.client_max_bulk + 65536)
      return fail("raft.client-max-query-buffer (" + std::to_string(s.client_max_query_buffer)
                  + ") must be at least raft.client-max-bulk + 65536 ("
                  + std::to_string(s.client_max_bulk + 65536)
                  + "): a request with the longest bulk must fit");
    p.client_max_query_buffer = s.client_max_query_buffer;
  } else if (!s.client_password.empty() || !s.client_host.empty()) {
    return fail("raft.client-password and raft.client-host need raft.client-port");
  }
  // -- timing -----------------------------------------------------------------
  auto tick = s.tick_ms;
  auto min = s.election_timeout_min_ms;
  auto max = s.election_timeout_max_ms;
  auto hb = s.heartbeat_interval_ms;
  if (tick == 0)
    return fail("raft.tick must be at least 1 ms");
  if (tick > 1000)
    return fail("raft.tick must be at most 1000 ms, got " + ms(tick));
  if (min >= max)
    return fail("raft.election-timeout-min (" + ms(min)
                + ") must be below raft.election-timeout-max (" + ms(max)
                + "): the timeout is randomized between them (§5.2)");
  if (hb < tick)
    return fail("raft.heartbeat-interval (" + ms(hb) + ") must be at least one tick (" + ms(tick)
                + ")");
  if (hb * 3 > min)
    return fail("raft.heartbeat-interval (" + ms(hb)
                + ") must be at most a third of raft.election-timeout-min (" + ms(min)
                + "), so followers hear several heartbeats per election timeout");
  if (max / tick > 1'000'000)
    return fail("raft.election-timeout-max is too large for the tick (over 10^6 ticks)");
  p.tick = std::chrono::milliseconds(tick);
  p.election_ticks = static_cast<int>(min / tick);
  p.election_ticks_max = static_cast<int>(max / tick);
  p.heartbeat_ticks = static_cast<int>(hb / tick);
  if (p.election_ticks_max <= p.election_ticks)
    return fail("raft.election-timeout-min (" + ms(min) + ") and raft.election-timeout-max ("
                + ms(max) + ") fall into the same tick of " + ms(tick)
                + ": widen the range or shorten the tick");
  auto round_note = [&](const char* name, uint64_t given, int ticks) {
    auto effective = static_cast<uint64_t>(ticks) * tick;
    if (effective != given)
      p.notes.push_back(std::string{name} + " " + ms(given) + " rounded down to " + ms(effective)
                        + " (whole ticks of " + ms(tick) + ")");
  };
  round_note("election-timeout-min", min, p.election_ticks);
  round_note("election-timeout-max", max, p.election_ticks_max);
  round_note("heartbeat-interval", hb, p.heartbeat_ticks);
  // -- logging ----------------------------------------------------------------
  if (s.log_level == "quiet")
    p.level = log_level::quiet;
  else if (s.log_level == "info")
    p.level = log_level::info;
  else if (s.log_level == "debug")
    p.level = log_level::debug;
  else
    return fail("raft.log-level must be quiet, info or debug, got " + quoted(s.log_level));
  return validation{std::move(p), {}};
}

std::string check_data_dir(const std::string& dir) {
  auto unwritable = [&](const std::string& why) {
    return "data-dir " + dir + " is not writable: " + why;
  };
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return unwritable(ec.message());
  if (!std::filesystem::is_directory(dir, ec))
    return unwritable("not a directory");
  auto probe = dir + "/.write-probe-" + std::to_string(::getpid());
  int fd = ::open(probe.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return unwritable(std::strerror(errno));
  std::string result;
  if (::write(fd, "x", 1) != 1 || ::fsync(fd) != 0)
    result = unwritable(std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
  return result;
}

raft_node_config::raft_node_config() {
  opt_group{custom_options_, "raft"}
    .add(id_, "id", "this node's id (1 or more); required")
    .add(host_, "host", "address to listen on (default 127.0.0.1)")
    .add(port_, "port", "port to listen on; required")
    .add(peers_, "peers", "the other members, each \"id=host:port\"")
    .add(data_dir_, "data-dir", "directory for term, vote, log and snapshots; required")
    .add(join_, "join", "members of a running cluster to ask for admission (\"host:port\")")
    .add(advertise_, "advertise", "host:port other members reach this node at")
    .add(cluster_id_, "cluster-id", "the cluster's name (default caf-raft)")
    .add(snapshot_entries_, "snapshot-entries", "snapshot every N applied entries")
    .add(snapshot_log_mb_, "snapshot-log-mb", "... or once the log holds N MiB")
    .add(client_port_, "client-port", "Redis-protocol client port (off if unset)")
    .add(client_host_, "client-host", "address of the client port (default: host)")
    .add(client_password_, "client-password", "password for AUTH on the client port")
    .add(client_max_clients_, "client-max-clients", "client connections at once (1000)")
    .add(client_max_pipeline_, "client-max-pipeline",
         "unanswered commands per client connection (1024)")
    .add(client_max_bulk_, "client-max-bulk", "longest bulk string, bytes (16 MiB)")
    .add(client_max_inline_, "client-max-inline", "longest inline command, bytes (65536)")
    .add(client_max_multibulk_, "client-max-multibulk", "most arguments per command (1048576)")
    .add(client_max_query_buffer_, "client-max-query-buffer",
         "input bytes buffered per client connection (64 MiB)")
    .add(election_timeout_min_, "election-timeout-min", "ms, default 150")
    .add(election_timeout_max_, "election-timeout-max",
         "ms, default 300 (timeouts are drawn from [min, max))")
    .add(heartbeat_interval_, "heartbeat-interval", "ms, default 50")
    .add(tick_, "tick", "ms, default 10")
    .add(log_level_, "log-level", "quiet, info or debug (default info)");
  load<caf::io::middleman>();
  // Off by default in 0.17: without them a frozen peer is never noticed.
  // Any traffic refreshes a connection, so every node turns them on.
  set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(500)});
  set("middleman.connection-timeout", caf::timespan{std::chrono::seconds(3)});
  // The work-stealing default spins idle workers (about 30% of a core per
  // idle node here); a Raft node is mostly idle between ticks.
  set("scheduler.policy", caf::atom("sharing"));
  // One worker thread for the node, its gateway and links (the storage
  // actor and the supervisor have threads of their own, the middleman its
  // multiplexer). A profile of a loaded leader was dominated by context
  // switches between workers handing messages to each other; with one
  // worker the same hardware gave about 1.4x the writes/s at 32 clients
  // (docs/benchmarks.md). --scheduler.max-threads=N overrides it.
  set("scheduler.max-threads", size_t{1});
  register_message_types(*this);
}

node_settings raft_node_config::settings() const {
  node_settings s;
  if (caf::get_if(&content, "raft.id") != nullptr)
    s.id = id_;
  if (caf::get_if(&content, "raft.port") != nullptr)
    s.port = port_;
  s.host = host_;
  s.peers = peers_;
  s.data_dir = data_dir_;
  s.join = join_;
  s.advertise = advertise_;
  s.cluster_id = cluster_id_;
  s.snapshot_entries = snapshot_entries_;
  s.snapshot_log_mb = snapshot_log_mb_;
  if (caf::get_if(&content, "raft.client-port") != nullptr)
    s.client_port = client_port_;
  s.client_host = client_host_;
  s.client_password = client_password_;
  s.client_max_clients = client_max_clients_;
  s.client_max_pipeline = client_max_pipeline_;
  s.client_max_bulk = client_max_bulk_;
  s.client_max_inline = client_max_inline_;
  s.client_max_multibulk = client_max_multibulk_;
  s.client_max_query_buffer = client_max_query_buffer_;
  s.election_timeout_min_ms = election_timeout_min_;
  s.election_timeout_max_ms = election_timeout_max_;
  s.heartbeat_interval_ms = heartbeat_interval_;
  s.tick_ms = tick_;
  s.log_level = log_level_;
  return s;
}

} // namespace raft
