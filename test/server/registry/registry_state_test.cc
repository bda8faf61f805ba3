// MsgServerRegistry::ExportState / ImportState: what a live upgrade carries of the registry, into
// a registry with a clock of its own: counts, metadata, drains, and holds and slow start windows
// that end when they would have.
#include <gtest/gtest.h>

#include <algorithm>

#include "server/registry/msg_server_registry.h"

namespace ttlogin::registry {
namespace {

struct FakeClock {
  std::int64_t now = 0;
  MsgServerRegistry::Clock clock() {
    return [this] { return now; };
  }
};

MsgServerInfo Info(const std::string& host, std::uint32_t port, std::uint32_t cur,
                   std::uint32_t max = 100) {
  return MsgServerInfo{"10.0.0.1", "10.0.1.1", port, max, cur, host};
}

const ServerSnapshot* Find(const std::vector<ServerSnapshot>& all, const std::string& host) {
  const auto it = std::find_if(all.begin(), all.end(),
                               [&](const ServerSnapshot& s) { return s.info.host_name == host; });
  return it == all.end() ? nullptr : &*it;
}

TEST(RegistryStateTest, EntriesDrainsAndMetadataCarryOver) {
  MsgServerRegistry from(4);
  const ServerHandle a =
      from.Register(Info("msg-a", 8000, 7), EntryMeta{"127.0.0.1:5001", 111, 222, "a warning", 3});
  from.Register(Info("msg-b", 8001, 9));
  ASSERT_EQ(from.Drain("msg-b:8001", true).matched, 1u);
  ASSERT_EQ(from.Drain("msg-away:9000", true).matched, 0u);  // not remembered: nobody has it
  from.SetDraining("gone:7000", true);                       // remembered for one that is away
  from.AdjustCount(a, 2);

  const RegistryState state = from.ExportState();
  ASSERT_EQ(state.entries.size(), 2u);
  MsgServerRegistry to(8, /*max_servers=*/1);  // the bound does not refuse carried entries
  const std::vector<ServerHandle> handles = to.ImportState(state);
  ASSERT_EQ(handles.size(), 2u);
  for (const ServerHandle& h : handles)
    EXPECT_TRUE(to.Live(h));

  const auto all = to.Snapshot();
  ASSERT_EQ(all.size(), 2u);
  const ServerSnapshot* ea = Find(all, "msg-a");
  ASSERT_NE(ea, nullptr);
  EXPECT_EQ(ea->info.cur_conn_cnt, 9u);
  EXPECT_EQ(ea->info.max_conn_cnt, 100u);
  EXPECT_EQ(ea->meta.peer, "127.0.0.1:5001");
  EXPECT_EQ(ea->meta.registered_ms, 111);
  EXPECT_EQ(ea->meta.last_heard_ms, 222);
  EXPECT_EQ(ea->meta.warning, "a warning");
  EXPECT_EQ(ea->meta.link, 3u);
  EXPECT_FALSE(ea->draining);
  const ServerSnapshot* eb = Find(all, "msg-b");
  ASSERT_NE(eb, nullptr);
  EXPECT_TRUE(eb->draining);
  EXPECT_TRUE(to.IsDrainKey("msg-b:8001"));
  EXPECT_TRUE(to.IsDrainKey("gone:7000"));
  EXPECT_FALSE(to.IsDrainKey("msg-away:9000"));

  // Each carried entry is the one live entry of its name: a claim from another address is
  // refused as for the original, and the handle the import returned works for updates.
  const ClaimResult claim = to.Claim(Info("msg-a", 8000, 0), EntryMeta{"10.9.9.9:1", 0, 0, "", 0},
                                     ClaimRule{"10.9.9.9", 223, 1'000'000, 0});
  EXPECT_EQ(claim.code, ClaimCode::kTaken);
  const ServerHandle ha = handles[ea->handle == handles[0] ? 0 : 1];
  ASSERT_TRUE(to.AdjustCount(ha, 1));
  EXPECT_EQ(to.Get(ha)->cur_conn_cnt, 10u);
  EXPECT_EQ(to.Choose().port, 8000u);  // msg-b drains
}

TEST(RegistryStateTest, HoldsAndSlowStartEndWhenTheyWouldHaveOnTheOtherClock) {
  FakeClock old_clock{1'000'000};
  MsgServerRegistry from(2, 0, old_clock.clock());
  from.SetRouting({.slow_start_ms = 10'000, .assignment_hold_ms = 3'000});
  from.Register(Info("cold", 8000, 0));  // warms for 10 s from now
  old_clock.now += 4'000;
  // Two logins to "cold" (the only one), one second apart: holds until +3 s each.
  ASSERT_EQ(from.Choose().code, ChooseCode::kOk);
  old_clock.now += 1'000;
  ASSERT_EQ(from.Choose().code, ChooseCode::kOk);
  ASSERT_EQ(from.Stats().held, 2u);

  const RegistryState state = from.ExportState();
  ASSERT_EQ(state.entries.size(), 1u);
  EXPECT_EQ(state.entries[0].hold_ages_ms, (std::vector<std::int64_t>{1'000, 0}));
  EXPECT_TRUE(state.entries[0].warming);
  EXPECT_EQ(state.entries[0].warming_age_ms, 5'000);

  FakeClock new_clock{50};  // another process: another origin
  MsgServerRegistry to(4, 0, new_clock.clock());
  to.SetRouting({.slow_start_ms = 10'000, .assignment_hold_ms = 3'000});
  ASSERT_EQ(to.ImportState(state).size(), 1u);
  EXPECT_EQ(to.Stats().held, 2u);
  EXPECT_EQ(to.Stats().warming, 1u);
  new_clock.now += 1'999;
  to.Expire();
  EXPECT_EQ(to.Stats().held, 2u);
  new_clock.now += 1;  // the older hold ends 3 s after it began
  to.Expire();
  EXPECT_EQ(to.Stats().held, 1u);
  new_clock.now += 1'000;
  to.Expire();
  EXPECT_EQ(to.Stats().held, 0u);
  EXPECT_EQ(to.Stats().warming, 1u);
  new_clock.now += 1'999;  // 4,999 ms after the import: the window (5 s left) goes on
  to.Expire();
  EXPECT_EQ(to.Stats().warming, 1u);
  new_clock.now += 1;
  to.Expire();
  EXPECT_EQ(to.Stats().warming, 0u);
}

TEST(RegistryStateTest, SettledHoldsStaySettledAndOffOptionsDropTimedState) {
  FakeClock clock{10'000};
  MsgServerRegistry from(1, 0, clock.clock());
  from.SetRouting({.slow_start_ms = 10'000, .assignment_hold_ms = 5'000});
  const ServerHandle h = from.Register(Info("cold", 8000, 0));
  ASSERT_EQ(from.Choose().code, ChooseCode::kOk);
  ASSERT_EQ(from.Choose().code, ChooseCode::kOk);
  ASSERT_TRUE(from.AdjustCount(h, 1, 1));  // one increment settles one hold
  const RegistryState state = from.ExportState();
  ASSERT_EQ(state.entries.size(), 1u);
  EXPECT_EQ(state.entries[0].held, 1u);
  EXPECT_EQ(state.entries[0].settled, 1u);
  EXPECT_EQ(state.entries[0].hold_ages_ms.size(), 2u);

  MsgServerRegistry same(1, 0, clock.clock());
  same.SetRouting({.slow_start_ms = 10'000, .assignment_hold_ms = 5'000});
  const ServerHandle moved = same.ImportState(state).at(0);
  EXPECT_EQ(same.Stats().held, 1u);
  EXPECT_EQ(same.Get(moved)->cur_conn_cnt, 1u);
  // The settled record expires first and uncounted; the provisional one then ends.
  clock.now += 5'000;
  same.Expire();
  EXPECT_EQ(same.Stats().held, 0u);

  MsgServerRegistry off(1, 0, clock.clock());  // holds and slow start off in the new config
  ASSERT_EQ(off.ImportState(state).size(), 1u);
  EXPECT_EQ(off.Stats().held, 0u);
  EXPECT_EQ(off.Stats().warming, 0u);
  EXPECT_EQ(off.Stats().users, 1u);
}

}  // namespace
}  // namespace ttlogin::registry
