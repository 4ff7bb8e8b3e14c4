#pragma once

// CAF inspect() functions for every message type. Kept apart from the plain
// structs so the pure Raft core never includes CAF.

#include "messages/kv_messages.hpp"
#include "messages/raft_rpc.hpp"
#include "messages/snapshot_messages.hpp"
#include "messages/status.hpp"
#include "messages/storage_messages.hpp"

#include <caf/meta/type_name.hpp>

namespace raft {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_entry& x) {
  return f(caf::meta::type_name("raft_log_entry"), x.term, x.index, x.type, x.data);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hard_state& x) {
  return f(caf::meta::type_name("raft_hard_state"), x.current_term, x.voted_for);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, request_vote& x) {
  return f(caf::meta::type_name("raft_request_vote"), x.term, x.candidate_id,
           x.last_log_index, x.last_log_term, x.pre_vote, x.transfer);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, request_vote_reply& x) {
  return f(caf::meta::type_name("raft_request_vote_reply"), x.term, x.voter_id,
           x.vote_granted, x.pre_vote);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append_entries& x) {
  return f(caf::meta::type_name("raft_append_entries"), x.term, x.leader_id,
           x.prev_log_index, x.prev_log_term, x.entries, x.leader_commit,
           x.read_seq);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append_entries_reply& x) {
  return f(caf::meta::type_name("raft_append_entries_reply"), x.term,
           x.follower_id, x.success, x.match_index, x.rejected_index,
           x.conflict_index, x.conflict_term, x.read_seq);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, install_snapshot& x) {
  return f(caf::meta::type_name("raft_install_snapshot"), x.term, x.leader_id,
           x.last_included_index, x.last_included_term, x.offset, x.data,
           x.done);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, install_snapshot_reply& x) {
  return f(caf::meta::type_name("raft_install_snapshot_reply"), x.term,
           x.follower_id, x.last_included_index, x.next_offset, x.success, x.done);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, timeout_now& x) {
  return f(caf::meta::type_name("raft_timeout_now"), x.term, x.leader_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member& x) {
  return f(caf::meta::type_name("raft_member"), x.id, x.address);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, membership& x) {
  return f(caf::meta::type_name("raft_membership"), x.voters, x.learners);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kv_command& x) {
  return f(caf::meta::type_name("raft_kv_command"), x.op, x.key, x.value,
           x.expected, x.args, x.flags, x.local_read, x.forwarded);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, client_reply& x) {
  return f(caf::meta::type_name("raft_client_reply"), x.status, x.value,
           x.number, x.values, x.present, x.leader_hint, x.message);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, persist_request& x) {
  return f(caf::meta::type_name("raft_persist_request"), x.reset_index,
           x.reset_term, x.has_hard_state, x.state, x.entries);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, persist_ack& x) {
  return f(caf::meta::type_name("raft_persist_ack"), x.last_index, x.last_term);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kv_pair& x) {
  return f(caf::meta::type_name("raft_kv_pair"), x.key, x.value);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot_meta& x) {
  return f(caf::meta::type_name("raft_snapshot_meta"), x.index, x.term, x.config,
           x.keys, x.digest, x.bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot_chunk& x) {
  return f(caf::meta::type_name("raft_snapshot_chunk"), x.offset, x.data, x.total,
           x.done);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot_received& x) {
  return f(caf::meta::type_name("raft_snapshot_received"), x.next_offset,
           x.complete, x.meta);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot_batch& x) {
  return f(caf::meta::type_name("raft_snapshot_batch"), x.pairs, x.done);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_info& x) {
  return f(caf::meta::type_name("raft_peer_info"), x.id, x.address, x.connected,
           x.last_contact_ms, x.commands_in_flight);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_status& x) {
  return f(caf::meta::type_name("raft_link_status"), x.peer, x.address, x.connected,
           x.dropping, x.forwarded, x.dropped, x.last_connected_ms, x.commands_in_flight);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return f(caf::meta::type_name("raft_node_status"), x.id, x.role, x.term,
           x.leader, x.last_index, x.commit_index, x.applied_index, x.voters,
           x.learners, x.config, x.config_index, x.snapshot_index, x.first_index,
           x.state_digest, x.keys, x.peers);
}

} // namespace raft
