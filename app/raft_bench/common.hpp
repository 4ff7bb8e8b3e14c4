#pragma once

// raft-bench: the parts without CAF -- command-line values, percentiles,
// per-process CPU time from /proc, what the machine and the data directory
// are, and the markdown output.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace raft::bench {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// -- command line -----------------------------------------------------------

/// "--name value" and "--name=value" pairs after the subcommand; bare
/// "--name" (a flag) maps to "".
struct arguments {
  std::string command;
  std::map<std::string, std::string> values;
  /// The whole command line as typed (for the report).
  std::string command_line;
};

/// Parses argv; the first non-option word is the subcommand. Fails (with a
/// message in `error`) on a word that is neither.
std::optional<arguments> parse_arguments(int argc, char** argv, std::string& error);

/// "10s", "500ms", "2m", "1.5s"; a bare number is seconds.
std::optional<milliseconds> parse_duration(const std::string& text);

/// "1,8,32,128".
std::optional<std::vector<int>> parse_int_list(const std::string& text);

/// A positive integer.
std::optional<long long> parse_positive(const std::string& text);

// -- statistics ---------------------------------------------------------------

/// Order statistics of a sample (microseconds).
struct summary {
  std::size_t count = 0;
  double min_us = 0, mean_us = 0, p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
};

/// Percentiles by the nearest-rank method: the p-th percentile of n sorted
/// values is the value at rank ceil(p/100 * n). Sorts `xs`.
summary summarize(std::vector<int64_t>& xs);

/// Milliseconds with a sensible number of decimals ("0.84", "12.3", "310").
std::string fmt_ms(double us);

/// "12,345".
std::string fmt_thousands(double x);

// -- processes and the machine --------------------------------------------------

/// utime + stime of a process in seconds (/proc/<pid>/stat); -1 if gone.
double cpu_seconds(pid_t pid);

/// The machine in one line: "2 CPUs (Intel Xeon ...), Linux 6.1.0-..., x86_64".
std::string machine_line();

/// /proc/loadavg's first three fields.
std::string load_average();

/// Now in UTC, "2024-05-01 12:34:56 UTC".
std::string utc_now();

/// The filesystem a path lives on: "ext4 on /dev/vda (mounted at /)".
std::string filesystem_of(const std::string& path);

/// Makes a fresh directory "<parent>/raft-bench-XXXXXX"; "" on failure
/// (`error` says why).
std::string make_run_dir(const std::string& parent, std::string& error);

// -- output ---------------------------------------------------------------------

/// Prints a line to stdout at once (the run is watched as it goes).
void say(const std::string& line);

/// Appends `text` to `path` (created if missing). False with `error` set if
/// it cannot.
bool append_file(const std::string& path, const std::string& text, std::string& error);

} // namespace raft::bench
