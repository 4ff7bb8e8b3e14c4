#include "actors/storage/record_codec.hpp"

#include "actors/storage/boost_serialization.hpp"
#include "actors/storage/memory_buffer.hpp"

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>

#include <sstream>
#include <stdexcept>

namespace raft {

namespace {

constexpr auto archive_flags = boost::archive::no_header;

template <class Archive>
void load_entries(Archive& ar, std::vector<log_entry>& entries) {
  uint64_t count = 0;
  ar >> count;
  // No reserve(count): a bogus count must fail on missing data, not on a
  // huge allocation.
  for (uint64_t i = 0; i < count; ++i) {
    log_entry e;
    ar >> e;
    entries.push_back(std::move(e));
  }
}

/// Encodes the record version, `type`, then whatever `write_body` writes.
template <class WriteBody>
std::string encode_with(record_type type, WriteBody write_body) {
  std::ostringstream out(std::ios::binary);
  {
    boost::archive::binary_oarchive ar(out, archive_flags);
    auto version = record_format_version;
    auto type_byte = static_cast<uint8_t>(type);
    ar << version << type_byte;
    write_body(ar);
  } // the archive flushes on destruction
  return std::move(out).str();
}

} // namespace

std::string encode_hard_state_record(const hard_state& state) {
  return encode_with(record_type::hard_state,
                     [&](auto& ar) { ar << state; });
}

std::string encode_entries_record(const std::vector<log_entry>& entries) {
  return encode_with(record_type::entries, [&](auto& ar) {
    uint64_t count = entries.size();
    ar << count;
    for (const auto& e : entries)
      ar << e;
  });
}

std::string encode_log_reset_record(index_t index, term_t term) {
  return encode_with(record_type::log_reset,
                     [&](auto& ar) { ar << index << term; });
}

std::string encode_segment_start_record(const hard_state& state,
                                        index_t last_index, term_t last_term) {
  return encode_with(record_type::segment_start, [&](auto& ar) {
    ar << last_index << last_term << state;
  });
}

log_record decode_record(std::string_view payload) {
  memory_buffer buf{payload};
  log_record rec;
  try {
    boost::archive::binary_iarchive ar(buf, archive_flags);
    uint32_t version = 0;
    uint8_t type = 0;
    ar >> version;
    if (version != record_format_version)
      throw std::runtime_error("record version " + std::to_string(version)
                               + ", expected "
                               + std::to_string(record_format_version));
    ar >> type;
    rec.type = static_cast<record_type>(type);
    if (rec.type == record_type::hard_state)
      ar >> rec.state;
    else if (rec.type == record_type::entries)
      load_entries(ar, rec.entries);
    else if (rec.type == record_type::log_reset)
      ar >> rec.index >> rec.term;
    else if (rec.type == record_type::segment_start)
      ar >> rec.index >> rec.term >> rec.state;
    else
      throw std::runtime_error("unknown record type " + std::to_string(type));
  } catch (const boost::archive::archive_exception& e) {
    throw std::runtime_error(std::string{"undecodable record: "} + e.what());
  }
  if (buf.remaining() != 0)
    throw std::runtime_error(std::to_string(buf.remaining())
                             + " trailing bytes after the record");
  return rec;
}

} // namespace raft
