// ClusterSimulation: several login servers, each with its own real MsgServerRegistry, fed by the
// msg_servers of a cluster trace with an update latency, answering the trace's logins in
// simulated time. It is the evidence of docs/ROUTING.md: how evenly each routing policy spreads a
// flash crowd when every login server sees the msg_servers' counts late.
//
// Time is simulated (the registries' injected clocks read it) and the registries' random source is
// seeded, so a (scenario, routing, seed) always gives the same result. What happens, in time order:
//  - a msg_server's register / inc / dec / close at t reaches every login server at t + latency;
//  - a login at t asks its login server (Choose, assigning); the client connects to the answer at
//    t + connect delay, and the msg_server takes it if it is not full (cur < max), which is an
//    increment reaching every login server a latency later;
//  - every 100 ms each registry's Expire() runs, as the server's timer does.
// Every answer is checked against a ChoiceModel of what that login server had seen (the model of
// tools/load_replay, sharing no code with the registry), and at the end every registry must hold
// exactly the msg_servers' counts, with no assignment hold left.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "server/registry/msg_server_registry.h"
#include "tools/load_replay/replay_engine.h"
#include "tools/load_replay/trace_event.h"

namespace ttlogin::tools::replay {

inline constexpr std::int64_t kSimTickMs = 100;  // Expire() and the spread samples

struct SimOptions {
  registry::RoutingOptions routing;
  std::uint64_t seed = 1;          // the registries' random source (p2c, slow start)
  std::ostream* record = nullptr;  // when set: what happened, as a cluster trace
};

struct SimJoiner {
  std::string name;
  std::int64_t visible_ms = 0;  // registration + latency: when the login servers knew of it
  std::uint64_t first_1s = 0;   // logins it was given in its first second
  std::uint64_t first_3s = 0;   // ... in its first three seconds
  double share_1s = 0;          // of all logins given in that second
  double share_3s = 0;
  std::uint32_t max = 0;
};

struct SimResult {
  std::uint32_t login_servers = 0;
  std::uint32_t msg_servers = 0;  // registered at the end
  std::uint64_t logins = 0;
  std::uint64_t answered = 0;
  std::uint64_t refused_no_server = 0;  // code 1
  std::uint64_t refused_full = 0;       // code 2
  std::uint64_t connect_refused = 0;    // the answered msg_server was full when the client came
  std::uint64_t crowd_ms = 0;           // first to last login
  RatioSpread start;                    // utilisation (cur/max) when the crowd begins
  RatioSpread mid;                      // ... halfway through the crowd (its peak rate)
  RatioSpread end;                      // ... at the end, every update applied
  double peak_ratio = 0;                // the highest cur/max any msg_server reached
  std::uint32_t filled = 0;             // msg_servers that reached cur = max
  std::uint64_t herd = 0;               // most logins any msg_server got within one update latency
  std::string herd_ms;                  // which one
  double herd_fair = 0;                 // what an even spread would give it in that time
  std::vector<SimJoiner> joiners;
  std::uint64_t model_checked = 0;      // answers checked against the model
  std::vector<std::string> violations;  // invariants broken (the first few)
  std::uint64_t violation_count = 0;
  double elapsed_s = 0;
};

// Runs the simulation. `trace` must be a cluster trace.
SimResult SimulateCluster(const Trace& trace, const SimOptions& options);

void PrintSimResult(std::ostream& out, const SimResult& r, const SimOptions& options);
// One row of the docs/ROUTING.md table.
std::string SimMarkdownRow(const std::string& label, const SimResult& r);
std::string SimMarkdownHeader();

}  // namespace ttlogin::tools::replay
