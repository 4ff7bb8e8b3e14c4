#pragma once

// Boost.Serialization for the log's plain structs. Kept here, not in
// messages/, so the core structs stay free of Boost (STYLE.md, point 7).
//
// Both types are marked object_serializable + track_never: Boost then writes
// no class-version or tracking information of its own. The on-disk layout is
// versioned once, by the record version in record_codec.hpp, and any change
// to the fields below must bump it.

#include "messages/raft_rpc.hpp"

#include <boost/serialization/level.hpp>
#include <boost/serialization/split_free.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/tracking.hpp>

#include <cstdint>
#include <stdexcept>

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

} // namespace boost::serialization

BOOST_CLASS_IMPLEMENTATION(raft::log_entry,
                           boost::serialization::object_serializable)
BOOST_CLASS_TRACKING(raft::log_entry, boost::serialization::track_never)
BOOST_CLASS_IMPLEMENTATION(raft::hard_state,
                           boost::serialization::object_serializable)
BOOST_CLASS_TRACKING(raft::hard_state, boost::serialization::track_never)
