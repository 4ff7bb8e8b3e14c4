#include "app/raft_node/basp_guard.hpp"

#include <caf/io/basp/header.hpp>
#include <caf/io/basp/message_type.hpp>

#include <algorithm>
#include <array>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <list>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace raft {

namespace {

/// Size of a BASP header in CAF 0.17 (caf::io::basp::header_size): operation,
/// two padding bytes, flags, payload_len (u32), operation_data (u64), source
/// and destination actor (u64 each); integers in network byte order.
constexpr std::size_t header_size = 32;
constexpr uint8_t client_handshake = 0x01;
constexpr uint8_t last_operation = 0x06; // heartbeat
static_assert(header_size == caf::io::basp::header_size);
static_assert(client_handshake
              == static_cast<uint8_t>(caf::io::basp::message_type::client_handshake));
static_assert(last_operation == static_cast<uint8_t>(caf::io::basp::message_type::heartbeat));
/// Stop reading a side while this much is waiting to be written to the other.
constexpr std::size_t buffer_cap = 4u << 20;
constexpr std::size_t read_chunk = 64 * 1024;

void close_fd(int& fd) {
  if (fd >= 0)
    ::close(fd);
  fd = -1;
}

std::string address_of(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    ::inet_ntop(AF_INET, &a.sin_addr, host, sizeof(host));
    port = ntohs(a.sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    ::inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof(host));
    port = ntohs(a.sin6_port);
  }
  return std::string{host} + ":" + std::to_string(port);
}

/// Follows the BASP framing of the client-to-node stream.
class frame_checker {
public:
  /// Feeds the next bytes; returns why the stream is refused, or "".
  std::string feed(const char* data, std::size_t n, const basp_guard::options& opts) {
    std::size_t i = 0;
    while (i < n) {
      if (payload_left_ > 0) {
        auto k = std::min<uint64_t>(payload_left_, n - i);
        payload_left_ -= k;
        i += k;
        continue;
      }
      auto k = std::min(header_size - have_, n - i);
      std::memcpy(header_.data() + have_, data + i, k);
      have_ += k;
      i += k;
      if (have_ < header_size)
        break;
      have_ = 0;
      uint8_t op = header_[0];
      uint32_t len = (uint32_t{header_[4]} << 24) | (uint32_t{header_[5]} << 16)
                     | (uint32_t{header_[6]} << 8) | uint32_t{header_[7]};
      if (first_) {
        if (op != client_handshake)
          return "first frame is not a client handshake (operation " + std::to_string(op) + ")";
        if (len > opts.max_handshake_payload)
          return "handshake announces " + std::to_string(len) + " bytes";
        first_ = false;
      } else {
        if (op == 0 || op > last_operation)
          return "unknown BASP operation " + std::to_string(op);
        if (len > opts.max_payload)
          return "frame announces " + std::to_string(len) + " bytes";
      }
      payload_left_ = len;
    }
    return {};
  }

private:
  std::array<unsigned char, header_size> header_{};
  std::size_t have_ = 0;
  uint64_t payload_left_ = 0;
  bool first_ = true;
};

/// A byte queue toward one socket.
struct outbox {
  std::vector<char> data;
  std::size_t offset = 0;

  std::size_t pending() const { return data.size() - offset; }

  void append(const char* p, std::size_t n) { data.insert(data.end(), p, p + n); }

  /// Writes what the socket takes; false on a hard error.
  bool flush(int fd) {
    while (pending() > 0) {
      auto n = ::send(fd, data.data() + offset, pending(), MSG_NOSIGNAL);
      if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      offset += static_cast<std::size_t>(n);
    }
    data.clear();
    offset = 0;
    return true;
  }
};

/// One relayed connection.
struct relay {
  int client = -1;
  int node = -1;
  bool node_connected = false;
  bool closed = false;
  std::string peer;
  outbox to_node;
  outbox to_client;
  frame_checker checker;
};

} // namespace

struct basp_guard::impl {
  options opts;
  int listen_fd = -1;
  uint16_t port = 0;
  uint16_t target_port = 0;
  int wake[2] = {-1, -1};
  std::atomic<bool> stopping{false};
  std::thread thread;
  std::list<relay> relays;
  uint64_t refused = 0;
  /// Out of file descriptors: stop accepting until then (else poll would
  /// report the pending connection forever and spin).
  std::chrono::steady_clock::time_point accept_paused_until{};

  ~impl() {
    for (auto& r : relays) {
      close_fd(r.client);
      close_fd(r.node);
    }
    close_fd(listen_fd);
    close_fd(wake[0]);
    close_fd(wake[1]);
  }

  void note_refused(const relay& r, const std::string& why) {
    ++refused;
    if (opts.log && (refused <= 10 || refused % 100 == 0))
      opts.log("[guard] dropped connection from " + r.peer + ": " + why + " (" +
               std::to_string(refused) + " so far)");
  }

  void close_relay(relay& r) {
    close_fd(r.client);
    close_fd(r.node);
    r.closed = true;
  }

  void accept_all() {
    for (;;) {
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
          accept_paused_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
        return; // EAGAIN, or a connection that vanished meanwhile
      }
      if (relays.size() >= opts.max_connections) {
        ::close(fd);
        continue;
      }
      relay r;
      r.client = fd;
      r.peer = address_of(ss);
      r.node = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      int on = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
      if (r.node >= 0)
        ::setsockopt(r.node, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      to.sin_port = htons(target_port);
      if (r.node < 0
          || (::connect(r.node, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0
              && errno != EINPROGRESS)) {
        close_relay(r);
        continue;
      }
      relays.push_back(std::move(r));
    }
  }

  /// Reads what `fd` has (at most one chunk); false on EOF or error.
  static bool read_some(int fd, std::vector<char>& buf) {
    buf.resize(read_chunk);
    auto n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n > 0) {
      buf.resize(static_cast<std::size_t>(n));
      return true;
    }
    buf.clear();
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
  }

  void on_client(relay& r, short ev, std::vector<char>& buf) {
    if (ev & POLLIN) {
      if (!read_some(r.client, buf)) {
        close_relay(r);
        return;
      }
      if (auto why = r.checker.feed(buf.data(), buf.size(), opts); !why.empty()) {
        note_refused(r, why);
        close_relay(r);
        return;
      }
      r.to_node.append(buf.data(), buf.size());
    } else if (ev & (POLLHUP | POLLERR)) {
      close_relay(r);
      return;
    }
    if ((ev & POLLOUT) && !r.to_client.flush(r.client))
      close_relay(r);
  }

  void on_node(relay& r, short ev, std::vector<char>& buf) {
    if (!r.node_connected && (ev & (POLLOUT | POLLERR | POLLHUP))) {
      int err = 0;
      socklen_t len = sizeof(err);
      if (::getsockopt(r.node, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        close_relay(r);
        return;
      }
      r.node_connected = true;
    }
    if (!r.node_connected)
      return;
    if (ev & POLLIN) {
      if (!read_some(r.node, buf)) {
        close_relay(r);
        return;
      }
      r.to_client.append(buf.data(), buf.size());
    } else if (ev & (POLLHUP | POLLERR)) {
      close_relay(r);
      return;
    }
    if (!r.to_node.flush(r.node))
      close_relay(r);
  }

  void run() {
    std::vector<pollfd> fds;
    std::vector<relay*> order;
    std::vector<char> buf;
    while (!stopping) {
      fds.clear();
      order.clear();
      auto now = std::chrono::steady_clock::now();
      bool accepting = relays.size() < opts.max_connections && now >= accept_paused_until;
      int timeout_ms = -1;
      if (now < accept_paused_until)
        timeout_ms = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(accept_paused_until - now).count()
          + 1);
      fds.push_back({wake[0], POLLIN, 0});
      fds.push_back({listen_fd, static_cast<short>(accepting ? POLLIN : 0), 0});
      for (auto& r : relays) {
        short client_ev = 0;
        if (r.to_node.pending() < buffer_cap)
          client_ev |= POLLIN;
        if (r.to_client.pending() > 0)
          client_ev |= POLLOUT;
        short node_ev = 0;
        if (!r.node_connected || r.to_node.pending() > 0)
          node_ev |= POLLOUT;
        if (r.node_connected && r.to_client.pending() < buffer_cap)
          node_ev |= POLLIN;
        fds.push_back({r.client, client_ev, 0});
        fds.push_back({r.node, node_ev, 0});
        order.push_back(&r);
      }
      if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
        if (errno == EINTR)
          continue;
        return;
      }
      if (fds[0].revents != 0)
        return; // stop requested
      if (fds[1].revents & POLLIN)
        accept_all();
      for (std::size_t i = 0; i < order.size(); ++i) {
        auto& r = *order[i];
        if (!r.closed && fds[2 + 2 * i].revents != 0)
          on_client(r, fds[2 + 2 * i].revents, buf);
        if (!r.closed && fds[3 + 2 * i].revents != 0)
          on_node(r, fds[3 + 2 * i].revents, buf);
        // Bytes read this round go out at once where the socket takes them.
        if (!r.closed && r.node_connected && !r.to_node.flush(r.node))
          close_relay(r);
        if (!r.closed && !r.to_client.flush(r.client))
          close_relay(r);
      }
      relays.remove_if([](const relay& r) { return r.closed; });
    }
  }
};

basp_guard::basp_guard(std::unique_ptr<impl> p) : impl_(std::move(p)) {
  // nop
}

std::unique_ptr<basp_guard> basp_guard::listen(const std::string& host, uint16_t port,
                                               options opts, std::string& error) {
  auto where = "cannot listen on " + host + ":" + std::to_string(port) + ": ";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    error = where + ::gai_strerror(rc);
    return nullptr;
  }
  auto p = std::make_unique<impl>();
  p->opts = std::move(opts);
  int last_errno = 0;
  for (auto* ai = res; ai != nullptr && p->listen_fd < 0; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                      ai->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
      last_errno = errno;
      ::close(fd);
      continue;
    }
    p->listen_fd = fd;
  }
  ::freeaddrinfo(res);
  if (p->listen_fd < 0) {
    error = where + (last_errno == EADDRINUSE ? "port " + service + " is already in use"
                                              : std::string{std::strerror(last_errno)});
    return nullptr;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(p->listen_fd, reinterpret_cast<sockaddr*>(&ss), &len);
  p->port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6&>(ss).sin6_port)
                                     : ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port);
  if (::pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    error = where + "pipe: " + std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<basp_guard>(new basp_guard(std::move(p)));
}

void basp_guard::start(uint16_t target_port) {
  impl_->target_port = target_port;
  impl_->thread = std::thread([p = impl_.get()] { p->run(); });
}

basp_guard::~basp_guard() {
  impl_->stopping = true;
  if (impl_->thread.joinable()) {
    [[maybe_unused]] auto n = ::write(impl_->wake[1], "x", 1);
    impl_->thread.join();
  }
}

uint16_t basp_guard::port() const {
  return impl_->port;
}

} // namespace raft
