#pragma once

// CRC-32C (Castagnoli), the checksum of every on-disk record. Written here
// rather than taken from a library: it is 20 lines and the format must not
// depend on which library happens to be installed.

#include <cstdint>
#include <string_view>

namespace raft {

/// CRC-32C of `data`, continuing from `crc` (pass a previous result to
/// checksum data in pieces; 0 to start). crc32c("123456789") == 0xE3069283.
uint32_t crc32c(std::string_view data, uint32_t crc = 0);

} // namespace raft
