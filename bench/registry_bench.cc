// Registry micro-benchmarks: the cost of one count update and one choice with 10, 1,000 and
// 100,000 msg_servers registered. The design target is a flat cost in the number of servers.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <vector>

#include "server/registry/msg_server_registry.h"

namespace {

using ttlogin::registry::MsgServerInfo;
using ttlogin::registry::MsgServerRegistry;
using ttlogin::registry::ServerHandle;

std::vector<ServerHandle> Fill(MsgServerRegistry& registry, int servers) {
  std::vector<ServerHandle> handles;
  std::mt19937 rng(42);
  for (int i = 0; i < servers; ++i) {
    MsgServerInfo info{"10.0.0.1",
                       "10.0.1.1",
                       static_cast<std::uint32_t>(8000 + i % 1000),
                       100000,
                       static_cast<std::uint32_t>(rng() % 50000),
                       "msg"};
    handles.push_back(registry.Register(info));
  }
  return handles;
}

void BM_UpdateCount(benchmark::State& state) {
  MsgServerRegistry registry;
  const auto handles = Fill(registry, static_cast<int>(state.range(0)));
  std::size_t i = 0;
  std::int64_t delta = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(registry.AdjustCount(handles[i], delta));
    if (++i == handles.size()) {
      i = 0;
      delta = -delta;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Choose(benchmark::State& state) {
  MsgServerRegistry registry;
  Fill(registry, static_cast<int>(state.range(0)));
  for (auto _ : state)
    benchmark::DoNotOptimize(registry.Choose());
  state.SetItemsProcessed(state.iterations());
}

// A login followed by the chosen server's increment: the steady state of a busy cluster.
void BM_ChooseThenIncrement(benchmark::State& state) {
  MsgServerRegistry registry;
  Fill(registry, static_cast<int>(state.range(0)));
  for (auto _ : state) {
    const auto choice = registry.Choose();
    benchmark::DoNotOptimize(registry.AdjustCount(choice.handle, 1));
  }
  state.SetItemsProcessed(state.iterations());
}

// The routing policies (docs/ROUTING.md): range(1) selects the variant.
//   0 least_ratio, 1 p2c, 2 least_count with assignment holds, 3 least_count with 3 candidates,
//   4 least_count with slow start (a tenth of the servers warming).
ttlogin::registry::RoutingOptions VariantOptions(std::int64_t variant) {
  using ttlogin::registry::Policy;
  switch (variant) {
    case 0:
      return {.policy = Policy::kLeastRatio};
    case 1:
      return {.policy = Policy::kP2c};
    case 2:
      return {.assignment_hold_ms = 1000};
    case 4:
      return {.slow_start_ms = 3'600'000};
    default:
      return {};
  }
}

void BM_ChooseWithPolicy(benchmark::State& state) {
  MsgServerRegistry registry;
  registry.SetRouting(VariantOptions(state.range(1)));
  const auto handles = Fill(registry, static_cast<int>(state.range(0)));
  if (state.range(1) == 4) {
    // Empty registrations warm under slow start.
    for (int i = 0; i < std::max<int>(1, static_cast<int>(state.range(0)) / 10); ++i) {
      registry.Register(MsgServerInfo{"10.0.0.2", "10.0.1.2", 9000, 100000, 0, "new"});
    }
  }
  const ttlogin::registry::ChooseOptions options{.extra = state.range(1) == 3 ? 3u : 0u};
  std::size_t i = 0;
  for (auto _ : state) {
    const auto choice = registry.Choose(options);
    benchmark::DoNotOptimize(choice);
    // Keep the load steady: the chosen server's user logs in, a random one logs out.
    registry.AdjustCount(choice.handle, 1);
    registry.AdjustCount(handles[i], -1);
    if (++i == handles.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_UpdateCount)->Arg(10)->Arg(1000)->Arg(100000);
BENCHMARK(BM_Choose)->Arg(10)->Arg(1000)->Arg(100000);
BENCHMARK(BM_ChooseThenIncrement)->Arg(10)->Arg(1000)->Arg(100000);
BENCHMARK(BM_ChooseWithPolicy)->ArgsProduct({{10, 1000, 100000}, {0, 1, 2, 3, 4}});

}  // namespace

BENCHMARK_MAIN();
