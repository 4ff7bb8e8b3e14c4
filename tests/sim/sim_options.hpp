#pragma once

// Command-line options of the simulation binary (see sim_main.cpp).

#include <cstdint>

namespace raft::test {

/// Which seeds to run: [first_seed, first_seed + seeds), or just `seed`.
struct sim_options {
  uint64_t first_seed = 1;
  uint64_t seeds = 1000;
  int64_t seed = -1; ///< >= 0: replay exactly this one
  bool verbose = false;
};

/// The options parsed by main.
sim_options& options();

} // namespace raft::test
