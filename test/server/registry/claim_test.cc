// One live entry per host_name:port (Claim, Reclaim), and the operator's drain of a msg_server
// that is away (Drain).
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/registry/msg_server_registry.h"

namespace ttlogin::registry {
namespace {

constexpr std::int64_t kNow = 1'000'000;
constexpr std::int64_t kSilence = 10'000;

MsgServerInfo Info(const std::string& host, std::uint32_t port, std::uint32_t cur,
                   const std::string& ip1 = "10.0.0.1") {
  return MsgServerInfo{ip1, "10.0.1.1", port, 1000, cur, host};
}

EntryMeta Meta(const std::string& peer, std::int64_t heard = kNow) {
  return EntryMeta{peer, heard, heard, {}};
}

ClaimRule From(const std::string& address, std::int64_t now = kNow) {
  return ClaimRule{address, now, kSilence};
}

EntryMeta LinkMeta(const std::string& peer, std::uint64_t link) {
  EntryMeta m = Meta(peer);
  m.link = link;
  return m;
}

ClaimRule FromLink(const std::string& address, std::uint64_t link) {
  ClaimRule r = From(address);
  r.link = link;
  return r;
}

// A msg_server reconnects: its old link's registration, read late on another io thread, must
// not take the name back from the new link; the new link always takes it from the old one.
TEST(ClaimTest, AnOlderLinkFromTheSameAddressCannotTakeTheNameBack) {
  MsgServerRegistry r(4);
  const ClaimResult fresh =
      r.Claim(Info("msg-a", 8000, 4), LinkMeta("10.0.0.1:4001", 2), FromLink("10.0.0.1", 2));
  ASSERT_EQ(fresh.code, ClaimCode::kOk);
  const ClaimResult stale =
      r.Claim(Info("msg-a", 8000, 9), LinkMeta("10.0.0.1:4000", 1), FromLink("10.0.0.1", 1));
  EXPECT_EQ(stale.code, ClaimCode::kSuperseded);
  EXPECT_FALSE(stale.handle.valid());
  EXPECT_EQ(stale.holder_peer, "10.0.0.1:4001");
  EXPECT_TRUE(r.Live(fresh.handle));
  EXPECT_EQ(r.Get(fresh.handle)->cur_conn_cnt, 4u);
  // A later link takes over as before.
  const ClaimResult later =
      r.Claim(Info("msg-a", 8000, 6), LinkMeta("10.0.0.1:4002", 3), FromLink("10.0.0.1", 3));
  ASSERT_EQ(later.code, ClaimCode::kOk);
  EXPECT_TRUE(later.displaced);
  EXPECT_FALSE(r.Live(fresh.handle));
  // Unknown link order (0) keeps the plain same-address rule.
  const ClaimResult unknown =
      r.Claim(Info("msg-a", 8000, 1), Meta("10.0.0.1:4003"), From("10.0.0.1"));
  EXPECT_EQ(unknown.code, ClaimCode::kOk);
  EXPECT_TRUE(unknown.displaced);
}

TEST(ClaimTest, AnotherAddressCannotTakeALiveNameAndGetsNoLogins) {
  MsgServerRegistry r(4);
  const ClaimResult real =
      r.Claim(Info("msg-a", 8000, 10), Meta("10.0.0.1:4000"), From("10.0.0.1"));
  ASSERT_EQ(real.code, ClaimCode::kOk);
  EXPECT_FALSE(real.displaced);
  // The hijack of the report: cur 0 and max 2^32-1 under the real msg_server's name.
  MsgServerInfo fake = Info("msg-a", 8000, 0, "192.0.2.66");
  fake.max_conn_cnt = 0xffffffffu;
  const ClaimResult hijack = r.Claim(fake, Meta("192.0.2.66:5000"), From("192.0.2.66", kNow + 1));
  EXPECT_EQ(hijack.code, ClaimCode::kTaken);
  EXPECT_FALSE(hijack.handle.valid());
  EXPECT_EQ(hijack.holder_peer, "10.0.0.1:4000");
  EXPECT_EQ(r.Stats().registered, 1u);
  for (int i = 0; i < 20; ++i) {
    const Choice c = r.Choose();
    ASSERT_EQ(c.code, ChooseCode::kOk);
    EXPECT_EQ(c.ip1, "10.0.0.1");
  }
  // The same address with another port (another name) is a different msg_server: fine.
  EXPECT_EQ(r.Claim(Info("msg-a", 8001, 0), Meta("192.0.2.66:5001"), From("192.0.2.66")).code,
            ClaimCode::kOk);
}

TEST(ClaimTest, TheSameAddressReplacesItsOwnEntry) {
  MsgServerRegistry r(4);
  const ClaimResult old = r.Claim(Info("msg-a", 8000, 10), Meta("10.0.0.1:4000"), From("10.0.0.1"));
  const ClaimResult again =
      r.Claim(Info("msg-a", 8000, 3), Meta("10.0.0.1:4001"), From("10.0.0.1", kNow + 1));
  ASSERT_EQ(again.code, ClaimCode::kOk);
  EXPECT_TRUE(again.displaced);
  EXPECT_EQ(again.holder_peer, "10.0.0.1:4000");
  EXPECT_FALSE(r.Live(old.handle));
  EXPECT_FALSE(r.Remove(old.handle));  // the old link's close finds nothing to remove
  EXPECT_EQ(r.Stats().registered, 1u);
  EXPECT_EQ(r.Get(again.handle)->cur_conn_cnt, 3u);
}

TEST(ClaimTest, AnotherAddressTakesOverOnlyAfterTheHolderWasSilent) {
  MsgServerRegistry r(4);
  const ClaimResult old = r.Claim(Info("msg-a", 8000, 10), Meta("10.0.0.1:4000"), From("10.0.0.1"));
  EXPECT_EQ(
      r.Claim(Info("msg-a", 8000, 0), Meta("10.0.0.2:1"), From("10.0.0.2", kNow + kSilence - 1))
          .code,
      ClaimCode::kTaken);
  // Heard from again: the silence starts over.
  ASSERT_TRUE(r.Touch(old.handle, kNow + kSilence));
  EXPECT_EQ(
      r.Claim(Info("msg-a", 8000, 0), Meta("10.0.0.2:2"), From("10.0.0.2", kNow + kSilence + 1))
          .code,
      ClaimCode::kTaken);
  const ClaimResult moved =
      r.Claim(Info("msg-a", 8000, 0), Meta("10.0.0.2:3"), From("10.0.0.2", kNow + 2 * kSilence));
  ASSERT_EQ(moved.code, ClaimCode::kOk);
  EXPECT_TRUE(moved.displaced);
  EXPECT_FALSE(r.Touch(old.handle, kNow + 2 * kSilence));
  EXPECT_EQ(r.Stats().registered, 1u);
}

TEST(ClaimTest, ARenameCannotTakeALiveNameEither) {
  MsgServerRegistry r(4);
  const ClaimResult a = r.Claim(Info("msg-a", 8000, 1), Meta("10.0.0.1:1"), From("10.0.0.1"));
  const ClaimResult b = r.Claim(Info("msg-b", 8000, 2), Meta("10.0.0.2:1"), From("10.0.0.2"));
  ASSERT_EQ(b.code, ClaimCode::kOk);
  EXPECT_EQ(r.Reclaim(b.handle, Info("msg-a", 8000, 0), {}, From("10.0.0.2")).code,
            ClaimCode::kTaken);
  EXPECT_EQ(r.Get(b.handle)->host_name, "msg-b");  // unchanged
  // Renaming to a free name frees the old one for others.
  ASSERT_EQ(r.Reclaim(b.handle, Info("msg-c", 8000, 0), {}, From("10.0.0.2")).code, ClaimCode::kOk);
  EXPECT_EQ(r.Claim(Info("msg-b", 8000, 0), Meta("10.0.0.3:1"), From("10.0.0.3")).code,
            ClaimCode::kOk);
  // Its own name again is no conflict.
  EXPECT_EQ(r.Reclaim(a.handle, Info("msg-a", 8000, 5), {}, From("10.0.0.1")).code, ClaimCode::kOk);
  EXPECT_EQ(r.Get(a.handle)->cur_conn_cnt, 5u);
  // A displaced entry's handle can no longer be re-registered.
  const ClaimResult own = r.Claim(Info("msg-a", 8000, 0), Meta("10.0.0.1:2"), From("10.0.0.1"));
  ASSERT_TRUE(own.displaced);
  EXPECT_EQ(r.Reclaim(a.handle, Info("msg-a", 8000, 0), {}, From("10.0.0.1")).code,
            ClaimCode::kGone);
  EXPECT_EQ(r.Stats().registered, 3u);
}

TEST(ClaimTest, NamesAreOnePerHostAndPortInEverySnapshot) {
  MsgServerRegistry r(8);
  // Many links from two addresses claim a few names in turn.
  for (int i = 0; i < 200; ++i) {
    const std::string address = i % 3 == 0 ? "10.0.0.2" : "10.0.0.1";
    r.Claim(Info("msg-" + std::to_string(i % 5), 8000, 0), Meta(address + ":" + std::to_string(i)),
            From(address));
  }
  std::set<std::string> names;
  for (const auto& s : r.Snapshot()) {
    EXPECT_TRUE(names.insert(s.info.host_name + ":" + std::to_string(s.info.port)).second);
  }
  EXPECT_EQ(names.size(), 5u);
}

TEST(ClaimTest, AFullRegistryRefusesAClaimOfAFreeName) {
  MsgServerRegistry r(4, 1);
  ASSERT_EQ(r.Claim(Info("msg-a", 8000, 0), Meta("10.0.0.1:1"), From("10.0.0.1")).code,
            ClaimCode::kOk);
  EXPECT_EQ(r.Claim(Info("msg-b", 8000, 0), Meta("10.0.0.2:1"), From("10.0.0.2")).code,
            ClaimCode::kFull);
  // Displacing its own entry needs no new place.
  EXPECT_EQ(r.Claim(Info("msg-a", 8000, 0), Meta("10.0.0.1:2"), From("10.0.0.1")).code,
            ClaimCode::kOk);
}

TEST(ClaimTest, ConcurrentClaimsAndRemovalsKeepOneEntryPerName) {
  MsgServerRegistry r(8);
  constexpr int kThreads = 4;
  constexpr int kRounds = 3000;
  std::vector<std::thread> threads;
  std::vector<std::vector<ServerHandle>> held(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&r, &held, t] {
      std::mt19937 rng(static_cast<unsigned>(t + 1));
      const std::string address = "10.0.0." + std::to_string(1 + t % 2);
      for (int i = 0; i < kRounds; ++i) {
        auto& mine = held[static_cast<std::size_t>(t)];
        if (!mine.empty() && rng() % 3 == 0) {
          r.Remove(mine.back());  // false when another thread displaced it
          mine.pop_back();
          continue;
        }
        const ClaimResult c = r.Claim(Info("msg-" + std::to_string(rng() % 6), 8000, 0),
                                      Meta(address + ":" + std::to_string(i)), From(address));
        if (c.code == ClaimCode::kOk) mine.push_back(c.handle);
      }
    });
  }
  for (auto& th : threads)
    th.join();
  std::set<std::string> names;
  for (const auto& s : r.Snapshot()) {
    EXPECT_TRUE(names.insert(s.info.host_name).second) << s.info.host_name;
  }
  std::size_t live = 0;
  for (const auto& mine : held) {
    for (const ServerHandle& h : mine)
      live += r.Live(h) ? 1 : 0;
  }
  EXPECT_EQ(live, names.size());
  EXPECT_EQ(r.Stats().registered, names.size());
}

TEST(DrainTest, ARepeatedDrainOfAnAbsentMsgServerKeepsItsDrain) {
  MsgServerRegistry r(4);
  ClaimResult a = r.Claim(Info("msg-a", 8000, 0), Meta("10.0.0.1:1"), From("10.0.0.1"));
  auto d = r.Drain("msg-a:8000", true);
  EXPECT_EQ(d.matched, 1u);
  EXPECT_TRUE(d.remembered);
  ASSERT_TRUE(r.Remove(a.handle));  // it goes away, drained
  for (int i = 0; i < 3; ++i) {
    d = r.Drain("msg-a:8000", true);
    EXPECT_EQ(d.matched, 0u);
    EXPECT_TRUE(d.was_remembered);
    EXPECT_TRUE(d.remembered);
  }
  a = r.Claim(Info("msg-a", 8000, 0), Meta("10.0.0.1:2"), From("10.0.0.1"));
  EXPECT_EQ(r.Choose().code, ChooseCode::kAllFull);  // back, and still drained
  EXPECT_EQ(r.Stats().draining, 1u);
}

TEST(DrainTest, AFirstDrainOfAnUnknownNameIsNotRememberedAndUndrainForgets) {
  MsgServerRegistry r(4);
  auto d = r.Drain("typo:8000", true);
  EXPECT_EQ(d.matched, 0u);
  EXPECT_FALSE(d.was_remembered);
  EXPECT_FALSE(d.remembered);
  EXPECT_FALSE(r.IsDrainKey("typo:8000"));

  const ClaimResult a = r.Claim(Info("msg-a", 8000, 0), Meta("10.0.0.1:1"), From("10.0.0.1"));
  r.Drain("msg-a:8000", true);
  r.Remove(a.handle);
  d = r.Drain("msg-a:8000", false);  // undrained while away
  EXPECT_TRUE(d.was_remembered);
  EXPECT_FALSE(d.remembered);
  r.Claim(Info("msg-a", 8000, 0), Meta("10.0.0.1:2"), From("10.0.0.1"));
  EXPECT_EQ(r.Choose().code, ChooseCode::kOk);
}

}  // namespace
}  // namespace ttlogin::registry
