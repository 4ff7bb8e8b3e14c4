#include "actors/redis/redis_server.hpp"

#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/receive_policy.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/scoped_actor.hpp>

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <utility>

namespace raft::redis {

namespace {

/// Asks the broker to open its listening socket (from inside its event loop).
using redis_open_atom = caf::atom_constant<caf::atom("rd_open")>;

/// Bytes asked of the socket per read.
constexpr std::size_t read_chunk = 64 * 1024;

struct connection {
  explicit connection(const resp_limits& limits) : parser(limits) {}
  resp_parser parser;
  session sess;
  /// Unique per connection. CAF 0.17 names a connection by its socket, and
  /// the kernel hands a closed socket's number to the next connection: an
  /// answer still on its way for a closed connection must not be written
  /// to the new one that took its handle (found by the fuzz test).
  uint64_t serial = 0;
  /// Sequence number of the next request, and of the next reply to write.
  uint64_t next_seq = 0;
  uint64_t next_out = 0;
  /// Replies not written yet because one before them is still missing.
  std::map<uint64_t, std::string> ready;
  /// After a protocol error or QUIT: no more requests; close once the reply
  /// numbered close_at is written.
  bool closing = false;
  uint64_t close_at = std::numeric_limits<uint64_t>::max();
  /// Reply bytes handed to the socket and not sent yet (the client does not
  /// read them): past max_output_pending no more requests are parsed.
  uint64_t unsent = 0;
  /// The parser has the limits for a client that has not authenticated.
  bool pre_auth_limits = false;
  /// The largest reply of this connection so far: with large values fewer
  /// requests are let in flight at once (see may_parse).
  std::size_t max_reply = 0;
  /// Bytes of the requests sent to the node and not answered yet.
  std::size_t inflight_bytes = 0;

  uint64_t unanswered() const { return next_seq - next_out; }
};

struct server_state {
  kv_service_actor target;
  redis_server_options opts;
  command_settings settings;
  std::map<caf::io::connection_handle, connection> conns;
  uint64_t next_client_id = 0; // also the connections' serials
};

using state_ptr = std::shared_ptr<server_state>;

void log(const state_ptr& st, const std::string& line) {
  if (st->opts.log)
    st->opts.log(line);
}

void pump(caf::io::broker* self, const state_ptr& st, caf::io::connection_handle hdl);

/// Stores the reply numbered `seq` of connection `serial` and writes what
/// can be written.
void deliver(caf::io::broker* self, const state_ptr& st, caf::io::connection_handle hdl,
             uint64_t serial, uint64_t seq, std::string bytes, std::size_t request_bytes = 0) {
  auto i = st->conns.find(hdl);
  if (i == st->conns.end() || i->second.serial != serial)
    return; // the client went away; its answer goes nowhere
  i->second.inflight_bytes -= std::min(i->second.inflight_bytes, request_bytes);
  i->second.max_reply = std::max(i->second.max_reply, bytes.size());
  i->second.ready.emplace(seq, std::move(bytes));
  pump(self, st, hdl);
}

/// Turns one parsed request into a reply now or a request to the node.
void dispatch(caf::io::broker* self, const state_ptr& st, caf::io::connection_handle hdl,
              connection& c, const std::vector<std::string>& args) {
  auto seq = c.next_seq++;
  auto serial = c.serial;
  auto a = interpret(args, c.sess, st->settings);
  switch (a.what) {
    case action::kind::reply:
      c.ready.emplace(seq, std::move(a.reply));
      if (a.close_after) {
        c.closing = true;
        c.close_at = seq;
      }
      return;
    case action::kind::node: {
      auto shape = a.shape;
      std::size_t size = a.cmd.key.size() + a.cmd.value.size() + a.cmd.expected.size();
      for (const auto& arg : a.cmd.args)
        size += arg.size();
      c.inflight_bytes += size;
      auto op = a.cmd.op; // for the no-answer reply
      self->request(st->target, st->opts.request_timeout, std::move(a.cmd))
        .then(
          [self, st, hdl, serial, seq, shape, size](client_reply& r) {
            deliver(self, st, hdl, serial, seq, render(shape, r), size);
          },
          [self, st, hdl, serial, seq, op, size](caf::error& e) {
            deliver(self, st, hdl, serial, seq, render_no_answer(op, self->system().render(e)),
                    size);
          });
      return;
    }
    case action::kind::info: {
      auto section = a.section;
      self->request(st->target, st->opts.request_timeout, status_atom::value)
        .then(
          [self, st, hdl, serial, seq, section](node_status& s) {
            deliver(self, st, hdl, serial, seq,
                    render_info(section, s, st->settings, st->conns.size()));
          },
          [self, st, hdl, serial, seq](caf::error& e) {
            std::string out;
            append_error(out, "TRYAGAIN the node's status is unavailable ("
                                + self->system().render(e) + ")");
            deliver(self, st, hdl, serial, seq, std::move(out));
          });
      return;
    }
  }
}

/// The limits of a client that must still AUTH (Redis's own since the fix of
/// CVE-2021-32675): nobody may make the node buffer much before proving who
/// they are.
resp_limits pre_auth(const resp_limits& full) {
  resp_limits l = full;
  l.max_bulk = std::min<std::size_t>(l.max_bulk, 16 * 1024);
  l.max_multibulk = std::min<std::size_t>(l.max_multibulk, 10);
  return l;
}

/// Requests in flight for a connection that has had no reply yet (its
/// reply sizes are unknown): a slow start, so that a first burst of reads
/// of large values cannot make the node build gigabytes of replies at once.
constexpr std::size_t first_flight = 32;

/// Whether `c` may take another request now: not closing, its client reads
/// its replies, less than max_inflight_bytes of its requests with the node,
/// and fewer than max_pipeline unanswered -- fewer still while
/// its reply sizes are unknown or once it has had large replies, so that the
/// answers in flight stay near max_output_pending bytes (at least one
/// request is always let through).
bool may_parse(const state_ptr& st, const connection& c) {
  if (c.closing || c.unsent >= st->opts.max_output_pending
      || c.inflight_bytes >= st->opts.max_inflight_bytes)
    return false;
  auto cap = c.max_reply == 0
               ? first_flight
               : std::max<std::size_t>(1, st->opts.max_output_pending / c.max_reply);
  return c.unanswered() < std::min(st->opts.max_pipeline, cap);
}

/// Closes `hdl` at once, dropping whatever it still had to send or receive.
void drop(caf::io::broker* self, const state_ptr& st, caf::io::connection_handle hdl,
          const std::string& why) {
  log(st, "redis port: closed a connection: " + why);
  self->close(hdl);
  st->conns.erase(hdl);
}

/// Parses what can be parsed, writes the replies that are due in order, and
/// closes a connection whose last reply is out. The socket is always read
/// (CAF 0.17's halt/trigger cannot be toggled safely within one event-loop
/// round); while a connection may not take requests (may_parse), its input
/// waits in the parser, up to max_query_buffer bytes.
void pump(caf::io::broker* self, const state_ptr& st, caf::io::connection_handle hdl) {
  for (;;) {
    auto i = st->conns.find(hdl);
    if (i == st->conns.end())
      return;
    auto& c = i->second;
    while (may_parse(st, c)) {
      auto r = c.parser.next();
      if (r.status == parse_status::need_more)
        break;
      if (r.status == parse_status::error) {
        // Answered, then the connection closes (Redis does the same).
        std::string out;
        append_error(out, r.error);
        auto seq = c.next_seq++;
        c.ready.emplace(seq, std::move(out));
        c.closing = true;
        c.close_at = seq;
        break;
      }
      dispatch(self, st, hdl, c, r.args);
      if (c.pre_auth_limits && c.sess.authenticated) {
        c.parser.set_limits(st->opts.limits);
        c.pre_auth_limits = false;
      }
    }
    if (!c.closing && c.parser.buffered() > st->opts.max_query_buffer) {
      // A request that large, or that much input while the connection may
      // not take requests: Redis closes such a client (query buffer limit).
      drop(self, st, hdl,
           "more than " + std::to_string(st->opts.max_query_buffer)
             + " bytes of requests buffered (a request too large, or a client that sends "
               "without reading its replies)");
      return;
    }
    std::string out;
    bool last_written = false;
    for (auto r = c.ready.find(c.next_out); r != c.ready.end(); r = c.ready.find(c.next_out)) {
      out += r->second;
      c.ready.erase(r);
      last_written = c.closing && c.next_out == c.close_at;
      ++c.next_out;
      if (last_written)
        break;
    }
    if (!out.empty()) {
      self->write(hdl, out.size(), out.data());
      self->flush(hdl);
      c.unsent += out.size(); // until the socket reports (data_transferred_msg)
    }
    if (last_written) {
      // The socket sends what is buffered before the FIN.
      self->close(hdl);
      st->conns.erase(i);
      return;
    }
    // Writing made room and requests may still wait in the parser's buffer.
    if (!out.empty() && may_parse(st, c) && c.parser.buffered() > 0)
      continue;
    return;
  }
}

caf::behavior redis_broker(caf::io::broker* self, state_ptr st) {
  return {
    [self, st](redis_open_atom) -> caf::result<uint16_t> {
      auto r = self->add_tcp_doorman(st->opts.port, st->opts.host.c_str(), true);
      if (!r)
        return std::move(r.error());
      st->settings.port = r->second;
      return r->second;
    },
    [self, st](const caf::io::new_connection_msg& m) {
      if (st->conns.size() >= st->opts.max_clients) {
        std::string out;
        append_error(out, "ERR max number of clients reached");
        self->write(m.handle, out.size(), out.data());
        self->flush(m.handle);
        self->close(m.handle);
        log(st, "redis port: refused a connection (max clients "
                  + std::to_string(st->opts.max_clients) + " reached)");
        return;
      }
      // A handle still in the table is a socket number the kernel reused
      // before its close reached us: that connection is gone.
      st->conns.erase(m.handle);
      auto [i, added] = st->conns.try_emplace(m.handle, st->opts.limits);
      i->second.serial = ++st->next_client_id;
      i->second.sess.client_id = i->second.serial;
      i->second.sess.authenticated = st->settings.password.empty();
      if (!i->second.sess.authenticated) {
        i->second.parser.set_limits(pre_auth(st->opts.limits));
        i->second.pre_auth_limits = true;
      }
      self->configure_read(m.handle, caf::io::receive_policy::at_most(read_chunk));
      // Reports of what the socket sent: how much of the replies the client
      // has not taken yet.
      self->ack_writes(m.handle, true);
    },
    [self, st](caf::io::new_data_msg& m) {
      auto i = st->conns.find(m.handle);
      if (i == st->conns.end() || i->second.closing)
        return; // input after QUIT or a protocol error is ignored
      i->second.parser.feed(m.buf.data(), m.buf.size());
      pump(self, st, m.handle);
    },
    [self, st](const caf::io::data_transferred_msg& m) {
      auto i = st->conns.find(m.handle);
      if (i == st->conns.end())
        return;
      bool was_blocked = i->second.unsent >= st->opts.max_output_pending;
      i->second.unsent = m.remaining;
      if (was_blocked && i->second.unsent < st->opts.max_output_pending)
        pump(self, st, m.handle); // the client reads again: take its requests
    },
    [st](const caf::io::connection_closed_msg& m) { st->conns.erase(m.handle); },
    [self, st](const caf::io::acceptor_closed_msg&) {
      log(st, "redis port: the listening socket closed");
      self->quit();
    },
  };
}

} // namespace

caf::expected<redis_server> start_redis_server(caf::actor_system& sys,
                                               kv_service_actor target,
                                               redis_server_options opts) {
  auto st = std::make_shared<server_state>();
  st->target = std::move(target);
  st->settings.password = opts.password;
  st->settings.port = opts.port;
  auto where = opts.host + ":" + std::to_string(opts.port);
  st->opts = std::move(opts);
  auto broker = sys.middleman().spawn_broker(redis_broker, st);
  caf::scoped_actor self{sys};
  caf::expected<redis_server> result{caf::sec::invalid_argument};
  self->request(broker, caf::infinite, redis_open_atom::value)
    .receive(
      [&](uint16_t port) {
        result = redis_server{broker, port};
      },
      [&](caf::error& e) {
        caf::anon_send_exit(broker, caf::exit_reason::user_shutdown);
        result = caf::make_error(caf::sec::cannot_open_port,
                                 "cannot open the redis port at " + where + ": "
                                   + sys.render(e));
      });
  return result;
}

} // namespace raft::redis
