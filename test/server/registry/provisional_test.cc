// Provisional entries of a warm start (MsgServerRegistry::AddProvisional): chosen like live ones,
// taken over in place by their msg_server's registration, removed when the grace ends.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "server/registry/msg_server_registry.h"

namespace ttlogin::registry {
namespace {

constexpr std::int64_t kUnixNow = 1'700'000'000'000;
constexpr std::int64_t kGraceMs = 40'000;

MsgServerInfo Info(const std::string& host, std::uint32_t port, std::uint32_t cur,
                   std::uint32_t max = 1000, const std::string& ip1 = "10.0.0.1") {
  return MsgServerInfo{ip1, "10.0.1.1", port, max, cur, host};
}

ProvisionalEntry Provisional(const std::string& host, std::uint32_t port, std::uint32_t cur,
                             std::uint32_t max = 1000, const std::string& ip1 = "10.0.0.1") {
  return ProvisionalEntry{Info(host, port, cur, max, ip1), kUnixNow - 60'000, kUnixNow - 1'000};
}

ClaimRule From(const std::string& address) {
  return ClaimRule{address, kUnixNow, 10'000};
}

EntryMeta Meta(const std::string& peer) {
  return EntryMeta{peer, kUnixNow, kUnixNow, {}, 1};
}

// A registry on a clock the test moves.
struct Fixture {
  std::shared_ptr<std::int64_t> now = std::make_shared<std::int64_t>(5'000);
  MsgServerRegistry registry{4, 0, [now = now] { return *now; }};
};

std::optional<ServerSnapshot> Find(const MsgServerRegistry& r, const std::string& host) {
  for (const ServerSnapshot& s : r.Snapshot()) {
    if (s.info.host_name == host) return s;
  }
  return std::nullopt;
}

TEST(ProvisionalTest, EntriesAreChosenLikeLiveOnesWithTheirLastKnownCounts) {
  Fixture f;
  ASSERT_EQ(f.registry.AddProvisional({Provisional("msg-a", 8000, 30, 1000, "10.0.0.1"),
                                       Provisional("msg-b", 8000, 10, 1000, "10.0.0.2")},
                                      {}, kGraceMs),
            2u);
  EXPECT_EQ(f.registry.provisional_count(), 2u);
  EXPECT_EQ(f.registry.Stats().provisional, 2u);
  EXPECT_EQ(f.registry.Stats().registered, 2u);
  EXPECT_TRUE(f.registry.AnyEligible());
  const Choice c = f.registry.Choose();
  ASSERT_EQ(c.code, ChooseCode::kOk);
  EXPECT_EQ(c.ip1, "10.0.0.2");  // least_count: 10 < 30
  const auto a = Find(f.registry, "msg-a");
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->provisional);
  EXPECT_EQ(a->info.cur_conn_cnt, 30u);
  EXPECT_EQ(a->meta.registered_ms, kUnixNow - 60'000);
  EXPECT_EQ(a->meta.last_heard_ms, kUnixNow - 1'000);
  EXPECT_TRUE(a->meta.peer.empty());
}

TEST(ProvisionalTest, AFullProvisionalEntryIsNotChosen) {
  Fixture f;
  ASSERT_EQ(f.registry.AddProvisional({Provisional("msg-a", 8000, 100, 100)}, {}, kGraceMs), 1u);
  EXPECT_EQ(f.registry.Choose().code, ChooseCode::kAllFull);
}

TEST(ProvisionalTest, ItsMsgServerRegisteringAgainReplacesItInPlace) {
  Fixture f;
  ASSERT_EQ(f.registry.AddProvisional({Provisional("msg-a", 8000, 30)}, {}, kGraceMs), 1u);
  const ServerHandle old = Find(f.registry, "msg-a")->handle;
  // From any address: a provisional entry has no connection whose name could be stolen.
  const ClaimResult claim = f.registry.Claim(Info("msg-a", 8000, 7, 500, "10.9.9.9"),
                                             Meta("192.0.2.7:4000"), From("192.0.2.7"));
  ASSERT_EQ(claim.code, ClaimCode::kOk);
  EXPECT_TRUE(claim.adopted_provisional);
  EXPECT_FALSE(claim.displaced);
  EXPECT_EQ(claim.handle, old);  // the same slot and generation
  EXPECT_EQ(f.registry.provisional_count(), 0u);
  EXPECT_EQ(f.registry.Stats().registered, 1u);
  const auto a = Find(f.registry, "msg-a");
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(a->provisional);
  // The registration's values win.
  EXPECT_EQ(a->info.cur_conn_cnt, 7u);
  EXPECT_EQ(a->info.max_conn_cnt, 500u);
  EXPECT_EQ(a->info.ip1, "10.9.9.9");
  EXPECT_EQ(a->meta.peer, "192.0.2.7:4000");
  EXPECT_EQ(a->meta.registered_ms, kUnixNow);
  // Updates reach it through the handle it had.
  ASSERT_TRUE(f.registry.AdjustCount(claim.handle, 3).has_value());
  EXPECT_EQ(f.registry.Get(old)->cur_conn_cnt, 10u);
  // Nothing is left to end when the grace passes.
  *f.now += kGraceMs;
  EXPECT_EQ(f.registry.EndProvisional(), 0u);
  EXPECT_TRUE(f.registry.Live(old));
}

TEST(ProvisionalTest, TheGraceEndRemovesTheRestOnly) {
  Fixture f;
  ASSERT_EQ(
      f.registry.AddProvisional({Provisional("msg-a", 8000, 30), Provisional("msg-b", 8000, 5),
                                 Provisional("msg-c", 8000, 9)},
                                {}, kGraceMs),
      3u);
  // msg-a is back; msg-z is a live msg_server the snapshot never knew.
  const ClaimResult back =
      f.registry.Claim(Info("msg-a", 8000, 31), Meta("10.0.0.1:4000"), From("10.0.0.1"));
  ASSERT_TRUE(back.adopted_provisional);
  const ClaimResult other =
      f.registry.Claim(Info("msg-z", 8001, 2), Meta("10.0.0.5:4000"), From("10.0.0.5"));
  ASSERT_EQ(other.code, ClaimCode::kOk);
  EXPECT_FALSE(other.adopted_provisional);
  ASSERT_EQ(f.registry.provisional_count(), 2u);

  *f.now += kGraceMs - 1;
  EXPECT_EQ(f.registry.EndProvisional(), 0u);
  EXPECT_EQ(f.registry.Stats().registered, 4u);
  *f.now += 1;
  EXPECT_EQ(f.registry.EndProvisional(), 2u);
  EXPECT_EQ(f.registry.provisional_count(), 0u);
  EXPECT_EQ(f.registry.Stats().registered, 2u);
  EXPECT_FALSE(Find(f.registry, "msg-b").has_value());
  EXPECT_FALSE(Find(f.registry, "msg-c").has_value());
  EXPECT_TRUE(f.registry.Live(back.handle));
  EXPECT_TRUE(f.registry.Live(other.handle));
  EXPECT_EQ(f.registry.Get(other.handle)->cur_conn_cnt, 2u);
  // The removed names are free again for a plain registration.
  const ClaimResult late =
      f.registry.Claim(Info("msg-b", 8000, 1), Meta("10.0.0.2:4000"), From("10.0.0.2"));
  EXPECT_EQ(late.code, ClaimCode::kOk);
  EXPECT_FALSE(late.adopted_provisional);
  EXPECT_EQ(f.registry.EndProvisional(), 0u);
}

TEST(ProvisionalTest, ANameAlreadyRegisteredIsNotRestored) {
  Fixture f;
  const ClaimResult live =
      f.registry.Claim(Info("msg-a", 8000, 3), Meta("10.0.0.1:4000"), From("10.0.0.1"));
  ASSERT_EQ(live.code, ClaimCode::kOk);
  EXPECT_EQ(f.registry.AddProvisional(
                {Provisional("msg-a", 8000, 30), Provisional("msg-b", 8000, 4)}, {}, kGraceMs),
            1u);
  EXPECT_EQ(f.registry.Get(live.handle)->cur_conn_cnt, 3u);
  EXPECT_FALSE(Find(f.registry, "msg-a")->provisional);
  EXPECT_TRUE(Find(f.registry, "msg-b")->provisional);
}

TEST(ProvisionalTest, DrainKeysComeBackAndDrainTheirEntries) {
  Fixture f;
  ASSERT_EQ(f.registry.AddProvisional({Provisional("msg-a", 8000, 1, 1000, "10.0.0.1"),
                                       Provisional("msg-b", 8000, 50, 1000, "10.0.0.2")},
                                      {"msg-a:8000", "away:9000"}, kGraceMs),
            2u);
  EXPECT_TRUE(f.registry.IsDrainKey("msg-a:8000"));
  EXPECT_TRUE(f.registry.IsDrainKey("away:9000"));
  EXPECT_TRUE(Find(f.registry, "msg-a")->draining);
  // msg-a has fewer users but is drained.
  EXPECT_EQ(f.registry.Choose().ip1, "10.0.0.2");
  // Its msg_server coming back stays drained.
  ASSERT_TRUE(f.registry.Claim(Info("msg-a", 8000, 1), Meta("10.0.0.1:4000"), From("10.0.0.1"))
                  .adopted_provisional);
  EXPECT_TRUE(Find(f.registry, "msg-a")->draining);
  EXPECT_EQ(f.registry.DrainKeys(), (std::vector<std::string>{"away:9000", "msg-a:8000"}));
}

TEST(ProvisionalTest, MaxServersBoundsWhatIsRestored) {
  auto now = std::make_shared<std::int64_t>(0);
  MsgServerRegistry r(4, 2, [now] { return *now; });
  EXPECT_EQ(
      r.AddProvisional({Provisional("a", 1, 1), Provisional("b", 1, 1), Provisional("c", 1, 1)}, {},
                       kGraceMs),
      2u);
  EXPECT_EQ(r.provisional_count(), 2u);
  EXPECT_EQ(r.Stats().registered, 2u);
}

TEST(ProvisionalTest, ASecondRegistrationTakingTheNameDisplacesIt) {
  Fixture f;
  ASSERT_EQ(f.registry.AddProvisional({Provisional("msg-a", 8000, 30)}, {}, kGraceMs), 1u);
  const ClaimResult b =
      f.registry.Claim(Info("msg-b", 8000, 1), Meta("10.0.0.2:4000"), From("10.0.0.2"));
  ASSERT_EQ(b.code, ClaimCode::kOk);
  // msg-b's second IMMsgServInfo names msg-a: the provisional entry gives way.
  const ClaimResult renamed =
      f.registry.Reclaim(b.handle, Info("msg-a", 8000, 2), {}, From("10.0.0.2"));
  ASSERT_EQ(renamed.code, ClaimCode::kOk);
  EXPECT_TRUE(renamed.displaced);
  EXPECT_EQ(f.registry.provisional_count(), 0u);
  EXPECT_EQ(f.registry.Stats().registered, 1u);
  EXPECT_EQ(Find(f.registry, "msg-a")->info.cur_conn_cnt, 2u);
}

TEST(ProvisionalTest, ProvisionalEntriesDoNotWarmUnderSlowStart) {
  Fixture f;
  RoutingOptions routing;
  routing.slow_start_ms = 60'000;
  f.registry.SetRouting(routing);
  ASSERT_EQ(f.registry.AddProvisional({Provisional("msg-a", 8000, 0)}, {}, kGraceMs), 1u);
  EXPECT_FALSE(Find(f.registry, "msg-a")->warming);
  EXPECT_EQ(f.registry.Stats().warming, 0u);
}

}  // namespace
}  // namespace ttlogin::registry
