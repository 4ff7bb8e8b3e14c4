#include "actors/storage/snapshot_actor.hpp"

#include "actors/storage/snapshot_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <caf/result.hpp>
#include <caf/sec.hpp>
#include <caf/spawn_options.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace raft {

namespace {

/// State of the snapshot actor.
struct snapshot_state {
  /// The snapshot directory; empty if it could not be opened.
  std::optional<snapshot_store> store;
  /// Why it could not be opened: the answer to every request then.
  caf::error broken;
  /// The node's own snapshot being written (snap_begin .. snap_end).
  std::unique_ptr<snapshot_writer> writer;
  /// A leader's snapshot arriving (snap_recv).
  std::unique_ptr<snapshot_receiver> receiver;
  /// Loads pairs into the state machine (snap_load).
  std::unique_ptr<snapshot_reader> loader;
  /// Serves raw bytes to followers (snap_read).
  std::unique_ptr<snapshot_reader> sender;

  static inline const char* name = "raft_snapshot";
};

using snapshot_pointer = snapshot_actor::stateful_pointer<snapshot_state>;

caf::error failure(std::string what) {
  return caf::make_error(caf::sec::runtime_error, std::move(what));
}

caf::error failure(const std::exception& e) {
  return failure(std::string{e.what()});
}

/// A snapshot was written or received at `path`: prune the directory to the
/// newest two valid snapshots -- but never the one being loaded into the
/// state machine (a follower that is installing a leader's snapshot may
/// receive newer ones meanwhile, e.g. transfers sent into a partition and
/// delivered in one burst when it heals) -- and close the readers of files
/// that are gone (or were replaced by this one).
void after_new_snapshot(snapshot_pointer self, const std::string& path) {
  auto& st = self->state;
  auto loading = st.loader && !st.loader->done() ? st.loader->path() : std::string{};
  auto removed = st.store->prune(2, path, loading);
  auto stale = [&](const std::unique_ptr<snapshot_reader>& r) {
    return r
           && (r->path() == path
               || std::find(removed.begin(), removed.end(), r->path())
                    != removed.end());
  };
  if (stale(st.loader))
    st.loader.reset();
  if (stale(st.sender))
    st.sender.reset();
}

/// The file of snapshot `index`, or an error naming the directory.
caf::expected<snapshot_file> find_snapshot(snapshot_pointer self,
                                           index_t index) {
  auto& st = self->state;
  if (auto f = st.store->find(index))
    return std::move(*f);
  return failure("no snapshot with index " + std::to_string(index) + " in "
                 + st.store->dir() + " (pruned, or never written)");
}

caf::result<bool> handle_begin(snapshot_pointer self,
                               const snapshot_meta& meta) {
  auto& st = self->state;
  // An unfinished write is abandoned; its temporary file goes with it.
  st.writer.reset();
  try {
    st.writer = std::make_unique<snapshot_writer>(st.store->dir(), meta);
    return true;
  } catch (const std::exception& e) {
    return failure(e);
  }
}

caf::result<bool> handle_add(snapshot_pointer self,
                             const std::vector<kv_pair>& pairs) {
  auto& st = self->state;
  if (!st.writer)
    return failure("no snapshot is being written in " + st.store->dir()
                   + " (snap_add without snap_begin)");
  try {
    st.writer->add(pairs);
    return true;
  } catch (const std::exception& e) {
    st.writer.reset();
    return failure(e);
  }
}

caf::result<snapshot_meta> handle_end(snapshot_pointer self) {
  auto& st = self->state;
  if (!st.writer)
    return failure("no snapshot is being written in " + st.store->dir()
                   + " (snap_end without snap_begin)");
  try {
    auto writer = std::move(st.writer);
    auto meta = writer->finish();
    after_new_snapshot(self, writer->path());
    return meta;
  } catch (const std::exception& e) {
    return failure(e);
  }
}

caf::result<snapshot_chunk> handle_read(snapshot_pointer self, index_t index,
                                        uint64_t offset, uint64_t max_bytes) {
  auto& st = self->state;
  try {
    auto f = find_snapshot(self, index);
    if (!f)
      return std::move(f.error());
    // Opening a reader verifies the file: never send a damaged snapshot.
    if (!st.sender || st.sender->path() != f->path)
      st.sender = std::make_unique<snapshot_reader>(f->path);
    return st.sender->read(offset, max_bytes);
  } catch (const std::exception& e) {
    st.sender.reset();
    return failure(e);
  }
}

caf::result<snapshot_received>
handle_recv(snapshot_pointer self, index_t index, term_t term, uint64_t offset,
            const std::string& data, bool done) {
  auto& st = self->state;
  if (index == 0)
    return failure("refusing a snapshot of index 0 for " + st.store->dir()
                   + " (a snapshot includes at least index 1)");
  try {
    auto& r = st.receiver;
    if (!r || r->index() != index || r->term() != term) {
      // Nothing of this snapshot was received yet: it must start at 0.
      // Only then does it replace a transfer of another snapshot.
      if (offset != 0)
        return snapshot_received{0, false, {}};
      r.reset();
      r = std::make_unique<snapshot_receiver>(st.store->dir(), index, term);
    }
    if (!r->write(offset, data) || !done)
      return snapshot_received{r->received(), false, {}};
    auto receiver = std::move(r);
    auto meta = receiver->finish();
    after_new_snapshot(self, receiver->path());
    return snapshot_received{meta.bytes, true, meta};
  } catch (const std::exception& e) {
    st.receiver.reset(); // refused: discarded with its temporary file
    return failure(e);
  }
}

caf::result<snapshot_batch> handle_load(snapshot_pointer self, index_t index,
                                        bool restart, uint64_t max_bytes) {
  auto& st = self->state;
  try {
    if (!st.loader || st.loader->meta().index != index) {
      auto f = find_snapshot(self, index);
      if (!f)
        return std::move(f.error());
      st.loader.reset();
      st.loader = std::make_unique<snapshot_reader>(f->path);
    } else if (restart) {
      st.loader->restart();
    }
    snapshot_batch batch;
    batch.pairs = st.loader->next_batch(max_bytes);
    batch.done = st.loader->done();
    return batch;
  } catch (const std::exception& e) {
    st.loader.reset();
    return failure(e);
  }
}

caf::result<snapshot_meta> handle_last(snapshot_pointer self) {
  auto& st = self->state;
  try {
    std::vector<std::string> problems;
    auto meta = st.store->newest_valid(problems);
    if (!problems.empty()) {
      std::string what = "corrupt snapshot newer than the newest valid one "
                         "in "
                         + st.store->dir() + ": ";
      for (size_t i = 0; i < problems.size(); ++i)
        what += (i == 0 ? "" : "; ") + problems[i];
      what += meta ? " (remove the corrupt file to fall back to the valid "
                     "snapshot of index "
                       + std::to_string(meta->index) + ")"
                   : " (and no valid snapshot)";
      return failure(std::move(what));
    }
    return meta ? std::move(*meta) : snapshot_meta{};
  } catch (const std::exception& e) {
    return failure(e);
  }
}

/// The snapshot actor's behavior (typed, stateful, function-based).
snapshot_actor::behavior_type snapshot_impl(snapshot_pointer self,
                                            std::string data_dir) {
  auto& st = self->state;
  try {
    st.store.emplace(snapshot_dir(data_dir));
  } catch (const std::exception& e) {
    st.broken = failure(std::string{"cannot use the snapshot directory of "}
                        + data_dir + ": " + e.what());
  }
  // Every handler needs the directory; without it, each answers why not.
  auto usable = [self] { return self->state.store.has_value(); };
  return {
    [self, usable](snap_begin_atom,
                   const snapshot_meta& meta) -> caf::result<bool> {
      if (!usable())
        return self->state.broken;
      return handle_begin(self, meta);
    },
    [self, usable](snap_add_atom,
                   const std::vector<kv_pair>& pairs) -> caf::result<bool> {
      if (!usable())
        return self->state.broken;
      return handle_add(self, pairs);
    },
    [self, usable](snap_end_atom) -> caf::result<snapshot_meta> {
      if (!usable())
        return self->state.broken;
      return handle_end(self);
    },
    [self, usable](snap_read_atom, index_t index, uint64_t offset,
                   uint64_t max_bytes) -> caf::result<snapshot_chunk> {
      if (!usable())
        return self->state.broken;
      return handle_read(self, index, offset, max_bytes);
    },
    [self, usable](snap_recv_atom, index_t index, term_t term, uint64_t offset,
                   const std::string& data,
                   bool done) -> caf::result<snapshot_received> {
      if (!usable())
        return self->state.broken;
      return handle_recv(self, index, term, offset, data, done);
    },
    [self, usable](snap_load_atom, index_t index, bool restart,
                   uint64_t max_bytes) -> caf::result<snapshot_batch> {
      if (!usable())
        return self->state.broken;
      return handle_load(self, index, restart, max_bytes);
    },
    [self, usable](snap_last_atom) -> caf::result<snapshot_meta> {
      if (!usable())
        return self->state.broken;
      return handle_last(self);
    },
  };
}

} // namespace

snapshot_actor spawn_snapshot_actor(caf::actor_system& sys,
                                    std::string data_dir, bool detached) {
  // One argument through spawn, never zero: CAF 0.17 dereferences a null
  // argument tuple for a function actor spawned without arguments.
  if (detached)
    return sys.spawn<caf::detached>(snapshot_impl, std::move(data_dir));
  return sys.spawn(snapshot_impl, std::move(data_dir));
}

} // namespace raft
