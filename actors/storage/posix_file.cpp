#include "actors/storage/posix_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace raft::posix {

unique_fd::unique_fd(unique_fd&& other) noexcept
  : fd_(std::exchange(other.fd_, -1)) {
  // nop
}

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

unique_fd::~unique_fd() {
  reset();
}

void unique_fd::reset() {
  if (fd_ >= 0) {
    // A close error cannot be acted on here: everything that must be durable
    // was fdatasync'd (and checked) before, and a destructor cannot throw.
    static_cast<void>(::close(fd_));
    fd_ = -1;
  }
}

void throw_errno(std::string_view what, const std::string& path) {
  int err = errno;
  throw storage_error(std::string{what} + " " + path + ": "
                      + std::strerror(err));
}

unique_fd open_file(const std::string& path, int flags, unsigned mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, static_cast<mode_t>(mode));
  } while (fd < 0 && errno == EINTR);
  if (fd < 0)
    throw_errno("cannot open", path);
  return unique_fd{fd};
}

void write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    auto n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw_errno("write to", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string read_all(const std::string& path) {
  auto fd = open_file(path, O_RDONLY);
  std::string result;
  char buf[64 * 1024];
  for (;;) {
    auto n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw_errno("read from", path);
    }
    if (n == 0)
      return result;
    result.append(buf, static_cast<size_t>(n));
  }
}

void sync_data(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0)
    throw_errno("fdatasync", path);
}

void truncate_and_sync(int fd, uint64_t size, const std::string& path) {
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0)
    throw_errno("ftruncate", path);
  if (::fsync(fd) != 0)
    throw_errno("fsync", path);
}

void sync_dir(const std::string& dir) {
  auto fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (::fsync(fd.get()) != 0)
    throw_errno("fsync directory", dir);
}

void remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0)
    throw_errno("cannot remove", path);
}

void sync_file(int fd, const std::string& path) {
  if (::fsync(fd) != 0)
    throw_errno("fsync", path);
}

std::string read_at(int fd, uint64_t offset, size_t max,
                    const std::string& path) {
  std::string result(max, '\0');
  size_t got = 0;
  while (got < max) {
    auto n = ::pread(fd, result.data() + got, max - got,
                     static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw_errno("read from", path);
    }
    if (n == 0)
      break; // end of file
    got += static_cast<size_t>(n);
  }
  result.resize(got);
  return result;
}

uint64_t file_size(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    throw_errno("cannot stat", path);
  return static_cast<uint64_t>(st.st_size);
}

void truncate(int fd, uint64_t size, const std::string& path) {
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0)
    throw_errno("ftruncate", path);
}

void rename_file(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    throw_errno("cannot rename " + from + " to", to);
}

} // namespace raft::posix
