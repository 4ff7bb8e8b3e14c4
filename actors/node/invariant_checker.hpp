#pragma once

// The Raft safety properties (paper, Figure 3) as code. Tests feed it every
// node after every step; a violation throws invariant_violation with a
// description a person can act on.

#include "actors/node/raft_core.hpp"
#include "messages/raft_rpc.hpp"

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace raft {

/// Thrown when a Raft safety property does not hold.
class invariant_violation : public std::logic_error {
public:
  using std::logic_error::logic_error;
};

/// Checks, across all nodes and all of time:
///  - Election Safety: at most one leader per term;
///  - Leader Append-Only: a leader never overwrites or deletes its entries;
///  - Log Matching: entries with the same index and term hold the same command
///    and follow the same history (checked through the previous entry's term);
///  - Leader Completeness: a leader's log holds every entry committed in an
///    earlier term;
///  - State Machine Safety: no two nodes apply different entries at an index,
///    and only committed entries are applied, in order;
/// plus the local ones: a node's committed entries never change, and
/// snapshot index <= applied <= committed <= last index. A compacted log is
/// checked from its snapshot on: the snapshot's (index, term) must be the
/// committed entry's.
class invariant_checker {
public:
  /// Checks one node's current state. Call after every step of every node.
  void observe(const raft_core& core);
  /// Checks an entry a node hands to its state machine.
  void observe_applied(node_id id, const log_entry& e);
  /// A node restarted from its storage: forget what it held in memory.
  void node_restarted(node_id id);
  /// A node replaced its state machine by a snapshot through `index`: it
  /// applies from index + 1 on.
  void snapshot_installed(node_id id, index_t index);

  /// Highest index known committed anywhere.
  index_t max_committed() const { return committed_.size(); }
  /// How many observations were checked (to show a test did check).
  uint64_t checks() const { return checks_; }

private:
  struct entry_key {
    term_t term = 0;
    uint64_t digest = 0;
    friend bool operator==(const entry_key&, const entry_key&) = default;
  };
  struct history {
    term_t prev_term = 0;
    uint64_t digest = 0;
  };
  struct node_view {
    std::vector<entry_key> log; // as last observed, from index base + 1
    index_t base = 0;           // the log's snapshot index as last observed
    term_t term = 0;
    bool leader = false;
    index_t commit = 0;
    index_t applied = 0;
  };

  static entry_key key_of(const log_entry& e);
  [[noreturn]] static void fail(node_id id, const std::string& what);
  void check_election_safety(const raft_core& core);
  index_t check_log_changes(const raft_core& core, node_view& v);
  void check_commits(const raft_core& core, node_view& v);
  void check_leader_completeness(const raft_core& core);

  std::map<term_t, node_id> leaders_;
  std::map<std::pair<index_t, term_t>, history> seen_;
  std::vector<entry_key> committed_;    // index i at [i - 1]
  std::vector<term_t> commit_term_;     // the term in which i was first seen committed
  std::vector<entry_key> applied_;      // what was applied at each index
  std::map<node_id, node_view> nodes_;
  uint64_t checks_ = 0;
};

} // namespace raft
