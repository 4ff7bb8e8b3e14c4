#pragma once

// Boost.Serialization for the plain structs stored on disk: log entries and
// the hard state (log records), members, memberships and key-value pairs
// (snapshot files). Kept here, not in messages/, so the core structs stay
// free of Boost (STYLE.md, point 7).
//
// Every type is marked object_serializable + track_never: Boost then writes
// no class-version or tracking information of its own. Vectors are written
// as a u64 count and their elements, not through Boost's collection support,
// whose layout depends on the Boost version. The on-disk layouts are
// versioned by their own record versions (record_codec.hpp for the log,
// snapshot_format.hpp for snapshots), and any change to the fields below
// must bump the version of the files that use them.

#include "messages/raft_rpc.hpp"
#include "messages/snapshot_messages.hpp"

#include <boost/serialization/level.hpp>
#include <boost/serialization/split_free.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/tracking.hpp>

#include <cstdint>
#include <stdexcept>
#include <vector>

namespace boost::serialization {

/// Writes a log entry: term, index, type (one byte), data.
template <class Archive>
void save(Archive& ar, const raft::log_entry& x, unsigned /*version*/) {
  // The enum goes out as a fixed one-byte integer, not as Boost's int.
  auto type = static_cast<uint8_t>(x.type);
  ar << x.term << x.index << type << x.data;
}

/// Reads a log entry written by save(); rejects an unknown entry type.
template <class Archive>
void load(Archive& ar, raft::log_entry& x, unsigned /*version*/) {
  uint8_t type = 0;
  ar >> x.term >> x.index >> type >> x.data;
  if (type > static_cast<uint8_t>(raft::entry_type::config))
    throw std::runtime_error("unknown log entry type " + std::to_string(type));
  x.type = static_cast<raft::entry_type>(type);
}

/// Dispatches to save()/load() for log entries.
template <class Archive>
void serialize(Archive& ar, raft::log_entry& x, unsigned version) {
  split_free(ar, x, version);
}

/// Serializes the hard state: current term, then vote.
template <class Archive>
void serialize(Archive& ar, raft::hard_state& x, unsigned /*version*/) {
  ar & x.current_term & x.voted_for;
}

/// Serializes a cluster member: id, then address.
template <class Archive>
void serialize(Archive& ar, raft::member& x, unsigned /*version*/) {
  ar & x.id & x.address;
}

/// Writes a list of members: a u64 count, then each member.
template <class Archive>
void save_members(Archive& ar, const std::vector<raft::member>& xs) {
  uint64_t count = xs.size();
  ar << count;
  for (const auto& x : xs)
    ar << x;
}

/// Reads a list written by save_members().
template <class Archive>
void load_members(Archive& ar, std::vector<raft::member>& xs) {
  uint64_t count = 0;
  ar >> count;
  xs.clear();
  // No reserve(count): a bogus count must fail on missing data, not on a
  // huge allocation.
  for (uint64_t i = 0; i < count; ++i) {
    raft::member x;
    ar >> x;
    xs.push_back(std::move(x));
  }
}

/// Writes a membership: voters, then learners.
template <class Archive>
void save(Archive& ar, const raft::membership& x, unsigned /*version*/) {
  save_members(ar, x.voters);
  save_members(ar, x.learners);
}

/// Reads a membership written by save().
template <class Archive>
void load(Archive& ar, raft::membership& x, unsigned /*version*/) {
  load_members(ar, x.voters);
  load_members(ar, x.learners);
}

/// Dispatches to save()/load() for memberships.
template <class Archive>
void serialize(Archive& ar, raft::membership& x, unsigned version) {
  split_free(ar, x, version);
}

/// Serializes a key-value pair: key, then value.
template <class Archive>
void serialize(Archive& ar, raft::kv_pair& x, unsigned /*version*/) {
  ar & x.key & x.value;
}

} // namespace boost::serialization

BOOST_CLASS_IMPLEMENTATION(raft::log_entry,
                           boost::serialization::object_serializable)
BOOST_CLASS_TRACKING(raft::log_entry, boost::serialization::track_never)
BOOST_CLASS_IMPLEMENTATION(raft::hard_state,
                           boost::serialization::object_serializable)
BOOST_CLASS_TRACKING(raft::hard_state, boost::serialization::track_never)
BOOST_CLASS_IMPLEMENTATION(raft::member,
                           boost::serialization::object_serializable)
BOOST_CLASS_TRACKING(raft::member, boost::serialization::track_never)
BOOST_CLASS_IMPLEMENTATION(raft::membership,
                           boost::serialization::object_serializable)
BOOST_CLASS_TRACKING(raft::membership, boost::serialization::track_never)
BOOST_CLASS_IMPLEMENTATION(raft::kv_pair,
                           boost::serialization::object_serializable)
BOOST_CLASS_TRACKING(raft::kv_pair, boost::serialization::track_never)
