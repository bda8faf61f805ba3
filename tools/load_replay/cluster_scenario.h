// Cluster scenarios: the input of a cluster simulation (load_replay --simulate), as a cluster
// trace (docs/REPLAY.md, "Cluster traces").
//
// A scenario is only what happens outside the login tier: msg_servers registering (some with
// users already, some empty in the middle of the crowd) and clients asking a login server of
// their choice. Where each client ends up, and so every count update, is the outcome of the
// routing under test and is computed by the simulation; so one scenario file compares policies
// on the very same input. Deterministic for a given (options): integer PRNG and arithmetic only.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace ttlogin::tools::replay {

struct ClusterScenarioOptions {
  std::string kind = "flash-crowd";
  std::uint64_t seed = 1;
  std::uint32_t login_servers = 4;
  std::uint32_t msg_servers = 50;
  std::uint32_t late_joiners = 3;  // of msg_servers: register empty during the crowd
  std::uint64_t logins = 100'000;
  std::uint32_t crowd_ms = 10'000;  // the crowd's logins arrive within this window
  std::uint32_t update_latency_ms = 200;
  std::uint32_t connect_delay_ms = 50;
};

// When the crowd starts (trace ms): registrations happen at 0, and this is long after any slow
// start window a scenario is meant to be run with, so only the late joiners warm up.
inline constexpr std::uint32_t kCrowdStartMs = 600'000;
// The sizes (max_conn_cnt) msg_servers are drawn from.
inline constexpr std::uint32_t kScenarioSizes[] = {2'000, 5'000, 10'000, 20'000};

// Writes the scenario. Returns an empty string, or why the options are unusable.
std::string WriteClusterScenario(const ClusterScenarioOptions& options, std::ostream& out);

}  // namespace ttlogin::tools::replay
