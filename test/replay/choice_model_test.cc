// The model of the choice rule, on its own: this is the oracle every replay trusts.
#include "tools/load_replay/choice_model.h"

#include <limits>

#include <gtest/gtest.h>

namespace ttlogin::tools::replay {
namespace {

ServerInfo Info(std::uint32_t index, std::uint32_t max, std::uint32_t cur = 0) {
  const std::string n = std::to_string(index);
  return ServerInfo{"10.0.0." + n, "10.1.0." + n, 8000 + index, max, cur, "msg-" + n};
}

using Ids = std::vector<MsId>;

TEST(ChoiceModelTest, NothingRegisteredIsCode1) {
  ChoiceModel m(3);
  EXPECT_EQ(m.Expect().code, kCodeNoMsgServer);
  m.Touch(0);  // connected, never registered
  m.Adjust(1, 5);
  EXPECT_EQ(m.Expect().code, kCodeNoMsgServer);
  EXPECT_TRUE(m.Expect().acceptable.empty());
}

TEST(ChoiceModelTest, LeastLoadedWins) {
  ChoiceModel m(3);
  m.Register(0, Info(0, 100, 5));
  m.Register(1, Info(1, 100, 3));
  m.Register(2, Info(2, 100, 9));
  EXPECT_EQ(m.Expect().code, kCodeOk);
  EXPECT_EQ(m.Expect().acceptable, Ids{1});
  m.Adjust(1, 3);  // 6: now 0 is least
  EXPECT_EQ(m.Expect().acceptable, Ids{0});
}

TEST(ChoiceModelTest, TiesAcceptEveryTiedServer) {
  ChoiceModel m(4);
  for (MsId i = 0; i < 4; ++i)
    m.Register(i, Info(i, 100, 2));
  m.Adjust(2, 1);
  EXPECT_EQ(m.Expect().acceptable, (Ids{0, 1, 3}));
}

TEST(ChoiceModelTest, FullServersAreSkipped) {
  ChoiceModel m(2);
  m.Register(0, Info(0, 3, 3));  // cur == max: full
  m.Register(1, Info(1, 100, 50));
  EXPECT_EQ(m.Expect().acceptable, Ids{1});
}

TEST(ChoiceModelTest, AllFullIsCode2) {
  ChoiceModel m(3);
  m.Register(0, Info(0, 2, 2));
  m.Register(1, Info(1, 0, 0));   // max 0: never eligible
  m.Register(2, Info(2, 5, 10));  // registered above its max
  EXPECT_EQ(m.Expect().code, kCodeAllFull);
  EXPECT_TRUE(m.Expect().acceptable.empty());
  m.Adjust(0, -1);
  EXPECT_EQ(m.Expect().code, kCodeOk);
  EXPECT_EQ(m.Expect().acceptable, Ids{0});
}

TEST(ChoiceModelTest, CountsClampAtZero) {
  ChoiceModel m(2);
  m.Register(0, Info(0, 100, 1));
  m.Register(1, Info(1, 100, 1));
  m.Adjust(0, -5);  // the classic server would wrap to 2^32-4
  EXPECT_EQ(m.servers()[0].info.cur, 0u);
  EXPECT_EQ(m.Expect().acceptable, Ids{0});
  m.Adjust(0, 1);
  EXPECT_EQ(m.servers()[0].info.cur, 1u);
  EXPECT_EQ(m.Expect().acceptable, (Ids{0, 1}));
}

TEST(ChoiceModelTest, CountsClampAtTheTop) {
  constexpr std::uint32_t kTop = std::numeric_limits<std::uint32_t>::max();
  ChoiceModel m(1);
  m.Register(0, Info(0, kTop, kTop - 1));
  m.Adjust(0, 10);
  EXPECT_EQ(m.servers()[0].info.cur, kTop);
  EXPECT_EQ(m.Expect().code, kCodeAllFull);
}

TEST(ChoiceModelTest, UpdatesBeforeRegistrationAreIgnored) {
  ChoiceModel m(1);
  m.Adjust(0, 7);
  EXPECT_TRUE(m.servers()[0].connected);
  EXPECT_FALSE(m.servers()[0].registered);
  m.Register(0, Info(0, 100, 0));
  EXPECT_EQ(m.servers()[0].info.cur, 0u);
}

TEST(ChoiceModelTest, CloseRemovesTheEntryAndItsUsers) {
  ChoiceModel m(2);
  m.Register(0, Info(0, 100, 1));
  m.Register(1, Info(1, 100, 40));
  m.Close(0);
  EXPECT_EQ(m.Expect().acceptable, Ids{1});
  EXPECT_TRUE(m.NamesWithAddress("10.0.0.0", "10.1.0.0", 8000).empty());
  m.Close(1);
  EXPECT_EQ(m.Expect().code, kCodeNoMsgServer);
  // An update on the new connection before it registers again is ignored...
  m.Adjust(0, 3);
  EXPECT_EQ(m.Expect().code, kCodeNoMsgServer);
  // ... and a reconnect starts from what it reports.
  m.Register(0, Info(0, 100, 2));
  EXPECT_EQ(m.servers()[0].info.cur, 2u);
}

TEST(ChoiceModelTest, SecondRegisterReplacesTheEntry) {
  ChoiceModel m(2);
  m.Register(0, Info(0, 100, 10));
  m.Register(1, Info(1, 100, 20));
  ServerInfo moved = Info(0, 5, 30);
  moved.ip1 = "192.168.0.9";
  m.Register(0, moved);  // the same connection sends IMMsgServInfo again
  EXPECT_EQ(m.Expect().acceptable, Ids{1});
  EXPECT_TRUE(m.NamesWithAddress("10.0.0.0", "10.1.0.0", 8000).empty());
  EXPECT_EQ(m.NamesWithAddress("192.168.0.9", "10.1.0.0", 8000), Ids{0});
  EXPECT_EQ(m.servers()[0].info.cur, 30u);
}

TEST(ChoiceModelTest, NamesWithAddressFindsSharedAddresses) {
  ChoiceModel m(3);
  m.Register(0, Info(4, 100));
  m.Register(1, Info(4, 100));  // two connections advertising one address
  m.Register(2, Info(5, 100));
  EXPECT_EQ(m.NamesWithAddress("10.0.0.4", "10.1.0.4", 8004), (Ids{0, 1}));
  EXPECT_TRUE(m.NamesWithAddress("10.0.0.4", "10.1.0.4", 8005).empty());
}

TEST(ChoiceModelTest, ApplyFollowsTraceEvents) {
  Trace trace;
  const MsId a = trace.Intern("a");
  trace.infos.push_back(Info(1, 10));
  ChoiceModel m(trace.names.size());
  m.Apply(Event{0, 1, EventKind::kRegister, QueryVia::kHttp, a, 1, 0}, trace);
  m.Apply(Event{1, 2, EventKind::kInc, QueryVia::kHttp, a, 4, kNone}, trace);
  m.Apply(Event{2, 3, EventKind::kDec, QueryVia::kHttp, a, 1, kNone}, trace);
  EXPECT_EQ(m.servers()[a].info.cur, 3u);
  m.Apply(Event{3, 4, EventKind::kClose, QueryVia::kHttp, a, 1, kNone}, trace);
  EXPECT_FALSE(m.servers()[a].registered);
  EXPECT_FALSE(m.servers()[a].connected);
}

// --- Routing policies ---

ModelRouting Routing(ModelPolicy policy, std::int64_t hold_ms = 0, std::int64_t slow_ms = 0) {
  ModelRouting r;
  r.policy = policy;
  r.assignment_hold_ms = hold_ms;
  r.slow_start_ms = slow_ms;
  return r;
}

TEST(ChoiceModelRoutingTest, PolicyNamesRoundTrip) {
  for (ModelPolicy p : {ModelPolicy::kLeastCount, ModelPolicy::kLeastRatio, ModelPolicy::kP2c}) {
    EXPECT_EQ(ParseModelPolicy(ModelPolicyName(p)), p);
  }
  EXPECT_FALSE(ParseModelPolicy("least-count").has_value());
  EXPECT_FALSE(ParseModelPolicy("").has_value());
}

TEST(ChoiceModelRoutingTest, LeastRatioPrefersTheEmptierBigServer) {
  ChoiceModel m(2, Routing(ModelPolicy::kLeastRatio));
  m.Register(0, Info(0, 100, 40));      // 0.4
  m.Register(1, Info(1, 10'000, 100));  // 0.01: more users, smaller ratio
  EXPECT_EQ(m.Expect().acceptable, Ids{1});
  ChoiceModel count(2);
  count.Register(0, Info(0, 100, 40));
  count.Register(1, Info(1, 10'000, 100));
  EXPECT_EQ(count.Expect().acceptable, Ids{0});  // least_count: the smaller count
}

TEST(ChoiceModelRoutingTest, LeastRatioTiesAcceptEveryTiedServer) {
  ChoiceModel m(4, Routing(ModelPolicy::kLeastRatio));
  m.Register(0, Info(0, 10, 1));      // 1/10
  m.Register(1, Info(1, 1000, 100));  // 100/1000: the same ratio
  m.Register(2, Info(2, 30, 3));      // 3/30: the same ratio
  m.Register(3, Info(3, 7, 1));       // 1/7: larger
  EXPECT_EQ(m.Expect().acceptable, (Ids{0, 1, 2}));
  m.Adjust(1, -1);  // 99/1000 < 1/10
  EXPECT_EQ(m.Expect().acceptable, Ids{1});
}

TEST(ChoiceModelRoutingTest, LeastRatioIsExactWhereDoublesAreNot) {
  // 1/3 against 333,333,333/1,000,000,000 (smaller by 1/3e9), and two ratios of numbers near
  // 2^32 that differ by about 1e-19, below a double's resolution near 1.
  ChoiceModel m(2, Routing(ModelPolicy::kLeastRatio));
  m.Register(0, Info(0, 3, 1));
  m.Register(1, Info(1, 1'000'000'000, 333'333'333));
  EXPECT_EQ(m.Expect().acceptable, Ids{1});
  constexpr std::uint32_t kBig = 4'294'967'295u;
  ChoiceModel big(2, Routing(ModelPolicy::kLeastRatio));
  big.Register(0, Info(0, kBig, kBig - 2));      // (2^32-3)/(2^32-1)
  big.Register(1, Info(1, kBig - 1, kBig - 3));  // (2^32-4)/(2^32-2): smaller
  EXPECT_EQ(big.Expect().acceptable, Ids{1});
}

TEST(ChoiceModelRoutingTest, FullServersAreIneligibleUnderEveryPolicy) {
  for (ModelPolicy p : {ModelPolicy::kLeastCount, ModelPolicy::kLeastRatio, ModelPolicy::kP2c}) {
    ChoiceModel m(3, Routing(p));
    m.Register(0, Info(0, 5, 5));
    m.Register(1, Info(1, 0, 0));
    EXPECT_EQ(m.Expect().code, kCodeAllFull);
    m.Register(2, Info(2, 100, 99));
    EXPECT_EQ(m.Expect().acceptable, Ids{2}) << ModelPolicyName(p);
  }
}

TEST(ChoiceModelRoutingTest, RandomPoliciesAcceptEveryEligibleServer) {
  ChoiceModel p2c(3, Routing(ModelPolicy::kP2c));
  p2c.Register(0, Info(0, 100, 10));
  p2c.Register(1, Info(1, 100, 100));  // full
  p2c.Register(2, Info(2, 100, 90));
  EXPECT_EQ(p2c.Expect().acceptable, (Ids{0, 2}));
  ChoiceModel slow(2, Routing(ModelPolicy::kLeastCount, 0, 5000));
  slow.Register(0, Info(0, 100, 10));
  slow.Register(1, Info(1, 100, 0));
  EXPECT_EQ(slow.Expect().acceptable, (Ids{0, 1}));
}

TEST(ChoiceModelRoutingTest, HoldsCountAsUsersUntilAnIncrementSettlesThem) {
  ChoiceModel m(2, Routing(ModelPolicy::kLeastCount, 1000));
  m.Register(0, Info(0, 100, 5));
  m.Register(1, Info(1, 100, 6));
  m.SetNow(10);
  m.Assign(0);
  m.Assign(0);  // 5 + 2 held
  EXPECT_EQ(m.Held(0), 2u);
  EXPECT_EQ(m.Expect().acceptable, Ids{1});
  m.Adjust(0, 1);  // one of them arrives: 6 + 1 held
  EXPECT_EQ(m.Held(0), 1u);
  EXPECT_EQ(m.servers()[0].info.cur, 6u);
  EXPECT_EQ(m.Expect().acceptable, Ids{1});
  m.Adjust(0, -1);  // a departure settles nothing
  EXPECT_EQ(m.Held(0), 1u);
  EXPECT_EQ(m.Expect().acceptable, (Ids{0, 1}));
  m.Adjust(0, 5);  // more arrivals than holds: all settled, the rest are plain users
  EXPECT_EQ(m.Held(0), 0u);
  EXPECT_EQ(m.servers()[0].info.cur, 10u);
}

TEST(ChoiceModelRoutingTest, HoldsLapseAfterTheWindowOldestFirst) {
  ChoiceModel m(2, Routing(ModelPolicy::kLeastCount, 100));
  m.Register(0, Info(0, 100, 0));
  m.Register(1, Info(1, 100, 1));
  m.SetNow(1000);
  m.Assign(0);
  m.SetNow(1050);
  m.Assign(0);
  m.Adjust(0, 1);  // settles the hold of t=1000, the one of t=1050 stays
  EXPECT_EQ(m.Held(0), 1u);
  m.SetNow(1149);
  EXPECT_EQ(m.Held(0), 1u);
  m.SetNow(1150);  // placed + window: lapsed
  EXPECT_EQ(m.Held(0), 0u);
  EXPECT_EQ(m.Expect().acceptable, (Ids{0, 1}));
}

TEST(ChoiceModelRoutingTest, HoldsLapseInOrderAfterAnUnsettledPrefix) {
  ChoiceModel m(1, Routing(ModelPolicy::kLeastCount, 100));
  m.Register(0, Info(0, 100, 0));
  m.SetNow(0);
  m.Assign(0);
  m.SetNow(60);
  m.Assign(0);
  m.SetNow(100);  // the first lapsed, the second still counts
  EXPECT_EQ(m.Held(0), 1u);
  m.Adjust(0, 1);  // settles the second
  EXPECT_EQ(m.Held(0), 0u);
  EXPECT_EQ(m.servers()[0].info.cur, 1u);
}

TEST(ChoiceModelRoutingTest, HoldsChangeOrderNeverEligibility) {
  ChoiceModel m(2, Routing(ModelPolicy::kLeastRatio, 1000));
  m.Register(0, Info(0, 4, 2));
  m.Register(1, Info(1, 1000, 900));
  m.Assign(0);
  m.Assign(0);
  m.Assign(0);  // 2 + 3 held > max 4: ratio 5/4, still eligible (cur 2 < 4)
  EXPECT_TRUE(m.Eligible(0));
  EXPECT_EQ(m.Expect().acceptable, Ids{1});  // 0.9 < 1.25
  m.Register(1, Info(1, 1000, 1000));        // 1 full: 0 is the only eligible one
  EXPECT_EQ(m.Expect().code, kCodeOk);
  EXPECT_EQ(m.Expect().acceptable, Ids{0});
}

TEST(ChoiceModelRoutingTest, HoldsOffPlaceNothing) {
  ChoiceModel m(2);
  m.Register(0, Info(0, 100, 0));
  m.Register(1, Info(1, 100, 0));
  m.Assign(0);
  EXPECT_EQ(m.Held(0), 0u);
  EXPECT_EQ(m.Expect().acceptable, (Ids{0, 1}));
}

TEST(ChoiceModelRoutingTest, ReplaceKeepsHoldsCloseDropsThem) {
  ChoiceModel m(1, Routing(ModelPolicy::kLeastCount, 1000));
  m.Register(0, Info(0, 100, 0));
  m.Assign(0);
  m.Register(0, Info(0, 100, 3));  // a second IMMsgServInfo
  EXPECT_EQ(m.Held(0), 1u);
  m.Close(0);
  m.Register(0, Info(0, 100, 0));
  EXPECT_EQ(m.Held(0), 0u);
}

TEST(ChoiceModelRoutingTest, CandidatesMustBeTheBestOthersInOrder) {
  ChoiceModel m(5, Routing(ModelPolicy::kLeastRatio));
  m.Register(0, Info(0, 100, 10));    // 0.1
  m.Register(1, Info(1, 10, 2));      // 0.2
  m.Register(2, Info(2, 1000, 300));  // 0.3
  m.Register(3, Info(3, 4, 4));       // full
  m.Register(4, Info(4, 1000, 150));  // 0.15
  EXPECT_EQ(m.CheckCandidates(0, {4, 1}, 2), "");
  EXPECT_EQ(m.CheckCandidates(0, {4, 1, 2}, 8), "");  // all there are
  EXPECT_NE(m.CheckCandidates(0, {1, 4}, 2), "");     // out of order
  EXPECT_NE(m.CheckCandidates(0, {4, 2}, 2), "");     // 1 is better than 2 and left out
  EXPECT_NE(m.CheckCandidates(0, {4}, 2), "");        // too few
  EXPECT_NE(m.CheckCandidates(0, {4, 3}, 2), "");     // 3 is full
  EXPECT_NE(m.CheckCandidates(0, {0, 4}, 2), "");     // the chosen one
  EXPECT_NE(m.CheckCandidates(0, {4, 4}, 2), "");     // twice
  // p2c may choose any, but the list is still the best others by ratio.
  ChoiceModel p(5, Routing(ModelPolicy::kP2c));
  for (MsId i = 0; i < 5; ++i)
    p.Register(i, m.servers()[i].info);
  EXPECT_EQ(p.CheckCandidates(2, {0, 4}, 2), "");
  EXPECT_NE(p.CheckCandidates(2, {0, 1}, 2), "");
}

}  // namespace
}  // namespace ttlogin::tools::replay
