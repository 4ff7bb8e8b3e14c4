#include "actors/node/raft_core.hpp"

#include "actors/node/quorum.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace raft {

namespace {

template <class... Fs>
struct overload : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overload(Fs...) -> overload<Fs...>;

bool is_leader_traffic(const raft_message& m) {
  return std::holds_alternative<append_entries>(m)
         || std::holds_alternative<install_snapshot>(m);
}

} // namespace

node_id message_sender(const raft_message& m) {
  return std::visit(overload{
                      [](const request_vote& x) { return x.candidate_id; },
                      [](const request_vote_reply& x) { return x.voter_id; },
                      [](const append_entries& x) { return x.leader_id; },
                      [](const append_entries_reply& x) { return x.follower_id; },
                      [](const install_snapshot& x) { return x.leader_id; },
                      [](const install_snapshot_reply& x) { return x.follower_id; },
                      [](const timeout_now& x) { return x.leader_id; },
                    },
                    m);
}

term_t message_term(const raft_message& m) {
  return std::visit([](const auto& x) { return x.term; }, m);
}

raft_core::raft_core(raft_config cfg, hard_state state, std::vector<log_entry> log,
                     log_base base)
  : cfg_(std::move(cfg)),
    rng_(cfg_.seed * 0x9E3779B97F4A7C15ull + cfg_.id),
    state_(state),
    persisted_state_(state),
    log_(std::move(log), base.index, base.term) {
  if (cfg_.id == no_node)
    throw std::invalid_argument("raft_core: node id 0 is reserved");
  if (cfg_.heartbeat_ticks <= 0 || cfg_.election_ticks <= cfg_.heartbeat_ticks)
    throw std::invalid_argument("raft_core: need 0 < heartbeat_ticks < election_ticks");
  if (cfg_.election_ticks_max == 0)
    cfg_.election_ticks_max = 2 * cfg_.election_ticks;
  if (cfg_.election_ticks_max <= cfg_.election_ticks)
    throw std::invalid_argument("raft_core: need election_ticks < election_ticks_max");
  if (cfg_.max_inflight == 0)
    throw std::invalid_argument("raft_core: max_inflight must be positive");
  if (base.index > 0) {
    snap_config_ = std::move(base.config);
  } else {
    // Bootstrap: the configuration the node was started with, until the log
    // holds one of its own.
    for (auto v : cfg_.voters) {
      auto i = cfg_.addresses.find(v);
      snap_config_.voters.push_back(member{v, i == cfg_.addresses.end() ? "" : i->second});
    }
  }
  refresh_config(log_.first_index());
  reset_election_timer();
}

// -- inputs -----------------------------------------------------------------

void raft_core::tick() {
  if (role_ == raft_role::leader) {
    tick_leader();
    return;
  }
  ++election_elapsed_;
  if (promotable() && election_elapsed_ >= randomized_timeout_)
    campaign();
}

void raft_core::step(const raft_message& m) {
  auto from = message_sender(m);
  if (from == no_node || from == cfg_.id)
    return; // malformed: drop
  if (!check_term(message_term(m), from, m))
    return;
  std::visit([this](const auto& x) { handle(x); }, m);
}

proposal raft_core::propose(std::string data) {
  if (role_ != raft_role::leader || transferee_ != no_node)
    return {};
  log_entry e{term(), log_.last_index() + 1, entry_type::command, std::move(data)};
  log_.append(std::move(e));
  // Proposals of one turn go out together in take_ready() (batching).
  broadcast_pending_ = true;
  return {true, log_.last_index(), term()};
}

bool raft_core::read_index(uint64_t ctx) {
  if (role_ != raft_role::leader)
    return false;
  // §6.4: the read index is only sound once this leader has committed an
  // entry of its own term (its no-op); until then the commit index may lag.
  if (!committed_in_current_term())
    reads_before_commit_.push_back(ctx);
  else
    start_read(ctx);
  return true;
}

void raft_core::on_persisted(index_t index, term_t t) {
  log_.stable_to(index, t);
  if (role_ == raft_role::leader && maybe_commit())
    broadcast_pending_ = true; // let followers learn the commit promptly
}

ready raft_core::take_ready() {
  ready rd;
  if (role_ == raft_role::leader) {
    if (read_round_pending_) {
      // One heartbeat round confirms every read registered this turn.
      ++read_seq_;
      read_round_pending_ = false;
      broadcast_heartbeat();
    }
    if (broadcast_pending_) {
      broadcast_pending_ = false;
      for (auto p : peers())
        fill_pipeline(p);
    }
    // A follower whose last message carried an older commit index learns
    // the new one now, not at the next heartbeat (it applies sooner).
    // (A follower can commit only what it is known to hold: up to its match.)
    // Not if its match was compacted away: a heartbeat then goes with prev 0
    // and lets it commit nothing, so sent_commit would never catch up and
    // every take_ready() would send it one more heartbeat -- a flood. Such a
    // follower is waiting for a snapshot anyway.
    for (auto& [id, pr] : progress_)
      if (pr.sent_commit < std::min(log_.committed(), pr.match()) && log_.term(pr.match()))
        send_heartbeat(id, pr);
  }
  rd.entries = log_.take_unpersisted();
  if (state_ != persisted_state_) {
    rd.has_state = true;
    rd.state = state_;
    persisted_state_ = state_;
  }
  // Persist before you speak: only a leader's replication traffic may go out
  // before this batch is durable, and not even that once the batch carries a
  // new term or vote.
  for (auto& o : msgs_) {
    if (!rd.has_state && is_leader_traffic(o.msg))
      rd.send_now.push_back(std::move(o));
    else
      rd.send_after_persist.push_back(std::move(o));
  }
  msgs_.clear();
  rd.committed = log_.take_committed();
  rd.reads = std::move(ready_reads_);
  ready_reads_.clear();
  rd.dropped_reads = std::move(dropped_reads_);
  dropped_reads_.clear();
  rd.snapshots_to_send = std::move(snapshots_to_send_);
  snapshots_to_send_.clear();
  rd.reset_index = std::exchange(reset_index_, 0);
  rd.reset_term = std::exchange(reset_term_, 0);
  return rd;
}

// -- observers --------------------------------------------------------------

const progress* raft_core::progress_of(node_id peer) const {
  auto i = progress_.find(peer);
  return i == progress_.end() ? nullptr : &i->second;
}

node_status raft_core::status() const {
  node_status s;
  s.id = cfg_.id;
  s.role = role_;
  s.term = term();
  s.leader = leader_;
  s.last_index = log_.last_index();
  s.commit_index = log_.committed();
  s.applied_index = log_.applied();
  s.voters = voter_ids_;
  s.learners = learner_ids_;
  s.config = config_;
  s.config_index = config_index_;
  s.snapshot_index = log_.snapshot_index();
  s.first_index = log_.first_index();
  return s;
}

// -- roles ------------------------------------------------------------------

void raft_core::reset_election_timer() {
  election_elapsed_ = 0;
  std::uniform_int_distribution<int> dist(cfg_.election_ticks,
                                          cfg_.election_ticks_max - 1);
  randomized_timeout_ = dist(rng_);
}

bool raft_core::promotable() const {
  return std::find(voter_ids_.begin(), voter_ids_.end(), cfg_.id)
         != voter_ids_.end();
}

bool raft_core::in_lease() const {
  // Thesis §4.2.3: a server that heard from a current leader within the
  // minimum election timeout does not believe a leader is missing.
  return cfg_.check_quorum && leader_ != no_node
         && election_elapsed_ < cfg_.election_ticks;
}

void raft_core::become_follower(term_t t, node_id leader) {
  if (role_ == raft_role::leader)
    drop_reads();
  if (t > term()) {
    state_.current_term = t;
    state_.voted_for = no_node;
  }
  role_ = raft_role::follower;
  leader_ = leader;
  votes_.clear();
  progress_.clear();
  broadcast_pending_ = false;
  transferee_ = no_node;
  reset_election_timer();
}

void raft_core::campaign() {
  if (cfg_.pre_vote)
    become_pre_candidate();
  else
    become_candidate();
}

void raft_core::become_pre_candidate() {
  // Thesis §9.6: ask first whether we could win, without raising our term.
  role_ = raft_role::pre_candidate;
  leader_ = no_node;
  votes_.clear();
  reset_election_timer();
  for (auto v : voter_ids_)
    if (v != cfg_.id)
      send(v, request_vote{term() + 1, cfg_.id, log_.last_index(), log_.last_term(), true});
  poll(cfg_.id, true);
}

void raft_core::become_candidate(bool transfer) {
  // §5.2: increment the term, vote for self, ask everyone else.
  state_.current_term += 1;
  state_.voted_for = cfg_.id;
  role_ = raft_role::candidate;
  leader_ = no_node;
  votes_.clear();
  reset_election_timer();
  for (auto v : voter_ids_)
    if (v != cfg_.id)
      send(v, request_vote{term(), cfg_.id, log_.last_index(), log_.last_term(), false,
                           transfer});
  poll(cfg_.id, true);
}

void raft_core::become_leader() {
  role_ = raft_role::leader;
  leader_ = cfg_.id;
  votes_.clear();
  progress_.clear();
  heartbeat_elapsed_ = 0;
  election_elapsed_ = 0;
  for (auto p : peers()) {
    auto [it, _] = progress_.emplace(p, progress{log_.last_index() + 1, cfg_.max_inflight});
    // A grace period of one election timeout before check-quorum counts.
    it->second.recent_active = true;
  }
  // §8 / §5.4.2: a no-op of the new term lets the leader commit (and so learn
  // the commit index, and serve reads) without waiting for a client write.
  log_.append(log_entry{term(), log_.last_index() + 1, entry_type::noop, {}});
  broadcast_pending_ = true;
}

void raft_core::poll(node_id from, bool granted) {
  votes_.emplace(from, granted); // the first answer of a voter counts
  std::size_t yes = 0;
  std::size_t no = 0;
  for (auto v : voter_ids_) {
    auto i = votes_.find(v);
    if (i != votes_.end())
      ++(i->second ? yes : no);
  }
  auto need = majority(voter_ids_.size());
  if (yes >= need) {
    if (role_ == raft_role::pre_candidate)
      become_candidate();
    else
      become_leader();
  } else if (no >= need) {
    become_follower(term(), no_node);
  }
}

// -- message handling -------------------------------------------------------

bool raft_core::check_term(term_t t, node_id from, const raft_message& m) {
  const auto* rv = std::get_if<request_vote>(&m);
  const auto* rvr = std::get_if<request_vote_reply>(&m);
  if (t > term()) {
    if (rv && in_lease() && !rv->transfer)
      return false; // §4.2.3: ignore; a leader we heard from recently is alive
    if (rv && rv->pre_vote)
      return true; // a pre-vote never changes our term
    if (rvr && rvr->pre_vote && rvr->vote_granted)
      return true; // granted pre-votes carry the term we would campaign in
    become_follower(t, is_leader_traffic(m) ? from : no_node);
    return true;
  }
  if (t < term()) {
    if (is_leader_traffic(m)) {
      // A stale leader: tell it our term so it steps down.
      send(from, append_entries_reply{term(), cfg_.id, false, 0, 0, 0, 0, 0});
    } else if (rv && rv->pre_vote) {
      send(from, request_vote_reply{term(), cfg_.id, false, true});
    }
    return false;
  }
  return true;
}

void raft_core::handle(const request_vote& m) {
  // §5.2, §5.4.1: one vote per term, only for a log at least as up-to-date.
  bool can_vote = state_.voted_for == m.candidate_id
                  || (state_.voted_for == no_node && leader_ == no_node)
                  || (m.pre_vote && m.term > term());
  if (can_vote && log_.is_up_to_date(m.last_log_index, m.last_log_term)) {
    if (!m.pre_vote) {
      state_.voted_for = m.candidate_id;
      election_elapsed_ = 0;
    }
    send(m.candidate_id, request_vote_reply{m.term, cfg_.id, true, m.pre_vote});
  } else {
    send(m.candidate_id, request_vote_reply{term(), cfg_.id, false, m.pre_vote});
  }
}

void raft_core::handle(const request_vote_reply& m) {
  if (role_ == raft_role::pre_candidate && m.pre_vote)
    poll(m.voter_id, m.vote_granted);
  else if (role_ == raft_role::candidate && !m.pre_vote && m.term == term())
    poll(m.voter_id, m.vote_granted);
  else if (role_ == raft_role::leader) {
    if (auto i = progress_.find(m.voter_id); i != progress_.end())
      i->second.recent_active = true;
  }
}

void raft_core::handle(const append_entries& m) {
  if (role_ != raft_role::follower)
    become_follower(term(), m.leader_id); // §5.2: a candidate meets the leader
  leader_ = m.leader_id;
  election_elapsed_ = 0;
  append_entries_reply r{term(), cfg_.id, false, 0, 0, 0, 0, m.read_seq};
  if (m.prev_log_index < log_.committed()) {
    // Everything up to our commit index is known to match; say so.
    r.success = true;
    r.match_index = log_.committed();
  } else if (log_.matches(m.prev_log_index, m.prev_log_term)) {
    // §5.3: the consistency check passed.
    if (!well_formed(m))
      return; // malformed or impossible: drop, never let it cut our log
    auto last_new = log_.merge(m.prev_log_index, m.entries);
    if (!m.entries.empty())
      refresh_config(m.prev_log_index + 1);
    // Figure 2: commitIndex = min(leaderCommit, index of last new entry).
    log_.commit_to(std::min(m.leader_commit, last_new));
    r.success = true;
    r.match_index = last_new;
  } else {
    // Rejection with a hint for fast backtracking (thesis §5.3).
    r.rejected_index = m.prev_log_index;
    if (m.prev_log_index > log_.last_index()) {
      r.conflict_index = log_.last_index() + 1;
    } else {
      r.conflict_term = log_.term_at(m.prev_log_index);
      r.conflict_index = log_.first_index_of_term(m.prev_log_index);
    }
  }
  send(m.leader_id, r);
}

bool raft_core::well_formed(const append_entries& m) const {
  term_t prev = m.prev_log_term;
  for (std::size_t k = 0; k < m.entries.size(); ++k) {
    const auto& e = m.entries[k];
    // Entries follow prev_log_index, their terms never decrease and never
    // exceed the leader's.
    if (e.index != m.prev_log_index + k + 1 || e.term < prev || e.term > m.term)
      return false;
    prev = e.term;
    // A correct leader never contradicts a committed entry (Log Matching,
    // Leader Completeness); a message that does is dropped, not applied.
    if (e.index <= log_.committed() && !log_.matches(e.index, e.term))
      return false;
  }
  return true;
}

void raft_core::handle(const append_entries_reply& m) {
  if (role_ != raft_role::leader)
    return;
  auto it = progress_.find(m.follower_id);
  if (it == progress_.end())
    return; // not a member
  auto& pr = it->second;
  pr.recent_active = true;
  // Any reply in our term confirms our leadership up to the round it echoes.
  if (m.read_seq > pr.acked_read_seq) {
    pr.acked_read_seq = std::min(m.read_seq, read_seq_);
    release_reads();
  }
  if (!m.success) {
    if (m.rejected_index == 0 && m.conflict_index == 0)
      return; // only ever sent with a higher term; nothing to do at ours
    if (pr.decrease_to(m.rejected_index, retry_index(m)))
      send_append(m.follower_id);
    return;
  }
  if (m.match_index > log_.last_index())
    return; // malformed: claims entries we never had
  if (pr.update(m.match_index)) {
    if (pr.state() == progress::mode::probe)
      pr.become_replicate();
    if (maybe_commit())
      broadcast_pending_ = true;
    if (role_ != raft_role::leader)
      return; // the commit removed this leader from the configuration
  }
  if (m.follower_id == transferee_ && pr.match() == log_.last_index())
    send_timeout_now(m.follower_id); // caught up: it may take over now
  fill_pipeline(m.follower_id);
}

void raft_core::handle(const install_snapshot& m) {
  // The chunks themselves are the shell's business (it writes them to a
  // file); here they count as the leader's traffic: they keep this node a
  // follower of this leader and its election timer quiet.
  if (role_ != raft_role::follower)
    become_follower(term(), m.leader_id);
  leader_ = m.leader_id;
  election_elapsed_ = 0;
}

void raft_core::handle(const install_snapshot_reply& m) {
  if (role_ != raft_role::leader)
    return;
  auto it = progress_.find(m.follower_id);
  if (it == progress_.end())
    return;
  auto& pr = it->second;
  pr.recent_active = true;
  pr.snapshot_idle = 0;
  if (!m.done || pr.state() != progress::mode::snapshot)
    return; // a chunk acknowledgement: the shell paces the transfer
  auto ok = m.success && m.last_included_index <= log_.last_index();
  pr.snapshot_done(ok, m.last_included_index);
  if (ok && maybe_commit())
    broadcast_pending_ = true;
  if (role_ == raft_role::leader)
    send_append(m.follower_id);
}

void raft_core::handle(const timeout_now& m) {
  // Thesis §3.10: our leader hands over; campaign now, without pre-vote
  // (the leader vouches that we are up to date) and past the voters' lease.
  leader_ = m.leader_id;
  if (promotable())
    become_candidate(true);
}

// -- leader -----------------------------------------------------------------

void raft_core::tick_leader() {
  ++election_elapsed_;
  ++heartbeat_elapsed_;
  if (transferee_ != no_node && ++transfer_elapsed_ >= cfg_.election_ticks)
    transferee_ = no_node; // the target did not take over in time: carry on
  if (election_elapsed_ >= cfg_.election_ticks) {
    election_elapsed_ = 0;
    if (cfg_.check_quorum && !quorum_active()) {
      // Thesis §6.2: cut off from a majority, stop acting as leader.
      become_follower(term(), no_node);
      return;
    }
  }
  if (heartbeat_elapsed_ >= cfg_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    for (auto& [id, pr] : progress_) {
      // A snapshot transfer nobody answers (follower restarted, chunks lost)
      // is given up: probe again, which asks for a new transfer.
      if (pr.state() == progress::mode::snapshot
          && ++pr.snapshot_idle * cfg_.heartbeat_ticks
               >= cfg_.snapshot_stall_elections * cfg_.election_ticks)
        pr.snapshot_done(false, 0);
      // A stream that made no progress for a whole heartbeat interval lost
      // a message: resend from what we know matched.
      if (pr.state() == progress::mode::replicate && !pr.progressed
          && pr.match() < log_.last_index())
        pr.become_probe();
      pr.progressed = false;
      pr.resume();
    }
    broadcast_heartbeat();
    for (auto p : peers())
      fill_pipeline(p);
    maybe_promote();
  }
}

bool raft_core::send_append(node_id to) {
  auto& pr = progress_.at(to);
  if (pr.paused())
    return false;
  if (pr.next() <= log_.snapshot_index()) {
    // §7: what it needs next was compacted away; it gets the snapshot.
    pr.become_snapshot(log_.snapshot_index());
    snapshots_to_send_.push_back(to);
    return false;
  }
  append_entries m;
  m.term = term();
  m.leader_id = cfg_.id;
  m.prev_log_index = pr.next() - 1;
  m.prev_log_term = log_.term_at(m.prev_log_index);
  m.entries = log_.slice(pr.next(), cfg_.max_entries_per_append,
                         cfg_.max_bytes_per_append);
  m.leader_commit = log_.committed();
  m.read_seq = read_seq_;
  // What the follower may commit from this message (Figure 2).
  pr.sent_commit = std::min(m.leader_commit, m.prev_log_index + m.entries.size());
  auto had_entries = !m.entries.empty();
  pr.sent(m.prev_log_index + m.entries.size(), had_entries);
  send(to, std::move(m));
  return true;
}

void raft_core::fill_pipeline(node_id to) {
  auto& pr = progress_.at(to);
  if (pr.state() == progress::mode::probe) {
    if (pr.next() <= log_.last_index() || pr.match() < log_.last_index())
      send_append(to);
    return;
  }
  while (pr.next() <= log_.last_index() && send_append(to)) {
  }
}

void raft_core::broadcast_heartbeat() {
  for (auto& [id, pr] : progress_)
    send_heartbeat(id, pr);
}

void raft_core::send_heartbeat(node_id to, progress& pr) {
  // prev = match is known to agree, so a heartbeat never fails the check
  // and never moves the follower's commit past what it holds. (If match was
  // compacted away, prev 0 still agrees and lets it commit nothing.)
  auto prev = log_.term(pr.match()) ? pr.match() : 0;
  append_entries m{term(), cfg_.id, prev, log_.term_at(prev), {},
                   log_.committed(), read_seq_};
  pr.sent_commit = std::min(log_.committed(), prev);
  send(to, std::move(m));
}

bool raft_core::maybe_commit() {
  std::vector<uint64_t> matches;
  for (auto v : voter_ids_) {
    if (v == cfg_.id)
      matches.push_back(log_.stable()); // counts only once durable (§10.2.1)
    else if (auto i = progress_.find(v); i != progress_.end())
      matches.push_back(i->second.match());
    else
      matches.push_back(0);
  }
  auto candidate = quorum_value(std::move(matches));
  // §5.4.2 (Figure 8): only an entry of the current term commits by counting
  // replicas; earlier ones commit beneath it.
  if (candidate <= log_.committed() || log_.term_at(candidate) != term())
    return false;
  log_.commit_to(candidate);
  if (!config_pending() && !is_voter(config_, cfg_.id)) {
    // Thesis §4.2.2: a leader removed from the configuration steps down
    // once the change is committed.
    become_follower(term(), no_node);
    return false;
  }
  if (!reads_before_commit_.empty()) {
    auto waiting = std::move(reads_before_commit_);
    reads_before_commit_.clear();
    for (auto ctx : waiting)
      start_read(ctx);
  }
  return true;
}

bool raft_core::committed_in_current_term() const {
  return log_.term_at(log_.committed()) == term();
}

index_t raft_core::retry_index(const append_entries_reply& m) const {
  if (m.conflict_term != 0) {
    // If we hold entries of the follower's conflicting term, retry right
    // after our last one of it; else skip the follower's whole term.
    if (auto i = log_.last_index_of_term(m.conflict_term, m.rejected_index); i > 0)
      return i + 1;
  }
  return std::max<index_t>(m.conflict_index, 1);
}

bool raft_core::quorum_active() {
  std::size_t active = 0;
  for (auto v : voter_ids_) {
    if (v == cfg_.id) {
      ++active;
    } else if (auto i = progress_.find(v); i != progress_.end()) {
      if (i->second.recent_active)
        ++active;
      i->second.recent_active = false;
    }
  }
  return active >= majority(voter_ids_.size());
}

void raft_core::start_read(uint64_t ctx) {
  if (voter_ids_.size() == 1 && promotable()) {
    ready_reads_.push_back({ctx, log_.committed()});
    return;
  }
  pending_reads_.push_back({ctx, log_.committed(), read_seq_ + 1});
  read_round_pending_ = true;
}

void raft_core::release_reads() {
  std::vector<uint64_t> acked;
  for (auto v : voter_ids_) {
    if (v == cfg_.id)
      acked.push_back(read_seq_);
    else if (auto i = progress_.find(v); i != progress_.end())
      acked.push_back(i->second.acked_read_seq);
    else
      acked.push_back(0);
  }
  auto confirmed = quorum_value(std::move(acked));
  auto i = pending_reads_.begin();
  for (; i != pending_reads_.end() && i->seq <= confirmed; ++i)
    ready_reads_.push_back({i->ctx, i->index});
  pending_reads_.erase(pending_reads_.begin(), i);
}

void raft_core::drop_reads() {
  for (const auto& r : pending_reads_)
    dropped_reads_.push_back(r.ctx);
  dropped_reads_.insert(dropped_reads_.end(), reads_before_commit_.begin(),
                        reads_before_commit_.end());
  pending_reads_.clear();
  reads_before_commit_.clear();
  read_round_pending_ = false;
}

void raft_core::send(node_id to, raft_message m) {
  msgs_.push_back(outgoing{to, std::move(m)});
}

std::vector<node_id> raft_core::peers() const {
  std::vector<node_id> out;
  for (auto v : voter_ids_)
    if (v != cfg_.id)
      out.push_back(v);
  for (auto v : learner_ids_)
    if (v != cfg_.id)
      out.push_back(v);
  return out;
}

// -- membership ---------------------------------------------------------------

membership raft_core::configuration_at(index_t index) const {
  const membership* m = &snap_config_;
  for (const auto& [i, c] : config_log_)
    if (i <= index)
      m = &c;
  return *m;
}

void raft_core::refresh_config(index_t from) {
  // Entries from `from` on may have been replaced: forget their configs and
  // read those entries again (thesis §4.1: a server uses the newest
  // configuration in its log, committed or not).
  while (!config_log_.empty() && config_log_.back().first >= from)
    config_log_.pop_back();
  for (auto i = std::max(from, log_.first_index()); i <= log_.last_index(); ++i) {
    const auto& e = log_.at(i);
    if (e.type != entry_type::config)
      continue;
    // A config entry that does not decode changes nothing -- on every node
    // alike, so the nodes still agree.
    if (auto m = decode_membership(e.data))
      config_log_.emplace_back(i, std::move(*m));
  }
  if (config_log_.empty())
    set_config(snap_config_, 0);
  else
    set_config(config_log_.back().second, config_log_.back().first);
}

void raft_core::set_config(membership m, index_t index) {
  config_index_ = index;
  if (m == config_)
    return;
  config_ = std::move(m);
  voter_ids_ = voter_ids(config_);
  learner_ids_ = learner_ids(config_);
  if (role_ == raft_role::leader)
    sync_progress();
  if (transferee_ != no_node && !is_voter(config_, transferee_))
    transferee_ = no_node;
}

void raft_core::sync_progress() {
  for (auto i = progress_.begin(); i != progress_.end();) {
    if (is_member(config_, i->first) && i->first != cfg_.id)
      ++i;
    else
      i = progress_.erase(i);
  }
  for (auto p : peers()) {
    if (progress_.contains(p))
      continue;
    auto [it, _] = progress_.emplace(p, progress{log_.last_index() + 1, cfg_.max_inflight});
    it->second.recent_active = true;
    broadcast_pending_ = true;
  }
}

void raft_core::append_config(const membership& m) {
  log_.append(log_entry{term(), log_.last_index() + 1, entry_type::config,
                        encode_membership(m)});
  refresh_config(log_.last_index());
  broadcast_pending_ = true;
}

change_outcome raft_core::propose_change(const config_change& c) {
  change_outcome out;
  out.hint = leader_;
  if (role_ != raft_role::leader)
    return out;
  out.hint = cfg_.id;
  if (transferee_ != no_node) {
    out.result = change_outcome::kind::busy;
    out.message = "leadership is being handed to node " + std::to_string(transferee_);
    return out;
  }
  if (!committed_in_current_term()) {
    out.result = change_outcome::kind::not_ready;
    out.message = "the new leader has not committed an entry of its term yet";
    return out;
  }
  if (config_pending()) {
    out.result = change_outcome::kind::busy;
    out.message = "another membership change (entry " + std::to_string(config_index_)
                  + ") has not committed yet";
    return out;
  }
  if (c.op == config_change::kind::remove && c.who.id == cfg_.id) {
    // Hand over first (thesis §3.10, §4.2.2); the new leader removes us.
    auto t = transfer_leadership(no_node);
    if (t.result == change_outcome::kind::accepted) {
      t.result = change_outcome::kind::transferring;
      t.message = "the leader hands leadership to node " + std::to_string(t.hint)
                  + " before it is removed; retry there";
    }
    return t;
  }
  auto next = config_;
  if (auto err = apply_change(next, c)) {
    out.result = change_outcome::kind::invalid;
    out.message = *err;
    return out;
  }
  append_config(next);
  out.result = change_outcome::kind::accepted;
  out.index = log_.last_index();
  out.term = term();
  return out;
}

change_outcome raft_core::transfer_leadership(node_id target) {
  change_outcome out;
  out.hint = leader_;
  if (role_ != raft_role::leader)
    return out;
  if (target == no_node) {
    // The most up-to-date other voter: the shortest wait.
    index_t best = 0;
    for (auto v : voter_ids_) {
      if (v == cfg_.id)
        continue;
      auto i = progress_.find(v);
      auto m = i == progress_.end() ? 0 : i->second.match();
      if (target == no_node || m > best) {
        target = v;
        best = m;
      }
    }
    if (target == no_node) {
      out.result = change_outcome::kind::invalid;
      out.message = "no other voter to hand leadership to";
      return out;
    }
  }
  out.hint = target;
  if (target == cfg_.id) {
    out.result = change_outcome::kind::accepted;
    out.message = "node " + std::to_string(target) + " leads already";
    return out;
  }
  if (!is_voter(config_, target)) {
    out.result = change_outcome::kind::invalid;
    out.message = "node " + std::to_string(target) + " is not a voter";
    return out;
  }
  transferee_ = target;
  transfer_elapsed_ = 0;
  auto& pr = progress_.at(target);
  if (pr.match() == log_.last_index())
    send_timeout_now(target);
  else
    fill_pipeline(target);
  out.result = change_outcome::kind::accepted;
  return out;
}

void raft_core::send_timeout_now(node_id to) {
  send(to, timeout_now{term(), cfg_.id});
}

void raft_core::maybe_promote() {
  if (transferee_ != no_node || config_pending() || !committed_in_current_term())
    return;
  for (const auto& l : config_.learners) {
    auto i = progress_.find(l.id);
    if (i == progress_.end() || i->second.match() == 0
        || i->second.state() == progress::mode::snapshot)
      continue;
    if (i->second.match() + cfg_.promote_lag >= log_.last_index()) {
      auto next = config_;
      apply_change(next, config_change{config_change::kind::promote, l});
      append_config(next);
      return; // one change at a time
    }
  }
}

bool raft_core::restore(index_t index, term_t t, const membership& config) {
  if (index <= log_.committed())
    return false; // we have all of it, and more
  if (log_.matches(index, t)) {
    // §7: the log holds the snapshot's last entry: keep what follows.
    log_.commit_to(index);
    return false;
  }
  log_.reset_to_snapshot(index, t);
  snap_config_ = config;
  config_log_.clear();
  refresh_config(log_.first_index());
  reset_index_ = index;
  reset_term_ = t;
  return true;
}

void raft_core::compact(index_t index) {
  if (index <= log_.snapshot_index())
    return;
  snap_config_ = configuration_at(index);
  while (!config_log_.empty() && config_log_.front().first <= index)
    config_log_.erase(config_log_.begin());
  log_.compact_to(index);
}

} // namespace raft
