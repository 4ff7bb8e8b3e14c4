#include "actors/storage/snapshot_store.hpp"

#include "actors/storage/segment_format.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <span>
#include <stdexcept>
#include <system_error>
#include <tuple>
#include <utility>

#include <fcntl.h>

namespace raft {

namespace fs = std::filesystem;

namespace {

/// The path a writer of `meta` creates; refuses index 0 (no snapshot).
std::string new_snapshot_path(const std::string& dir,
                              const snapshot_meta& meta) {
  if (meta.index == 0)
    throw std::logic_error("snapshot_writer: a snapshot must include at least "
                           "index 1 (in "
                           + dir + ")");
  return dir + "/" + snapshot_file_name(meta.index, meta.term);
}

} // namespace

std::string snapshot_dir(const std::string& data_dir) {
  return data_dir + "/snapshots";
}

// -- snapshot_writer ----------------------------------------------------------

snapshot_writer::snapshot_writer(const std::string& dir,
                                 const snapshot_meta& meta)
  : file_(new_snapshot_path(dir, meta)), meta_(meta) {
  meta_.bytes = 0;
  buffer_ = make_snapshot_header();
  append_frame(buffer_, encode_snapshot_meta_record(meta_));
  write_buffer();
}

void snapshot_writer::add(const std::vector<kv_pair>& pairs) {
  check_usable();
  closed_ = true; // until the end: after an error the file is in doubt
  std::span<const kv_pair> all{pairs};
  size_t begin = 0;
  size_t bytes = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    bytes += all[i].key.size() + all[i].value.size();
    if (bytes < snapshot_record_bytes && i + 1 < all.size())
      continue;
    auto payload = encode_snapshot_pairs_record(all.subspan(begin, i + 1 - begin));
    if (payload.size() > std::numeric_limits<uint32_t>::max())
      throw std::length_error("snapshot " + path() + ": a pair of "
                              + std::to_string(payload.size())
                              + " bytes exceeds the 4 GiB record limit");
    append_frame(buffer_, payload);
    begin = i + 1;
    bytes = 0;
    if (buffer_.size() >= snapshot_record_bytes)
      write_buffer();
  }
  pairs_ += pairs.size();
  closed_ = false;
}

snapshot_meta snapshot_writer::finish() {
  check_usable();
  closed_ = true;
  if (pairs_ != meta_.keys)
    throw std::logic_error("snapshot " + path() + ": its meta says "
                           + std::to_string(meta_.keys) + " keys but "
                           + std::to_string(pairs_) + " pairs were added");
  append_frame(buffer_, encode_snapshot_trailer_record(pairs_));
  write_buffer();
  file_.commit();
  meta_.bytes = file_.size();
  return meta_;
}

void snapshot_writer::write_buffer() {
  file_.write(buffer_);
  buffer_.clear();
}

void snapshot_writer::check_usable() const {
  if (closed_)
    throw storage_error("snapshot writer for " + path()
                        + " cannot be used: it finished or failed before");
}

// -- snapshot_receiver --------------------------------------------------------

snapshot_receiver::snapshot_receiver(const std::string& dir, index_t index,
                                     term_t term)
  : index_(index),
    term_(term),
    file_(dir + "/" + snapshot_file_name(index, term)) {
  // nop
}

bool snapshot_receiver::write(uint64_t offset, std::string_view data) {
  if (closed_)
    throw storage_error("snapshot receiver for " + path()
                        + " cannot be used: it finished or failed before");
  if (offset == 0 && file_.size() > 0) {
    closed_ = true;
    file_.clear(); // the sender starts over
    closed_ = false;
  }
  if (offset != file_.size())
    return false;
  closed_ = true;
  file_.write(data);
  closed_ = false;
  return true;
}

snapshot_meta snapshot_receiver::finish() {
  if (closed_)
    throw storage_error("snapshot receiver for " + path()
                        + " cannot be used: it finished or failed before");
  closed_ = true;
  // Verify before anything is made durable: a damaged transfer must never
  // get the name of a snapshot.
  auto meta = verify_snapshot_file(file_.tmp_path(), index_, term_);
  file_.commit();
  return meta;
}

// -- snapshot_reader ----------------------------------------------------------

snapshot_reader::snapshot_reader(std::string path) : path_(std::move(path)) {
  auto id = parse_snapshot_file_name(fs::path{path_}.filename().string());
  if (!id)
    throw storage_error(path_ + " is not named like a snapshot file "
                                "(snap-<index>-<term>.snap)");
  fd_ = posix::open_file(path_, O_RDONLY);
  meta_ = verify_snapshot_file(path_, fd_.get(), id->first, id->second);
  records_ = std::make_unique<snapshot_record_reader>(path_, fd_.get(),
                                                      meta_.bytes);
  records_->next(); // the meta record, verified above
  pairs_offset_ = records_->offset();
}

std::vector<kv_pair> snapshot_reader::next_batch(uint64_t max_bytes) {
  std::vector<kv_pair> out;
  uint64_t bytes = 0;
  for (;;) {
    // Refill first, so the batch holding the last pair also reports done.
    if (next_ == buffered_.size() && !done_) {
      auto at = records_->offset();
      auto rec = records_->next();
      if (!rec || (rec->type != snapshot_record_type::pairs
                   && rec->type != snapshot_record_type::trailer))
        records_->fail(at, "unexpected record or end of file (the file "
                           "changed since it was verified)");
      buffered_ = std::move(rec->pairs);
      next_ = 0;
      done_ = rec->type == snapshot_record_type::trailer;
      continue;
    }
    if (done_ || (!out.empty() && bytes >= max_bytes))
      return out;
    auto& p = buffered_[next_++];
    bytes += p.key.size() + p.value.size();
    out.push_back(std::move(p));
  }
}

void snapshot_reader::restart() {
  records_->seek(pairs_offset_);
  buffered_.clear();
  next_ = 0;
  done_ = false;
}

snapshot_chunk snapshot_reader::read(uint64_t offset,
                                     uint64_t max_bytes) const {
  auto total = meta_.bytes;
  if (offset > total)
    throw storage_error("read at offset " + std::to_string(offset)
                        + " past the end of snapshot " + path_ + " ("
                        + std::to_string(total) + " bytes)");
  auto n = std::min(max_bytes, total - offset);
  snapshot_chunk chunk;
  chunk.offset = offset;
  chunk.data = posix::read_at(fd_.get(), offset, static_cast<size_t>(n), path_);
  if (chunk.data.size() != n)
    throw storage_error("snapshot " + path_ + " shrank since it was verified");
  chunk.total = total;
  chunk.done = offset + n == total;
  return chunk;
}

// -- snapshot_store -----------------------------------------------------------

snapshot_store::snapshot_store(std::string dir) : dir_(std::move(dir)) {
  std::error_code ec;
  bool existed = fs::is_directory(dir_, ec);
  fs::create_directories(dir_, ec);
  if (ec)
    throw storage_error("cannot create directory " + dir_ + ": "
                        + ec.message());
  if (!fs::is_directory(dir_, ec))
    throw storage_error(dir_ + " is not a directory");
  if (!existed) { // its entry in the parent must survive a crash
    auto parent = fs::path{dir_}.parent_path().string();
    posix::sync_dir(parent.empty() ? "." : parent);
  }
  // Leftovers of writes and transfers a crash (or a stop) cut short: they
  // never got a snapshot's name, so nothing refers to them.
  bool removed = false;
  for (fs::directory_iterator it{dir_, ec}, end; !ec && it != end;
       it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.ends_with(".tmp") && it->is_regular_file()) {
      posix::remove_file(it->path().string());
      removed = true;
    }
  }
  if (ec)
    throw storage_error("cannot list " + dir_ + ": " + ec.message());
  if (removed)
    posix::sync_dir(dir_);
}

std::string snapshot_store::path_of(index_t index, term_t term) const {
  return dir_ + "/" + snapshot_file_name(index, term);
}

std::vector<snapshot_file> snapshot_store::list() const {
  std::vector<snapshot_file> files;
  std::error_code ec;
  for (fs::directory_iterator it{dir_, ec}, end; !ec && it != end;
       it.increment(ec))
    if (auto id = parse_snapshot_file_name(it->path().filename().string()))
      files.push_back({id->first, id->second, it->path().string()});
  if (ec)
    throw storage_error("cannot list " + dir_ + ": " + ec.message());
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
    return std::tie(a.index, a.term) > std::tie(b.index, b.term);
  });
  return files;
}

std::optional<snapshot_file> snapshot_store::find(index_t index) const {
  for (auto& f : list())
    if (f.index == index)
      return std::move(f);
  return std::nullopt;
}

std::optional<snapshot_meta>
snapshot_store::newest_valid(std::vector<std::string>& problems) const {
  for (const auto& f : list()) {
    try {
      return verify_snapshot_file(f.path, f.index, f.term);
    } catch (const storage_error& e) {
      problems.emplace_back(e.what());
    }
  }
  return std::nullopt;
}

std::vector<std::string> snapshot_store::prune(size_t keep,
                                               const std::string& keep_path,
                                               const std::string& also_keep) {
  std::vector<std::string> removed;
  size_t valid = 0;
  for (const auto& f : list()) {
    bool keep_it = false;
    if (valid < keep) {
      try {
        verify_snapshot_file(f.path, f.index, f.term);
        ++valid;
        keep_it = true;
      } catch (const storage_error&) {
        // Corrupt: kept only while no valid snapshot is newer, so that
        // newest_valid() keeps reporting it until an operator looks.
        keep_it = valid == 0;
      }
    }
    if (keep_it || f.path == keep_path || (!also_keep.empty() && f.path == also_keep))
      continue;
    posix::remove_file(f.path);
    removed.push_back(f.path);
  }
  if (!removed.empty())
    posix::sync_dir(dir_);
  return removed;
}

} // namespace raft
