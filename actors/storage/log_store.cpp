#include "actors/storage/log_store.hpp"

#include "actors/storage/record_codec.hpp"
#include "actors/storage/segment_format.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <limits>
#include <optional>
#include <stdexcept>
#include <system_error>

#include <fcntl.h>
#include <sys/file.h>

namespace raft {

namespace {

namespace fs = std::filesystem;

/// Why `entries` cannot follow a log ending at `last`; empty if they can.
std::string entries_problem(const std::vector<log_entry>& entries,
                            index_t last) {
  if (entries.empty())
    return {};
  auto first = entries.front().index;
  if (first == 0)
    return "entries start at index 0 (the first index is 1)";
  if (first > last + 1)
    return "entries start at index " + std::to_string(first)
           + " but the log ends at " + std::to_string(last) + " (a gap)";
  for (size_t i = 1; i < entries.size(); ++i)
    if (entries[i].index != entries[i - 1].index + 1)
      return "entries are not contiguous (index "
             + std::to_string(entries[i].index) + " follows "
             + std::to_string(entries[i - 1].index) + ")";
  return {};
}

/// Cuts `terms` back to before `entries` and appends their terms (§5.3: a
/// conflicting suffix is replaced). `entries` passed entries_problem().
void splice_terms(std::vector<term_t>& terms,
                  const std::vector<log_entry>& entries) {
  if (entries.empty())
    return;
  terms.resize(entries.front().index - 1);
  for (const auto& e : entries)
    terms.push_back(e.term);
}

/// The sequence number in a segment file name "log-<digits>.seg", if it is one.
std::optional<uint64_t> parse_segment_name(const std::string& name) {
  constexpr std::string_view prefix = "log-";
  constexpr std::string_view suffix = ".seg";
  if (name.size() < prefix.size() + 6 + suffix.size()
      || !name.starts_with(prefix) || !name.ends_with(suffix))
    return std::nullopt;
  auto digits = name.substr(prefix.size(),
                            name.size() - prefix.size() - suffix.size());
  if (digits.size() > 18
      || !std::all_of(digits.begin(), digits.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoull(digits);
}

/// The segment sequence numbers in `dir`, ascending. They must be 1, 2, ...
/// with no gap: a missing file would silently lose the entries it held.
std::vector<uint64_t> list_segments(const std::string& dir) {
  std::vector<uint64_t> seqs;
  std::error_code ec;
  for (fs::directory_iterator it{dir, ec}, end; !ec && it != end;
       it.increment(ec))
    if (auto seq = parse_segment_name(it->path().filename().string()))
      seqs.push_back(*seq);
  if (ec)
    throw storage_error("cannot list " + dir + ": " + ec.message());
  std::sort(seqs.begin(), seqs.end());
  // No compaction yet, so the log must start in segment 1.
  for (size_t i = 0; i < seqs.size(); ++i)
    if (seqs[i] != i + 1)
      throw storage_error("missing segment " + std::to_string(i + 1) + " in "
                          + dir + " (found segment " + std::to_string(seqs[i])
                          + " instead)");
  return seqs;
}

/// Creates `dir` (and parents) unless it exists; throws storage_error.
void create_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw storage_error("cannot create directory " + dir + ": "
                        + ec.message());
  if (!fs::is_directory(dir, ec))
    throw storage_error(dir + " is not a directory");
}

} // namespace

log_store::log_store(std::string dir, log_store_options opts)
  : dir_(std::move(dir)), opts_(opts) {
  create_dir(dir_);
  lock_dir();
  recover();
}

log_store::~log_store() = default;

void log_store::lock_dir() {
  auto path = dir_ + "/LOCK";
  lock_fd_ = posix::open_file(path, O_RDWR | O_CREAT);
  if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      throw storage_error("log directory " + dir_ + " is in use: " + path
                          + " is locked by another log_store");
    posix::throw_errno("flock", path);
  }
}

void log_store::recover() {
  auto seqs = list_segments(dir_);
  // Where appends continue: the last segment that survives recovery.
  std::optional<std::pair<uint64_t, uint64_t>> tail; // seq, size
  for (auto seq : seqs) {
    auto path = segment_path(seq);
    auto bytes = posix::read_all(path);
    bool is_last = seq == seqs.back();
    auto size = replay_segment(path, bytes, is_last);
    if (size)
      tail = std::make_pair(seq, *size);
  }
  if (tail)
    open_segment_for_append(tail->first, tail->second);
  recovered_.state = state_;
}

std::optional<uint64_t> log_store::replay_segment(const std::string& path,
                                                  const std::string& bytes,
                                                  bool is_last) {
  // Scan and apply everything before changing any file: on corruption the
  // files must stay exactly as found, for the operator to inspect.
  auto scan = scan_segment(path, bytes, is_last);
  for (const auto& rec : scan.records)
    replay_record(path, rec);
  if (scan.torn_header) {
    posix::remove_file(path);
    posix::sync_dir(dir_);
    return std::nullopt;
  }
  if (scan.valid_end < bytes.size()) {
    auto fd = posix::open_file(path, O_WRONLY);
    posix::truncate_and_sync(fd.get(), scan.valid_end, path);
  }
  return scan.valid_end;
}

void log_store::replay_record(const std::string& path,
                              const scanned_record& rec) {
  auto where = [&] {
    return "corrupt record in " + path + " at offset "
           + std::to_string(rec.offset) + ": ";
  };
  log_record decoded;
  try {
    decoded = decode_record(rec.payload);
  } catch (const std::exception& e) {
    // The checksum matched, so this is a format this build cannot read.
    throw storage_error(where() + e.what());
  }
  if (decoded.type == record_type::hard_state) {
    state_ = decoded.state;
    return;
  }
  if (auto problem = entries_problem(decoded.entries, last_index());
      !problem.empty())
    throw storage_error(where() + problem);
  splice_terms(terms_, decoded.entries);
  auto& log = recovered_.entries;
  if (!decoded.entries.empty())
    log.resize(decoded.entries.front().index - 1);
  std::move(decoded.entries.begin(), decoded.entries.end(),
            std::back_inserter(log));
}

void log_store::open_segment_for_append(uint64_t seq, uint64_t size) {
  segment_fd_ = posix::open_file(segment_path(seq), O_WRONLY | O_APPEND);
  segment_seq_ = seq;
  segment_size_ = size;
}

void log_store::start_new_segment() {
  auto seq = segment_seq_ + 1;
  auto path = segment_path(seq);
  segment_fd_ = posix::open_file(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL);
  segment_seq_ = seq;
  auto header = make_segment_header();
  posix::write_all(segment_fd_.get(), header, path);
  segment_size_ = header.size();
}

void log_store::append(const persist_request& req) {
  check_usable();
  if (auto problem = entries_problem(req.entries, last_index());
      !problem.empty())
    throw std::logic_error("log_store::append: " + problem);
  // Encode everything first, so an exception leaves the store unchanged.
  std::string frames;
  if (req.has_hard_state)
    append_frame(frames, encode_hard_state_record(req.state));
  if (!req.entries.empty()) {
    auto payload = encode_entries_record(req.entries);
    if (payload.size() > std::numeric_limits<uint32_t>::max())
      throw std::length_error("log_store::append: record of "
                              + std::to_string(payload.size())
                              + " bytes exceeds the 4 GiB record limit");
    append_frame(frames, payload);
  }
  pending_ += frames;
  if (req.has_hard_state)
    state_ = req.state;
  splice_terms(terms_, req.entries);
}

void log_store::sync() {
  check_usable();
  if (pending_.empty())
    return;
  // Pessimistic until the end: whatever throws below (I/O error, bad_alloc)
  // leaves the store refusing further use, since what reached the disk is
  // unknown.
  failed_ = true;
  bool created = false;
  if (!segment_fd_.valid() || segment_size_ >= opts_.segment_bytes) {
    start_new_segment();
    created = true;
  }
  auto path = segment_path(segment_seq_);
  posix::write_all(segment_fd_.get(), pending_, path);
  posix::sync_data(segment_fd_.get(), path);
  ++sync_count_;
  if (created) // the new file's directory entry must survive a crash too
    posix::sync_dir(dir_);
  segment_size_ += pending_.size();
  pending_.clear();
  failed_ = false;
}

void log_store::check_usable() const {
  if (failed_)
    throw storage_error("log store in " + dir_
                        + " failed in an earlier sync and cannot be used; "
                          "reopen it to recover");
}

std::string log_store::segment_path(uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof(name), "log-%06llu.seg",
                static_cast<unsigned long long>(seq));
  return dir_ + "/" + name;
}

} // namespace raft
