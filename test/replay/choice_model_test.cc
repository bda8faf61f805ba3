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

}  // namespace
}  // namespace ttlogin::tools::replay
