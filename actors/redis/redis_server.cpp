#include "actors/redis/redis_server.hpp"

#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/receive_policy.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/scoped_actor.hpp>

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
  /// Reading is suspended (too many unanswered requests).
  bool halted = false;

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
             uint64_t serial, uint64_t seq, std::string bytes) {
  auto i = st->conns.find(hdl);
  if (i == st->conns.end() || i->second.serial != serial)
    return; // the client went away; its answer goes nowhere
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
      auto cmd = a.cmd; // kept for the no-answer reply
      self->request(st->target, st->opts.request_timeout, std::move(a.cmd))
        .then(
          [self, st, hdl, serial, seq, shape](client_reply& r) {
            deliver(self, st, hdl, serial, seq, render(shape, r));
          },
          [self, st, hdl, serial, seq, cmd](caf::error& e) {
            deliver(self, st, hdl, serial, seq,
                    render_no_answer(cmd, self->system().render(e)));
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

/// Parses what can be parsed, writes the replies that are due in order,
/// closes a connection whose last reply is out, and suspends or resumes
/// reading to keep at most max_pipeline requests unanswered.
void pump(caf::io::broker* self, const state_ptr& st, caf::io::connection_handle hdl) {
  for (;;) {
    auto i = st->conns.find(hdl);
    if (i == st->conns.end())
      return;
    auto& c = i->second;
    while (!c.closing && c.unanswered() < st->opts.max_pipeline) {
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
    }
    if (last_written) {
      // The socket sends what is buffered before the FIN.
      self->close(hdl);
      st->conns.erase(i);
      return;
    }
    bool full = c.unanswered() >= st->opts.max_pipeline;
    if (full && !c.halted) {
      self->halt(hdl);
      c.halted = true;
    } else if (!full && c.halted) {
      self->trigger(hdl);
      c.halted = false;
    }
    // Writing made room and requests may still wait in the parser's buffer.
    if (!out.empty() && !full && !c.closing && c.parser.buffered() > 0)
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
      self->configure_read(m.handle, caf::io::receive_policy::at_most(read_chunk));
    },
    [self, st](caf::io::new_data_msg& m) {
      auto i = st->conns.find(m.handle);
      if (i == st->conns.end() || i->second.closing)
        return; // input after QUIT or a protocol error is ignored
      i->second.parser.feed(m.buf.data(), m.buf.size());
      pump(self, st, m.handle);
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
