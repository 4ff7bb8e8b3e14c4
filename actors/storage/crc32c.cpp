#include "actors/storage/crc32c.hpp"

#include <array>

namespace raft {

namespace {

/// The reflected Castagnoli polynomial (0x1EDC6F41 bit-reversed).
constexpr uint32_t castagnoli = 0x82F63B78u;

constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit)
      c = (c & 1u) != 0 ? (c >> 1) ^ castagnoli : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr auto crc_table = make_table();

} // namespace

uint32_t crc32c(std::string_view data, uint32_t crc) {
  crc = ~crc;
  for (unsigned char byte : data)
    crc = crc_table[(crc ^ byte) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

} // namespace raft
