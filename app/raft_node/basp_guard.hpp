#pragma once

// basp_guard: a TCP front for the middleman's port that drops connections
// whose BASP framing is implausible, before CAF sees a byte of them.
//
// Why: CAF 0.17.6 trusts the payload length of a BASP header. One forged
// 32-byte header (operation server_handshake, payload_len 0xFFFFFFFF) makes
// its multiplexer allocate and zero-fill a 4 GiB buffer: memory grows by
// gigabytes and the node stalls; random bytes hit this about once per 256
// connections. raft-node therefore publishes its gateway on an internal
// loopback port and accepts peers and clients here, on the configured
// host:port, relaying each connection to the internal port while checking
// the client-to-node stream frame by frame:
//
// * the first frame must be a client_handshake with a small payload (the
//   connecting side of BASP speaks second, with exactly that message);
// * every header must name a known operation (0-6, never server_handshake)
//   and announce at most max_payload bytes.
//
// A violation closes the connection (logged, rate-limited). Traffic from
// the node to the client is relayed unchanged.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace raft {

/// A running guard: one thread relaying all connections.
class basp_guard {
public:
  struct options {
    /// Largest payload of the first frame (the client handshake).
    std::size_t max_handshake_payload = 64 * 1024;
    /// Largest payload of any later frame. Must exceed the largest message
    /// (an AppendEntries is bounded by max_bytes_per_append, 1 MiB).
    std::size_t max_payload = 64u << 20;
    /// Most connections relayed at once; more are refused.
    std::size_t max_connections = 1024;
    /// Receives one line per refused connection (rate-limited); none if empty.
    std::function<void(const std::string&)> log;
  };

  /// Binds and listens on host:port (SO_REUSEADDR, as the middleman does).
  /// Returns null and sets `error` (one line) if that fails. Connections
  /// queue until start() is called.
  static std::unique_ptr<basp_guard> listen(const std::string& host, uint16_t port,
                                            options opts, std::string& error);

  /// Starts relaying every connection to 127.0.0.1:`target_port`.
  void start(uint16_t target_port);

  /// Stops the thread and closes every connection.
  ~basp_guard();

  basp_guard(const basp_guard&) = delete;
  basp_guard& operator=(const basp_guard&) = delete;

  /// The port listened on.
  uint16_t port() const;

  struct impl;

private:
  explicit basp_guard(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace raft
