#include "actors/client/connect.hpp"

#include "actors/client/awaiters.hpp"
#include "actors/client/endpoint.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>

#include <set>
#include <tuple>

namespace raft {

namespace {

caf::expected<peer_endpoint_actor> to_endpoint(caf::actor_system& sys,
                                               const std::string& address,
                                               caf::strong_actor_ptr ptr,
                                               const std::set<std::string>& ifs) {
  if (!ptr)
    return caf::make_error(caf::sec::no_actor_published_at_port,
                           "nothing published at " + address);
  if (!sys.assignable<peer_endpoint_actor>(ifs))
    return caf::make_error(caf::sec::unexpected_actor_messaging_interface,
                           "the actor at " + address + " is not a raft node");
  return caf::actor_cast<peer_endpoint_actor>(std::move(ptr));
}

caf::error no_middleman() {
  return caf::make_error(caf::sec::runtime_error,
                         "cannot connect by address: the middleman is not loaded");
}

} // namespace

task<caf::expected<peer_endpoint_actor>> connect(caf::event_based_actor* self,
                                                 std::string address,
                                                 caf::timespan timeout) {
  auto host_port = parse_address(address);
  if (!host_port)
    co_return host_port.error();
  auto& sys = self->system();
  if (!sys.has_middleman())
    co_return no_middleman();
  auto mm = sys.middleman().actor_handle();
  auto reply = co_await request<caf::node_id, caf::strong_actor_ptr, std::set<std::string>>(
    self, mm, timeout, caf::connect_atom::value, host_port->first, host_port->second);
  if (!reply)
    co_return reply.error();
  co_return to_endpoint(sys, address, std::move(std::get<1>(*reply)), std::get<2>(*reply));
}

caf::expected<peer_endpoint_actor> connect_blocking(caf::actor_system& sys,
                                                    const std::string& address,
                                                    caf::timespan timeout) {
  auto host_port = parse_address(address);
  if (!host_port)
    return host_port.error();
  if (!sys.has_middleman())
    return no_middleman();
  caf::scoped_actor self{sys};
  caf::expected<peer_endpoint_actor> result{caf::sec::request_timeout};
  self
    ->request(sys.middleman().actor_handle(), timeout, caf::connect_atom::value,
              host_port->first, host_port->second)
    .receive(
      [&](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>& ifs) {
        result = to_endpoint(sys, address, std::move(ptr), ifs);
      },
      [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace raft
