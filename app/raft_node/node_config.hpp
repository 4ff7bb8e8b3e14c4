#pragma once

// raft-node's configuration: the "raft" option group (command line and INI
// file), its validation, and how it maps onto the node's settings.
//
// Options (command line `--raft.<name>=...`, or `<name> = ...` in the
// `[raft]` section of the file given with `--config-file=...`; the command
// line wins):
//
//   id                    this node's id (1 or more)                 required
//   host                  address to listen on           default 127.0.0.1
//   port                  port to listen on                          required
//   peers                 the other members, each "id=host:port";
//                         an entry for this node itself (same id, same
//                         address) is allowed and skipped, so every node
//                         can be given the same list
//   data-dir              term, vote, log and snapshots live here    required
//   join                  addresses ("host:port") of members of a running
//                         cluster: this node asks them to add it (as a
//                         learner, promoted to voter once caught up); only
//                         when data-dir holds no state yet -- a node that
//                         has joined restarts from its data. Excludes peers.
//   advertise             the address other members reach this node at,
//                         default host:port (required when host is 0.0.0.0)
//   cluster-id            the cluster's name, default "caf-raft": a node
//                         cannot join a cluster of another name
//   snapshot-entries      write a snapshot every this many applied entries,
//                         default 100000 (0: only by size or on request)
//   snapshot-log-mb       ... or once the log holds this many MiB, default 64
//   client-port           the Redis-protocol client port (RESP2: redis-cli
//                         and every Redis client library); off if unset
//   client-host           address of the client port, default: host
//   client-password       the password AUTH asks for; none if empty (put
//                         it in the config file: a command line shows in ps)
//   client-max-clients    connections at once, default 1000
//   client-max-pipeline   unanswered commands per connection before its
//                         input is left unread, default 1024
//   client-max-bulk       longest bulk string (key or value), bytes,
//                         default 16777216 (16 MiB)
//   client-max-inline     longest inline command, bytes, default 65536
//   client-max-multibulk  most arguments in one command, default 1048576
//   client-max-query-buffer  input bytes buffered per connection before it
//                         is closed, default 67108864 (64 MiB); at least
//                         client-max-bulk + 65536
//   election-timeout-min  ms, default 150
//   election-timeout-max  ms, default 300; above the minimum
//   heartbeat-interval    ms, default 50; at most election-timeout-min / 3
//   tick                  ms, default 10: the node's clock resolution
//   log-level             quiet | info | debug, default info
//
// Time is counted in ticks inside the node: the election timeout is drawn
// per term from [election-timeout-min, election-timeout-max), both rounded
// down to whole ticks (raft_config's election_ticks, election_ticks_max);
// a rounding is reported at startup.

#include "actors/cluster/peer_address.hpp"

#include <caf/actor_system_config.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace raft {

/// How much a raft-node prints.
enum class log_level { quiet, info, debug };

/// The options as given, before validation.
struct node_settings {
  std::optional<uint64_t> id;
  std::string host = "127.0.0.1";
  std::optional<uint64_t> port;
  std::vector<std::string> peers;
  std::string data_dir;
  std::vector<std::string> join;
  std::string advertise;
  std::string cluster_id = "caf-raft";
  uint64_t snapshot_entries = 100'000;
  uint64_t snapshot_log_mb = 64;
  std::optional<uint64_t> client_port;
  std::string client_host;
  std::string client_password;
  uint64_t client_max_clients = 1000;
  uint64_t client_max_pipeline = 1024;
  uint64_t client_max_bulk = 16 * 1024 * 1024;
  uint64_t client_max_inline = 64 * 1024;
  uint64_t client_max_multibulk = 1024 * 1024;
  uint64_t client_max_query_buffer = 64 * 1024 * 1024;
  uint64_t election_timeout_min_ms = 150;
  uint64_t election_timeout_max_ms = 300;
  uint64_t heartbeat_interval_ms = 50;
  uint64_t tick_ms = 10;
  std::string log_level = "info";
};

/// A validated configuration, in the node's terms.
struct node_plan {
  node_id id = no_node;
  std::string host;
  uint16_t port = 0;
  /// The other members (this node's own entry removed).
  std::vector<peer_address> peers;
  std::string data_dir;
  /// Members to ask for admission (empty: not joining).
  std::vector<std::string> join;
  /// "host:port" as the other members reach this node.
  std::string advertise;
  std::string cluster_id;
  uint64_t snapshot_entries = 100'000;
  uint64_t snapshot_log_bytes = 64ull << 20;
  /// The Redis-protocol client port (0: off) and its settings.
  uint16_t client_port = 0;
  std::string client_host;
  std::string client_password;
  uint64_t client_max_clients = 1000;
  uint64_t client_max_pipeline = 1024;
  uint64_t client_max_bulk = 16 * 1024 * 1024;
  uint64_t client_max_inline = 64 * 1024;
  uint64_t client_max_multibulk = 1024 * 1024;
  uint64_t client_max_query_buffer = 64 * 1024 * 1024;
  std::chrono::milliseconds tick{10};
  int election_ticks = 15;
  int election_ticks_max = 30;
  int heartbeat_ticks = 5;
  raft::log_level level = log_level::info;
  /// Lines to print at startup (effective timeouts, adjustments).
  std::vector<std::string> notes;
};

/// Result of validate(): a plan, or one line naming the problem.
struct validation {
  std::optional<node_plan> plan;
  std::string error;
};

/// Parses one peer entry "id=host:port" (IPv6 hosts as "[::1]"); nullopt if
/// malformed (missing parts, id not a positive number, port not 1-65535).
std::optional<peer_address> parse_peer(const std::string& entry);

/// Parses "host:port" (IPv6 hosts as "[::1]"); nullopt if malformed.
std::optional<peer_address> parse_endpoint(const std::string& text);

/// True if `dir` holds a log or a snapshot (a node that has run before).
bool has_node_state(const std::string& dir);

/// Checks everything that can be checked without touching the system.
validation validate(const node_settings& s);

/// Creates `dir` if needed and writes, syncs and removes a probe file in
/// it. Returns an empty string if that worked, else one line naming the
/// problem ("data-dir ... is not writable: ...").
std::string check_data_dir(const std::string& dir);

/// raft-node's actor system configuration: the "raft" options, the
/// middleman (loaded), middleman heartbeats on by default (500 ms, connections silent for 3 s are closed:
/// the 0.17 defaults leave them off and a frozen peer is never noticed),
/// the sharing scheduler (no busy polling), and the wire protocol's message
/// types. Every default can be overridden by the usual CAF options.
class raft_node_config : public caf::actor_system_config {
public:
  raft_node_config();

  /// The raft options as parsed (call after parse()).
  node_settings settings() const;

private:
  uint64_t id_ = 0;
  std::string host_ = "127.0.0.1";
  uint16_t port_ = 0;
  std::vector<std::string> peers_;
  std::string data_dir_;
  std::vector<std::string> join_;
  std::string advertise_;
  std::string cluster_id_ = "caf-raft";
  uint64_t snapshot_entries_ = 100'000;
  uint64_t snapshot_log_mb_ = 64;
  uint16_t client_port_ = 0;
  std::string client_host_;
  std::string client_password_;
  uint64_t client_max_clients_ = 1000;
  uint64_t client_max_pipeline_ = 1024;
  uint64_t client_max_bulk_ = 16 * 1024 * 1024;
  uint64_t client_max_inline_ = 64 * 1024;
  uint64_t client_max_multibulk_ = 1024 * 1024;
  uint64_t client_max_query_buffer_ = 64 * 1024 * 1024;
  uint64_t election_timeout_min_ = 150;
  uint64_t election_timeout_max_ = 300;
  uint64_t heartbeat_interval_ = 50;
  uint64_t tick_ = 10;
  std::string log_level_ = "info";
};

} // namespace raft
