#include "tools/load_replay/cluster_scenario.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "common/splitmix.h"
#include "tools/load_replay/trace_event.h"
#include "tools/load_replay/trace_generator.h"

namespace ttlogin::tools::replay {
namespace {

std::string Register(std::uint64_t t, std::uint32_t i, std::uint32_t max, std::uint32_t cur) {
  return fmt::format(
      R"({{"t":{},"ms":"{}","ev":"register","ip1":"10.0.{}.{}","ip2":"10.1.{}.{}","port":{},"max":{},"cur":{}}})",
      t, GeneratedName(i), i / 250, i % 250 + 1, i / 250, i % 250 + 1, 8000 + i, max, cur);
}

}  // namespace

std::string WriteClusterScenario(const ClusterScenarioOptions& o, std::ostream& out) {
  if (o.kind != "flash-crowd") return "unknown scenario \"" + o.kind + "\" (known: flash-crowd)";
  if (o.login_servers < 1 || o.login_servers > kMaxLoginServers) {
    return fmt::format("--login-servers must be 1 to {}", kMaxLoginServers);
  }
  if (o.msg_servers < 1 || o.msg_servers > kMaxGeneratedServers) {
    return fmt::format("--msg-servers must be 1 to {}", kMaxGeneratedServers);
  }
  if (o.late_joiners >= o.msg_servers) return "--late-joiners must be fewer than --msg-servers";
  if (o.logins < 1 || o.logins > 100'000'000) return "--logins must be 1 to 100000000";
  if (o.crowd_ms < 1 || o.crowd_ms > 3'600'000) return "--crowd-ms must be 1 to 3600000";
  common::SplitMix64 rng(o.seed);
  out << fmt::format(
      R"({{"t":0,"ev":"cluster","login_servers":{},"update_latency_ms":{},"connect_delay_ms":{},"scenario":"{} seed {}"}})"
      "\n",
      o.login_servers, o.update_latency_ms, o.connect_delay_ms, o.kind, o.seed);

  // Sizes are mixed; three in five of the msg_servers present from the start already carry
  // 10% to 60% of their capacity (users from before the crowd), the others are empty.
  const std::uint32_t initial = o.msg_servers - o.late_joiners;
  std::vector<std::uint32_t> max(o.msg_servers);
  for (std::uint32_t i = 0; i < o.msg_servers; ++i) {
    max[i] = kScenarioSizes[rng.Below(std::size(kScenarioSizes))];
  }
  for (std::uint32_t i = 0; i < initial; ++i) {
    const bool loaded = rng.Below(5) < 3;
    const std::uint32_t cur =
        loaded ? static_cast<std::uint32_t>(max[i] * (10 + rng.Below(51)) / 100) : 0;
    out << Register(0, i, max[i], cur) << '\n';
  }

  // Logins: uniform over the crowd window, each to a login server drawn at random; the late
  // joiners register empty, evenly spaced over the crowd's first two thirds (after a quarter).
  std::vector<std::uint64_t> at(o.logins);
  for (std::uint64_t& t : at)
    t = kCrowdStartMs + rng.Below(o.crowd_ms);
  std::sort(at.begin(), at.end());
  std::vector<std::uint64_t> join_at(o.late_joiners);
  for (std::uint32_t j = 0; j < o.late_joiners; ++j) {
    join_at[j] = kCrowdStartMs + std::uint64_t{o.crowd_ms} / 4 +
                 std::uint64_t{o.crowd_ms} * 5 * j / (12 * o.late_joiners);
  }
  std::uint32_t next_join = 0;
  for (std::uint64_t t : at) {
    while (next_join < o.late_joiners && join_at[next_join] <= t) {
      out << Register(join_at[next_join], initial + next_join, max[initial + next_join], 0) << '\n';
      ++next_join;
    }
    out << fmt::format(R"({{"t":{},"ev":"query","via":"http","ls":{}}})", t,
                       rng.Below(o.login_servers))
        << '\n';
  }
  for (; next_join < o.late_joiners; ++next_join) {
    out << Register(join_at[next_join], initial + next_join, max[initial + next_join], 0) << '\n';
  }
  return out ? std::string() : std::string("cannot write the scenario");
}

}  // namespace ttlogin::tools::replay
