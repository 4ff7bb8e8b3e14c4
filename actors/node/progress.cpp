#include "actors/node/progress.hpp"

#include <algorithm>

namespace raft {

bool progress::paused() const {
  if (mode_ == mode::snapshot)
    return true;
  if (mode_ == mode::probe)
    return probe_sent_;
  return inflight_.size() >= max_inflight_;
}

void progress::sent(index_t last, bool had_entries) {
  if (mode_ == mode::probe) {
    probe_sent_ = true;
    return;
  }
  if (had_entries) {
    next_ = last + 1;
    inflight_.push_back(last);
  }
}

bool progress::update(index_t m) {
  bool news = m > match_;
  if (news) {
    match_ = m;
    progressed = true;
  }
  next_ = std::max(next_, m + 1);
  // Everything sent up to m has arrived: free those slots.
  while (!inflight_.empty() && inflight_.front() <= m)
    inflight_.pop_front();
  probe_sent_ = false;
  return news;
}

bool progress::decrease_to(index_t rejected, index_t hint) {
  if (mode_ == mode::snapshot)
    return false; // answers an AppendEntries from before the snapshot began
  if (mode_ == mode::replicate) {
    // A rejection at or below match answers a message older than what we
    // already know matched.
    if (rejected <= match_)
      return false;
  } else if (rejected != next_ - 1) {
    return false; // answers a probe we have since replaced
  }
  next_ = std::max(match_ + 1, std::min(hint, rejected));
  become_probe_at(next_);
  return true;
}

void progress::become_probe() {
  become_probe_at(match_ + 1);
}

void progress::become_probe_at(index_t next) {
  mode_ = mode::probe;
  next_ = next;
  probe_sent_ = false;
  inflight_.clear();
}

void progress::become_snapshot(index_t index) {
  mode_ = mode::snapshot;
  pending_snapshot_ = index;
  snapshot_idle = 0;
  probe_sent_ = false;
  inflight_.clear();
}

void progress::snapshot_done(bool ok, index_t index) {
  if (ok && index > match_) {
    match_ = index;
    progressed = true;
  }
  pending_snapshot_ = 0;
  become_probe_at(match_ + 1);
}

void progress::become_replicate() {
  mode_ = mode::replicate;
  next_ = match_ + 1;
  probe_sent_ = false;
  inflight_.clear();
}

} // namespace raft
