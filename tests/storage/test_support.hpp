#pragma once

// Helpers shared by the storage tests: a scratch directory per test, file
// byte access, and builders for requests.

#include "actors/storage/log_store.hpp"
#include "actors/storage/posix_file.hpp"
#include "actors/storage/segment_format.hpp"

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/resource.h>

namespace raft::test {

/// A fresh directory under the system temp dir, removed with its contents.
class temp_dir {
public:
  temp_dir() {
    auto pattern = (std::filesystem::temp_directory_path()
                    / "caf-raft-storage-XXXXXX")
                     .string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec; // best effort: a leftover temp dir fails nothing
    std::filesystem::remove_all(path_, ec);
  }

  /// The directory.
  const std::string& path() const { return path_; }
  /// A path inside the directory.
  std::string operator/(const std::string& name) const {
    return path_ + "/" + name;
  }

private:
  std::string path_;
};

/// The whole content of a file.
inline std::string read_bytes(const std::string& path) {
  // Not istreambuf_iterator: g++ 12 -O2 flags it with -Wnull-dereference.
  return posix::read_all(path);
}

/// Replaces the content of a file.
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Copies every file of `from` into `to` (an existing directory).
inline void copy_dir(const std::string& from, const std::string& to) {
  // Not copy_options::none alone: with any other option set, copy() skips a
  // directory's contents unless `recursive` is given.
  using opts = std::filesystem::copy_options;
  std::filesystem::copy(from, to, opts::recursive | opts::overwrite_existing);
}

/// Path of segment `seq` in `dir`.
inline std::string segment(const std::string& dir, int seq) {
  char name[32];
  std::snprintf(name, sizeof(name), "/log-%06d.seg", seq);
  return dir + name;
}

/// Start offset and total size of every record in a segment's bytes
/// (assumes an intact segment).
struct record_span {
  size_t offset;
  size_t size;
};
inline std::vector<record_span> record_spans(const std::string& bytes) {
  std::vector<record_span> spans;
  size_t pos = segment_header_size;
  while (pos + record_header_size <= bytes.size()) {
    uint32_t len = 0;
    for (int i = 3; i >= 0; --i)
      len = (len << 8)
            | static_cast<unsigned char>(bytes[pos + static_cast<size_t>(i)]);
    spans.push_back({pos, record_header_size + len});
    pos += record_header_size + len;
  }
  return spans;
}

/// An entry with a recognisable payload.
inline log_entry entry(index_t index, term_t term) {
  return {term, index, entry_type::command,
          "cmd-" + std::to_string(index) + "@" + std::to_string(term)};
}

/// Entries first..last, all in `term`.
inline std::vector<log_entry> entries(index_t first, index_t last,
                                      term_t term) {
  std::vector<log_entry> result;
  for (auto i = first; i <= last; ++i)
    result.push_back(entry(i, term));
  return result;
}

/// A request holding only entries.
inline persist_request entries_request(std::vector<log_entry> es) {
  persist_request req;
  req.entries = std::move(es);
  return req;
}

/// A request holding only a hard state.
inline persist_request state_request(term_t term, node_id vote) {
  persist_request req;
  req.has_hard_state = true;
  req.state = {term, vote};
  return req;
}

} // namespace raft::test

namespace raft::test {

/// What a log should hold after `reqs`, computed without the store: the
/// reference model the replayed state is compared against.
inline recovered_state model_of(const std::vector<persist_request>& reqs) {
  recovered_state result;
  for (const auto& req : reqs) {
    if (req.has_hard_state)
      result.state = req.state;
    if (!req.entries.empty()) {
      result.entries.resize(req.entries.front().index - 1);
      result.entries.insert(result.entries.end(), req.entries.begin(),
                            req.entries.end());
    }
  }
  return result;
}

/// Appends and syncs each request separately (one record or two each).
inline void write_log(const std::string& dir,
                      const std::vector<persist_request>& reqs,
                      log_store_options opts = {}) {
  log_store store{dir, opts};
  for (const auto& req : reqs) {
    store.append(req);
    store.sync();
  }
}

/// The what() of the storage_error that opening `dir` throws, or "" if the
/// open succeeds.
inline std::string open_error(const std::string& dir) {
  try {
    log_store store{dir};
  } catch (const storage_error& e) {
    return e.what();
  }
  return {};
}

} // namespace raft::test

namespace raft::test {

/// Limits the size of files this process may write (RLIMIT_FSIZE) while it
/// lives, turning writes past `bytes` into EFBIG errors: a real I/O error
/// without a special filesystem. SIGXFSZ is ignored meanwhile so the write
/// fails instead of killing the process. Keep the scope short: it applies to
/// every file the process writes.
class file_size_limit {
public:
  explicit file_size_limit(rlim_t bytes) {
    if (::getrlimit(RLIMIT_FSIZE, &saved_) != 0)
      throw std::runtime_error("getrlimit failed");
    rlimit lim = saved_;
    lim.rlim_cur = bytes;
    saved_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0)
      throw std::runtime_error("setrlimit failed");
  }
  file_size_limit(const file_size_limit&) = delete;
  file_size_limit& operator=(const file_size_limit&) = delete;
  ~file_size_limit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, saved_handler_);
  }

private:
  rlimit saved_{};
  void (*saved_handler_)(int) = SIG_DFL;
};

} // namespace raft::test
