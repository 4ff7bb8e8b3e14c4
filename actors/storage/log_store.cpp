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

/// What is wrong with the shape of `entries` (index 0, not contiguous);
/// empty if nothing.
std::string shape_problem(const std::vector<log_entry>& entries) {
  if (entries.empty())
    return {};
  if (entries.front().index == 0)
    return "entries start at index 0 (the first index is 1)";
  for (size_t i = 1; i < entries.size(); ++i)
    if (entries[i].index != entries[i - 1].index + 1)
      return "entries are not contiguous (index "
             + std::to_string(entries[i].index) + " follows "
             + std::to_string(entries[i - 1].index) + ")";
  return {};
}

/// Why `entries` cannot follow a log holding base+1 .. last; empty if they
/// can.
std::string entries_problem(const std::vector<log_entry>& entries,
                            index_t base, index_t last) {
  if (auto problem = shape_problem(entries); !problem.empty())
    return problem;
  if (entries.empty())
    return {};
  auto first = entries.front().index;
  if (first <= base)
    return "entries start at index " + std::to_string(first)
           + ", at or below the log's base " + std::to_string(base)
           + " (compacted or reset away: a snapshot covers them)";
  if (first > last + 1)
    return "entries start at index " + std::to_string(first)
           + " but the log ends at " + std::to_string(last) + " (a gap)";
  return {};
}

/// Cuts `terms` (the terms of entries base+1 ..) back to before `entries`
/// and appends their terms (§5.3: a conflicting suffix is replaced).
/// `entries` passed entries_problem().
void splice_terms(std::vector<term_t>& terms, index_t base,
                  const std::vector<log_entry>& entries) {
  if (entries.empty())
    return;
  terms.resize(entries.front().index - 1 - base);
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

/// The segment sequence numbers in `dir`, ascending. They must have no gap
/// (a missing file would silently lose the entries it held); the first need
/// not be 1, since compaction deletes segments from the front.
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
  for (size_t i = 1; i < seqs.size(); ++i)
    if (seqs[i] != seqs[i - 1] + 1)
      throw storage_error("missing segment " + std::to_string(seqs[i - 1] + 1)
                          + " in " + dir + " (found segment "
                          + std::to_string(seqs[i]) + " after segment "
                          + std::to_string(seqs[i - 1]) + ")");
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

/// Where recovery stands while it replays the segments in order.
struct log_store::replay_context {
  /// The log's position is known: set by a segment_start or log_reset
  /// record, by the first entries record, or by the end of the first
  /// segment. Before that, the first entries record sets the base: after
  /// compaction the first segment may start at any index.
  bool positioned = false;
  /// The base came from a segment_start record or the first entries record,
  /// not from a log_reset. Entries deleted with older segments may then
  /// have been overwritten by a record that starts at or below the base
  /// (a suffix overwrite reaching back across a segment boundary), which
  /// moves the base down. Below a log_reset's base nothing was ever
  /// appended (append() refuses it), so there it is damage.
  bool soft_base = true;
  /// The next record is the first of its segment.
  bool first_record = true;
  /// What is learned about the segment being replayed.
  segment_info info;
};

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
  replay_context ctx;
  // Where appends continue: the last segment that survives recovery.
  std::optional<std::pair<uint64_t, uint64_t>> tail; // seq, size
  for (auto seq : seqs) {
    auto path = segment_path(seq);
    auto bytes = posix::read_all(path);
    bool is_last = seq == seqs.back();
    ctx.info = segment_info{};
    ctx.info.seq = seq;
    // A segment that began at an empty log needs no start record.
    ctx.info.self_contained = state_ == hard_state{} && base_index_ == 0
                              && terms_.empty();
    auto size = replay_segment(path, bytes, is_last, ctx);
    if (size) {
      tail = std::make_pair(seq, *size);
      segments_.push_back(ctx.info);
    }
  }
  if (tail)
    open_segment_for_append(tail->first, tail->second);
  recovered_.state = state_;
  recovered_.base_index = base_index_;
  recovered_.base_term = base_term_;
  synced_state_ = state_;
  synced_last_index_ = last_index();
  synced_last_term_ = last_term();
}

std::optional<uint64_t> log_store::replay_segment(const std::string& path,
                                                  const std::string& bytes,
                                                  bool is_last,
                                                  replay_context& ctx) {
  // Scan and apply everything before changing any file: on corruption the
  // files must stay exactly as found, for the operator to inspect.
  auto scan = scan_segment(path, bytes, is_last);
  ctx.first_record = true;
  for (const auto& rec : scan.records) {
    replay_record(path, rec, ctx);
    ctx.first_record = false;
  }
  ctx.positioned = true;
  if (scan.records.empty() && is_last) {
    // Its creation was cut short (a torn header, or a header whose first
    // records were torn off): it holds nothing. Removing it, rather than
    // appending to it, keeps every segment but the first starting with its
    // segment_start record.
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
                              const scanned_record& rec, replay_context& ctx) {
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
  switch (decoded.type) {
    case record_type::hard_state:
      state_ = decoded.state;
      return;
    case record_type::segment_start:
      if (!ctx.first_record)
        throw storage_error(where()
                            + "a segment start record that is not the first "
                              "record of its segment");
      state_ = decoded.state;
      ctx.info.self_contained = true;
      if (!ctx.positioned) {
        replay_reset(decoded.index, decoded.term);
        ctx.positioned = true;
        ctx.soft_base = true;
      } else if (decoded.index != last_index()
                 || (!terms_.empty() && decoded.term != last_term())) {
        throw storage_error(
          where() + "the segment starts after index "
          + std::to_string(decoded.index) + " (term "
          + std::to_string(decoded.term) + ") but the segments before it end "
          + "at index " + std::to_string(last_index()) + " (term "
          + std::to_string(last_term()) + ")");
      }
      return;
    case record_type::log_reset:
      if (decoded.index == 0)
        throw storage_error(where() + "a log reset to index 0");
      replay_reset(decoded.index, decoded.term);
      ctx.positioned = true;
      ctx.soft_base = false;
      ctx.info.has_reset = true;
      ctx.info.min_index = 0;
      return;
    case record_type::entries:
      replay_entries(where, decoded.entries, ctx);
      return;
  }
}

template <class Where>
void log_store::replay_entries(Where where, std::vector<log_entry>& entries,
                               replay_context& ctx) {
  if (entries.empty())
    return;
  if (auto problem = shape_problem(entries); !problem.empty())
    throw storage_error(where() + problem);
  auto first = entries.front().index;
  if (!ctx.positioned) {
    // The first entries of a first segment with no start record: the log
    // starts here (at 1, unless older segments were compacted away).
    replay_reset(first - 1, 0);
    ctx.positioned = true;
    ctx.soft_base = true;
  } else if (first <= base_index_) {
    if (!ctx.soft_base)
      throw storage_error(where() + "entries start at index "
                          + std::to_string(first)
                          + ", at or below the base "
                          + std::to_string(base_index_)
                          + " a log reset record set");
    replay_reset(first - 1, 0);
  } else if (auto problem = entries_problem(entries, base_index_, last_index());
             !problem.empty()) {
    throw storage_error(where() + problem);
  }
  note_entries(ctx.info, entries);
  splice_terms(terms_, base_index_, entries);
  auto& log = recovered_.entries;
  log.resize(first - 1 - base_index_);
  std::move(entries.begin(), entries.end(), std::back_inserter(log));
}

void log_store::replay_reset(index_t index, term_t term) {
  base_index_ = index;
  base_term_ = term;
  terms_.clear();
  recovered_.entries.clear();
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
  auto head = make_segment_header();
  // The state as of the last sync, so that this segment can be read once the
  // ones before it are compacted away. A segment that begins at an empty log
  // needs none (the first one).
  bool empty = synced_state_ == hard_state{} && synced_last_index_ == 0
               && synced_last_term_ == 0;
  if (!empty)
    append_frame(head, encode_segment_start_record(
                         synced_state_, synced_last_index_, synced_last_term_));
  posix::write_all(segment_fd_.get(), head, path);
  segment_size_ = head.size();
  segment_info info;
  info.seq = seq;
  info.self_contained = true;
  segments_.push_back(info);
}

void log_store::note_entries(segment_info& info,
                             const std::vector<log_entry>& entries) {
  if (entries.empty())
    return;
  auto first = entries.front().index;
  info.min_index = info.min_index == 0 ? first
                                       : std::min(info.min_index, first);
  info.max_index = std::max(info.max_index, entries.back().index);
}

void log_store::append(const persist_request& req) {
  check_usable();
  bool reset = req.reset_index != 0;
  auto base = reset ? req.reset_index : base_index_;
  auto last = reset ? req.reset_index : last_index();
  if (auto problem = entries_problem(req.entries, base, last);
      !problem.empty())
    throw std::logic_error("log_store::append: " + problem);
  // Encode everything first, so an exception leaves the store unchanged.
  std::string frames;
  if (reset)
    append_frame(frames,
                 encode_log_reset_record(req.reset_index, req.reset_term));
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
  if (reset) {
    base_index_ = req.reset_index;
    base_term_ = req.reset_term;
    terms_.clear();
    pending_info_.has_reset = true;
    pending_info_.min_index = 0;
  }
  if (req.has_hard_state)
    state_ = req.state;
  note_entries(pending_info_, req.entries);
  splice_terms(terms_, base_index_, req.entries);
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
  // What the pending records add to the segment they landed in.
  auto& seg = segments_.back();
  if (pending_info_.has_reset) {
    seg.has_reset = true;
    seg.min_index = pending_info_.min_index;
  } else if (pending_info_.min_index != 0) {
    seg.min_index = seg.min_index == 0
                      ? pending_info_.min_index
                      : std::min(seg.min_index, pending_info_.min_index);
  }
  seg.max_index = std::max(seg.max_index, pending_info_.max_index);
  pending_info_ = segment_info{};
  synced_state_ = state_;
  synced_last_index_ = last_index();
  synced_last_term_ = last_term();
  failed_ = false;
}

index_t log_store::compact(index_t upto) {
  check_usable();
  // A segment may go if a snapshot covers all its entries, or a later
  // segment resets the log (everything before is superseded), and the
  // segment after it can be read alone. Only a prefix goes, never the
  // segment being appended to (the last).
  auto n = segments_.size();
  std::vector<bool> reset_later(n, false);
  for (size_t i = n; i-- > 1;)
    reset_later[i - 1] = segments_[i].has_reset || reset_later[i];
  size_t removable = 0;
  while (removable + 1 < n) {
    const auto& seg = segments_[removable];
    bool covered = reset_later[removable] || seg.max_index <= upto;
    if (!covered || !segments_[removable + 1].self_contained)
      break;
    ++removable;
  }
  // Oldest first, each removal durable before the next: a crash midway
  // leaves a contiguous suffix of segments, which recovers like any other.
  for (size_t i = 0; i < removable; ++i) {
    posix::remove_file(segment_path(segments_.front().seq));
    posix::sync_dir(dir_);
    segments_.erase(segments_.begin());
  }
  // The first index still stored: the smallest first index of an entries
  // record since the last log reset, in what remains (and in the buffered
  // records, which will land in it). This is what recovery would find.
  index_t first = 0;
  auto consider = [&first](const segment_info& seg) {
    if (seg.has_reset)
      first = 0;
    if (seg.min_index != 0)
      first = first == 0 ? seg.min_index : std::min(first, seg.min_index);
  };
  for (const auto& seg : segments_)
    consider(seg);
  consider(pending_info_);
  auto new_first = first == 0 ? last_index() + 1
                              : std::max(first, base_index_ + 1);
  if (new_first - 1 > base_index_) {
    auto drop = new_first - 1 - base_index_;
    base_term_ = terms_[drop - 1];
    terms_.erase(terms_.begin(),
                 terms_.begin() + static_cast<std::ptrdiff_t>(drop));
    base_index_ = new_first - 1;
  }
  return first_index();
}

std::vector<uint64_t> log_store::segment_seqs() const {
  std::vector<uint64_t> result;
  for (const auto& seg : segments_)
    result.push_back(seg.seq);
  return result;
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
