// The RESP2 request parser and reply encoders of the Redis-protocol port.
// The parser must accept what Redis 7 accepts (networking.c:
// processMultibulkBuffer, processInlineBuffer; sds.c: sdssplitargs), reject
// with Redis's error texts what Redis rejects, and give the same commands
// however the bytes are split into chunks.

#include "actors/redis/resp.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace raft::redis;
using namespace std::string_literals;

namespace {

using args_t = std::vector<std::string>;

/// Everything a parser made of one input: the commands in order, then the
/// status it stopped at (need_more or error) and the error text.
struct outcome {
  std::vector<args_t> commands;
  parse_status status = parse_status::need_more;
  std::string error;
  std::size_t buffered = 0;

  bool operator==(const outcome&) const = default;
};

std::string status_name(parse_status s) {
  switch (s) {
    case parse_status::command: return "command";
    case parse_status::need_more: return "need_more";
    case parse_status::error: return "error";
  }
  return "?";
}

/// Calls next() until it stops returning commands. `input_size` bounds the
/// commands (each one consumes at least one byte), so a parser stuck
/// returning the same command fails instead of looping forever.
void drain(resp_parser& parser, outcome& out, std::size_t input_size) {
  for (;;) {
    auto r = parser.next();
    // Plain ifs rather than an assertion per call: the randomized test
    // makes millions of these calls.
    if (r.status != parse_status::command) {
      if (!r.args.empty())
        FAIL("a " << status_name(r.status) << " result carries arguments");
      out.status = r.status;
      out.error = r.error;
      out.buffered = parser.buffered();
      return;
    }
    if (r.args.empty() || !r.error.empty())
      FAIL("a command without arguments, or with an error text");
    out.commands.push_back(std::move(r.args));
    if (out.commands.size() > input_size)
      FAIL("more commands than bytes fed");
  }
}

/// Parses `input` fed in pieces cut at `cuts` (increasing offsets).
outcome parse_split(std::string_view input, const std::vector<std::size_t>& cuts,
                    resp_limits limits = {}) {
  resp_parser parser{limits};
  outcome out;
  std::size_t from = 0;
  auto feed_to = [&](std::size_t to) {
    parser.feed(input.data() + from, to - from);
    from = to;
    drain(parser, out, input.size());
  };
  for (auto cut : cuts)
    feed_to(cut);
  feed_to(input.size());
  return out;
}

/// Parses `input` fed in one piece.
outcome parse_whole(std::string_view input, resp_limits limits = {}) {
  return parse_split(input, {}, limits);
}

/// Parses `input` fed one byte at a time.
outcome parse_bytewise(std::string_view input, resp_limits limits = {}) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < input.size(); ++i)
    cuts.push_back(i);
  return parse_split(input, cuts, limits);
}

/// Parses `input` fed in chunks of random sizes from 1 to `max_chunk`.
outcome parse_random_chunks(std::string_view input, std::mt19937_64& rng,
                            std::size_t max_chunk, resp_limits limits = {}) {
  std::vector<std::size_t> cuts;
  std::uniform_int_distribution<std::size_t> size(1, max_chunk);
  for (std::size_t at = size(rng); at < input.size(); at += size(rng))
    cuts.push_back(at);
  return parse_split(input, cuts, limits);
}

/// The multibulk encoding of a command, as clients send it.
std::string multibulk(const args_t& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args)
    out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

/// The commands in `input`, parsed whole, which must end at a boundary.
std::vector<args_t> commands_of(std::string_view input, resp_limits limits = {}) {
  auto out = parse_whole(input, limits);
  INFO("status " << status_name(out.status) << ": " << out.error);
  REQUIRE(out.status == parse_status::need_more);
  REQUIRE(out.buffered == 0);
  return out.commands;
}

/// The error `input` ends in, with the commands before it.
outcome error_of(std::string_view input, resp_limits limits = {}) {
  auto out = parse_whole(input, limits);
  REQUIRE(out.status == parse_status::error);
  return out;
}

/// The error text a protocol error reply carries.
std::string perr(const std::string& what) {
  return "ERR Protocol error: " + what;
}

const std::string invalid_mbulk = perr("invalid multibulk length");
const std::string invalid_bulk = perr("invalid bulk length");
const std::string unbalanced = perr("unbalanced quotes in request");
const std::string too_big_inline = perr("too big inline request");
const std::string too_big_mbulk = perr("too big mbulk count string");
const std::string too_big_bulk = perr("too big bulk count string");
const std::string bad_crlf = perr("expected CRLF after bulk data");

} // namespace

// --- Limits ------------------------------------------------------------------

TEST_CASE("limits: the defaults are 16 MiB bulks, 64 KiB lines, 1 Mi elements",
          "[redis][resp]") {
  resp_limits limits;
  CHECK(limits.max_bulk == 16u * 1024 * 1024);
  CHECK(limits.max_inline == 64u * 1024);
  CHECK(limits.max_multibulk == 1024u * 1024);
}

// --- Multibulk requests ------------------------------------------------------

TEST_CASE("multibulk: arguments come out as sent, binary safe", "[redis][resp]") {
  args_t set = {"SET", "k\0\r\n"s, "\r\n\0\xff$*\r"s};
  args_t empty = {""};
  args_t many = {"MSET", "a", "1", "b", "2", "c", "3", "", "\n"};
  CHECK(commands_of(multibulk(set)) == std::vector<args_t>{set});
  CHECK(commands_of(multibulk(empty)) == std::vector<args_t>{empty});
  CHECK(commands_of(multibulk(set) + multibulk(empty) + multibulk(many))
        == std::vector<args_t>{set, empty, many});
  CHECK(commands_of("*2\r\n$3\r\nGET\r\n$0\r\n\r\n")
        == std::vector<args_t>{{"GET", ""}});
}

TEST_CASE("multibulk: *0, *-1 and any negative count are skipped and parsing "
          "goes on",
          "[redis][resp]") {
  for (std::string empty : {"*0\r\n", "*-1\r\n", "*-10\r\n", "*-1048577\r\n",
                            "*-9223372036854775808\r\n"}) {
    INFO(empty);
    CHECK(commands_of(empty).empty());
    CHECK(commands_of(empty + empty + multibulk({"PING"}) + empty)
          == std::vector<args_t>{{"PING"}});
  }
}

TEST_CASE("multibulk: a count that is no strict number, or above max_multibulk, "
          "is an invalid multibulk length",
          "[redis][resp]") {
  // string2ll's rules: no sign but '-', no leading zero, no "-0", no spaces,
  // no overflow.
  for (std::string count : {"", "x", "+1", "01", "00", "-0", "-", " 1", "1 ",
                            "1x", "0x1", "1.0", "9223372036854775808",
                            "-9223372036854775809", "99999999999999999999",
                            "1048577", "9223372036854775807"}) {
    INFO("count '" << count << "'");
    auto out = error_of("*" + count + "\r\n$4\r\nPING\r\n");
    CHECK(out.error == invalid_mbulk);
    CHECK(out.commands.empty());
  }
  // The limit itself is allowed.
  resp_limits small;
  small.max_multibulk = 3;
  CHECK(commands_of(multibulk({"a", "b", "c"}), small)
        == std::vector<args_t>{{"a", "b", "c"}});
  CHECK(error_of(multibulk({"a", "b", "c", "d"}), small).error == invalid_mbulk);
  // A count at the default limit waits for its elements.
  CHECK(parse_whole("*1048576\r\n").status == parse_status::need_more);
}

TEST_CASE("multibulk: an element not starting with '$' is an error naming the "
          "byte, once its line is complete",
          "[redis][resp]") {
  // Redis's own test: "Wrong multibulk payload header".
  auto out = error_of("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n");
  CHECK(out.error == perr("expected '$', got 'f'"));
  CHECK(out.commands.empty());
  CHECK(error_of("*1\r\n:1\r\n").error == perr("expected '$', got ':'"));
  CHECK(error_of("*1\r\n*1\r\n").error == perr("expected '$', got '*'"));
  CHECK(error_of("*1\r\n\r\n").error == perr("expected '$', got '\r'"));
  // Like Redis, the type byte is judged only once the line's CRLF is in.
  CHECK(parse_whole("*1\r\nfooz").status == parse_status::need_more);
  CHECK(parse_whole("*1\r\nfooz\r").status == parse_status::need_more);
}

TEST_CASE("multibulk: a bulk length that is no strict number, negative, or "
          "above max_bulk is an invalid bulk length",
          "[redis][resp]") {
  for (std::string len : {"", "x", "-1", "-5", "+3", "03", "-0", " 3", "3 ",
                          "3x", "9223372036854775808", "99999999999999999999",
                          "16777217", "9223372036854775807"}) {
    INFO("length '" << len << "'");
    auto out = error_of("PING\r\n*2\r\n$3\r\nGET\r\n$" + len + "\r\nkey\r\n");
    CHECK(out.error == invalid_bulk);
    CHECK(out.commands == std::vector<args_t>{{"PING"}});
  }
  // The limit itself is allowed, and announcing it reserves nothing: the
  // parser simply waits for the bytes.
  CHECK(parse_whole("*1\r\n$16777216\r\nabc").status == parse_status::need_more);
  resp_limits small;
  small.max_bulk = 10;
  CHECK(commands_of(multibulk({std::string(10, 'x')}), small)
        == std::vector<args_t>{{std::string(10, 'x')}});
  CHECK(error_of(multibulk({std::string(11, 'x')}), small).error == invalid_bulk);
}

TEST_CASE("multibulk: header lines with no CR within max_inline bytes are too "
          "big count strings",
          "[redis][resp]") {
  const std::size_t limit = resp_limits{}.max_inline;
  SECTION("the *n line") {
    // 64 KiB buffered without a CR still waits; one byte more is refused.
    std::string line = "*" + std::string(limit - 1, '1');
    resp_parser parser;
    parser.feed(line.data(), line.size());
    CHECK(parser.next().status == parse_status::need_more);
    parser.feed("1", 1);
    auto r = parser.next();
    CHECK(r.status == parse_status::error);
    CHECK(r.error == too_big_mbulk);
  }
  SECTION("the $n line") {
    std::string line = "*2\r\n$4\r\nECHO\r\n$" + std::string(limit - 1, '1');
    resp_parser parser;
    parser.feed(line.data(), line.size());
    CHECK(parser.next().status == parse_status::need_more);
    parser.feed("1", 1);
    auto r = parser.next();
    CHECK(r.status == parse_status::error);
    CHECK(r.error == too_big_bulk);
  }
  SECTION("the limit applies before the element's type byte is checked") {
    CHECK(error_of("*1\r\n" + std::string(limit + 1, 'X')).error == too_big_bulk);
  }
  SECTION("a line whose CR is within the limit is judged on its value") {
    CHECK(error_of("*" + std::string(limit - 1, '1') + "\r\n").error
          == invalid_mbulk);
    CHECK(error_of("*1\r\n$" + std::string(limit - 1, '1') + "\r\n").error
          == invalid_bulk);
  }
  SECTION("a CR past the limit is too big, even when it arrives at once") {
    CHECK(error_of("*" + std::string(limit, '1') + "\r\n").error == too_big_mbulk);
    CHECK(error_of("*1\r\n$" + std::string(limit, '1') + "\r\n").error
          == too_big_bulk);
  }
  SECTION("a smaller max_inline lowers the header limit too") {
    resp_limits small;
    small.max_inline = 8;
    CHECK(commands_of("*1\r\n$7\r\nPINGING\r\n", small)
          == std::vector<args_t>{{"PINGING"}});
    CHECK(error_of("*123456789", small).error == too_big_mbulk);
    CHECK(error_of("*1\r\n$123456789", small).error == too_big_bulk);
    // The '\r' at offset 8 is within the limit: judged on its value.
    CHECK(error_of("*1234567\r\n", small).error == invalid_mbulk);
    CHECK(error_of("*12345678\r\n", small).error == too_big_mbulk);
  }
}

TEST_CASE("multibulk: bulk data must be followed by CRLF", "[redis][resp]") {
  CHECK(error_of("*1\r\n$3\r\nfooX\r\n").error == bad_crlf);
  CHECK(error_of("*1\r\n$3\r\nfoo\rX").error == bad_crlf);
  CHECK(error_of("*1\r\n$3\r\nfoo\n\r").error == bad_crlf);
  CHECK(error_of("*2\r\n$3\r\nfoo\r\n$0\r\nXY").error == bad_crlf);
  // The CRLF not all in yet: wait.
  CHECK(parse_whole("*1\r\n$3\r\nfoo").status == parse_status::need_more);
  CHECK(parse_whole("*1\r\n$3\r\nfoo\r").status == parse_status::need_more);
}

TEST_CASE("multibulk: a header line's CR must be followed by LF (stricter than "
          "Redis, which skips that byte)",
          "[redis][resp]") {
  CHECK(error_of("*1\rX$4\r\nPING\r\n").error == invalid_mbulk);
  CHECK(error_of("*1\r\n$4\rXPING\r\n").error == invalid_bulk);
  // A LF alone does not end a header line: the number then runs on.
  CHECK(error_of("*1\n$4\r\nPING\r\n").error == invalid_mbulk);
}

// --- Inline requests ---------------------------------------------------------

TEST_CASE("inline: words split on whitespace, the CR before the LF dropped",
          "[redis][resp]") {
  CHECK(commands_of("SET a b\r\n") == std::vector<args_t>{{"SET", "a", "b"}});
  CHECK(commands_of("PING\n") == std::vector<args_t>{{"PING"}});
  CHECK(commands_of("  GET \t key\t \r\n") == std::vector<args_t>{{"GET", "key"}});
  CHECK(commands_of("a\rb\r\r\n") == std::vector<args_t>{{"a", "b"}});
  // sdssplitargs skips \v and \f between words but keeps them inside one.
  CHECK(commands_of("\v\fa\vb \fc\n") == std::vector<args_t>{{"a\vb", "c"}});
  // Anything but '*' starts an inline request, even '$' or ':'.
  CHECK(commands_of("$3 :1 +x -y\n") == std::vector<args_t>{{"$3", ":1", "+x", "-y"}});
  // A '*' inside the line is just a character.
  CHECK(commands_of("KEYS *\r\n") == std::vector<args_t>{{"KEYS", "*"}});
}

// Escapes: backslash n r t b a, backslash-backslash, backslash-quote, \xHH.
TEST_CASE("inline: double quotes hold spaces and backslash escapes, hex ones "
          "included",
          "[redis][resp]") {
  CHECK(commands_of("SET \"a b\" \"\"\r\n") == std::vector<args_t>{{"SET", "a b", ""}});
  CHECK(commands_of(R"(ECHO "\n\r\t\b\a\\\"")" "\n")
        == std::vector<args_t>{{"ECHO", "\n\r\t\b\a\\\""}});
  CHECK(commands_of(R"(ECHO "\x41\x7a\x00\xFf")" "\n")
        == std::vector<args_t>{{"ECHO", "Az\0\xff"s}});
  // \x without two hex digits, and unknown escapes, stand for the character.
  CHECK(commands_of(R"(ECHO "\x4g" "\x4" "\q" "\'")" "\n")
        == std::vector<args_t>{{"ECHO", "x4g", "x4", "q", "'"}});
  // Single quotes inside double quotes are plain.
  CHECK(commands_of(R"(ECHO "it's")" "\n") == std::vector<args_t>{{"ECHO", "it's"}});
  // A quoted part may start inside a word, and ends it.
  CHECK(commands_of(R"(ECHO foo"bar baz" x)" "\n")
        == std::vector<args_t>{{"ECHO", "foobar baz", "x"}});
  // CR inside quotes is kept; only the one just before the LF is dropped.
  CHECK(commands_of("ECHO \"a\rb\"\r\n") == std::vector<args_t>{{"ECHO", "a\rb"}});
}

TEST_CASE("inline: single quotes hold everything literally but an escaped "
          "single quote",
          "[redis][resp]") {
  CHECK(commands_of("SET 'a b' ''\n") == std::vector<args_t>{{"SET", "a b", ""}});
  CHECK(commands_of(R"(ECHO 'it\'s')" "\n") == std::vector<args_t>{{"ECHO", "it's"}});
  CHECK(commands_of(R"(ECHO 'a\nb\\c' 'x"y')" "\n")
        == std::vector<args_t>{{"ECHO", R"(a\nb\\c)", "x\"y"}});
  CHECK(commands_of(R"(ECHO foo'bar baz')" "\n")
        == std::vector<args_t>{{"ECHO", "foobar baz"}});
}

TEST_CASE("inline: a closing quote must be followed by whitespace or the end",
          "[redis][resp]") {
  for (std::string line : {R"(ECHO "a"b)", R"(ECHO 'a'b)", R"(ECHO "a""b")",
                           R"(ECHO "a"'b')"}) {
    INFO(line);
    CHECK(error_of(line + "\r\n").error == unbalanced);
  }
  CHECK(commands_of("ECHO \"a\"\tb 'c'\vd \"e\"\n")
        == std::vector<args_t>{{"ECHO", "a", "b", "c", "d", "e"}});
}

TEST_CASE("inline: unbalanced quotes are a protocol error", "[redis][resp]") {
  for (std::string line : {R"(ECHO "abc)", R"(ECHO 'abc)", R"(ECHO "abc\")",
                           R"(ECHO 'abc\')", R"(ECHO "abc\)", R"(")", R"(')"}) {
    INFO(line);
    auto out = error_of("PING\r\n" + line + "\r\nPING\r\n");
    CHECK(out.error == unbalanced);
    CHECK(out.commands == std::vector<args_t>{{"PING"}});
  }
}

TEST_CASE("inline: blank lines are skipped", "[redis][resp]") {
  // Redis's own test: "Handle an empty query".
  CHECK(commands_of("\r\n").empty());
  CHECK(commands_of("\n\r\n   \r\n \t\v\f\r\n\r\r\n").empty());
  CHECK(commands_of("\r\n\r\nPING\r\n\n") == std::vector<args_t>{{"PING"}});
  // An empty quoted word is a word, not a blank line.
  CHECK(commands_of("\"\"\n") == std::vector<args_t>{{""}});
}

TEST_CASE("inline: a line with no LF within max_inline bytes is too big an "
          "inline request",
          "[redis][resp]") {
  const std::size_t limit = resp_limits{}.max_inline;
  SECTION("at the default limit") {
    std::string word(limit, 'a');
    CHECK(commands_of(word + "\n") == std::vector<args_t>{{word}});
    resp_parser parser;
    parser.feed(word.data(), word.size());
    CHECK(parser.next().status == parse_status::need_more);
    parser.feed("a", 1);
    auto r = parser.next();
    CHECK(r.status == parse_status::error);
    CHECK(r.error == too_big_inline);
  }
  SECTION("the outcome does not depend on the LF arriving in the same chunk") {
    std::string line = std::string(limit + 1, 'a') + "\n";
    CHECK(parse_whole(line).error == too_big_inline);
    CHECK(parse_split(line, {limit}).error == too_big_inline);
  }
  SECTION("with a smaller limit; the CR counts") {
    resp_limits small;
    small.max_inline = 8;
    CHECK(commands_of("GET abcd\n", small) == std::vector<args_t>{{"GET", "abcd"}});
    CHECK(commands_of("GET abc\r\n", small) == std::vector<args_t>{{"GET", "abc"}});
    CHECK(error_of("GET abcd\r\n", small).error == too_big_inline);
    CHECK(error_of("GET abcde", small).error == too_big_inline);
    CHECK(parse_whole("GET abcd", small).status == parse_status::need_more);
  }
}

TEST_CASE("inline: a NUL byte is an ordinary character", "[redis][resp]") {
  CHECK(commands_of("SET a\0b \0\n"s)
        == std::vector<args_t>{{"SET", "a\0b"s, "\0"s}});
  CHECK(commands_of("ECHO \"\0\"\n"s) == std::vector<args_t>{{"ECHO", "\0"s}});
}

// --- Errors ------------------------------------------------------------------

TEST_CASE("an error is final: later calls and later bytes give the same error",
          "[redis][resp]") {
  resp_parser parser;
  std::string input = "PING\r\n*1\r\n$x\r\n" + multibulk({"GET", "k"});
  parser.feed(input.data(), input.size());
  auto first = parser.next();
  CHECK(first.status == parse_status::command);
  CHECK(first.args == args_t{"PING"});
  for (int i = 0; i < 3; ++i) {
    auto r = parser.next();
    CHECK(r.status == parse_status::error);
    CHECK(r.error == invalid_bulk);
    CHECK(r.args.empty());
    CHECK(parser.buffered() == 0);
    parser.feed("PING\r\n", 6);
  }
}

// --- Incremental parsing -----------------------------------------------------

namespace {

/// A pipeline and what it must parse to.
struct sample {
  std::string bytes;
  outcome expected;
};

std::vector<sample> sample_pipelines() {
  std::vector<sample> samples;
  auto add = [&](std::string bytes, std::vector<args_t> commands,
                 std::string error = {}) {
    outcome o;
    o.commands = std::move(commands);
    o.status = error.empty() ? parse_status::need_more : parse_status::error;
    o.error = std::move(error);
    samples.push_back({std::move(bytes), std::move(o)});
  };
  args_t binary = {"SET", "\r\n\0key"s, "v\0\r\n\r\n\0"s};
  add(multibulk({"SET", "key", "value"}) + "PING\r\n" + multibulk({"GET", "key"}),
      {{"SET", "key", "value"}, {"PING"}, {"GET", "key"}});
  add(multibulk(binary) + "*0\r\n*-1\r\n\r\n" + multibulk({""})
        + "ECHO \"a b\\x00\\r\\n\" 'c\\'d'\n" + multibulk(binary),
      {binary, {""}, {"ECHO", "a b\0\r\n"s, "c'd"}, binary});
  add("\n  \r\nSET k v\r\nGET k\n" + multibulk({"DEL", "k", "\r"}) + "QUIT\r\n",
      {{"SET", "k", "v"}, {"GET", "k"}, {"DEL", "k", "\r"}, {"QUIT"}});
  add("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n*2\r\n$0\r\n\r\n$1\r\n\n\r\n",
      {{"PING"}, {"PING"}, {"", "\n"}});
  add("PING\r\n" + multibulk({"GET", "k"}) + "*2\r\n$3\r\nGET\r\n$-1\r\n",
      {{"PING"}, {"GET", "k"}}, invalid_bulk);
  add("ECHO 'x'\r\n*1\r\n$1\r\nab\r\n", {{"ECHO", "x"}}, bad_crlf);
  add(multibulk({"a"}) + "ECHO \"x\"y\r\n", {{"a"}}, unbalanced);
  add(multibulk({"a"}) + "*2\r\n$1\r\nb\r\n:1\r\n", {{"a"}},
      perr("expected '$', got ':'"));
  return samples;
}

} // namespace

TEST_CASE("incremental: every split of sample pipelines at every byte boundary "
          "gives the same commands",
          "[redis][resp]") {
  for (const auto& s : sample_pipelines()) {
    const std::string& in = s.bytes;
    INFO("pipeline: " << in);
    CHECK(parse_whole(in) == s.expected);
    CHECK(parse_bytewise(in) == s.expected);
    for (std::size_t i = 0; i <= in.size(); ++i) {
      INFO("cut at " << i);
      REQUIRE(parse_split(in, {i}) == s.expected);
    }
    // Two cuts: every pair of boundaries.
    for (std::size_t i = 1; i < in.size(); ++i)
      for (std::size_t j = i + 1; j < in.size(); ++j) {
        INFO("cuts at " << i << " and " << j);
        REQUIRE(parse_split(in, {i, j}) == s.expected);
      }
  }
}

TEST_CASE("incremental: buffered() counts the bytes of the partial request and "
          "is 0 at each request boundary",
          "[redis][resp]") {
  std::string input = multibulk({"SET", "key", "value"}) + "PING\r\n";
  const std::size_t first = multibulk({"SET", "key", "value"}).size();
  resp_parser parser;
  CHECK(parser.buffered() == 0);
  for (std::size_t i = 0; i < input.size(); ++i) {
    parser.feed(&input[i], 1);
    auto r = parser.next();
    INFO("after byte " << i);
    if (i + 1 == first || i + 1 == input.size()) {
      CHECK(r.status == parse_status::command);
      CHECK(parser.buffered() == 0);
    } else {
      CHECK(r.status == parse_status::need_more);
      CHECK(parser.buffered() == (i < first ? i + 1 : i + 1 - first));
    }
  }
}

TEST_CASE("incremental: a 10 MiB bulk fed in 1 KiB chunks is copied once, not "
          "rescanned",
          "[redis][resp]") {
  std::string value(10 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < value.size(); ++i)
    value[i] = static_cast<char>((i * 7919) >> 3);
  const std::string input = multibulk({"SET", "big", value}) + "PING\r\n";
  std::clock_t started = std::clock();
  resp_parser parser;
  std::vector<args_t> commands;
  const std::size_t chunk = 1024;
  for (std::size_t at = 0; at < input.size(); at += chunk) {
    parser.feed(input.data() + at, std::min(chunk, input.size() - at));
    for (auto r = parser.next(); r.status == parse_status::command;
         r = parser.next())
      commands.push_back(std::move(r.args));
  }
  double cpu_seconds =
    static_cast<double>(std::clock() - started) / CLOCKS_PER_SEC;
  INFO("CPU seconds: " << cpu_seconds);
  REQUIRE(commands.size() == 2);
  CHECK(commands[0].size() == 3);
  // Parenthesized: a failure must not print 10 MiB twice.
  CHECK((commands[0][2] == value));
  CHECK(commands[1] == args_t{"PING"});
  CHECK(parser.buffered() == 0);
}

TEST_CASE("incremental: lines fed one byte at a time up to the limit are "
          "scanned once",
          "[redis][resp]") {
  const std::size_t limit = resp_limits{}.max_inline;
  // Rescanning the line from its start at every byte would make these
  // quadratic (2^31 byte compares each).
  std::string word(limit - 2, 'w');
  CHECK(parse_bytewise(word + "\r\n").commands == std::vector<args_t>{{word}});
  CHECK(parse_bytewise("*" + std::string(limit - 1, '1') + "\r\n").error
        == invalid_mbulk);
  CHECK(parse_bytewise("*" + std::string(limit + 1, '1')).error == too_big_mbulk);
}

// --- Randomized ----------------------------------------------------------------

namespace {

/// Bytes that matter to the protocol, so random data hits the rules often.
constexpr std::string_view protocol_bytes = "*$\r\n0123456789-+ \t\"'\\x\0:"
                                            "\v";

char random_byte(std::mt19937_64& rng) {
  if (rng() % 2 == 0)
    return protocol_bytes[rng() % protocol_bytes.size()];
  return static_cast<char>(rng() % 256);
}

std::string random_arg(std::mt19937_64& rng) {
  std::size_t len = rng() % 8 == 0 ? rng() % 300 : rng() % 9;
  std::string arg;
  for (std::size_t i = 0; i < len; ++i)
    arg.push_back(rng() % 3 == 0 ? random_byte(rng)
                                 : static_cast<char>('a' + rng() % 26));
  return arg;
}

bool is_plain_word(const std::string& arg) {
  if (arg.empty())
    return false;
  for (char c : arg)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      return false;
  return true;
}

/// An inline line that splits back into exactly `args`: plain words where
/// possible, else single quotes (no backslash, no LF) or double quotes with
/// \xHH escapes.
std::string inline_line(const args_t& args, std::mt19937_64& rng) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string line;
  for (std::size_t i = 0; i < args.size(); ++i) {
    line += i == 0 ? std::string(rng() % 3, ' ') : std::string(1 + rng() % 2, ' ');
    const std::string& a = args[i];
    if (is_plain_word(a) && rng() % 4 != 0) {
      line += a;
    } else if (a.find_first_of("\\\n") == std::string::npos && rng() % 2 == 0) {
      line += '\'';
      for (char c : a)
        line += c == '\'' ? std::string("\\'") : std::string(1, c);
      line += '\'';
    } else {
      line += '"';
      for (char c : a) {
        auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u < 0x7f && c != '"' && c != '\\') {
          line += c;
        } else {
          line += "\\x";
          line += hex[u >> 4];
          line += hex[u & 15];
        }
      }
      line += '"';
    }
  }
  line += rng() % 3 == 0 ? " \t" : "";
  line += rng() % 2 == 0 ? "\r\n" : "\n";
  return line;
}

/// A valid pipeline of 1 to 4 commands, multibulk and inline mixed, with
/// requests that are skipped in between; `expected` gets its commands.
std::string valid_pipeline(std::mt19937_64& rng, std::vector<args_t>& expected) {
  std::string out;
  std::size_t commands = 1 + rng() % 4;
  for (std::size_t c = 0; c < commands; ++c) {
    switch (rng() % 8) {
      case 0: out += "*0\r\n"; break;
      case 1: out += "*-1\r\n"; break;
      case 2: out += rng() % 2 == 0 ? "\r\n" : " \t\n"; break;
      default: break;
    }
    args_t args;
    std::size_t n = 1 + rng() % 5;
    for (std::size_t i = 0; i < n; ++i)
      args.push_back(random_arg(rng));
    out += rng() % 3 == 0 ? inline_line(args, rng) : multibulk(args);
    expected.push_back(std::move(args));
  }
  return out;
}

/// `frame` with 1 to 3 random changes: a byte flipped, inserted or deleted, a
/// number replaced by an awkward one, a slice duplicated, or a cut.
std::string mutate(std::string frame, std::mt19937_64& rng) {
  static const std::vector<std::string> numbers = {
    "99999999999999999999", "9223372036854775807", "-9223372036854775808",
    "16777217", "1048577", "4294967296", "-1", "-0", "0", "01", "", "65", "7"};
  std::size_t changes = 1 + rng() % 3;
  for (std::size_t c = 0; c < changes; ++c) {
    std::size_t at = frame.empty() ? 0 : rng() % frame.size();
    switch (rng() % 6) {
      case 0:
        if (!frame.empty())
          frame[at] = static_cast<char>(frame[at] ^ (1 + rng() % 255));
        break;
      case 1: frame.insert(frame.begin() + static_cast<std::ptrdiff_t>(at),
                           random_byte(rng));
        break;
      case 2:
        if (!frame.empty())
          frame.erase(at, 1);
        break;
      case 3: {
        auto digits = frame.find_first_of("0123456789", at);
        if (digits == std::string::npos)
          break;
        auto end = frame.find_first_not_of("0123456789-", digits);
        if (end == std::string::npos)
          end = frame.size();
        frame.replace(digits, end - digits, numbers[rng() % numbers.size()]);
        break;
      }
      case 4: {
        std::size_t len = std::min<std::size_t>(rng() % 16, frame.size() - at);
        frame.insert(at, frame.substr(at, len));
        break;
      }
      case 5: frame.resize(at); break;
    }
  }
  return frame;
}

std::string garbage(std::mt19937_64& rng) {
  std::string out;
  std::size_t len = rng() % 200;
  for (std::size_t i = 0; i < len; ++i)
    out.push_back(random_byte(rng));
  if (rng() % 2 == 0)
    out.insert(0, 1, rng() % 2 == 0 ? '*' : '$');
  return out;
}

/// Every error text the parser may produce.
bool is_known_error(const std::string& e) {
  if (e.rfind(perr("expected '$', got '"), 0) == 0)
    return e.size() == perr("expected '$', got 'X'").size() && e.back() == '\'';
  for (const auto* known : {&invalid_mbulk, &invalid_bulk, &unbalanced,
                            &too_big_inline, &too_big_mbulk, &too_big_bulk,
                            &bad_crlf})
    if (e == *known)
      return true;
  return false;
}

uint64_t random_seed() {
  const char* env = std::getenv("RESP_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 20240607;
}

} // namespace

TEST_CASE("randomized: valid, mutated and garbage frames in random chunks parse "
          "the same however split, and never crash",
          "[redis][resp]") {
  const uint64_t seed = random_seed();
  INFO("replay with RESP_SEED=" << seed);
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  resp_limits small;
  small.max_bulk = 64;
  small.max_inline = 48;
  small.max_multibulk = 6;
  std::size_t valid = 0;
  std::size_t errors = 0;
  for (int frame = 0; frame < 20000; ++frame) {
    CAPTURE(frame);
    std::vector<args_t> expected;
    std::string input = valid_pipeline(rng, expected);
    const int kind = static_cast<int>(rng() % 10);
    resp_limits limits;
    if (kind >= 3 && rng() % 3 == 0)
      limits = small;
    if (kind >= 3 && kind <= 8)
      input = mutate(std::move(input), rng);
    else if (kind == 9)
      input = garbage(rng);
    const outcome whole = parse_whole(input, limits);
    // However split, the same outcome.
    const std::size_t max_chunk = 1 + rng() % 64;
    REQUIRE(parse_random_chunks(input, rng, max_chunk, limits) == whole);
    if (frame % 16 == 0)
      REQUIRE(parse_bytewise(input, limits) == whole);
    REQUIRE(whole.status != parse_status::command);
    if (whole.status == parse_status::error) {
      ++errors;
      INFO("error: " << whole.error);
      REQUIRE(is_known_error(whole.error));
      REQUIRE(whole.buffered == 0);
    } else {
      REQUIRE(whole.buffered <= input.size());
    }
    if (kind < 3) {
      ++valid;
      REQUIRE(whole.status == parse_status::need_more);
      REQUIRE(whole.buffered == 0);
      REQUIRE(whole.commands == expected);
    }
  }
  // The mix really exercised both kinds of outcome.
  CHECK(valid > 4000);
  CHECK(errors > 4000);
}

// --- Reply encoders ------------------------------------------------------------

TEST_CASE("encoders: simple strings and errors are one line, CR and LF made "
          "spaces",
          "[redis][resp]") {
  std::string out;
  append_simple(out, "OK");
  CHECK(out == "+OK\r\n");
  out.clear();
  append_simple(out, "a\r\nb\nc\r");
  CHECK(out == "+a  b c \r\n");
  out.clear();
  append_simple(out, "");
  CHECK(out == "+\r\n");
  out.clear();
  append_error(out, "ERR unknown command 'x\r\ny'");
  CHECK(out == "-ERR unknown command 'x  y'\r\n");
  // Appends: what is already there stays.
  append_error(out, "WRONGTYPE no");
  CHECK(out == "-ERR unknown command 'x  y'\r\n-WRONGTYPE no\r\n");
}

TEST_CASE("encoders: integers, including the extremes", "[redis][resp]") {
  std::string out;
  append_integer(out, 0);
  append_integer(out, 123);
  append_integer(out, -1);
  append_integer(out, std::numeric_limits<int64_t>::max());
  append_integer(out, std::numeric_limits<int64_t>::min());
  CHECK(out == ":0\r\n:123\r\n:-1\r\n:9223372036854775807\r\n"
               ":-9223372036854775808\r\n");
}

TEST_CASE("encoders: bulk strings are binary safe, and the null bulk and null array",
          "[redis][resp]") {
  std::string out;
  append_bulk(out, "foobar");
  CHECK(out == "$6\r\nfoobar\r\n");
  out.clear();
  append_bulk(out, "");
  CHECK(out == "$0\r\n\r\n");
  out.clear();
  append_bulk(out, "\r\n\0x"s);
  CHECK(out == "$4\r\n\r\n\0x\r\n"s);
  out.clear();
  append_bulk(out, std::string(1000, 'z'));
  CHECK(out == "$1000\r\n" + std::string(1000, 'z') + "\r\n");
  out.clear();
  append_null_bulk(out);
  CHECK(out == "$-1\r\n");
  out.clear();
  append_null_array(out);
  CHECK(out == "*-1\r\n");
}

TEST_CASE("encoders: an array is its header then its elements", "[redis][resp]") {
  std::string out;
  append_array_header(out, 0);
  CHECK(out == "*0\r\n");
  out.clear();
  append_array_header(out, 3);
  append_bulk(out, "a");
  append_null_bulk(out);
  append_integer(out, 7);
  CHECK(out == "*3\r\n$1\r\na\r\n$-1\r\n:7\r\n");
}

TEST_CASE("encoders: an array of bulks parses back into the same arguments",
          "[redis][resp]") {
  args_t args = {"SET", "", "\0\r\n"s, std::string(70000, 'q')};
  std::string out;
  append_array_header(out, args.size());
  for (const auto& a : args)
    append_bulk(out, a);
  CHECK(out == multibulk(args));
  CHECK(commands_of(out) == std::vector<args_t>{args});
}
