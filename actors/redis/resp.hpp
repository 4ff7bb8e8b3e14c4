#pragma once

// RESP2, the Redis serialization protocol, as a Redis-protocol client port
// needs it: an incremental parser of requests and encoders of replies. Pure
// code (no CAF, no I/O), so it can be tested alone.
//
// Requests come in two forms, told apart by their first byte, as in Redis 7
// (networking.c, processMultibulkBuffer and processInlineBuffer):
//   multibulk  *<n>\r\n then n times $<len>\r\n<len bytes>\r\n
//   inline     any other first byte: one line up to '\n' (a '\r' before it is
//              dropped), split into words like redis-cli input ("double" and
//              'single' quotes, backslash escapes)
// A protocol error is final: Redis replies it and closes the connection.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace raft::redis {

/// Bounds on what a client may send; each one guards memory before the data
/// that would justify it has arrived.
struct resp_limits {
  /// Longest bulk string ($n), bytes (Redis's proto-max-bulk-len).
  std::size_t max_bulk = 16 * 1024 * 1024;
  /// Longest inline command line, bytes; also the longest `*n` / `$n` header
  /// line (Redis's PROTO_INLINE_MAX_SIZE serves both).
  std::size_t max_inline = 64 * 1024;
  /// Most elements in one *n array.
  std::size_t max_multibulk = 1024 * 1024;
};

/// What resp_parser::next() found.
enum class parse_status { command, need_more, error };

/// One result of resp_parser::next().
struct parse_result {
  parse_status status = parse_status::need_more;
  /// The command's arguments (status command); never empty for a command.
  std::vector<std::string> args;
  /// Status error: Redis's text without the leading '-', e.g.
  /// "ERR Protocol error: invalid bulk length".
  std::string error;
};

/// An incremental RESP2 request parser. Bytes go in with feed(), in chunks of
/// any size; next() hands out the commands they complete, one at a time. Any
/// split of the same bytes into chunks gives the same commands and the same
/// final status. Work is linear in the bytes fed: a partial line or bulk is
/// never rescanned from its start. Never throws (bad_alloc aside), never
/// reads out of bounds, and never allocates ahead of the data for a length a
/// header merely announces.
class resp_parser {
public:
  /// A parser at the start of a stream.
  explicit resp_parser(resp_limits limits = {});

  /// Appends received bytes. Ignored once next() has returned an error.
  void feed(const char* data, std::size_t size);

  /// The next complete command from what was fed, or need_more if none is
  /// complete yet. Empty requests (a blank line, *0, *-1) are skipped. An
  /// error is final: this and every later call return it, and the connection
  /// is to be closed after replying it.
  parse_result next();

  /// Replaces the limits; they hold from the next check on (a connection
  /// that authenticates gets the full limits from its next request).
  void set_limits(const resp_limits& limits) { limits_ = limits; }

  /// Bytes fed that belong to no command returned yet: those of a partial
  /// request plus those not looked at. 0 at a request boundary; 0 after an
  /// error (the rest of the stream is dropped).
  std::size_t buffered() const;

private:
  /// Where in a request the parser stands.
  enum class state : uint8_t {
    start,       // between requests: the next byte chooses the form
    inline_line, // an inline line, up to '\n'
    count_line,  // the *<n> line of a multibulk request
    bulk_line,   // the $<len> line of the next element
    bulk_data,   // the element's bytes, then its CRLF
    failed,      // a protocol error; final
  };

  /// Bytes received and not yet consumed: buf_[pos_, buf_.size()).
  std::size_t available() const { return buf_.size() - pos_; }
  /// Consumes `n` available bytes of the current request.
  void consume(std::size_t n);
  /// Drops consumed bytes from the front of buf_ once that is cheap
  /// (amortized: at most as many bytes moved as consumed).
  void compact();
  /// The current request is complete or skipped: back to `start`.
  void end_request();

  /// What one parsing step achieved.
  enum class step : uint8_t {
    go_on, // progress made; state_ says what comes next
    wait,  // more bytes are needed
    done,  // `out` holds a command or an error
  };

  // One step per state; each consumes what it can and says how it went.
  step step_start();
  step step_inline(parse_result& out);
  step step_header(parse_result& out);
  step step_bulk_data(parse_result& out);

  /// Looks for the '\r' ending the current header line, from scan_ on.
  /// go_on once the '\r' and the byte after it have arrived (scan_ is then
  /// the '\r''s offset); wait for more bytes; done (with the error in `out`)
  /// if no '\r' comes within max_inline bytes.
  step find_header_end(parse_result& out, std::string_view too_big);

  /// Enters the failed state with "ERR Protocol error: " + `text`, which
  /// `out` carries; returns done.
  step fail(parse_result& out, std::string_view text);

  resp_limits limits_;
  state state_ = state::start;
  std::string buf_;
  // Invariant: pos_ <= buf_.size(); bytes before pos_ are consumed.
  std::size_t pos_ = 0;
  // In inline_line, count_line and bulk_line: how far past pos_ (the line's
  // start) the terminator has been searched for. Invariant: scan_ <=
  // available() and scan_ <= max_inline + 1.
  std::size_t scan_ = 0;
  // Bytes of the current request consumed so far (for buffered()).
  std::size_t partial_ = 0;
  // Multibulk: elements still to come after the ones in args_.
  std::size_t remaining_ = 0;
  // bulk_data: the element's announced length (its bytes go to
  // args_.back() as they arrive). Invariant: args_.back().size() <= bulk_len_.
  std::size_t bulk_len_ = 0;
  std::vector<std::string> args_;
  std::string error_;
};

// --- Reply encoders: each appends one RESP2 value to `out` -----------------

/// "+text\r\n"; CR and LF in `text` become spaces (a status line is one line).
void append_simple(std::string& out, std::string_view text);
/// "-text\r\n", the same CR/LF rule; `text` starts with the error code word,
/// e.g. "ERR unknown command".
void append_error(std::string& out, std::string_view text);
/// ":value\r\n".
void append_integer(std::string& out, int64_t value);
/// "$n\r\ndata\r\n"; binary safe.
void append_bulk(std::string& out, std::string_view data);
/// "$-1\r\n", the null bulk string (e.g. GET of a missing key).
void append_null_bulk(std::string& out);
/// "*n\r\n"; the n elements follow, appended by the caller.
void append_array_header(std::string& out, std::size_t n);
/// "*-1\r\n", the null array.
void append_null_array(std::string& out);

} // namespace raft::redis
