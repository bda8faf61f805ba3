// Routing policies of the registry: least_ratio, p2c, slow start, assignment holds and
// candidate lists, each against what the rule says, with an injected clock.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "server/registry/msg_server_registry.h"
#include "test/server/registry/registry_test_support.h"

namespace ttlogin::registry {
namespace {

MsgServerInfo Info(std::uint32_t port, std::uint32_t cur, std::uint32_t max) {
  return testing_support::NumberedInfo(port, cur, max);
}

struct FakeClock {
  std::int64_t now = 1'000'000;
  MsgServerRegistry::Clock clock() {
    return [this] { return now; };
  }
};

TEST(RoutingTest, PolicyNamesRoundTrip) {
  for (Policy p : {Policy::kLeastCount, Policy::kLeastRatio, Policy::kP2c}) {
    EXPECT_EQ(ParsePolicy(PolicyName(p)), p);
  }
  EXPECT_FALSE(ParsePolicy("round_robin"));
  EXPECT_FALSE(ParsePolicy(""));
  EXPECT_FALSE(ParsePolicy("LEAST_COUNT"));
}

TEST(RoutingTest, LeastRatioPrefersTheEmptierLargeServer) {
  MsgServerRegistry r(4);
  r.Register(Info(1, 30, 50));     // 0.6
  r.Register(Info(2, 50, 100));    // 0.5
  r.Register(Info(3, 900, 1000));  // 0.9
  EXPECT_EQ(r.Choose().port, 1u);  // least_count: 30 users
  r.SetRouting({.policy = Policy::kLeastRatio});
  EXPECT_EQ(r.Choose().port, 2u);
  r.SetRouting({.policy = Policy::kLeastCount});
  EXPECT_EQ(r.Choose().port, 1u);
}

TEST(RoutingTest, LeastRatioSeparatesRatiosThatDifferInTheLastPlace) {
  // 333,333,333/1,000,000,000 < 1/3 by about 3e-10: a float ratio would call them equal.
  MsgServerRegistry r(2);
  r.SetRouting({.policy = Policy::kLeastRatio});
  const ServerHandle third = r.Register(Info(1, 1, 3));
  r.Register(Info(2, 333'333'333, 1'000'000'000));
  EXPECT_EQ(r.Choose().port, 2u);
  // 2/6 is exactly one third again: still above port 2 by the same hair.
  r.AdjustCount(third, 1);  // 2/3
  r.Register(Info(3, 2, 6));
  EXPECT_EQ(r.Choose().port, 2u);
  // One more user on port 2 (333,333,334/1e9) puts it above one third: port 3 now.
  r.AdjustCount(r.Choose().handle, 1);
  EXPECT_EQ(r.Choose().port, 3u);
}

TEST(RoutingTest, LeastRatioMatchesExactRationalComparisonUnderRandomUpdates) {
  MsgServerRegistry r(8);
  r.SetRouting({.policy = Policy::kLeastRatio});
  // cur/max against cur/max, cross-multiplied: exact.
  ASSERT_NO_FATAL_FAILURE(testing_support::RunRandomOperationsAgainstAModel(
      r, {.seed = 99, .steps = 20000, .max_below = 50, .cur_below = 60},
      [](std::uint32_t cur_a, std::uint32_t max_a, std::uint32_t cur_b, std::uint32_t max_b) {
        const std::uint64_t a = std::uint64_t{cur_a} * max_b;
        const std::uint64_t b = std::uint64_t{cur_b} * max_a;
        return a < b ? -1 : a > b ? 1 : 0;
      }));
}

TEST(RoutingTest, P2cAnswersOnlyEligibleServersAndFavoursTheLessLoaded) {
  SeedThreadRandom(7);
  MsgServerRegistry r(4);
  r.SetRouting({.policy = Policy::kP2c});
  r.Register(Info(1, 10, 100));   // 0.1
  r.Register(Info(2, 50, 100));   // 0.5
  r.Register(Info(3, 100, 100));  // full
  const ServerHandle drained = r.Register(Info(4, 0, 100));
  r.SetDraining("h4:4", true);
  ASSERT_TRUE(r.Get(drained));
  std::map<std::uint32_t, int> picks;
  constexpr int kDraws = 20000;
  for (int i = 0; i < kDraws; ++i) {
    const Choice c = r.Choose();
    ASSERT_EQ(c.code, ChooseCode::kOk);
    ++picks[c.port];
  }
  EXPECT_EQ(picks.count(3), 0u);
  EXPECT_EQ(picks.count(4), 0u);
  // Two draws with replacement from {1, 2}: port 2 wins only when both draws are port 2 (1/4).
  EXPECT_NEAR(static_cast<double>(picks[2]) / kDraws, 0.25, 0.02);
  EXPECT_NEAR(static_cast<double>(picks[1]) / kDraws, 0.75, 0.02);
}

TEST(RoutingTest, P2cWithOneEligibleServerAlwaysAnswersIt) {
  MsgServerRegistry r(8);
  r.SetRouting({.policy = Policy::kP2c});
  EXPECT_EQ(r.Choose().code, ChooseCode::kNoMsgServer);
  r.Register(Info(1, 5, 5));
  EXPECT_EQ(r.Choose().code, ChooseCode::kAllFull);
  r.Register(Info(2, 5, 6));
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(r.Choose().port, 2u);
}

// Share of `draws` choices (without holds) that go to `port`.
double ShareOf(MsgServerRegistry& r, std::uint32_t port, int draws) {
  int hits = 0;
  for (int i = 0; i < draws; ++i) {
    if (r.Choose({.assign = false}).port == port) ++hits;
  }
  return static_cast<double>(hits) / draws;
}

TEST(RoutingTest, SlowStartRampsANewEmptyServersShare) {
  SeedThreadRandom(11);
  FakeClock clock;
  MsgServerRegistry r(4, 0, clock.clock());
  r.SetRouting({.slow_start_ms = 10'000, .slow_start_min_percent = 10});
  r.Register(Info(1, 100, 1000));  // registers with users: not a cold process, never warms
  r.Register(Info(2, 120, 1000));
  r.Register(Info(3, 0, 1000));  // the cold one
  EXPECT_EQ(r.Stats().warming, 1u);
  EXPECT_NEAR(ShareOf(r, 3, 20000), 0.10, 0.02);  // the floor at the start of the window
  clock.now += 5'000;
  EXPECT_NEAR(ShareOf(r, 3, 20000), 0.50, 0.02);
  clock.now += 4'000;
  EXPECT_NEAR(ShareOf(r, 3, 20000), 0.90, 0.02);
  clock.now += 1'000;
  r.Expire();
  EXPECT_EQ(r.Stats().warming, 0u);
  EXPECT_EQ(ShareOf(r, 3, 1000), 1.0);
}

TEST(RoutingTest, SlowStartEntryIsTakenWhenNothingElseIsEligible) {
  FakeClock clock;
  MsgServerRegistry r(4, 0, clock.clock());
  r.SetRouting({.slow_start_ms = 60'000, .slow_start_min_percent = 1});
  r.Register(Info(1, 10, 10));  // full
  r.Register(Info(2, 0, 10));
  for (int i = 0; i < 200; ++i)
    ASSERT_EQ(r.Choose().port, 2u);
}

TEST(RoutingTest, SwitchingSlowStartOffWarmsEveryoneAtOnce) {
  FakeClock clock;
  MsgServerRegistry r(2, 0, clock.clock());
  r.SetRouting({.slow_start_ms = 60'000, .slow_start_min_percent = 1});
  r.Register(Info(1, 50, 100));
  r.Register(Info(2, 0, 100));
  EXPECT_EQ(r.Stats().warming, 1u);
  r.SetRouting({});
  EXPECT_EQ(r.Stats().warming, 0u);
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(r.Choose().port, 2u);
}

TEST(RoutingTest, AssignmentHoldsSpreadABurstAndSettleOnIncrements) {
  FakeClock clock;
  MsgServerRegistry r(2, 0, clock.clock());
  r.SetRouting({.assignment_hold_ms = 2'000});
  const ServerHandle a = r.Register(Info(1, 0, 100));
  const ServerHandle b = r.Register(Info(2, 0, 100));
  // Without holds every one of these would go to the same server (nothing reports back).
  std::map<std::uint32_t, int> picks;
  for (int i = 0; i < 10; ++i)
    ++picks[r.Choose().port];
  EXPECT_EQ(picks[1], 5);
  EXPECT_EQ(picks[2], 5);
  EXPECT_EQ(r.Stats().held, 10u);
  EXPECT_EQ(r.Stats().users, 0u);
  // Five logins arrive at a: its holds become real users, b's stay provisional.
  r.AdjustCount(a, 5);
  EXPECT_EQ(r.Stats().held, 5u);
  EXPECT_EQ(r.Stats().users, 5u);
  // A readiness probe (assign = false) does not hold anything.
  r.Choose({.assign = false});
  EXPECT_EQ(r.Stats().held, 5u);
  // b's holds run out: it is at 0 again and wins.
  clock.now += 2'000;
  r.Expire();
  EXPECT_EQ(r.Stats().held, 0u);
  EXPECT_EQ(r.Choose({.assign = false}).handle, b);
  // The settled records expiring later do not take anything off a.
  EXPECT_EQ(r.Get(a)->cur_conn_cnt, 5u);
}

TEST(RoutingTest, ASummedRunSettlesOneHoldPerIncrement) {
  FakeClock clock;
  MsgServerRegistry r(1, 0, clock.clock());
  r.SetRouting({.assignment_hold_ms = 10'000});
  const ServerHandle a = r.Register(Info(1, 5, 100));
  r.Choose();
  r.Choose();
  EXPECT_EQ(r.Stats().held, 2u);
  r.AdjustCount(a, 0, 1);  // "+1 -1" summed: the count stays, one hold is settled
  EXPECT_EQ(r.Stats().held, 1u);
  EXPECT_EQ(r.Get(a)->cur_conn_cnt, 5u);
  r.AdjustCount(a, 1, 3);  // "+1 +1 +1 -1 -1": one more user, the last hold settled
  EXPECT_EQ(r.Stats().held, 0u);
  EXPECT_EQ(r.Get(a)->cur_conn_cnt, 6u);
}

TEST(RoutingTest, OverHeldServersStillCompareByRatio) {
  // Holds can push cur + held past max (eligibility stays cur < max); the ratio order holds on.
  FakeClock clock;
  MsgServerRegistry r(2, 0, clock.clock());
  r.SetRouting({.policy = Policy::kLeastRatio, .assignment_hold_ms = 10'000});
  const ServerHandle a = r.Register(Info(1, 9, 10));
  const ServerHandle b = r.Register(Info(2, 3, 4));
  EXPECT_EQ(r.Choose().handle, b);  // 0.75 < 0.9; b now 4/4
  EXPECT_EQ(r.Choose().handle, a);  // 0.9 < 1.0; a now 10/10
  EXPECT_EQ(r.Choose().handle, a);  // a tie at 1.0 goes to the first shard: a now 11/10
  EXPECT_EQ(r.Choose().handle, b);  // 1.0 < 1.1; b now 5/4
  EXPECT_EQ(r.Choose().handle, a);  // 1.1 < 1.25
}

TEST(RoutingTest, HoldsExpireLazilyWhenTheShardIsTouched) {
  FakeClock clock;
  MsgServerRegistry r(1, 0, clock.clock());
  r.SetRouting({.assignment_hold_ms = 500});
  const ServerHandle a = r.Register(Info(1, 0, 100));
  r.Register(Info(2, 1, 100));
  EXPECT_EQ(r.Choose().handle, a);  // a: 0 + 1 held
  clock.now += 499;
  r.AdjustCount(a, 0);
  EXPECT_EQ(r.Stats().held, 1u);
  clock.now += 1;
  r.AdjustCount(a, 0);  // no Expire() call: the touch ends it
  EXPECT_EQ(r.Stats().held, 0u);
}

TEST(RoutingTest, HoldsNeverMakeAServerIneligible) {
  FakeClock clock;
  MsgServerRegistry r(1, 0, clock.clock());
  r.SetRouting({.policy = Policy::kLeastRatio, .assignment_hold_ms = 10'000});
  r.Register(Info(1, 0, 2));
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(r.Choose().code, ChooseCode::kOk);
  EXPECT_EQ(r.Stats().held, 5u);
}

TEST(RoutingTest, HoldsAreBoundedPerShard) {
  FakeClock clock;
  MsgServerRegistry r(1, 0, clock.clock());
  r.SetRouting({.assignment_hold_ms = 60'000});
  r.Register(Info(1, 0, 1'000'000));
  for (std::size_t i = 0; i < MsgServerRegistry::kMaxHoldsPerShard + 100; ++i) {
    ASSERT_EQ(r.Choose().code, ChooseCode::kOk);
  }
  EXPECT_EQ(r.Stats().held, MsgServerRegistry::kMaxHoldsPerShard);
  clock.now += 60'000;
  r.Expire();
  EXPECT_EQ(r.Stats().held, 0u);
  EXPECT_EQ(r.Choose().code, ChooseCode::kOk);  // and holds resume
  EXPECT_EQ(r.Stats().held, 1u);
}

TEST(RoutingTest, SwitchingHoldsOffDropsProvisionalUsers) {
  FakeClock clock;
  MsgServerRegistry r(2, 0, clock.clock());
  r.SetRouting({.assignment_hold_ms = 10'000});
  const ServerHandle a = r.Register(Info(1, 0, 100));
  r.Register(Info(2, 1, 100));
  r.Choose();
  r.Choose();  // a: 2 held, b: 1
  EXPECT_EQ(r.Choose({.assign = false}).port, 2u);
  r.SetRouting({});
  EXPECT_EQ(r.Stats().held, 0u);
  EXPECT_EQ(r.Choose().handle, a);
}

TEST(RoutingTest, CandidatesAreTheNextBestInOrderWithoutTheChosenOne) {
  MsgServerRegistry r(4);
  for (std::uint32_t port = 1; port <= 9; ++port) {
    r.Register(Info(port, 100 - port * 10, 1000));  // port 9 least loaded, then 8, 7...
  }
  r.Register(Info(20, 0, 0));  // full: never a candidate
  const ServerHandle drained = r.Register(Info(21, 0, 1000));
  r.SetDraining("h21:21", true);
  ASSERT_TRUE(r.Get(drained));
  const Choice c = r.Choose({.extra = 3});
  ASSERT_EQ(c.code, ChooseCode::kOk);
  EXPECT_EQ(c.port, 9u);
  ASSERT_EQ(c.candidates.size(), 3u);
  EXPECT_EQ(c.candidates[0].port, 8u);
  EXPECT_EQ(c.candidates[1].port, 7u);
  EXPECT_EQ(c.candidates[2].port, 6u);
  EXPECT_EQ(c.candidates[0].ip1, "10.0.0.8");
  EXPECT_EQ(c.candidates[0].ip2, "10.1.0.8");
  // Asking for more than exist lists every other eligible server; the bound is applied.
  const Choice all = r.Choose({.extra = 100});
  EXPECT_EQ(all.candidates.size(), 8u);
  EXPECT_EQ(r.Choose().candidates.size(), 0u);
}

TEST(RoutingTest, CandidatesMatchABruteForceOrderAcrossShards) {
  std::mt19937 rng(5);
  MsgServerRegistry r(8);
  r.SetRouting({.policy = Policy::kLeastRatio});
  std::vector<std::pair<ServerHandle, MsgServerInfo>> all;
  for (std::uint32_t i = 0; i < 300; ++i) {
    MsgServerInfo info = Info(i, rng() % 1000, 1 + rng() % 1000);
    all.emplace_back(r.Register(info), info);
  }
  const Choice c = r.Choose({.extra = MsgServerRegistry::kMaxExtraCandidates});
  ASSERT_EQ(c.code, ChooseCode::kOk);
  std::vector<std::pair<double, std::uint32_t>> ratios;
  for (const auto& [h, info] : all) {
    if (info.cur_conn_cnt < info.max_conn_cnt)
      ratios.emplace_back(static_cast<double>(info.cur_conn_cnt) / info.max_conn_cnt, info.port);
  }
  std::sort(ratios.begin(), ratios.end());
  ASSERT_EQ(c.candidates.size(), MsgServerRegistry::kMaxExtraCandidates);
  double previous =
      static_cast<double>(r.Get(c.handle)->cur_conn_cnt) / r.Get(c.handle)->max_conn_cnt;
  EXPECT_DOUBLE_EQ(previous, ratios[0].first);
  for (std::size_t i = 0; i < c.candidates.size(); ++i) {
    const auto info = r.Get(c.candidates[i].handle);
    ASSERT_TRUE(info);
    const double ratio = static_cast<double>(info->cur_conn_cnt) / info->max_conn_cnt;
    EXPECT_GE(ratio, previous);
    EXPECT_DOUBLE_EQ(ratio, ratios[i + 1].first) << i;
    EXPECT_NE(c.candidates[i].handle, c.handle);
    previous = ratio;
  }
}

TEST(RoutingTest, SnapshotShowsWarmingAndHeldEntries) {
  FakeClock clock;
  MsgServerRegistry r(2, 0, clock.clock());
  r.SetRouting({.slow_start_ms = 5'000, .assignment_hold_ms = 1'000});
  r.Register(Info(1, 0, 10));
  r.Choose();
  const auto snapshot = r.Snapshot();
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_TRUE(snapshot[0].warming);
  EXPECT_EQ(snapshot[0].held, 1u);
}

}  // namespace
}  // namespace ttlogin::registry
