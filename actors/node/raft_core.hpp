#pragma once

// The Raft algorithm as a pure, deterministic state machine.
//
// Inputs:  tick(), step(message), propose(data), read_index(ctx),
//          on_persisted(index, term).
// Outputs: take_ready() -- what to persist, what to send (and when), what to
//          apply, which reads may be served.
// No CAF, no I/O, no clock, no threads: time is ticks and randomness comes
// from a generator seeded in raft_config. The design follows etcd's raft
// library; section numbers cite the Raft paper and Ongaro's thesis.

#include "actors/node/membership.hpp"
#include "actors/node/progress.hpp"
#include "actors/node/raft_config.hpp"
#include "actors/node/raft_log.hpp"
#include "messages/raft_rpc.hpp"
#include "messages/status.hpp"

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace raft {

/// Any message between Raft nodes.
using raft_message
  = std::variant<request_vote, request_vote_reply, append_entries,
                 append_entries_reply, install_snapshot, install_snapshot_reply,
                 timeout_now>;

/// The node that sent `m` (as the message itself says).
node_id message_sender(const raft_message& m);
/// The term `m` carries.
term_t message_term(const raft_message& m);

/// A message and its destination.
struct outgoing {
  node_id to = no_node;
  raft_message msg;
};

/// A linearizable read that may be served once the state machine has applied
/// through `index` (thesis §6.4, ReadIndex).
struct read_state {
  uint64_t ctx = 0;
  index_t index = 0;
};

/// The core's output since the last take_ready().
///
/// Persist before you speak: the shell sends `send_now` at once, makes
/// `state` (if has_state) and `entries` durable, and sends
/// `send_after_persist` only after that -- and after every earlier persist
/// has completed too -- then reports on_persisted(). `committed` and `reads`
/// may be handled at once.
struct ready {
  bool has_state = false;
  hard_state state;
  /// Entries to make durable; the first may overwrite a stored suffix.
  std::vector<log_entry> entries;
  /// Leader traffic that does not depend on this batch being durable
  /// (thesis §10.2.1: a leader may send before its own write completes).
  std::vector<outgoing> send_now;
  /// Everything else: votes, acknowledgements, messages of a new term.
  std::vector<outgoing> send_after_persist;
  /// Newly committed entries, in log order, to apply.
  std::vector<log_entry> committed;
  /// Reads confirmed by a quorum.
  std::vector<read_state> reads;
  /// Reads that will never be confirmed (leadership lost); retry elsewhere.
  std::vector<uint64_t> dropped_reads;
  /// Followers whose next entries were compacted away: send each one the
  /// newest snapshot, then report the outcome with an install_snapshot_reply
  /// (done set) to step() (leader only).
  std::vector<node_id> snapshots_to_send;
  /// Set after restore() replaced the log by a snapshot: storage must drop
  /// its whole log before `entries` (persist_request::reset_index).
  index_t reset_index = 0;
  term_t reset_term = 0;

  bool empty() const {
    return !has_state && entries.empty() && send_now.empty()
           && send_after_persist.empty() && committed.empty() && reads.empty()
           && dropped_reads.empty() && snapshots_to_send.empty() && reset_index == 0;
  }
};

/// Where a node's log starts when it was compacted: the snapshot it was
/// recovered from (index 0: none).
struct log_base {
  index_t index = 0;
  term_t term = 0;
  membership config;
};

/// The result of propose_change() and transfer_leadership().
struct change_outcome {
  enum class kind : uint8_t {
    accepted,     ///< appended at (index, term); done once committed
    not_leader,   ///< try `hint`
    busy,         ///< another change or a transfer is in progress; retry
    not_ready,    ///< this leader has not committed an entry of its term yet
    invalid,      ///< the change does not fit the configuration (`message`)
    transferring, ///< the leader hands leadership to `hint` first; retry there
  };
  kind result = kind::not_leader;
  index_t index = 0;
  term_t term = 0;
  node_id hint = no_node;
  std::string message;
};

/// The result of propose().
struct proposal {
  bool accepted = false; ///< false: not the leader
  index_t index = 0;
  term_t term = 0;
};

/// One node's Raft state machine.
class raft_core {
public:
  /// Starts as a follower from the recovered hard state and log; `base` is
  /// the snapshot the log follows (index 0: the log starts at 1).
  raft_core(raft_config cfg, hard_state state, std::vector<log_entry> log,
            log_base base = {});

  /// Advances logical time by one tick.
  void tick();
  /// Handles a message from a peer.
  void step(const raft_message& m);
  /// Appends a command if this node leads (batched with others of this turn).
  /// Refused while leadership is being handed over.
  proposal propose(std::string data);
  /// Appends a configuration change if this node leads and may change the
  /// configuration now: one change at a time, and only after this leader
  /// committed an entry of its own term (thesis §4.1, and the fix to the
  /// single-server bug). A leader asked to remove itself hands leadership
  /// to the most up-to-date voter first (`transferring`).
  change_outcome propose_change(const config_change& c);
  /// Hands leadership to `target` (no_node: the most up-to-date other voter):
  /// brings it up to date, then tells it to campaign at once (TimeoutNow,
  /// thesis §3.10). Proposals are refused meanwhile; the attempt ends after
  /// an election timeout.
  change_outcome transfer_leadership(node_id target);
  /// A snapshot through (index, term) with configuration `config` arrived
  /// from the leader, complete and durable. Returns true if the log was
  /// replaced by it: the shell must then load the snapshot into the state
  /// machine before it applies anything after `index` (the core hands out
  /// committed entries after `index` only). False if the log already holds
  /// it (§7: keep the entries after it) or it is behind the commit index.
  bool restore(index_t index, term_t term, const membership& config);
  /// The state machine wrote a snapshot through `index` (<= applied): drop
  /// the log up to there.
  void compact(index_t index);
  /// Asks for a linearizable read; false if this node does not lead.
  bool read_index(uint64_t ctx);
  /// Storage made the log durable through (index, term).
  void on_persisted(index_t index, term_t term);
  /// Collects the output. Call after every batch of inputs.
  ready take_ready();

  // -- observers ------------------------------------------------------------

  node_id id() const { return cfg_.id; }
  raft_role role() const { return role_; }
  term_t term() const { return state_.current_term; }
  node_id voted_for() const { return state_.voted_for; }
  node_id leader() const { return leader_; }
  const raft_log& log() const { return log_; }
  const std::vector<node_id>& voters() const { return voter_ids_; }
  const std::vector<node_id>& learners() const { return learner_ids_; }
  /// The newest configuration in the log (or the snapshot's, or bootstrap).
  const membership& configuration() const { return config_; }
  /// Index of the entry holding configuration() (0: from the snapshot or
  /// bootstrap configuration).
  index_t configuration_index() const { return config_index_; }
  /// The configuration in force at `index` (>= the log's snapshot index).
  membership configuration_at(index_t index) const;
  /// The node leadership is being handed to, or no_node.
  node_id transferee() const { return transferee_; }
  const raft_config& config() const { return cfg_; }
  /// The hard state as the core sees it (may not be durable yet).
  const hard_state& current_state() const { return state_; }
  /// Progress of a follower (leader only); nullptr if unknown.
  const progress* progress_of(node_id peer) const;
  node_status status() const;

private:
  // -- roles (§5.2) ---------------------------------------------------------
  void become_follower(term_t term, node_id leader);
  void become_pre_candidate();
  void become_candidate(bool transfer = false);
  void become_leader();
  void campaign();
  void poll(node_id from, bool granted);
  void reset_election_timer();
  bool in_lease() const;
  bool promotable() const;

  // -- message handling -----------------------------------------------------
  bool check_term(term_t term, node_id from, const raft_message& m);
  void handle(const request_vote& m);
  void handle(const request_vote_reply& m);
  void handle(const append_entries& m);
  bool well_formed(const append_entries& m) const;
  void handle(const append_entries_reply& m);
  void handle(const install_snapshot& m);
  void handle(const install_snapshot_reply& m);
  void handle(const timeout_now& m);

  // -- membership -----------------------------------------------------------
  /// Re-reads the configuration after the log changed from index `from` on.
  void refresh_config(index_t from);
  void set_config(membership m, index_t index);
  void sync_progress();
  void maybe_promote();
  void append_config(const membership& m);
  bool config_pending() const { return config_index_ > log_.committed(); }
  void send_timeout_now(node_id to);

  // -- leader ---------------------------------------------------------------
  void tick_leader();
  bool send_append(node_id to);
  void fill_pipeline(node_id to);
  void broadcast_heartbeat();
  void send_heartbeat(node_id to, progress& pr);
  bool maybe_commit();
  bool committed_in_current_term() const;
  index_t retry_index(const append_entries_reply& m) const;
  bool quorum_active();
  void start_read(uint64_t ctx);
  void release_reads();
  void drop_reads();

  void send(node_id to, raft_message m);
  std::vector<node_id> peers() const;

  raft_config cfg_;
  std::mt19937_64 rng_;
  /// The configuration in force and where it came from; config entries in
  /// the log after the snapshot, oldest first (to fall back when a suffix
  /// is cut, and to know the configuration at a snapshot's index).
  membership config_;
  index_t config_index_ = 0;
  std::vector<node_id> voter_ids_;
  std::vector<node_id> learner_ids_;
  membership snap_config_;
  std::vector<std::pair<index_t, membership>> config_log_;
  /// Leadership transfer in progress (thesis §3.10).
  node_id transferee_ = no_node;
  int transfer_elapsed_ = 0;
  std::vector<node_id> snapshots_to_send_;
  index_t reset_index_ = 0;
  term_t reset_term_ = 0;
  hard_state state_;
  hard_state persisted_state_; // as last handed out in a ready
  raft_log log_;
  raft_role role_ = raft_role::follower;
  node_id leader_ = no_node;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_timeout_ = 0;

  std::map<node_id, bool> votes_;          // candidate: who answered what
  std::map<node_id, progress> progress_;   // leader: one per peer
  bool broadcast_pending_ = false;         // proposals await sending

  struct pending_read {
    uint64_t ctx;
    index_t index;
    uint64_t seq;
  };
  uint64_t read_seq_ = 0;                  // heartbeat round, carried in AEs
  bool read_round_pending_ = false;
  std::vector<uint64_t> reads_before_commit_; // wait for a commit in our term (§6.4)
  std::vector<pending_read> pending_reads_;

  std::vector<outgoing> msgs_;
  std::vector<read_state> ready_reads_;
  std::vector<uint64_t> dropped_reads_;
};

} // namespace raft
