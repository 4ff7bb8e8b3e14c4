#pragma once

// The payload of one log record: what it says, independent of framing.
//
// A payload is a Boost binary archive (no archive header) of
//   u32 record version | u8 record type | body
// where the body is
//   hard_state:    a hard_state
//   entries:       a u64 count followed by that many log entries
//   log_reset:     u64 index, u64 term
//   segment_start: u64 last index, u64 last term, a hard_state
// The record version comes first so a future reader can tell old records
// from new ones before decoding anything else. Record types may be added
// without a version bump (log_reset and segment_start came later than the
// first two): a reader that does not know a type stops with "unknown record
// type" instead of misreading it.

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
  /// The whole log before it is discarded; the log continues at index + 1,
  /// whose predecessor has `term` (a snapshot through index was installed).
  log_reset = 3,
  /// The first record of a segment after the first: the hard state and the
  /// log's last (index, term) as of the segment's creation, so the segment
  /// can be read without the ones before it once those are compacted away.
  segment_start = 4,
};

/// One decoded record. Only the members its type names are meaningful.
struct log_record {
  record_type type = record_type::hard_state;
  /// hard_state, segment_start.
  hard_state state;
  /// entries.
  std::vector<log_entry> entries;
  /// log_reset: the reset index and its term; segment_start: the last index
  /// and last term.
  index_t index = 0;
  term_t term = 0;
};

/// The payload of a record holding `state`.
std::string encode_hard_state_record(const hard_state& state);

/// The payload of a record holding `entries`.
std::string encode_entries_record(const std::vector<log_entry>& entries);

/// The payload of a record that resets the log to continue at index + 1.
std::string encode_log_reset_record(index_t index, term_t term);

/// The payload of a segment's first record: the state at its creation.
std::string encode_segment_start_record(const hard_state& state,
                                        index_t last_index, term_t last_term);

/// Parses a payload produced by an encode function above. Throws std::runtime_error
/// (with a reason, no file name: the caller knows where it came from) on a
/// wrong version, an unknown type, trailing bytes, or malformed data.
log_record decode_record(std::string_view payload);

} // namespace raft
