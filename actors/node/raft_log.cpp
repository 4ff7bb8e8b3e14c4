#include "actors/node/raft_log.hpp"

#include <cassert>
#include <stdexcept>
#include <string>

namespace raft {

raft_log::raft_log(std::vector<log_entry> durable, index_t snapshot_index,
                   term_t snapshot_term)
  : entries_(std::move(durable)), snap_index_(snapshot_index), snap_term_(snapshot_term) {
  for (std::size_t k = 0; k < entries_.size(); ++k) {
    if (entries_[k].index != snap_index_ + k + 1)
      throw std::logic_error("raft_log: recovered entries do not follow the snapshot at "
                             + std::to_string(snap_index_) + " contiguously");
    payload_bytes_ += entries_[k].data.size();
  }
  committed_ = applied_ = snap_index_;
  stable_ = last_index();
  persist_from_ = last_index() + 1;
}

std::optional<term_t> raft_log::term(index_t i) const {
  if (i == 0)
    return term_t{0};
  if (i == snap_index_)
    return snap_term_;
  if (i < snap_index_ || i > last_index())
    return std::nullopt;
  return at(i).term;
}

term_t raft_log::term_at(index_t i) const {
  return term(i).value_or(0);
}

bool raft_log::is_up_to_date(index_t last_idx, term_t last_t) const {
  return last_t > last_term() || (last_t == last_term() && last_idx >= last_index());
}

index_t raft_log::first_index_of_term(index_t from) const {
  if (from <= snap_index_ || from > last_index())
    return from;
  auto t = at(from).term;
  auto i = from;
  while (i > first_index() && at(i - 1).term == t)
    --i;
  return i;
}

index_t raft_log::last_index_of_term(term_t t, index_t from) const {
  for (auto i = std::min(from, last_index()); i > snap_index_; --i) {
    if (at(i).term == t)
      return i;
    if (at(i).term < t) // terms never decrease along the log
      return 0;
  }
  if (from >= snap_index_ && snap_index_ > 0 && snap_term_ == t)
    return snap_index_;
  return 0;
}

void raft_log::append(log_entry e) {
  assert(e.index == last_index() + 1);
  assert(e.term >= last_term());
  payload_bytes_ += e.data.size();
  entries_.push_back(std::move(e));
}

index_t raft_log::merge(index_t prev, const std::vector<log_entry>& entries) {
  for (const auto& e : entries) {
    if (e.index <= snap_index_)
      continue; // compacted: committed, so it matches (Log Matching)
    if (e.index <= last_index()) {
      if (at(e.index).term == e.term)
        continue; // already have it (duplicate or reordered message)
      // §5.3: an existing entry conflicts with a new one: delete it and all
      // that follow. A committed entry can never conflict (Log Matching).
      if (e.index <= committed_)
        throw std::logic_error("raft_log: conflict at committed index "
                               + std::to_string(e.index) + " (committed "
                               + std::to_string(committed_) + ")");
      truncate_from(e.index);
    }
    payload_bytes_ += e.data.size();
    entries_.push_back(e);
  }
  return prev + entries.size();
}

std::vector<log_entry> raft_log::slice(index_t lo, std::size_t max_count,
                                       std::size_t max_bytes) const {
  std::vector<log_entry> out;
  if (lo <= snap_index_)
    throw std::logic_error("raft_log: slice from compacted index " + std::to_string(lo));
  std::size_t bytes = 0;
  for (auto i = lo; i <= last_index() && out.size() < max_count; ++i) {
    bytes += at(i).data.size();
    if (!out.empty() && bytes > max_bytes)
      break;
    out.push_back(at(i));
  }
  return out;
}

void raft_log::commit_to(index_t i) {
  if (i <= committed_)
    return;
  if (i > last_index())
    throw std::logic_error("raft_log: commit " + std::to_string(i)
                           + " past last index " + std::to_string(last_index()));
  committed_ = i;
}

std::vector<log_entry> raft_log::take_unpersisted() {
  std::vector<log_entry> out;
  if (persist_from_ <= last_index())
    out.assign(entries_.begin() + static_cast<std::ptrdiff_t>(persist_from_ - snap_index_ - 1),
               entries_.end());
  persist_from_ = last_index() + 1;
  return out;
}

void raft_log::stable_to(index_t i, term_t t) {
  if (i > stable_ && i < persist_from_ && matches(i, t))
    stable_ = i;
}

std::vector<log_entry> raft_log::take_committed() {
  std::vector<log_entry> out;
  for (auto i = applied_ + 1; i <= committed_; ++i)
    out.push_back(at(i));
  applied_ = committed_;
  return out;
}

void raft_log::compact_to(index_t i) {
  if (i <= snap_index_)
    return;
  if (i > applied_)
    throw std::logic_error("raft_log: compact to " + std::to_string(i)
                           + " past the applied index " + std::to_string(applied_));
  auto t = term_at(i);
  auto n = static_cast<std::ptrdiff_t>(i - snap_index_);
  for (auto k = entries_.begin(); k != entries_.begin() + n; ++k)
    payload_bytes_ -= k->data.size();
  entries_.erase(entries_.begin(), entries_.begin() + n);
  snap_index_ = i;
  snap_term_ = t;
}

void raft_log::reset_to_snapshot(index_t i, term_t t) {
  if (i < committed_)
    throw std::logic_error("raft_log: snapshot at " + std::to_string(i)
                           + " is behind the commit index " + std::to_string(committed_));
  entries_.clear();
  payload_bytes_ = 0;
  snap_index_ = i;
  snap_term_ = t;
  committed_ = applied_ = stable_ = i;
  persist_from_ = i + 1;
}

void raft_log::truncate_from(index_t i) {
  for (auto k = i; k <= last_index(); ++k)
    payload_bytes_ -= at(k).data.size();
  entries_.resize(i - snap_index_ - 1);
  if (stable_ >= i)
    stable_ = i - 1;
  if (persist_from_ > i)
    persist_from_ = i;
}

} // namespace raft
