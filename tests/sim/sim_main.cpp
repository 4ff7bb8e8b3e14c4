// main of the simulation suite: Catch2's session plus our options.
//   sim_tests                      1,000 seeds (what CI runs)
//   sim_tests --seeds 100000       a long run by hand
//   sim_tests --seed 4711 -v       replay one seed, narrating it
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "tests/sim/sim_options.hpp"

namespace raft::test {

sim_options& options() {
  static sim_options opts;
  return opts;
}

} // namespace raft::test

int main(int argc, char** argv) {
  Catch::Session session;
  auto& o = raft::test::options();
  using Catch::clara::Opt;
  auto cli = session.cli()
             | Opt(o.seed, "seed")["--seed"]("replay exactly this seed")
             | Opt(o.seeds, "count")["--seeds"]("how many seeds to run (default 1000)")
             | Opt(o.first_seed, "seed")["--first-seed"]("the first seed (default 1)")
             | Opt(o.verbose)["--narrate"]("print what each run does");
  session.cli(cli);
  if (auto rc = session.applyCommandLine(argc, argv); rc != 0)
    return rc;
  return session.run();
}
