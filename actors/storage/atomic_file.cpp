#include "actors/storage/atomic_file.hpp"

#include <filesystem>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

namespace raft {

atomic_file::atomic_file(std::string final_path)
  : path_(std::move(final_path)), tmp_path_(path_ + ".tmp") {
  // O_EXCL: two writers of the same file at once would interleave their
  // bytes; the second one fails instead.
  fd_ = posix::open_file(tmp_path_, O_WRONLY | O_CREAT | O_EXCL);
}

atomic_file::~atomic_file() {
  if (!committed_) {
    fd_.reset();
    // Best effort: a leftover .tmp is removed when the directory is next
    // opened, and a destructor cannot throw.
    static_cast<void>(::unlink(tmp_path_.c_str()));
  }
}

void atomic_file::write(std::string_view data) {
  posix::write_all(fd_.get(), data, tmp_path_);
  size_ += data.size();
}

void atomic_file::clear() {
  posix::truncate(fd_.get(), 0, tmp_path_);
  // The descriptor is not O_APPEND: move it back to the start too.
  if (::lseek(fd_.get(), 0, SEEK_SET) != 0)
    posix::throw_errno("cannot seek in", tmp_path_);
  size_ = 0;
}

void atomic_file::commit() {
  posix::sync_file(fd_.get(), tmp_path_);
  fd_.reset();
  posix::rename_file(tmp_path_, path_);
  committed_ = true;
  // The rename must survive a crash too. If this fsync fails the file is in
  // place but perhaps not durably; the error still reaches the caller.
  auto dir = std::filesystem::path{path_}.parent_path().string();
  posix::sync_dir(dir.empty() ? "." : dir);
}

} // namespace raft
