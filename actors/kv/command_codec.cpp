#include "actors/kv/command_codec.hpp"

#include <cstddef>
#include <utility>
#include <vector>

namespace raft {

namespace {

/// What an op carries after its op byte.
struct op_fields {
  bool key = false;      ///< a string
  bool value = false;    ///< a string
  bool expected = false; ///< a string
  bool flags = false;    ///< a byte
  bool args = false;     ///< a u32 count, then that many strings
};

/// The fields of `op`; false if `op` is not one that goes into the log.
bool fields_of(kv_op op, op_fields& out) {
  switch (op) {
    case kv_op::get:
    case kv_op::del: out = {.key = true}; return true;
    case kv_op::put: out = {.key = true, .value = true}; return true;
    case kv_op::cas: out = {.key = true, .value = true, .expected = true}; return true;
    case kv_op::set: out = {.key = true, .value = true, .flags = true}; return true;
    case kv_op::del_keys: out = {.args = true}; return true;
    case kv_op::incr_by: out = {.key = true, .value = true}; return true;
    case kv_op::mset: out = {.args = true}; return true;
    // Operator commands go to the Raft layer, and the multi-key reads are
    // served by ReadIndex: neither ever goes into a command entry.
    case kv_op::add_member:
    case kv_op::remove_member:
    case kv_op::transfer_leader:
    case kv_op::take_snapshot:
    case kv_op::mget:
    case kv_op::exists:
    case kv_op::dbsize: return false;
  }
  return false;
}

void put_u32(std::string& buf, uint32_t n) {
  for (int shift = 0; shift < 32; shift += 8)
    buf.push_back(static_cast<char>((n >> shift) & 0xFF));
}

void put_string(std::string& buf, const std::string& s) {
  put_u32(buf, static_cast<uint32_t>(s.size()));
  buf += s;
}

/// A bounds-checked cursor over the encoded bytes: every read checks what is
/// left first, so a hostile length can never move it past the end.
class reader {
public:
  explicit reader(std::string_view data) : data_(data) {}

  bool read_u8(uint8_t& out) {
    if (data_.empty())
      return false;
    out = static_cast<uint8_t>(data_.front());
    data_.remove_prefix(1);
    return true;
  }

  bool read_u32(uint32_t& n) {
    if (data_.size() < 4)
      return false;
    n = 0;
    for (std::size_t i = 0; i < 4; ++i)
      n |= uint32_t{static_cast<uint8_t>(data_[i])} << (8 * i);
    data_.remove_prefix(4);
    return true;
  }

  bool read_string(std::string& out) {
    uint32_t n = 0;
    if (!read_u32(n))
      return false;
    // Compare against what is left rather than allocating: a length of
    // 0xFFFFFFFF in a short buffer is malformed, not a 4 GiB request.
    if (n > data_.size())
      return false;
    out.assign(data_.substr(0, n));
    data_.remove_prefix(n);
    return true;
  }

  /// Reads a u32 count and that many strings. Every string takes 4 bytes
  /// at least, so a count beyond what is left is malformed, and nothing is
  /// reserved for it.
  bool read_strings(std::vector<std::string>& out) {
    uint32_t n = 0;
    if (!read_u32(n) || n > data_.size() / 4)
      return false;
    out.resize(n);
    for (auto& s : out)
      if (!read_string(s))
        return false;
    return true;
  }

  bool at_end() const { return data_.empty(); }

private:
  std::string_view data_;
};

} // namespace

std::string encode_command(const kv_command& cmd) {
  op_fields fields;
  // An op outside the enum cannot be encoded faithfully; it is a caller bug,
  // but encoding it anyway makes every node reject it as bad_request.
  if (!fields_of(cmd.op, fields))
    fields = {};
  std::size_t size = 2 + (fields.key ? 4 + cmd.key.size() : 0)
                     + (fields.value ? 4 + cmd.value.size() : 0)
                     + (fields.expected ? 4 + cmd.expected.size() : 0)
                     + (fields.flags ? 1 : 0) + (fields.args ? 4 : 0);
  if (fields.args)
    for (const auto& a : cmd.args)
      size += 4 + a.size();
  std::string buf;
  buf.reserve(size);
  buf.push_back(static_cast<char>(command_codec_version));
  buf.push_back(static_cast<char>(cmd.op));
  if (fields.key)
    put_string(buf, cmd.key);
  if (fields.value)
    put_string(buf, cmd.value);
  if (fields.expected)
    put_string(buf, cmd.expected);
  if (fields.flags)
    buf.push_back(static_cast<char>(cmd.flags));
  if (fields.args) {
    put_u32(buf, static_cast<uint32_t>(cmd.args.size()));
    for (const auto& a : cmd.args)
      put_string(buf, a);
  }
  return buf;
}

bool decode_command(std::string_view data, kv_command& out) {
  reader in{data};
  uint8_t version = 0;
  uint8_t op = 0;
  if (!in.read_u8(version) || version != command_codec_version)
    return false;
  if (!in.read_u8(op))
    return false;
  kv_command cmd;
  cmd.op = static_cast<kv_op>(op);
  op_fields fields;
  if (!fields_of(cmd.op, fields))
    return false;
  if (fields.key && !in.read_string(cmd.key))
    return false;
  if (fields.value && !in.read_string(cmd.value))
    return false;
  if (fields.expected && !in.read_string(cmd.expected))
    return false;
  if (fields.flags && !in.read_u8(cmd.flags))
    return false;
  if (fields.args && !in.read_strings(cmd.args))
    return false;
  // Trailing bytes would mean two different encodings of one command.
  if (!in.at_end())
    return false;
  out = std::move(cmd);
  return true;
}

} // namespace raft
