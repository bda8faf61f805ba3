// server/routing: config to registry options, peer text to address, and the ip1/ip2 decision.
#include "server/session/routing.h"

#include <gtest/gtest.h>

namespace ttlogin::server {
namespace {

common::LoginServerConfig WithTable(const std::string& table, const std::string& trusted = "") {
  common::LoginServerConfig c;
  std::string error;
  auto t = common::NetworkTable::Parse(table, "test", &error);
  EXPECT_TRUE(t) << error;
  if (t) c.network_table = std::make_shared<const common::NetworkTable>(std::move(*t));
  if (!trusted.empty()) {
    auto s = common::CidrSet::Parse(trusted, &error);
    EXPECT_TRUE(s) << error;
    if (s) c.trusted_proxies = std::make_shared<const common::CidrSet>(std::move(*s));
  }
  return c;
}

TEST(RoutingGlueTest, OptionsComeFromTheConfigKeys) {
  common::LoginServerConfig c;
  EXPECT_EQ(RoutingOptionsOf(c), registry::RoutingOptions{});
  c.policy = "p2c";
  c.slow_start = std::chrono::seconds(30);
  c.slow_start_min_share = 25;
  c.assignment_hold = std::chrono::milliseconds(1500);
  const registry::RoutingOptions o = RoutingOptionsOf(c);
  EXPECT_EQ(o.policy, registry::Policy::kP2c);
  EXPECT_EQ(o.slow_start_ms, 30'000);
  EXPECT_EQ(o.slow_start_min_percent, 25u);
  EXPECT_EQ(o.assignment_hold_ms, 1500);
}

TEST(RoutingGlueTest, PeerTextParsesForBothFamiliesAndRefusesJunk) {
  EXPECT_EQ(ParsePeerAddress("10.1.2.3:5000")->ToString(), "10.1.2.3");
  EXPECT_EQ(ParsePeerAddress("[2001:db8::1]:443")->ToString(), "2001:db8::1");
  EXPECT_EQ(ParsePeerAddress("[::ffff:10.0.0.1]:1")->ToString(), "10.0.0.1");
  EXPECT_FALSE(ParsePeerAddress("?"));
  EXPECT_FALSE(ParsePeerAddress(""));
  EXPECT_FALSE(ParsePeerAddress("10.1.2.3"));  // no port: not what Connection writes
  EXPECT_FALSE(ParsePeerAddress("host:80"));
}

TEST(RoutingGlueTest, TableDecidesForThePeerAndForwardedForOnlyFromTrustedProxies) {
  EXPECT_FALSE(PrefersIp2(common::LoginServerConfig{}, "10.0.0.1:1"));  // no table: classic
  const auto c = WithTable("10.0.0.0/8 ip2\n10.9.0.0/16 ip1\n2001:db8::/32 ip2\n", "127.0.0.1");
  EXPECT_TRUE(PrefersIp2(c, "10.1.1.1:1"));
  EXPECT_FALSE(PrefersIp2(c, "10.9.1.1:1"));  // the longer prefix wins
  EXPECT_TRUE(PrefersIp2(c, "[2001:db8::5]:1"));
  EXPECT_FALSE(PrefersIp2(c, "192.0.2.1:1"));
  EXPECT_FALSE(PrefersIp2(c, "garbage"));
  EXPECT_TRUE(PrefersIp2(c, "127.0.0.1:9", "10.1.1.1"));
  EXPECT_FALSE(PrefersIp2(c, "127.0.0.1:9", "10.9.1.1"));
  EXPECT_FALSE(PrefersIp2(c, "192.0.2.1:9", "10.1.1.1"));  // untrusted peer: header ignored
  const auto no_proxies = WithTable("10.0.0.0/8 ip2\n");
  EXPECT_FALSE(PrefersIp2(no_proxies, "127.0.0.1:9", "10.1.1.1"));
}

}  // namespace
}  // namespace ttlogin::server
