// Hosts in network namespaces, membership (issue #4): a member joins while a
// minority is cut off by real packet drops, and the cut-off node, whose
// entries the leader has compacted away meanwhile, catches up by snapshot
// once the partition heals.
//
// Four hosts: nodes 1-3 start as the cluster with a small
// --raft.snapshot-entries, host 4 stays empty. Under a continuous client
// workload one follower is cut off (nftables rules, as in
// partition_test.cpp); node 4 starts with --raft.join at the two nodes of
// the majority and must be admitted and promoted to voter while the
// minority is still cut off (the minority never hears of it). The writes go
// on until the leader has written at least three snapshots since the cut
// and compacted its log past the cut-off node's last entry (raft-node keeps
// a margin of entries behind its newest snapshot; the test waits for the
// compaction itself, whatever the margin) and until the connections to the
// cut-off node have timed out on both sides. After the heal the cut-off
// node must reach the leader's commit index with the leader's digest, its
// log must start after a snapshot it was sent, no node may have stopped,
// and all four nodes must agree on the state and on four voters; every
// acknowledged write reads back.
//
// A hidden test at the end heals before the connections time out: that
// reproduces a node bug (see there).
//
// Needs root, ip (iproute2) and nft (nftables); without them it fails saying
// so. Leave the suite out with `ctest -LE netns`.

#include "tests/netns/lab_cluster.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>

using namespace raft;
using namespace raft::netns_test;
using namespace std::chrono_literals;
using process_test::wait_until;

namespace {

bool contains(const std::vector<node_id>& ids, node_id id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

bool definitely_refused(reply_status s) {
  return s == reply_status::not_leader || s == reply_status::unavailable;
}

/// The node among `statuses` that reports itself leader at the highest term
/// any of them reports; nullptr if none does.
const node_status* leader_of(const std::map<node_id, node_status>& statuses) {
  term_t top = 0;
  for (const auto& [id, s] : statuses)
    top = std::max(top, s.term);
  for (const auto& [id, s] : statuses)
    if (s.role == raft_role::leader && s.term == top)
      return &s;
  return nullptr;
}

/// The indexes of the snapshots a node's output says it installed from its
/// leader, in order.
std::vector<index_t> installed_snapshots(const std::string& output) {
  static const std::string marker = "installed snapshot through index ";
  std::vector<index_t> r;
  for (auto at = output.find(marker); at != std::string::npos;
       at = output.find(marker, at + 1)) {
    auto number = output.c_str() + at + marker.size();
    char* end = nullptr;
    auto index = std::strtoull(number, &end, 10);
    if (end != number)
      r.push_back(static_cast<index_t>(index));
  }
  return r;
}

/// The first line of `output` that contains `what` ("" if none).
std::string first_line_with(const std::string& output, const std::string& what) {
  auto at = output.find(what);
  if (at == std::string::npos)
    return "";
  auto begin = output.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  auto end = output.find('\n', at);
  return output.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

/// `count` workloads at once through the nodes `ids` (keys <prefix><i>-...).
class writer_group {
public:
  writer_group(lab_cluster& c, const std::vector<node_id>& ids, const std::string& prefix,
               int count) {
    client_options opts;
    opts.request_timeout = 1500ms; // a write timed out is unknown: recorded, not asserted
    opts.overall_timeout = 5s;
    for (int i = 0; i < count; ++i)
      writers_.push_back(std::make_unique<workload>(c.system(), c.addresses(ids),
                                                    prefix + std::to_string(i) + "-", opts));
  }

  std::size_t acked() const {
    std::size_t n = 0;
    for (const auto& w : writers_)
      n += w->acked();
    return n;
  }

  bool wait_acked(std::size_t n, ms limit) const {
    return wait_until([&] { return acked() >= n; }, limit, 10ms);
  }

  /// Stops every writer; all their writes and outcomes.
  std::vector<write_record> stop() {
    std::vector<write_record> all;
    for (auto& w : writers_) {
      w->stop();
      auto h = w->history();
      all.insert(all.end(), h.begin(), h.end());
    }
    return all;
  }

  /// Why a writer ended early ("" if none did).
  std::string error() {
    std::string r;
    for (auto& w : writers_)
      r += w->error();
    return r;
  }

private:
  std::vector<std::unique_ptr<workload>> writers_;
};

} // namespace

TEST_CASE("netns: a member joins while a minority is partitioned away, after the heal the "
          "partitioned node catches up by snapshot and all four converge",
          "[netns][membership][snapshot]") {
  constexpr uint64_t snapshot_every = 200;
  constexpr int writer_count = 3;
  const std::string prefix = "join-";
  auto start = std::chrono::steady_clock::now();
  lab_cluster_options shape;
  shape.hosts = 4;
  shape.members = 3;
  shape.extra_args = {"--raft.snapshot-entries=" + std::to_string(snapshot_every)};
  lab_cluster c(shape);
  INFO(c.lab().describe());
  const std::vector<node_id> founders{1, 2, 3};
  const node_id newcomer = 4;
  REQUIRE(c.wait_for_leader(founders, 0, 15s) != no_node);

  // A few writers at once: the leader batches their writes, so the log
  // passes the snapshot thresholds in a few seconds even on a loaded
  // machine, and the membership change and the snapshot transfers run
  // between concurrent writes.
  writer_group writers(c, founders, prefix, writer_count);
  REQUIRE(writers.wait_acked(20, 15s));

  // -- the cut: one follower alone --------------------------------------------
  auto leader = c.wait_for_leader(founders, 0, 15s);
  REQUIRE(leader != no_node);
  node_id cut = no_node;
  std::vector<node_id> majority;
  for (auto id : founders) {
    if (id != leader && cut == no_node)
      cut = id;
    else
      majority.push_back(id);
  }
  c.lab().partition({{static_cast<std::size_t>(cut)},
                     {static_cast<std::size_t>(majority[0]), static_cast<std::size_t>(majority[1]),
                      static_cast<std::size_t>(newcomer)}});
  auto cut_at = std::chrono::steady_clock::now();
  INFO("leader " << leader << " when node " << cut << " was cut off; majority " << majority[0]
                 << "," << majority[1]);

  // The majority has (or elects) a leader and acknowledges writes.
  {
    auto l = c.wait_for_leader(majority, 0, 15s);
    INFO("no leader among the majority; statuses:\n" << render(c.statuses()));
    REQUIRE(l != no_node);
  }
  {
    auto before = writers.acked();
    INFO("the majority acknowledged no writes; statuses:\n" << render(c.statuses()));
    REQUIRE(writers.wait_acked(before + 20, 20s));
  }

  // The cut-off node knows no leader any more (it hears from nobody); from
  // then on its log cannot grow.
  node_status cut_before;
  bool settled = wait_until(
    [&] {
      auto all = c.statuses();
      auto i = all.find(cut);
      if (i == all.end() || i->second.role == raft_role::leader || i->second.leader != no_node)
        return false;
      cut_before = i->second;
      return true;
    },
    15s, 50ms);
  {
    INFO("node " << cut << " still follows a leader or leads; statuses:\n"
                 << render(c.statuses()));
    REQUIRE(settled);
  }
  INFO("node " << cut << " cut off with log " << cut_before.first_index << ".."
               << cut_before.last_index << ", applied " << cut_before.applied_index);

  // -- node 4 joins through the majority --------------------------------------
  auto join_started = std::chrono::steady_clock::now();
  {
    auto why = c.join(newcomer, majority, 30s);
    INFO("node " << newcomer << " was not admitted: " << why << "\nstatuses:\n"
                 << render(c.statuses()));
    REQUIRE(why.empty());
  }
  auto admitted_after = seconds_since(join_started);
  // The leader promotes it once it has caught up; the promotion commits
  // with the majority and node 4 (3 of 4 voters), without the cut-off node.
  std::map<node_id, node_status> last;
  bool promoted = wait_until(
    [&] {
      last = c.statuses();
      const auto* l = leader_of(last);
      return l != nullptr && l->id != cut && contains(l->voters, newcomer)
             && l->learners.empty() && l->voters.size() == 4
             && l->config_index <= l->commit_index;
    },
    20s, 50ms);
  {
    INFO("node " << newcomer << " was not promoted to voter (committed); statuses:\n"
                 << render(last));
    REQUIRE(promoted);
  }
  auto promoted_after = seconds_since(join_started);
  {
    // All of that happened while the minority was cut off: it never heard
    // of node 4 and its log did not move.
    auto all = c.statuses();
    auto i = all.find(cut);
    INFO("node " << cut << " is no longer cut off, or heard of the change; statuses:\n"
                 << render(all));
    REQUIRE(i != all.end());
    REQUIRE(i->second.leader == no_node);
    REQUIRE(i->second.last_index == cut_before.last_index);
    REQUIRE_FALSE(contains(i->second.voters, newcomer));
    REQUIRE_FALSE(contains(i->second.learners, newcomer));
  }
  {
    INFO("node " << cut << "'s host dropped no packets");
    REQUIRE(wait_until([&] { return c.lab().dropped_packets(cut) > 0; }, 5s, 50ms));
  }

  // -- writes past several snapshots: the leader's log is compacted past the
  // cut-off node's last entry, so only a snapshot can bring it back --------
  node_status leader_before_heal;
  bool compacted = wait_until(
    [&] {
      last = c.statuses();
      const auto* l = leader_of(last);
      if (l == nullptr || l->id == cut)
        return false;
      leader_before_heal = *l;
      return l->first_index > cut_before.last_index + 1
             && l->snapshot_index >= cut_before.last_index + 3 * snapshot_every;
    },
    40s, 100ms);
  {
    INFO("the leader did not compact its log past node " << cut << "'s last entry "
                                                         << cut_before.last_index
                                                         << "; statuses:\n"
                                                         << render(last));
    REQUIRE(compacted);
  }
  {
    // Node 4, a voter now, keeps up with the leader meanwhile.
    auto i = last.find(newcomer);
    INFO("node " << newcomer << " does not answer; statuses:\n" << render(last));
    REQUIRE(i != last.end());
  }

  // The partition is complete: the connections to the cut-off node timed
  // out on both sides (middleman heartbeats), so nothing sent into them
  // while it was cut off is delivered after the heal. (A heal before that
  // point is another scenario: see the hidden test below.)
  bool links_down = wait_until(
    [&] {
      last = c.statuses();
      for (auto id : c.ids())
        if (last.count(id) == 0)
          return false;
      for (const auto& [id, s] : last)
        for (const auto& p : s.peers)
          if ((id == cut || p.id == cut) && p.connected)
            return false;
      if (const auto* l = leader_of(last); l != nullptr && l->id != cut)
        leader_before_heal = *l;
      return true;
    },
    15s, 50ms);
  {
    INFO("the links to and from node " << cut << " did not go down; statuses:\n"
                                       << render(last));
    REQUIRE(links_down);
  }

  // -- the heal ---------------------------------------------------------------
  c.lab().heal();
  auto healed_at = std::chrono::steady_clock::now();
  auto cut_for = seconds_since(cut_at);
  auto acked_at_heal = writers.acked();
  // The cut-off node reaches what the leader had committed at the heal,
  // while the writes go on.
  index_t target = leader_before_heal.commit_index;
  bool caught_up = wait_until(
    [&] {
      last = c.statuses();
      auto i = last.find(cut);
      return i != last.end() && i->second.applied_index >= target;
    },
    30s, 50ms);
  {
    INFO("node " << cut << " did not apply up to " << target
                 << " (the leader's commit index at the heal); statuses:\n"
                 << render(last));
    REQUIRE(caught_up);
  }
  auto caught_up_after = seconds_since(healed_at);
  {
    INFO("no writes acknowledged after the heal; statuses:\n" << render(c.statuses()));
    REQUIRE(writers.wait_acked(acked_at_heal + 20, 20s));
  }
  auto history = writers.stop();
  {
    INFO("a writer ended early: " << writers.error());
    REQUIRE(writers.error().empty());
  }
  {
    INFO("not every node reconnected to every peer after the heal; statuses:\n"
         << render(c.statuses()));
    REQUIRE(c.wait_all_connected(20s));
  }
  {
    std::string why;
    bool converged = c.wait_converged(30s, why);
    INFO(why);
    REQUIRE(converged);
  }

  // No node actor stopped and was restarted by its supervisor on the way
  // (peer traffic, snapshots included, must never crash a node).
  for (auto id : c.ids()) {
    auto line = first_line_with(c.output(id), "[supervisor] node stopped");
    INFO("node " << id << ": " << line);
    CHECK(line.empty());
  }

  // -- the cut-off node came back by snapshot, and all four agree -------------
  auto final_status = c.statuses();
  INFO("final statuses:\n" << render(final_status));
  REQUIRE(final_status.size() == 4);
  const auto* l = leader_of(final_status);
  REQUIRE(l != nullptr);
  for (const auto& [id, s] : final_status) {
    INFO("node " << id);
    CHECK(s.applied_index == l->commit_index);
    CHECK(s.state_digest == l->state_digest);
    CHECK(s.keys == l->keys);
    auto voters = s.voters;
    std::sort(voters.begin(), voters.end());
    CHECK(voters == std::vector<node_id>{1, 2, 3, 4});
    CHECK(s.learners.empty());
  }
  const auto& back = final_status.at(cut);
  // Its log was reset to a snapshot beyond everything it had: it starts
  // past its old last entry, and it keeps a snapshot of its own.
  CHECK(back.first_index > cut_before.last_index + 1);
  CHECK(back.snapshot_index > cut_before.last_index);
  // (A node that caught up from the log and then wrote a snapshot of its
  // own would show that too.) That it was sent one, covering more than it
  // had, its log says: "installed snapshot through index <n> ... from
  // <leader>". (Not necessarily the snapshot the leader had at the heal:
  // every node writes its own, and a leader change under load may hand the
  // transfer to a node whose newest snapshot is a little older.)
  auto installed = installed_snapshots(c.output(cut));
  {
    INFO("node " << cut << "'s output names no snapshot it installed:\n"
                 << c.output_tails(30));
    REQUIRE_FALSE(installed.empty());
  }
  CHECK(installed.front() > cut_before.last_index);

  // -- every acknowledged write -----------------------------------------------
  std::size_t ok = 0, unknown = 0, refused = 0;
  for (const auto& h : history) {
    if (h.status == reply_status::ok)
      ++ok;
    else if (definitely_refused(h.status))
      ++refused;
    else
      ++unknown;
  }
  client_options ropts;
  ropts.request_timeout = 2s;
  blocking_client reader(c.system(), c.addresses(c.ids()), ropts);
  std::size_t present = 0;
  auto problems = check_writes(reader, history, present);
  {
    std::string lines;
    for (std::size_t i = 0; i < problems.size() && i < 20; ++i)
      lines += "  " + problems[i] + "\n";
    INFO(problems.size() << " keys hold what their writes do not allow:\n" << lines);
    REQUIRE(problems.empty());
  }
  for (const auto& [id, s] : final_status) {
    INFO("node " << id << " holds " << s.keys << " keys, " << present << " read back");
    CHECK(s.keys == present);
  }
  std::cout << "netns " << prefix << ": node " << cut << " cut off at log "
            << cut_before.last_index << "; node " << newcomer << " admitted " << admitted_after
            << " s and promoted " << promoted_after << " s after it started; leader log "
            << leader_before_heal.first_index << ".." << leader_before_heal.last_index
            << " (snapshot " << leader_before_heal.snapshot_index << ") at the heal, "
            << cut_for << " s after the cut; node " << cut << " caught up "
            << caught_up_after << " s after the heal by snapshot " << installed.front()
            << ", log now from " << back.first_index
            << "; writes " << history.size() << ": " << ok << " ok, " << unknown << " unknown, "
            << refused << " refused; " << present << " keys; " << seconds_since(start)
            << " s\n";
}

// The same catch-up by snapshot, but the partition heals before the connections
// to the cut-off follower time out (middleman connection-timeout, 3 s).
// Meanwhile the leader has started a snapshot transfer into the dead
// connection for each snapshot it wrote (every 50 entries here); after the
// heal TCP delivers them to the follower in one burst. The follower must
// install one of them and go on -- no node may stop.
//
// Found with the test above before it waited for the links to go down
// (issue 4): the follower stored several of the received snapshots, started
// loading the oldest while the newer ones completed (each completion starts
// another restore; `restoring` is checked only when a chunk arrives), the
// snapshot store pruned the oldest, and loading it failed: "cannot load the
// received snapshot: no snapshot with index 201 in .../snapshots (pruned, or
// never written)", the node actor quit and its supervisor restarted it from
// disk. Fixed in 31f447a (one install at a time on a follower, never while
// its own snapshot is being written): it failed 8 of 8 runs before, passed
// 6 of 6 after, and runs in ctest since.
TEST_CASE("netns: a partition healed before the connections time out, while the leader sends "
          "snapshots into it, the follower installs one and no node stops",
          "[netns][snapshot][short-partition]") {
  const std::string prefix = "short-";
  lab_cluster_options shape;
  shape.hosts = 3;
  shape.members = 3;
  shape.extra_args = {"--raft.snapshot-entries=50"};
  lab_cluster c(shape);
  INFO(c.lab().describe());
  auto ids = c.ids();
  REQUIRE(c.wait_for_leader(ids, 0, 15s) != no_node);
  writer_group writers(c, ids, prefix, 3);
  REQUIRE(writers.wait_acked(20, 15s));

  auto leader = c.wait_for_leader(ids, 0, 15s);
  REQUIRE(leader != no_node);
  node_id cut = ids.front() == leader ? ids[1] : ids.front();
  std::vector<std::size_t> rest;
  for (auto id : ids)
    if (id != cut)
      rest.push_back(static_cast<std::size_t>(id));
  c.lab().partition({{static_cast<std::size_t>(cut)}, rest});
  auto cut_at = std::chrono::steady_clock::now();
  INFO("leader " << leader << ", node " << cut << " cut off");

  // Heal once the leader has started two transfers to it (its log no longer
  // holds what the follower needs), well before 3 s.
  auto marker = "sending snapshot through index ";
  auto to = ") to " + std::to_string(cut) + "\n";
  auto transfers = [&] {
    auto out = c.output(leader);
    std::size_t n = 0;
    for (auto at = out.find(marker); at != std::string::npos; at = out.find(marker, at + 1)) {
      auto end = out.find('\n', at);
      if (end != std::string::npos && out.compare(end + 1 - to.size(), to.size(), to) == 0)
        ++n;
    }
    return n;
  };
  {
    INFO("the leader started no two snapshot transfers to node " << cut << "; statuses:\n"
                                                                 << render(c.statuses()));
    REQUIRE(wait_until([&] { return transfers() >= 2; }, 10s, 20ms));
  }
  auto before_heal = c.statuses();
  c.lab().heal();
  std::cout << "netns " << prefix << ": healed " << seconds_since(cut_at)
            << " s after the cut, after " << transfers()
            << " snapshot transfers to node " << cut << "; statuses before the heal:\n"
            << render(before_heal);
  const auto* l = leader_of(before_heal);
  REQUIRE(l != nullptr);
  index_t target = l->commit_index;
  std::map<node_id, node_status> last;
  bool caught_up = wait_until(
    [&] {
      last = c.statuses();
      auto i = last.find(cut);
      return i != last.end() && i->second.applied_index >= target;
    },
    20s, 50ms);
  {
    INFO("node " << cut << " did not apply up to " << target << "; statuses:\n" << render(last));
    REQUIRE(caught_up);
  }
  auto history = writers.stop();
  REQUIRE(writers.error().empty());
  {
    std::string why;
    bool converged = c.wait_converged(20s, why);
    INFO(why);
    REQUIRE(converged);
  }
  for (auto id : c.ids()) {
    auto line = first_line_with(c.output(id), "[supervisor] node stopped");
    INFO("node " << id << ": " << line);
    CHECK(line.empty());
  }
  INFO("node " << cut << " printed no 'installed snapshot ... from' line");
  CHECK_FALSE(installed_snapshots(c.output(cut)).empty());
  client_options ropts;
  ropts.request_timeout = 2s;
  blocking_client reader(c.system(), c.addresses(c.ids()), ropts);
  std::size_t present = 0;
  auto problems = check_writes(reader, history, present);
  INFO(problems.size() << " keys hold what their writes do not allow"
                       << (problems.empty() ? "" : ", first: " + problems.front()));
  CHECK(problems.empty());
}
