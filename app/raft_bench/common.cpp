#include "app/raft_bench/common.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

namespace raft::bench {

// -- command line -----------------------------------------------------------

std::optional<arguments> parse_arguments(int argc, char** argv, std::string& error) {
  arguments out;
  out.command_line = "raft-bench";
  for (int i = 1; i < argc; ++i)
    out.command_line += std::string{" "} + argv[i];
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word.rfind("--", 0) != 0) {
      if (!out.command.empty()) {
        error = "unexpected argument '" + word + "'";
        return std::nullopt;
      }
      out.command = word;
      continue;
    }
    auto name = word.substr(2);
    if (auto eq = name.find('='); eq != std::string::npos) {
      out.values[name.substr(0, eq)] = name.substr(eq + 1);
    } else if (i + 1 < argc && std::string{argv[i + 1]}.rfind("--", 0) != 0
               && name != "help" && name != "keep-data" && name != "learn-ids"
               && name != "no-after") {
      out.values[name] = argv[++i];
    } else {
      out.values[name] = "";
    }
  }
  return out;
}

std::optional<milliseconds> parse_duration(const std::string& text) {
  if (text.empty())
    return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(text.c_str(), &end);
  if (errno != 0 || end == text.c_str() || !(x >= 0))
    return std::nullopt;
  std::string unit{end};
  double factor = 0;
  if (unit.empty() || unit == "s")
    factor = 1000;
  else if (unit == "ms")
    factor = 1;
  else if (unit == "m" || unit == "min")
    factor = 60'000;
  else
    return std::nullopt;
  return milliseconds{static_cast<long long>(std::llround(x * factor))};
}

std::optional<long long> parse_positive(const std::string& text) {
  if (text.empty())
    return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || x <= 0)
    return std::nullopt;
  return x;
}

std::optional<std::vector<int>> parse_int_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    auto x = parse_positive(item);
    if (!x || *x > 100'000)
      return std::nullopt;
    out.push_back(static_cast<int>(*x));
  }
  if (out.empty())
    return std::nullopt;
  return out;
}

// -- statistics ---------------------------------------------------------------

summary summarize(std::vector<int64_t>& xs) {
  summary s;
  s.count = xs.size();
  if (xs.empty())
    return s;
  std::sort(xs.begin(), xs.end());
  auto rank = [&](double p) {
    auto r = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(xs.size())));
    r = std::clamp<std::size_t>(r, 1, xs.size());
    return static_cast<double>(xs[r - 1]);
  };
  double sum = 0;
  for (auto x : xs)
    sum += static_cast<double>(x);
  s.min_us = static_cast<double>(xs.front());
  s.max_us = static_cast<double>(xs.back());
  s.mean_us = sum / static_cast<double>(xs.size());
  s.p50_us = rank(50);
  s.p90_us = rank(90);
  s.p99_us = rank(99);
  return s;
}

std::string fmt_ms(double us) {
  char buf[64];
  double ms = us / 1000.0;
  if (ms < 10)
    std::snprintf(buf, sizeof(buf), "%.2f", ms);
  else if (ms < 100)
    std::snprintf(buf, sizeof(buf), "%.1f", ms);
  else
    std::snprintf(buf, sizeof(buf), "%.0f", ms);
  return buf;
}

std::string fmt_thousands(double x) {
  auto n = static_cast<long long>(std::llround(x));
  auto digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

// -- processes and the machine --------------------------------------------------

double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text))
    return -1;
  // The command name (field 2) is in parentheses and may hold spaces.
  auto close = text.rfind(')');
  if (close == std::string::npos)
    return -1;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  // Fields 3..13, then utime (14) and stime (15).
  for (int i = 3; i <= 13; ++i)
    rest >> field;
  unsigned long long utime = 0, stime = 0;
  rest >> utime >> stime;
  if (!rest)
    return -1;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::string machine_line() {
  std::string model = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      if (auto colon = line.find(':'); colon != std::string::npos) {
        model = line.substr(colon + 1);
        model.erase(0, model.find_first_not_of(' '));
      }
      break;
    }
  }
  utsname u{};
  ::uname(&u);
  auto cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  return std::to_string(cpus) + " CPUs (" + model + "), " + u.sysname + " " + u.release + ", "
         + u.machine;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string utc_now() {
  auto t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string filesystem_of(const std::string& path) {
  std::error_code ec;
  auto real = std::filesystem::canonical(path, ec).string();
  if (ec)
    real = path;
  // /proc/self/mountinfo: id parent major:minor root mountpoint options
  // [optional fields] - fstype source superoptions
  std::ifstream in("/proc/self/mountinfo");
  std::string best_mount, best_type, best_source;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, mount;
    fields >> id >> parent >> dev >> root >> mount;
    auto dash = line.find(" - ");
    if (dash == std::string::npos)
      continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string type, source;
    tail >> type >> source;
    bool prefix = real == mount || mount == "/"
                  || (real.rfind(mount, 0) == 0 && real.size() > mount.size()
                      && real[mount.size()] == '/');
    if (prefix && mount.size() >= best_mount.size()) {
      best_mount = mount;
      best_type = type;
      best_source = source;
    }
  }
  if (best_type.empty())
    return "unknown filesystem";
  return best_type + " on " + best_source + " (mounted at " + best_mount + ")";
}

std::string make_run_dir(const std::string& parent, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) {
    error = "cannot create " + parent + ": " + ec.message();
    return {};
  }
  auto tmpl = (std::filesystem::path{parent} / "raft-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    error = "cannot create a directory in " + parent + ": " + std::strerror(errno);
    return {};
  }
  return tmpl;
}

// -- output ---------------------------------------------------------------------

namespace {
std::mutex say_mutex;
} // namespace

void say(const std::string& line) {
  std::lock_guard<std::mutex> guard{say_mutex};
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

bool append_file(const std::string& path, const std::string& text, std::string& error) {
  std::ofstream out(path, std::ios::app);
  if (!out) {
    error = "cannot open " + path + " for appending";
    return false;
  }
  out << text;
  out.flush();
  if (!out) {
    error = "cannot write " + path;
    return false;
  }
  return true;
}

} // namespace raft::bench
