// The registry's routing under concurrency, meant for TSan: threads updating counts,
// registering and removing, threads choosing with holds and candidates under p2c and least_ratio,
// and one thread switching the routing options and expiring, all at once on a shared fake clock.
// At the end every count must be exactly what its updater applied, and nothing may be lost.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "server/registry/msg_server_registry.h"
#include "test/server/registry/registry_test_support.h"

namespace ttlogin::registry {
namespace {

using Ms = std::chrono::milliseconds;
using testing_support::NumberedInfo;

constexpr int kUpdaters = 4;
constexpr int kChoosers = 2;
constexpr int kOwnedPerUpdater = 8;
constexpr std::uint32_t kMax = 1'000'000;
constexpr auto kRunTime = Ms(600);

struct Owned {
  ServerHandle handle;
  std::int64_t count = 0;  // what this thread applied
};

TEST(RoutingStressTest, CountsStayExactWhileRoutingChangesUnderConcurrentChoices) {
  std::atomic<std::int64_t> now{1'000'000};
  MsgServerRegistry registry(8, 0, [&now] { return now.load(std::memory_order_relaxed); });
  registry.SetRouting({.policy = Policy::kP2c, .slow_start_ms = 100, .assignment_hold_ms = 50});

  // Every updater owns some entries for the whole run; the choosers can always find one.
  std::vector<std::vector<Owned>> owned(kUpdaters);
  for (int t = 0; t < kUpdaters; ++t) {
    for (int i = 0; i < kOwnedPerUpdater; ++i) {
      const auto port = static_cast<std::uint32_t>(t * 100 + i);
      const std::uint32_t cur = i % 2 == 0 ? 0 : 10;  // half of them warm up
      owned[t].push_back(Owned{registry.Register(NumberedInfo(port, cur, kMax)), cur});
      ASSERT_TRUE(owned[t].back().handle.valid());
    }
  }

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<std::uint64_t> choices{0};
  std::atomic<std::uint64_t> updates{0};
  auto fail = [&failures] { failures.fetch_add(1, std::memory_order_relaxed); };

  std::vector<std::thread> threads;
  for (int t = 0; t < kUpdaters; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<std::uint32_t>(t + 1));
      std::vector<ServerHandle> temporary;  // registered and removed by this thread
      std::uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::uint32_t r = rng() % 100;
        Owned& o = owned[t][rng() % kOwnedPerUpdater];
        std::int64_t delta = r < 45 ? 1 : -1;
        if (r >= 90) delta = r % 2 == 0 ? 1000 : -1000;
        if (o.count + delta < 0 || o.count + delta >= kMax) delta = -delta;
        const auto change = registry.AdjustCount(o.handle, delta);
        o.count += delta;
        if (!change || change->clamped || change->count != o.count) fail();
        if (r < 3) {
          const auto port = static_cast<std::uint32_t>(10'000 + t * 1000 + rng() % 1000);
          const ServerHandle h = registry.Register(NumberedInfo(port, rng() % 3, 1 + rng() % 5));
          if (!h.valid()) fail();
          temporary.push_back(h);
          registry.AdjustCount(h, 1);
        } else if (r < 6 && !temporary.empty()) {
          if (!registry.Remove(temporary.back())) fail();
          if (registry.Remove(temporary.back())) fail();  // stale now
          if (registry.AdjustCount(temporary.back(), 1)) fail();
          temporary.pop_back();
        }
        ++n;
      }
      for (const ServerHandle& h : temporary) {
        if (!registry.Remove(h)) fail();
      }
      updates.fetch_add(n, std::memory_order_relaxed);
    });
  }
  for (int t = 0; t < kChoosers; ++t) {
    threads.emplace_back([&, t] {
      SeedThreadRandom(static_cast<std::uint64_t>(t) + 17);
      std::uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::size_t extra = n % 4;
        const Choice c = registry.Choose({.extra = extra, .assign = n % 5 != 0});
        if (c.code != ChooseCode::kOk || !c.handle.valid()) fail();
        // At least kUpdaters * kOwnedPerUpdater entries are always eligible.
        if (c.candidates.size() != extra) fail();
        for (std::size_t i = 0; i < c.candidates.size(); ++i) {
          if (c.candidates[i].handle == c.handle) fail();
          for (std::size_t j = 0; j < i; ++j) {
            if (c.candidates[j].handle == c.candidates[i].handle) fail();
          }
        }
        if (n % 64 == 0) {
          const RegistryStats stats = registry.Stats();
          if (stats.registered < kUpdaters * kOwnedPerUpdater) fail();
          if (stats.eligible < kUpdaters * kOwnedPerUpdater) fail();
          if (!registry.AnyEligible()) fail();
        }
        ++n;
      }
      choices.fetch_add(n, std::memory_order_relaxed);
    });
  }
  threads.emplace_back([&] {
    const RoutingOptions options[] = {
        {.policy = Policy::kP2c, .slow_start_ms = 100, .assignment_hold_ms = 50},
        {.policy = Policy::kLeastRatio, .assignment_hold_ms = 20},
        {.policy = Policy::kLeastRatio, .slow_start_ms = 30},
        {.policy = Policy::kP2c},
        {.policy = Policy::kLeastRatio, .slow_start_ms = 200, .assignment_hold_ms = 5},
    };
    std::size_t i = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      registry.SetRouting(options[i++ % std::size(options)]);
      for (int k = 0; k < 3; ++k) {
        now.fetch_add(7, std::memory_order_relaxed);
        registry.Expire();
        std::this_thread::sleep_for(Ms(1));
      }
    }
  });

  std::this_thread::sleep_for(kRunTime);
  stop.store(true);
  for (std::thread& t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);
  RecordProperty("choices", std::to_string(choices.load()));
  RecordProperty("updates", std::to_string(updates.load()));
  EXPECT_GT(choices.load(), 0u);
  EXPECT_GT(updates.load(), 0u);

  // Holds on again from none: what is placed now ends once its window has passed.
  registry.SetRouting({.policy = Policy::kLeastRatio});
  EXPECT_EQ(registry.Stats().held, 0u);
  registry.SetRouting({.policy = Policy::kLeastRatio, .assignment_hold_ms = 50});
  for (int i = 0; i < 10; ++i)
    registry.Choose();
  EXPECT_EQ(registry.Stats().held, 10u);
  now.fetch_add(50);
  registry.Expire();
  EXPECT_EQ(registry.Stats().held, 0u);
  // Holds off: none left at all.
  for (int i = 0; i < 10; ++i)
    registry.Choose();
  registry.SetRouting({.policy = Policy::kP2c});
  const RegistryStats stats = registry.Stats();
  EXPECT_EQ(stats.held, 0u);
  EXPECT_EQ(stats.warming, 0u);

  // Exactly the owned entries are left, each with exactly what its updater applied.
  std::uint64_t users = 0;
  for (const auto& list : owned) {
    for (const Owned& o : list) {
      const auto info = registry.Get(o.handle);
      ASSERT_TRUE(info.has_value());
      EXPECT_EQ(info->cur_conn_cnt, static_cast<std::uint32_t>(o.count));
      users += static_cast<std::uint64_t>(o.count);
    }
  }
  EXPECT_EQ(stats.registered, static_cast<std::size_t>(kUpdaters * kOwnedPerUpdater));
  EXPECT_EQ(stats.users, users);
  const auto snapshot = registry.Snapshot();
  ASSERT_EQ(snapshot.size(), static_cast<std::size_t>(kUpdaters * kOwnedPerUpdater));
  std::uint64_t snapshot_users = 0;
  for (const ServerSnapshot& s : snapshot) {
    snapshot_users += s.info.cur_conn_cnt;
    EXPECT_EQ(s.held, 0u);
  }
  EXPECT_EQ(snapshot_users, users);
}

}  // namespace
}  // namespace ttlogin::registry
