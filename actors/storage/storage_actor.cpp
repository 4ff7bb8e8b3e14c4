#include "actors/storage/storage_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <caf/result.hpp>
#include <caf/sec.hpp>
#include <caf/spawn_options.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace raft {

namespace {

/// A request that is appended but not yet durable, with its answer.
struct pending_reply {
  caf::typed_response_promise<persist_ack> promise;
  persist_ack ack;
};

/// State of the storage actor.
struct storage_state {
  std::shared_ptr<log_store> store;
  /// Appended since the last sync, in arrival order.
  std::vector<pending_reply> pending;
  /// A sync_atom is in the mailbox; later requests ride along with it.
  bool sync_scheduled = false;

  static inline const char* name = "raft_storage";
};

using storage_pointer = storage_actor::stateful_pointer<storage_state>;

/// The error the actor stops with when the store throws `e`.
caf::error store_failure(const std::exception& e) {
  return caf::make_error(caf::sec::runtime_error, std::string{e.what()});
}

/// Answers every pending request with `err` and stops: after a store
/// failure nothing buffered may be reported durable.
void fail(storage_pointer self, const caf::error& err) {
  for (auto& p : self->state.pending)
    p.promise.deliver(err);
  self->state.pending.clear();
  self->quit(err);
}

/// Buffers `req` and promises its ack for after the next sync.
caf::result<persist_ack> handle_persist(storage_pointer self,
                                        const persist_request& req) {
  auto& st = self->state;
  try {
    st.store->append(req);
  } catch (const std::exception& e) {
    // A logic_error here is a bug in the node (a gap in its log); stopping
    // is the only safe answer either way.
    auto err = store_failure(e);
    fail(self, err);
    return err;
  }
  auto promise = self->make_response_promise<persist_ack>();
  st.pending.push_back(
    {promise, persist_ack{st.store->last_index(), st.store->last_term()}});
  if (!st.sync_scheduled) {
    st.sync_scheduled = true;
    self->send(self, sync_atom::value);
  }
  return promise;
}

/// Makes everything buffered durable with one sync, then answers it all.
void handle_sync(storage_pointer self) {
  auto& st = self->state;
  st.sync_scheduled = false;
  try {
    st.store->sync();
  } catch (const std::exception& e) {
    fail(self, store_failure(e));
    return;
  }
  auto batch = std::move(st.pending);
  st.pending.clear();
  for (auto& p : batch)
    p.promise.deliver(p.ack);
}

/// Deletes the log segments a snapshot through `upto` covers; answers the
/// first index still stored. Runs in mailbox order with the persist
/// requests, but only touches what is durable (log_store::compact), so the
/// group commit in progress is unaffected.
caf::result<index_t> handle_compact(storage_pointer self, index_t upto) {
  try {
    return self->state.store->compact(upto);
  } catch (const std::exception& e) {
    // A failed removal or directory fsync: the environment is failing, and
    // the node must hear of it like of a failed sync.
    auto err = store_failure(e);
    fail(self, err);
    return err;
  }
}

/// The storage actor's behavior (typed, stateful, function-based).
storage_actor::behavior_type storage_impl(storage_pointer self,
                                          std::shared_ptr<log_store> store) {
  self->state.store = std::move(store);
  return {
    [self](const persist_request& req) { return handle_persist(self, req); },
    [self](sync_atom) { handle_sync(self); },
    [self](compact_atom, index_t upto) { return handle_compact(self, upto); },
  };
}

} // namespace

storage_actor spawn_storage(caf::actor_system& sys,
                            std::shared_ptr<log_store> store, bool detached) {
  if (detached)
    return sys.spawn<caf::detached>(storage_impl, std::move(store));
  return sys.spawn(storage_impl, std::move(store));
}

} // namespace raft
