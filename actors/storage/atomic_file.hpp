#pragma once

// A file that appears under its final name only once it is complete and
// durable: written as "<final>.tmp", then fsync'd, renamed into place and
// the directory fsync'd. A crash leaves either nothing, a leftover .tmp
// (removed by whoever owns the directory when it next opens it), or the
// whole durable file: never a partial file under the final name.

#include "actors/storage/posix_file.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace raft {

/// A file under construction; see above.
class atomic_file {
public:
  /// Creates "<final_path>.tmp", which must not exist. Throws storage_error.
  explicit atomic_file(std::string final_path);

  /// Removes the temporary file unless commit() succeeded.
  ~atomic_file();

  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;

  /// Appends `data`. Throws storage_error.
  void write(std::string_view data);

  /// Empties the file, to start over. Throws storage_error.
  void clear();

  /// Bytes written so far.
  uint64_t size() const {
    return size_;
  }

  /// The name the file gets once committed.
  const std::string& path() const {
    return path_;
  }

  /// The name it has until then.
  const std::string& tmp_path() const {
    return tmp_path_;
  }

  /// fsyncs the file, renames it to path() and fsyncs the directory.
  /// Throws storage_error (the temporary file is then removed when this
  /// object goes).
  void commit();

  /// Whether commit() succeeded.
  bool committed() const {
    return committed_;
  }

private:
  std::string path_;
  std::string tmp_path_;
  posix::unique_fd fd_;
  uint64_t size_ = 0;
  bool committed_ = false;
};

} // namespace raft
