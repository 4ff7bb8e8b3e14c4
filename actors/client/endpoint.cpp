#include "actors/client/endpoint.hpp"

#include <caf/sec.hpp>

#include <charconv>

namespace raft {

caf::expected<std::pair<std::string, uint16_t>> parse_address(const std::string& address) {
  auto bad = [&](const char* why) {
    return caf::make_error(caf::sec::invalid_argument,
                           "invalid address '" + address + "': " + why);
  };
  auto colon = address.rfind(':');
  if (colon == std::string::npos)
    return bad("expected host:port");
  auto host = address.substr(0, colon);
  auto port_text = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string::npos)
    return bad("put an IPv6 host in brackets");
  if (host.empty())
    return bad("empty host");
  unsigned port = 0;
  auto first = port_text.data();
  auto last = first + port_text.size();
  auto [end, ec] = std::from_chars(first, last, port);
  if (port_text.empty() || ec != std::errc{} || end != last || port == 0 || port > 65535)
    return bad("port must be 1..65535");
  return std::make_pair(std::move(host), static_cast<uint16_t>(port));
}

std::vector<endpoint> endpoints_from_addresses(const std::vector<std::string>& addresses) {
  std::vector<endpoint> result;
  result.reserve(addresses.size());
  for (const auto& a : addresses) {
    endpoint e;
    e.address = a;
    result.push_back(std::move(e));
  }
  return result;
}

} // namespace raft
