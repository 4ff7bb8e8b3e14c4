#pragma once

// The binary form of a kv_command inside a log entry's data.
//
// Layout (version 1):
//   u8 version (= 1) | u8 op | key | value | expected | flags | args
// where each string is a u32 little-endian length followed by its bytes,
// flags is one byte, args is a u32 count followed by that many strings, and
// only the fields the op uses are present:
//   get, del: key       put, incr_by: key, value    cas: key, value, expected
//   set: key, value, flags                          del_keys, mset: args
// (The ops after cas were added without a version change: older nodes
// reject them, so a cluster must not mix versions while they are used.)
// Every node decodes the same bytes, so the format must be exact: a decoder
// accepts one encoding per command and nothing else.

#include "messages/kv_messages.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace raft {

/// The format version written by encode_command; anything else is rejected.
inline constexpr uint8_t command_codec_version = 1;

/// Encodes `cmd` as the data of a log entry. Fields the op does not use are
/// not encoded (they decode as empty). Precondition: each string is shorter
/// than 4 GiB (the client layer bounds sizes far below that).
std::string encode_command(const kv_command& cmd);

/// Decodes log entry data into `out`. Returns false for anything malformed
/// (wrong version, unknown op, truncated, trailing bytes, lengths beyond the
/// data), leaving `out` unchanged. Never reads out of bounds, never throws.
bool decode_command(std::string_view data, kv_command& out);

} // namespace raft
