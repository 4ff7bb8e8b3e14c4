#pragma once

// Snapshot files (Raft §7): a node's state machine state through some log
// index, on disk in <data_dir>/snapshots/.
//
// Design
// ------
// * One file per snapshot, "snap-<20-digit index>-<20-digit term>.snap",
//   in the layout of snapshot_format.hpp: versioned, every record
//   checksummed, a trailer that tells a whole file from a cut one.
// * A snapshot appears under its name only when complete and durable
//   (atomic_file.hpp: "<name>.tmp", fsync, rename, fsync the directory).
//   Leftover .tmp files are removed when the store opens.
// * Three ways a file comes into being or is used:
//   - snapshot_writer: the node's own state machine writes a snapshot,
//     batch by batch.
//   - snapshot_receiver: the raw bytes of a leader's snapshot file arrive
//     chunk by chunk, in order; the complete file is verified (every
//     checksum, the trailer, the meta against the name) before it gets its
//     name.
//   - snapshot_reader: verifies a file completely when opened, then hands
//     out its pairs batch by batch (to load it into the state machine) or
//     raw bytes (to send it to a follower).
// * A corrupt snapshot is never silently taken for an empty state:
//   snapshot_store::newest_valid() reports every corrupt snapshot newer than
//   the one it returns, and the caller decides.
// * The store keeps the newest two valid snapshots (prune()): the newest,
//   and one to fall back on should the newest be damaged.
//
// Plain C++ and Boost, no CAF. Not thread-safe: one owner (the snapshot
// actor) uses them. Every error is a storage_error naming the file (a bug
// in the caller is a std::logic_error).

#include "actors/storage/atomic_file.hpp"
#include "actors/storage/posix_file.hpp"
#include "actors/storage/snapshot_format.hpp"
#include "actors/storage/storage_error.hpp"
#include "messages/raft_rpc.hpp"
#include "messages/snapshot_messages.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raft {

/// The snapshot directory of a node whose data directory is `data_dir`.
std::string snapshot_dir(const std::string& data_dir);

/// Writes a snapshot of the node's own state: begin with its meta, add the
/// pairs in batches, finish. Durable under its final name only after
/// finish(); destroying an unfinished writer removes its temporary file.
class snapshot_writer {
public:
  /// Starts snapshot `meta` (index >= 1, else std::logic_error) in `dir`.
  /// Throws storage_error, e.g. if the same snapshot is being written
  /// already.
  snapshot_writer(const std::string& dir, const snapshot_meta& meta);

  snapshot_writer(const snapshot_writer&) = delete;
  snapshot_writer& operator=(const snapshot_writer&) = delete;

  /// Adds pairs (split into records of about snapshot_record_bytes). Throws
  /// storage_error; after an error the writer refuses further use.
  void add(const std::vector<kv_pair>& pairs);

  /// Writes the trailer and makes the file durable under its final name.
  /// Returns the meta with `bytes` set. Throws std::logic_error if the pairs
  /// added are not meta.keys many (a state machine bug), storage_error on
  /// I/O failure; either way the snapshot is discarded.
  snapshot_meta finish();

  /// The snapshot's final path.
  const std::string& path() const {
    return file_.path();
  }

  /// Pairs added so far.
  uint64_t pairs() const {
    return pairs_;
  }

private:
  void write_buffer();
  void check_usable() const;

  atomic_file file_;
  snapshot_meta meta_;
  /// Framed records not yet written.
  std::string buffer_;
  uint64_t pairs_ = 0;
  /// Set by finish() and by any error: no further use.
  bool closed_ = false;
};

/// Receives the raw bytes of a snapshot file (a leader's, §7) in order, and
/// gives it its name only once the whole file verifies.
class snapshot_receiver {
public:
  /// Starts receiving snapshot (index, term) into `dir`. Throws
  /// storage_error.
  snapshot_receiver(const std::string& dir, index_t index, term_t term);

  snapshot_receiver(const snapshot_receiver&) = delete;
  snapshot_receiver& operator=(const snapshot_receiver&) = delete;

  index_t index() const {
    return index_;
  }

  term_t term() const {
    return term_;
  }

  /// The bytes received so far: the offset the next chunk must have.
  uint64_t received() const {
    return file_.size();
  }

  /// The snapshot's final path.
  const std::string& path() const {
    return file_.path();
  }

  /// Appends `data` if `offset` == received(); offset 0 starts over (drops
  /// what was received). Any other offset writes nothing and returns
  /// false. Throws storage_error on I/O failure.
  bool write(uint64_t offset, std::string_view data);

  /// Verifies the complete file (every record's checksum, the trailer, the
  /// meta against (index, term)), then makes it durable under its final
  /// name; returns its meta. Throws storage_error naming the file if it
  /// does not verify or on I/O failure; the receiver is then spent and its
  /// temporary file removed with it.
  snapshot_meta finish();

private:
  index_t index_;
  term_t term_;
  atomic_file file_;
  bool closed_ = false;
};

/// Reads a snapshot file, verified completely when opened.
class snapshot_reader {
public:
  /// Opens the snapshot file at `path` (named as snapshot_file_name()
  /// says) and verifies all of it. Throws storage_error naming the file.
  explicit snapshot_reader(std::string path);

  snapshot_reader(const snapshot_reader&) = delete;
  snapshot_reader& operator=(const snapshot_reader&) = delete;

  /// The snapshot's meta (`bytes`: the file size).
  const snapshot_meta& meta() const {
    return meta_;
  }

  const std::string& path() const {
    return path_;
  }

  /// The next pairs, about `max_bytes` of keys and values (at least one
  /// pair unless done()); empty once done(). Throws storage_error if the
  /// file changed since it was verified.
  std::vector<kv_pair> next_batch(uint64_t max_bytes);

  /// All pairs have been handed out.
  bool done() const {
    return done_;
  }

  /// Starts the pairs over from the first one.
  void restart();

  /// Raw bytes [offset, offset + max_bytes) of the file (fewer at its
  /// end), to send to a follower. Throws storage_error naming the file if
  /// offset is past the end.
  snapshot_chunk read(uint64_t offset, uint64_t max_bytes) const;

private:
  std::string path_;
  posix::unique_fd fd_;
  snapshot_meta meta_;
  /// Where the first pairs record starts.
  uint64_t pairs_offset_ = 0;
  /// Reads the records for next_batch().
  std::unique_ptr<snapshot_record_reader> records_;
  /// Pairs of the current record not yet handed out.
  std::vector<kv_pair> buffered_;
  size_t next_ = 0;
  bool done_ = false;
};

/// A snapshot file in the directory, by its name.
struct snapshot_file {
  index_t index = 0;
  term_t term = 0;
  std::string path;

  friend bool operator==(const snapshot_file&, const snapshot_file&) = default;
};

/// The snapshot directory of one node.
class snapshot_store {
public:
  /// Opens (creating if needed) the snapshot directory `dir` and removes
  /// any leftover *.tmp file (an unfinished write or transfer). Throws
  /// storage_error.
  explicit snapshot_store(std::string dir);

  const std::string& dir() const {
    return dir_;
  }

  /// The path of snapshot (index, term) in this directory.
  std::string path_of(index_t index, term_t term) const;

  /// The snapshot files (by name, unverified), newest first: highest index,
  /// then highest term.
  std::vector<snapshot_file> list() const;

  /// The snapshot file with this index (the newest term if several).
  std::optional<snapshot_file> find(index_t index) const;

  /// The meta of the newest snapshot that verifies completely, or nothing
  /// if none does. Every newer snapshot that fails verification is
  /// reported in `problems` (one message each, naming the file): a corrupt
  /// snapshot must never silently turn into an older or an empty state.
  std::optional<snapshot_meta>
  newest_valid(std::vector<std::string>& problems) const;

  /// Keeps the newest `keep` snapshots that verify, any corrupt snapshot
  /// newer than all of them (for the operator: newest_valid() reports it),
  /// and `keep_path` and `also_keep` whatever they are; removes the rest.
  /// Returns the paths removed. Throws storage_error if a removal fails.
  std::vector<std::string> prune(size_t keep = 2, const std::string& keep_path = {},
                                 const std::string& also_keep = {});

private:
  std::string dir_;
};

} // namespace raft
