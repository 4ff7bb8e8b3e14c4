#pragma once

// Cluster configurations (thesis §4): queries, single-server changes, and
// the encoding a config log entry carries. Standard library only: the pure
// core uses it.

#include "messages/raft_rpc.hpp"

#include <optional>
#include <string>
#include <vector>

namespace raft {

/// True if `id` votes in `m`.
bool is_voter(const membership& m, node_id id);
/// True if `id` is a learner in `m`.
bool is_learner(const membership& m, node_id id);
/// True if `id` is a voter or a learner in `m`.
inline bool is_member(const membership& m, node_id id) {
  return is_voter(m, id) || is_learner(m, id);
}
/// The member entry of `id` (voter or learner), if any.
const member* find_member(const membership& m, node_id id);
/// The ids of the voters, in configuration order.
std::vector<node_id> voter_ids(const membership& m);
/// The ids of the learners, in configuration order.
std::vector<node_id> learner_ids(const membership& m);

/// One single-server change (thesis §4.1): configurations that differ by one
/// voter have overlapping majorities, so no joint consensus is needed as
/// long as one change commits before the next starts.
struct config_change {
  enum class kind : uint8_t {
    add_learner, ///< a new member that receives the log but does not vote
    promote,     ///< a learner becomes a voter
    remove,      ///< a voter or learner leaves
  };
  kind op = kind::add_learner;
  member who;
};

/// Applies `c` to `m`. Returns an explanation instead if the change does not
/// fit (adding a member twice, removing a stranger, promoting a non-learner,
/// removing the last voter).
std::optional<std::string> apply_change(membership& m, const config_change& c);

/// The bytes of a config entry: a version byte, then the voters and the
/// learners (id and address each), all integers little-endian.
std::string encode_membership(const membership& m);
/// Decodes a config entry; nullopt if the bytes are not one (wrong version,
/// short, trailing bytes, id 0, an id twice).
std::optional<membership> decode_membership(const std::string& bytes);

/// "1,2,3 learners 4" -- for log lines and errors.
std::string to_string(const membership& m);

} // namespace raft
