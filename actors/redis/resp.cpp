#include "actors/redis/resp.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <utility>

namespace raft::redis {

namespace {

constexpr std::string_view protocol_error = "ERR Protocol error: ";

/// Compaction moves the unconsumed tail to the front of the buffer; waiting
/// until this much is consumed (and at least half the buffer) keeps the
/// moves linear overall.
constexpr std::size_t compact_threshold = 4096;

/// A buffer left this large by a burst is given back once it drains.
constexpr std::size_t shrink_threshold = 1024 * 1024;

/// Parses a length as Redis's string2ll does: an optional '-', then "0" or
/// digits without a leading zero, nothing else (no '+', no spaces, no "-0"),
/// and no overflow of int64.
bool parse_length(std::string_view text, int64_t& out) {
  if (text == "0") {
    out = 0;
    return true;
  }
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  if (text.empty() || text.front() < '1' || text.front() > '9')
    return false;
  constexpr uint64_t max_magnitude =
    uint64_t{std::numeric_limits<int64_t>::max()} + 1; // |INT64_MIN|
  uint64_t magnitude = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return false;
    auto digit = static_cast<uint64_t>(c - '0');
    if (magnitude > (max_magnitude - digit) / 10)
      return false;
    magnitude = magnitude * 10 + digit;
  }
  if (negative) {
    // -(2^63) is representable, 2^63 is not.
    out = magnitude == max_magnitude
            ? std::numeric_limits<int64_t>::min()
            : -static_cast<int64_t>(magnitude);
    return true;
  }
  if (magnitude == max_magnitude)
    return false;
  out = static_cast<int64_t>(magnitude);
  return true;
}

// --- Inline requests: sdssplitargs's rules ----------------------------------

/// C's isspace in the "C" locale: what separates words.
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f'
         || c == '\r';
}

/// What ends an unquoted word. Not '\v' nor '\f': sdssplitargs skips them
/// between words but keeps them inside one.
bool ends_word(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/// The value of a hex digit, or -1.
int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// The byte a backslash escape inside double quotes stands for: \n \r \t \b
/// \a, and any other character as itself (so \\ and \" too).
char unescape(char c) {
  switch (c) {
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'b': return '\b';
    case 'a': return '\a';
    default: return c;
  }
}

/// A closing quote at `i` - 1 must be followed by a separator or the end.
bool closes_cleanly(std::string_view line, std::size_t i) {
  return i == line.size() || is_space(line[i]);
}

/// Reads a "double quoted" part, `i` just past the opening quote, into
/// `word`; leaves `i` just past the closing quote. False if the quote is
/// never closed or is followed by something other than a separator.
bool read_double_quoted(std::string_view line, std::size_t& i,
                        std::string& word) {
  const std::size_t n = line.size();
  while (i < n) {
    char c = line[i];
    if (c == '\\' && n - i >= 4 && line[i + 1] == 'x'
        && hex_value(line[i + 2]) >= 0 && hex_value(line[i + 3]) >= 0) {
      word.push_back(static_cast<char>(hex_value(line[i + 2]) * 16
                                       + hex_value(line[i + 3])));
      i += 4;
    } else if (c == '\\' && i + 1 < n) {
      word.push_back(unescape(line[i + 1]));
      i += 2;
    } else if (c == '"') {
      ++i;
      return closes_cleanly(line, i);
    } else {
      // Includes a backslash at the very end: kept, then the quote is
      // unbalanced.
      word.push_back(c);
      ++i;
    }
  }
  return false;
}

/// Reads a 'single quoted' part like read_double_quoted; the only escape is
/// \' (any other backslash is kept as is).
bool read_single_quoted(std::string_view line, std::size_t& i,
                        std::string& word) {
  const std::size_t n = line.size();
  while (i < n) {
    char c = line[i];
    if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
      word.push_back('\'');
      i += 2;
    } else if (c == '\'') {
      ++i;
      return closes_cleanly(line, i);
    } else {
      word.push_back(c);
      ++i;
    }
  }
  return false;
}

/// Splits an inline request line into words as sdssplitargs does. A quoted
/// part may start inside a word (foo"bar" is foobar) and ends it. A NUL byte
/// is an ordinary character (Redis never gets that far with one: its C
/// string search for the newline stops at the NUL). False on unbalanced
/// quotes; `args` is then incomplete.
bool split_inline(std::string_view line, std::vector<std::string>& args) {
  const std::size_t n = line.size();
  std::size_t i = 0;
  for (;;) {
    while (i < n && is_space(line[i]))
      ++i;
    if (i == n)
      return true;
    std::string word;
    while (i < n) {
      char c = line[i++];
      if (ends_word(c))
        break;
      if (c == '"') {
        if (!read_double_quoted(line, i, word))
          return false;
        break;
      }
      if (c == '\'') {
        if (!read_single_quoted(line, i, word))
          return false;
        break;
      }
      word.push_back(c);
    }
    args.push_back(std::move(word));
  }
}

// --- Encoding ----------------------------------------------------------------

/// Appends `type`, `text` with CR and LF made spaces, and CRLF.
void append_line(std::string& out, char type, std::string_view text) {
  out.push_back(type);
  std::size_t start = out.size();
  out.append(text);
  std::replace_if(
    out.begin() + static_cast<std::ptrdiff_t>(start), out.end(),
    [](char c) { return c == '\r' || c == '\n'; }, ' ');
  out.append("\r\n");
}

/// Appends `type`, the decimal `value`, and CRLF.
template <class Integer>
void append_number(std::string& out, char type, Integer value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  (void) ec; // 24 characters hold any 64-bit integer
  out.push_back(type);
  out.append(digits, end);
  out.append("\r\n");
}

} // namespace

// --- resp_parser -------------------------------------------------------------

resp_parser::resp_parser(resp_limits limits) : limits_(limits) {
}

void resp_parser::feed(const char* data, std::size_t size) {
  if (state_ == state::failed || size == 0)
    return;
  compact();
  buf_.append(data, size);
}

std::size_t resp_parser::buffered() const {
  return state_ == state::failed ? 0 : partial_ + available();
}

parse_result resp_parser::next() {
  parse_result out;
  for (;;) {
    step result = step::wait;
    switch (state_) {
      case state::failed:
        out.status = parse_status::error;
        out.error = error_;
        return out;
      case state::start: result = step_start(); break;
      case state::inline_line: result = step_inline(out); break;
      case state::count_line:
      case state::bulk_line: result = step_header(out); break;
      case state::bulk_data: result = step_bulk_data(out); break;
    }
    if (result == step::done)
      return out;
    if (result == step::wait) {
      compact();
      return out; // need_more
    }
  }
}

void resp_parser::consume(std::size_t n) {
  pos_ += n;
  partial_ += n;
}

void resp_parser::compact() {
  if (pos_ == buf_.size()) {
    if (buf_.capacity() > shrink_threshold)
      std::string{}.swap(buf_);
    else
      buf_.clear();
    pos_ = 0;
  } else if (pos_ >= compact_threshold && pos_ >= buf_.size() / 2) {
    // Offsets kept while scanning a line (scan_) are relative to pos_, so
    // they stay valid.
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

void resp_parser::end_request() {
  state_ = state::start;
  scan_ = 0;
  partial_ = 0;
  remaining_ = 0;
  bulk_len_ = 0;
}

resp_parser::step resp_parser::fail(parse_result& out, std::string_view text) {
  error_.assign(protocol_error);
  error_.append(text);
  state_ = state::failed;
  // The connection closes after the reply: nothing fed is of use any more.
  std::string{}.swap(buf_);
  pos_ = 0;
  partial_ = 0;
  args_.clear();
  out.status = parse_status::error;
  out.args.clear();
  out.error = error_;
  return step::done;
}

resp_parser::step resp_parser::step_start() {
  if (available() == 0)
    return step::wait;
  // processInputBuffer: '*' starts a multibulk request, anything else an
  // inline one.
  state_ = buf_[pos_] == '*' ? state::count_line : state::inline_line;
  scan_ = 0;
  return step::go_on;
}

resp_parser::step resp_parser::step_inline(parse_result& out) {
  const std::size_t avail = available();
  // Only the first max_inline + 1 bytes are searched: a newline any later
  // means a line over the limit, whatever the chunks (so the outcome does
  // not depend on how the bytes were split).
  const std::size_t window =
    avail > limits_.max_inline ? limits_.max_inline + 1 : avail;
  const char* line_start = buf_.data() + pos_;
  const void* newline = nullptr;
  if (scan_ < window)
    newline = std::memchr(line_start + scan_, '\n', window - scan_);
  if (newline == nullptr) {
    if (avail > limits_.max_inline)
      return fail(out, "too big inline request");
    scan_ = avail;
    return step::wait;
  }
  const auto length =
    static_cast<std::size_t>(static_cast<const char*>(newline) - line_start);
  std::string_view line{line_start, length};
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  std::vector<std::string> args;
  if (!split_inline(line, args))
    return fail(out, "unbalanced quotes in request");
  consume(length + 1);
  end_request();
  if (args.empty())
    return step::go_on; // a blank line: no command
  out.status = parse_status::command;
  out.args = std::move(args);
  return step::done;
}

resp_parser::step resp_parser::find_header_end(parse_result& out,
                                               std::string_view too_big) {
  const std::size_t avail = available();
  // As for inline lines: a '\r' beyond max_inline means too long, however
  // the bytes came.
  const std::size_t window =
    avail > limits_.max_inline ? limits_.max_inline + 1 : avail;
  const char* line_start = buf_.data() + pos_;
  const void* cr = nullptr;
  if (scan_ < window)
    cr = std::memchr(line_start + scan_, '\r', window - scan_);
  if (cr == nullptr) {
    if (avail > limits_.max_inline)
      return fail(out, too_big);
    scan_ = avail;
    return step::wait;
  }
  // The next search starts at the '\r' and finds it at once.
  scan_ = static_cast<std::size_t>(static_cast<const char*>(cr) - line_start);
  return scan_ + 1 < avail ? step::go_on : step::wait;
}

resp_parser::step resp_parser::step_header(parse_result& out) {
  const bool count = state_ == state::count_line;
  if (auto found = find_header_end(out, count ? "too big mbulk count string"
                                              : "too big bulk count string");
      found != step::go_on)
    return found;
  const char* line = buf_.data() + pos_;
  const std::size_t cr = scan_;
  // Redis checks the type byte only once the whole line is in.
  if (!count && line[0] != '$')
    return fail(out, std::string{"expected '$', got '"} + line[0] + "'");
  // Stricter than Redis, which skips whatever byte follows the '\r'.
  int64_t n = 0;
  const bool ok = parse_length({line + 1, cr - 1}, n) && line[cr + 1] == '\n';
  if (count) {
    if (!ok || (n > 0 && static_cast<uint64_t>(n) > limits_.max_multibulk))
      return fail(out, "invalid multibulk length");
    consume(cr + 2);
    if (n <= 0) {
      end_request(); // *0, *-1: an empty request, skipped
      return step::go_on;
    }
    remaining_ = static_cast<std::size_t>(n);
    args_.clear();
    // Grows with the elements that actually arrive, not with the count.
    args_.reserve(std::min<std::size_t>(remaining_, 16));
    state_ = state::bulk_line;
    scan_ = 0;
    return step::go_on;
  }
  if (!ok || n < 0 || static_cast<uint64_t>(n) > limits_.max_bulk)
    return fail(out, "invalid bulk length");
  consume(cr + 2);
  bulk_len_ = static_cast<std::size_t>(n);
  args_.emplace_back();
  // At most what has arrived: a header alone reserves nothing big.
  args_.back().reserve(std::min(bulk_len_, available()));
  state_ = state::bulk_data;
  return step::go_on;
}

resp_parser::step resp_parser::step_bulk_data(parse_result& out) {
  std::string& arg = args_.back();
  // Bytes move to the argument as they come, so a big bulk fed in small
  // chunks is copied once and never rescanned.
  const std::size_t take = std::min(bulk_len_ - arg.size(), available());
  arg.append(buf_, pos_, take);
  consume(take);
  if (arg.size() < bulk_len_ || available() < 2)
    return step::wait;
  // Stricter than Redis, which skips the two bytes unchecked.
  if (buf_[pos_] != '\r' || buf_[pos_ + 1] != '\n')
    return fail(out, "expected CRLF after bulk data");
  consume(2);
  if (--remaining_ > 0) {
    state_ = state::bulk_line;
    scan_ = 0;
    return step::go_on;
  }
  out.status = parse_status::command;
  out.args = std::move(args_);
  args_.clear(); // a moved-from vector is valid but unspecified
  end_request();
  return step::done;
}

// --- Reply encoders ----------------------------------------------------------

void append_simple(std::string& out, std::string_view text) {
  append_line(out, '+', text);
}

void append_error(std::string& out, std::string_view text) {
  append_line(out, '-', text);
}

void append_integer(std::string& out, int64_t value) {
  append_number(out, ':', value);
}

void append_bulk(std::string& out, std::string_view data) {
  append_number(out, '$', data.size());
  out.append(data);
  out.append("\r\n");
}

void append_null_bulk(std::string& out) {
  out.append("$-1\r\n");
}

void append_array_header(std::string& out, std::size_t n) {
  append_number(out, '*', n);
}

void append_null_array(std::string& out) {
  out.append("*-1\r\n");
}

} // namespace raft::redis
