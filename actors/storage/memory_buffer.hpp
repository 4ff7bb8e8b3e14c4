#pragma once

// A read-only stream buffer over bytes we already hold, so that decoding a
// record payload with a Boost archive does not copy it into a stringstream.

#include <cstddef>
#include <streambuf>
#include <string_view>

namespace raft {

/// A std::streambuf that reads `bytes` (which must outlive it).
class memory_buffer : public std::streambuf {
public:
  explicit memory_buffer(std::string_view bytes) {
    // The buffer is only ever read from; streambuf just wants char*.
    auto* begin = const_cast<char*>(bytes.data());
    setg(begin, begin, begin + bytes.size());
  }

  /// Bytes not yet consumed by the reader.
  std::ptrdiff_t remaining() const {
    return egptr() - gptr();
  }
};

} // namespace raft
