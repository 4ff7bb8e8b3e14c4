#include "messages/registration.hpp"

#include "messages/interfaces.hpp"
#include "messages/serialization.hpp"

namespace raft {

void register_message_types(caf::actor_system_config& cfg) {
  // add_message_type<T> also registers std::vector<T>.
  cfg.add_message_type<log_entry>("raft_log_entry")
    .add_message_type<hard_state>("raft_hard_state")
    .add_message_type<request_vote>("raft_request_vote")
    .add_message_type<request_vote_reply>("raft_request_vote_reply")
    .add_message_type<append_entries>("raft_append_entries")
    .add_message_type<append_entries_reply>("raft_append_entries_reply")
    .add_message_type<install_snapshot>("raft_install_snapshot")
    .add_message_type<install_snapshot_reply>("raft_install_snapshot_reply")
    .add_message_type<timeout_now>("raft_timeout_now")
    .add_message_type<member>("raft_member")
    .add_message_type<membership>("raft_membership")
    .add_message_type<kv_command>("raft_kv_command")
    .add_message_type<client_reply>("raft_client_reply")
    .add_message_type<persist_request>("raft_persist_request")
    .add_message_type<persist_ack>("raft_persist_ack")
    .add_message_type<kv_pair>("raft_kv_pair")
    .add_message_type<snapshot_meta>("raft_snapshot_meta")
    .add_message_type<snapshot_chunk>("raft_snapshot_chunk")
    .add_message_type<snapshot_received>("raft_snapshot_received")
    .add_message_type<snapshot_batch>("raft_snapshot_batch")
    .add_message_type<node_status>("raft_node_status")
    .add_message_type<peer_info>("raft_peer_info")
    .add_message_type<link_status>("raft_link_status")
    // partition_atom's argument: vector<uint64_t> is no CAF builtin, and the
    // name is part of the interface every node advertises.
    .add_message_type<std::vector<node_id>>("raft_node_id_list")
    .add_message_type<raft_rpc_actor>("raft_rpc_actor")
    .add_message_type<node_actor>("raft_node_actor")
    .add_message_type<peer_endpoint_actor>("raft_peer_endpoint_actor")
    .add_message_type<gateway_actor>("raft_gateway_actor");
}

} // namespace raft
