// The record checksum must be the standard CRC-32C, not merely some CRC:
// check it against published test vectors (RFC 3720, appendix B.4).

#include "actors/storage/crc32c.hpp"

#include <catch2/catch.hpp>

#include <string>

using raft::crc32c;

TEST_CASE("crc32c matches the standard check value and RFC 3720 vectors",
          "[storage][crc]") {
  CHECK(crc32c("") == 0u);
  CHECK(crc32c("123456789") == 0xE3069283u);
  CHECK(crc32c(std::string(32, '\0')) == 0x8A9136AAu);
  CHECK(crc32c(std::string(32, '\xff')) == 0x62A8AB43u);
}

TEST_CASE("crc32c can be computed in pieces", "[storage][crc]") {
  CHECK(crc32c("6789", crc32c("12345")) == crc32c("123456789"));
}
