#include "server/registry/msg_server_registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <thread>

#include "test/server/registry/registry_test_support.h"

namespace ttlogin::registry {
namespace {

MsgServerInfo Info(std::uint32_t port, std::uint32_t cur, std::uint32_t max,
                   const std::string& host = "h") {
  return MsgServerInfo{"10.0.0.1", "10.0.1.1", port, max, cur, host};
}

TEST(MsgServerRegistryTest, EmptyRegistryAnswersNoMsgServer) {
  MsgServerRegistry r;
  EXPECT_EQ(r.Choose().code, ChooseCode::kNoMsgServer);
}

TEST(MsgServerRegistryTest, ChoosesTheLeastLoadedNonFullServer) {
  MsgServerRegistry r(4);
  r.Register(Info(1, 50, 100));
  r.Register(Info(2, 10, 100));
  r.Register(Info(3, 5, 5));  // full: never chosen
  r.Register(Info(4, 30, 100));
  const Choice c = r.Choose();
  ASSERT_EQ(c.code, ChooseCode::kOk);
  EXPECT_EQ(c.port, 2u);
  EXPECT_EQ(c.ip1, "10.0.0.1");
  EXPECT_EQ(c.ip2, "10.0.1.1");
}

TEST(MsgServerRegistryTest, AllFullAnswersFull) {
  MsgServerRegistry r;
  r.Register(Info(1, 3, 3));
  r.Register(Info(2, 0, 0));
  EXPECT_EQ(r.Choose().code, ChooseCode::kAllFull);
}

TEST(MsgServerRegistryTest, UpdatesMoveTheChoice) {
  MsgServerRegistry r(2);
  const ServerHandle a = r.Register(Info(1, 0, 100));
  const ServerHandle b = r.Register(Info(2, 1, 100));
  EXPECT_EQ(r.Choose().port, 1u);
  r.AdjustCount(a, 1);
  r.AdjustCount(a, 1);
  EXPECT_EQ(r.Choose().port, 2u);
  r.AdjustCount(b, 1);
  r.AdjustCount(b, 1);
  EXPECT_EQ(r.Choose().port, 1u);
  EXPECT_EQ(r.Get(a)->cur_conn_cnt, 2u);
  EXPECT_EQ(r.Get(b)->cur_conn_cnt, 3u);
}

TEST(MsgServerRegistryTest, ServerBecomesIneligibleWhenFullAndEligibleAgainWhenUsersLeave) {
  MsgServerRegistry r;
  const ServerHandle a = r.Register(Info(1, 1, 2));
  r.AdjustCount(a, 1);
  EXPECT_EQ(r.Choose().code, ChooseCode::kAllFull);
  r.AdjustCount(a, -1);
  EXPECT_EQ(r.Choose().code, ChooseCode::kOk);
}

TEST(MsgServerRegistryTest, CountsNeverGoBelowZero) {
  MsgServerRegistry r;
  const ServerHandle a = r.Register(Info(1, 1, 10));
  auto c = r.AdjustCount(a, -1);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->count, 0u);
  EXPECT_FALSE(c->clamped);
  c = r.AdjustCount(a, -1);
  EXPECT_EQ(c->count, 0u);
  EXPECT_TRUE(c->clamped);
  EXPECT_EQ(r.Get(a)->cur_conn_cnt, 0u);
  EXPECT_EQ(r.Choose().code, ChooseCode::kOk);
}

TEST(MsgServerRegistryTest, CountsSaturateAtTheTop) {
  MsgServerRegistry r;
  const ServerHandle a = r.Register(Info(1, 0xffffffffu, 0xffffffffu));
  const auto c = r.AdjustCount(a, 1);
  EXPECT_TRUE(c->clamped);
  EXPECT_EQ(c->count, 0xffffffffu);
}

TEST(MsgServerRegistryTest, ExtremeDeltasClampWithoutOverflow) {
  MsgServerRegistry r;
  const ServerHandle h = r.Register(Info(1, 5, 10));
  auto c = r.AdjustCount(h, std::numeric_limits<std::int64_t>::max());
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->clamped);
  EXPECT_EQ(c->count, std::numeric_limits<std::uint32_t>::max());
  c = r.AdjustCount(h, std::numeric_limits<std::int64_t>::min());
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->clamped);
  EXPECT_EQ(c->count, 0u);
  c = r.AdjustCount(h, std::int64_t{1} << 40, 3);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->count, std::numeric_limits<std::uint32_t>::max());
}

TEST(MsgServerRegistryTest, RemoveTakesTheServerAndItsUsers) {
  MsgServerRegistry r;
  const ServerHandle a = r.Register(Info(1, 7, 10));
  EXPECT_EQ(r.Stats().users, 7u);
  EXPECT_TRUE(r.Remove(a));
  EXPECT_EQ(r.Stats().registered, 0u);
  EXPECT_EQ(r.Stats().users, 0u);
  EXPECT_EQ(r.Choose().code, ChooseCode::kNoMsgServer);
  EXPECT_FALSE(r.Remove(a));
  EXPECT_FALSE(r.AdjustCount(a, 1));
}

TEST(MsgServerRegistryTest, StaleHandleDoesNotTouchTheSlotsNextOwner) {
  MsgServerRegistry r(1);
  const ServerHandle a = r.Register(Info(1, 0, 10));
  r.Remove(a);
  const ServerHandle b = r.Register(Info(2, 0, 10));
  EXPECT_EQ(a.slot, b.slot);  // the slot was reused...
  EXPECT_FALSE(r.AdjustCount(a, 1));
  EXPECT_EQ(r.Get(b)->cur_conn_cnt, 0u);  // ...but not through the old handle
}

TEST(MsgServerRegistryTest, ReplaceSwapsTheEntry) {
  MsgServerRegistry r;
  const ServerHandle a = r.Register(Info(1, 5, 10, "old"));
  r.Register(Info(2, 3, 10));
  EXPECT_TRUE(r.Replace(a, Info(9, 1, 10, "new")));
  const auto info = r.Get(a);
  EXPECT_EQ(info->host_name, "new");
  EXPECT_EQ(info->port, 9u);
  EXPECT_EQ(r.Choose().port, 9u);
  EXPECT_EQ(r.Stats().registered, 2u);
}

// An entry drains while a remembered key matches it, by host name or by ip1 (Info's ip1 is
// 10.0.0.1). Undraining by either name lifts both, also for a later reconnect; a re-registration
// under other names is judged by them.
TEST(MsgServerRegistryTest, DrainKeysFollowTheMsgServerByEitherName) {
  MsgServerRegistry r(2);
  const ServerHandle a = r.Register(Info(1, 0, 10, "a"));
  r.Register(Info(2, 5, 10, "b"));
  EXPECT_EQ(r.Choose().port, 1u);
  EXPECT_EQ(r.SetDraining("a:1", true), 1u);
  EXPECT_EQ(r.SetDraining("10.0.0.1:1", true), 1u);
  EXPECT_EQ(r.Choose().port, 2u);
  EXPECT_EQ(r.Stats().draining, 1u);

  // Lifting one of the two keys undrains it and forgets the other.
  EXPECT_EQ(r.SetDraining("a:1", false), 1u);
  EXPECT_EQ(r.Stats().draining, 0u);
  EXPECT_EQ(r.Choose().port, 1u);
  EXPECT_FALSE(r.IsDrainKey("a:1"));
  EXPECT_FALSE(r.IsDrainKey("10.0.0.1:1"));
  ASSERT_TRUE(r.Remove(a));
  const ServerHandle again = r.Register(Info(1, 0, 10, "a"));  // reconnects: not drained
  EXPECT_EQ(r.Choose().port, 1u);

  // Drained by host name, undrained by address.
  EXPECT_EQ(r.SetDraining("a:1", true), 1u);
  EXPECT_EQ(r.Choose().port, 2u);
  EXPECT_EQ(r.SetDraining("10.0.0.1:1", false), 1u);
  EXPECT_EQ(r.Choose().port, 1u);
  EXPECT_FALSE(r.IsDrainKey("a:1"));

  // Drained by name only; the same connection re-registers under another name and address, then
  // back under the drained name.
  EXPECT_EQ(r.SetDraining("a:1", true), 1u);
  MsgServerInfo renamed = Info(1, 0, 10, "c");
  renamed.ip1 = "10.0.0.9";
  EXPECT_TRUE(r.Replace(again, renamed));
  EXPECT_EQ(r.Stats().draining, 0u);
  EXPECT_EQ(r.Choose().port, 1u);
  EXPECT_TRUE(r.Replace(again, Info(1, 0, 10, "a")));
  EXPECT_EQ(r.Stats().draining, 1u);
  EXPECT_EQ(r.Choose().port, 2u);

  // A key nothing matches is remembered when draining (for a msg_server yet to come) and
  // forgotten alone when undraining.
  EXPECT_EQ(r.SetDraining("later:9", true), 0u);
  EXPECT_TRUE(r.IsDrainKey("later:9"));
  EXPECT_EQ(r.SetDraining("later:9", false), 0u);
  EXPECT_FALSE(r.IsDrainKey("later:9"));
  EXPECT_TRUE(r.IsDrainKey("a:1"));
}

TEST(MsgServerRegistryTest, RandomOperationsMatchABruteForceModel) {
  MsgServerRegistry r(8);
  // least_count: the smallest count wins.
  ASSERT_NO_FATAL_FAILURE(testing_support::RunRandomOperationsAgainstAModel(
      r, {.seed = 1234, .steps = 20000, .max_below = 20, .cur_below = 25},
      [](std::uint32_t cur_a, std::uint32_t, std::uint32_t cur_b, std::uint32_t) {
        return cur_a < cur_b ? -1 : cur_a > cur_b ? 1 : 0;
      }));
}

// Concurrent updates from several threads (run under TSan in CI): the final counts are exact.
TEST(MsgServerRegistryTest, ConcurrentUpdatesAndChoicesKeepExactCounts) {
  MsgServerRegistry r;
  constexpr int kThreads = 4;
  constexpr int kServersPerThread = 16;
  constexpr int kRounds = 2000;
  std::vector<std::vector<ServerHandle>> handles(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int s = 0; s < kServersPerThread; ++s) {
      handles[t].push_back(r.Register(Info(static_cast<std::uint32_t>(t * 100 + s), 0, 1000000)));
    }
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        for (const ServerHandle& h : handles[t])
          r.AdjustCount(h, 1);
        if (i % 2 == 0) {
          for (const ServerHandle& h : handles[t])
            r.AdjustCount(h, -1);
        }
      }
    });
  }
  std::thread chooser([&] {
    for (int i = 0; i < kRounds * 4; ++i) {
      const Choice c = r.Choose();
      ASSERT_EQ(c.code, ChooseCode::kOk);
    }
  });
  for (auto& t : threads)
    t.join();
  chooser.join();
  for (const auto& per_thread : handles) {
    for (const ServerHandle& h : per_thread)
      EXPECT_EQ(r.Get(h)->cur_conn_cnt, kRounds / 2u);
  }
  EXPECT_EQ(r.Stats().users,
            static_cast<std::uint64_t>(kThreads) * kServersPerThread * (kRounds / 2));
}

}  // namespace
}  // namespace ttlogin::registry
