#pragma once

// Thin, checked wrappers over the POSIX calls the log needs. Every failure
// becomes a storage_error naming the call, the path and errno's text, so an
// operator reading the node's exit reason knows which file to look at.

#include "actors/storage/storage_error.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace raft::posix {

/// An owned file descriptor, closed on destruction.
class unique_fd {
public:
  unique_fd() = default;
  /// Takes ownership of `fd` (-1 for none).
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept;
  unique_fd& operator=(unique_fd&& other) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd();

  /// The descriptor, or -1.
  int get() const { return fd_; }
  /// Whether a descriptor is held.
  bool valid() const { return fd_ >= 0; }
  /// Closes the descriptor now (a no-op without one).
  void reset();

private:
  int fd_ = -1;
};

/// Throws a storage_error "<what> <path>: <strerror(errno)>".
[[noreturn]] void throw_errno(std::string_view what, const std::string& path);

/// open(2) with O_CLOEXEC; throws on failure.
unique_fd open_file(const std::string& path, int flags, unsigned mode = 0644);

/// Writes all of `data` (retrying short writes and EINTR); throws on failure.
void write_all(int fd, std::string_view data, const std::string& path);

/// Reads the whole file at `path`; throws on failure.
std::string read_all(const std::string& path);

/// fdatasync(2); throws on failure.
void sync_data(int fd, const std::string& path);

/// Truncates the open file to `size` bytes and fsyncs it; throws on failure.
void truncate_and_sync(int fd, uint64_t size, const std::string& path);

/// fsyncs the directory itself, making file creation and removal in it
/// durable; throws on failure.
void sync_dir(const std::string& dir);

/// Removes the file at `path`; throws on failure.
void remove_file(const std::string& path);

/// fsync(2) (data and metadata); throws on failure.
void sync_file(int fd, const std::string& path);

/// Reads up to `max` bytes at `offset` (pread(2), retrying short reads):
/// fewer only at the end of the file. Throws on failure.
std::string read_at(int fd, uint64_t offset, size_t max,
                    const std::string& path);

/// The size in bytes of the open file; throws on failure.
uint64_t file_size(int fd, const std::string& path);

/// Truncates the open file to `size` bytes (no sync); throws on failure.
void truncate(int fd, uint64_t size, const std::string& path);

/// rename(2): atomically replaces `to` by `from`; throws on failure (naming
/// both paths).
void rename_file(const std::string& from, const std::string& to);

} // namespace raft::posix
