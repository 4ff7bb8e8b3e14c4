#pragma once

// Majority arithmetic (§5.2, §5.3): the pieces every quorum decision uses.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace raft {

/// The number of members that form a majority of `n` (n >= 1).
constexpr std::size_t majority(std::size_t n) {
  return n / 2 + 1;
}

/// The largest value that at least a majority of `values` is >= to: for match
/// indexes that is the highest index replicated on a majority (the commit
/// candidate); for acknowledged read rounds, the highest confirmed round.
/// Returns 0 for an empty list.
inline uint64_t quorum_value(std::vector<uint64_t> values) {
  if (values.empty())
    return 0;
  // Sorted descending, the majority(n)-th value is held by a majority.
  auto k = majority(values.size()) - 1;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k),
                   values.end(), std::greater<>{});
  return values[k];
}

} // namespace raft
