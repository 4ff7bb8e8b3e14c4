#pragma once

// The payload of one log record: what it says, independent of framing.
//
// A payload is a Boost binary archive (no archive header) of
//   u32 record version | u8 record type | body
// where the body is a hard_state, or a u64 count followed by that many
// log entries. The record version comes first so a future reader can tell
// old records from new ones before decoding anything else.

#include "messages/raft_rpc.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace raft {

/// The layout version of record payloads; bump it with any change to them.
inline constexpr uint32_t record_format_version = 1;

/// What a record holds.
enum class record_type : uint8_t {
  hard_state = 1, ///< a new term and vote
  entries = 2,    ///< contiguous log entries (may supersede a suffix)
};

/// One decoded record. Only the member its type names is meaningful.
struct log_record {
  record_type type = record_type::hard_state;
  hard_state state;
  std::vector<log_entry> entries;
};

/// The payload of a record holding `state`.
std::string encode_hard_state_record(const hard_state& state);

/// The payload of a record holding `entries`.
std::string encode_entries_record(const std::vector<log_entry>& entries);

/// Parses a payload produced by an encode function above. Throws std::runtime_error
/// (with a reason, no file name: the caller knows where it came from) on a
/// wrong version, an unknown type, trailing bytes, or malformed data.
log_record decode_record(std::string_view payload);

} // namespace raft
