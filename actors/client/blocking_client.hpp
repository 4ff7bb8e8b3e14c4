#pragma once

// blocking_client: the key-value client for tools (cluster-cli) and other
// code outside actors. Each call blocks the calling thread until the command
// has its outcome, by the retry rules of kv_client.hpp.
//
// Built on caf::scoped_actor: the calls are requests to a worker actor that
// runs a kv_client, so the retries, connects (asynchronous, with timeouts)
// and leader hints are exactly the coroutine client's. The system must have
// registered the message types (messages/registration.hpp) and, for
// addresses, loaded caf::io::middleman.
//
// Not for use under the deterministic test scheduler (a scoped_actor blocks
// the only thread) nor from inside an actor's message handler. One thread at
// a time.

#include "actors/client/client_options.hpp"
#include "actors/client/endpoint.hpp"
#include "messages/interfaces.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <string>
#include <vector>

namespace raft {

/// A synchronous key-value client.
class blocking_client {
public:
  /// Connects to the nodes at `addresses` ("host:port") when first needed.
  blocking_client(caf::actor_system& sys, std::vector<std::string> addresses,
                  client_options opts = {});
  /// Uses endpoints as given (local handles, addresses, or both).
  blocking_client(caf::actor_system& sys, std::vector<endpoint> endpoints,
                  client_options opts = {});
  /// Stops the worker actor.
  ~blocking_client();

  blocking_client(const blocking_client&) = delete;
  blocking_client& operator=(const blocking_client&) = delete;

  client_reply put(const std::string& key, const std::string& value);
  client_reply get(const std::string& key);
  client_reply del(const std::string& key);
  client_reply cas(const std::string& key, const std::string& expected,
                   const std::string& value);
  client_reply execute(kv_command cmd);

  /// The status of every endpoint, in the order given.
  std::vector<endpoint_status> status();

private:
  client_options opts_;
  std::size_t endpoint_count_;
  caf::scoped_actor self_;
  caf::actor worker_;
};

} // namespace raft
