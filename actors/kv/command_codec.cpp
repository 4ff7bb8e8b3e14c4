#include "actors/kv/command_codec.hpp"

#include <cstddef>
#include <utility>

namespace raft {

namespace {

/// Which strings an op carries after the key.
struct op_fields {
  bool value = false;
  bool expected = false;
};

/// The fields of `op`; false if `op` is not one we know.
bool fields_of(kv_op op, op_fields& out) {
  switch (op) {
    case kv_op::get:
    case kv_op::del: out = {}; return true;
    case kv_op::put: out = {true, false}; return true;
    case kv_op::cas: out = {true, true}; return true;
    // Operator commands go to the Raft layer, never into a command entry.
    case kv_op::add_member:
    case kv_op::remove_member:
    case kv_op::transfer_leader:
    case kv_op::take_snapshot: return false;
  }
  return false;
}

void put_string(std::string& buf, const std::string& s) {
  auto n = static_cast<uint32_t>(s.size());
  for (int shift = 0; shift < 32; shift += 8)
    buf.push_back(static_cast<char>((n >> shift) & 0xFF));
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

  bool read_string(std::string& out) {
    if (data_.size() < 4)
      return false;
    uint32_t n = 0;
    for (std::size_t i = 0; i < 4; ++i)
      n |= uint32_t{static_cast<uint8_t>(data_[i])} << (8 * i);
    data_.remove_prefix(4);
    // Compare against what is left rather than allocating: a length of
    // 0xFFFFFFFF in a short buffer is malformed, not a 4 GiB request.
    if (n > data_.size())
      return false;
    out.assign(data_.substr(0, n));
    data_.remove_prefix(n);
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
  std::string buf;
  buf.reserve(2 + 4 + cmd.key.size() + (fields.value ? 4 + cmd.value.size() : 0)
              + (fields.expected ? 4 + cmd.expected.size() : 0));
  buf.push_back(static_cast<char>(command_codec_version));
  buf.push_back(static_cast<char>(cmd.op));
  put_string(buf, cmd.key);
  if (fields.value)
    put_string(buf, cmd.value);
  if (fields.expected)
    put_string(buf, cmd.expected);
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
  if (!in.read_string(cmd.key))
    return false;
  if (fields.value && !in.read_string(cmd.value))
    return false;
  if (fields.expected && !in.read_string(cmd.expected))
    return false;
  // Trailing bytes would mean two different encodings of one command.
  if (!in.at_end())
    return false;
  out = std::move(cmd);
  return true;
}

} // namespace raft
