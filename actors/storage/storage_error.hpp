#pragma once

// The one exception type of the storage layer: a failure of the environment
// (I/O error, corrupt or foreign file), as opposed to a bug (std::logic_error).

#include <stdexcept>

namespace raft {

/// An environment failure of the store (I/O error, corrupt file). what()
/// names the file and byte offset where relevant, e.g. "corrupt record in
/// /d/log-000001.seg at offset 4096: payload checksum mismatch".
class storage_error : public std::runtime_error {
public:
  using runtime_error::runtime_error;
};

} // namespace raft
