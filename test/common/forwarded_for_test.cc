#include "common/forwarded_for.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>

#include "test/common/address_test_util.h"

namespace ttlogin::common {
namespace {

using testutil::Ip;
using testutil::Set;

class ResolveTest : public ::testing::Test {
 protected:
  CidrSet trusted_ = Set("127.0.0.1, 10.0.0.0/8, ::1, fd00::/8");
  IpAddress Resolve(std::string_view peer, std::string_view xff) {
    return ResolveClientAddress(Ip(peer), xff, trusted_);
  }
};

TEST_F(ResolveTest, UntrustedPeerIgnoresTheHeader) {
  EXPECT_EQ(Resolve("203.0.113.9", "198.51.100.1"), Ip("203.0.113.9"));
  EXPECT_EQ(Resolve("2001:db8::9", "198.51.100.1"), Ip("2001:db8::9"));
  EXPECT_EQ(ResolveClientAddress(Ip("127.0.0.1"), "198.51.100.1", CidrSet{}), Ip("127.0.0.1"));
}

TEST_F(ResolveTest, TrustedPeerWithoutHeaderIsTheClient) {
  EXPECT_EQ(Resolve("127.0.0.1", ""), Ip("127.0.0.1"));
  EXPECT_EQ(Resolve("127.0.0.1", "  "), Ip("127.0.0.1"));
}

TEST_F(ResolveTest, OneHop) {
  EXPECT_EQ(Resolve("127.0.0.1", "198.51.100.1"), Ip("198.51.100.1"));
  EXPECT_EQ(Resolve("::1", " 2001:db8::1 "), Ip("2001:db8::1"));
  EXPECT_EQ(Resolve("::ffff:127.0.0.1", "198.51.100.1"), Ip("198.51.100.1"));
}

TEST_F(ResolveTest, TwoHops) {
  // The client forged the leftmost element; the first untrusted one from the right is real.
  EXPECT_EQ(Resolve("127.0.0.1", "1.1.1.1, 198.51.100.1"), Ip("198.51.100.1"));
  EXPECT_EQ(Resolve("127.0.0.1", "198.51.100.1, 10.0.0.5"), Ip("198.51.100.1"));
}

TEST_F(ResolveTest, ManyHops) {
  EXPECT_EQ(Resolve("127.0.0.1", "6.6.6.6,198.51.100.1,10.1.1.1,fd00::2,\t10.0.0.5"),
            Ip("198.51.100.1"));
  // Several headers joined by the HTTP layer.
  EXPECT_EQ(Resolve("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.1.1.1"), Ip("198.51.100.1"));
}

TEST_F(ResolveTest, AllTrustedGivesTheLeftmost) {
  EXPECT_EQ(Resolve("127.0.0.1", "10.0.0.7, 10.0.0.8, ::1"), Ip("10.0.0.7"));
}

TEST_F(ResolveTest, GarbageStopsTheWalkAtTheLastGoodAddress) {
  EXPECT_EQ(Resolve("127.0.0.1", "nonsense"), Ip("127.0.0.1"));
  EXPECT_EQ(Resolve("127.0.0.1", "198.51.100.1, unknown"), Ip("127.0.0.1"));
  EXPECT_EQ(Resolve("127.0.0.1", "198.51.100.1, garbage, 10.0.0.5"), Ip("10.0.0.5"));
  EXPECT_EQ(Resolve("127.0.0.1", "198.51.100.1,"), Ip("127.0.0.1"));
  EXPECT_EQ(Resolve("127.0.0.1", "198.51.100.1, , 10.0.0.5"), Ip("10.0.0.5"));
  EXPECT_EQ(Resolve("127.0.0.1", "01.2.3.4"), Ip("127.0.0.1"));
  EXPECT_EQ(Resolve("127.0.0.1", "fe80::1%eth0"), Ip("127.0.0.1"));
  EXPECT_EQ(Resolve("127.0.0.1", std::string("1.2.3.4\0", 8)), Ip("127.0.0.1"));
}

TEST_F(ResolveTest, PortsAndBrackets) {
  EXPECT_EQ(Resolve("127.0.0.1", "198.51.100.1:4711"), Ip("198.51.100.1"));
  EXPECT_EQ(Resolve("127.0.0.1", "[2001:db8::1]"), Ip("2001:db8::1"));
  EXPECT_EQ(Resolve("127.0.0.1", "[2001:db8::1]:443"), Ip("2001:db8::1"));
  for (const char* bad :
       {"198.51.100.1:", "198.51.100.1:65536", "198.51.100.1:x", "[2001:db8::1", "[2001:db8::1]x",
        "[2001:db8::1]:", "[198.51.100.1]", "2001:db8::1:80]", "[2001:db8::1]:123456"}) {
    EXPECT_EQ(Resolve("127.0.0.1", bad), Ip("127.0.0.1")) << bad;
  }
}

TEST_F(ResolveTest, HostileLongHeaderIsBounded) {
  // 10,000 trusted hops: the walk stops after kMaxForwardedHops, at the last one it looked at.
  std::string xff = "198.51.100.1";
  for (int i = 0; i < 10'000; ++i)
    xff += ", 10.0." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256);
  const int last = 10'000 - kMaxForwardedHops;
  const IpAddress expected =
      Ip("10.0." + std::to_string(last / 256 % 256) + "." + std::to_string(last % 256));
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(Resolve("127.0.0.1", xff), expected);
  // 1,000 walks of 16 hops take microseconds each; a walk over the whole header would not.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));

  // 10,000 garbage elements before a real chain change nothing.
  std::string noisy;
  for (int i = 0; i < 10'000; ++i)
    noisy += "x,";
  noisy += "198.51.100.1, 10.0.0.1";
  EXPECT_EQ(Resolve("127.0.0.1", noisy), Ip("198.51.100.1"));
}

TEST_F(ResolveTest, ExactlyTheHopLimit) {
  std::string xff = "198.51.100.1";
  for (int i = 0; i < kMaxForwardedHops - 1; ++i)
    xff += ",10.0.0." + std::to_string(i + 1);
  EXPECT_EQ(Resolve("127.0.0.1", xff), Ip("198.51.100.1"));  // 16 elements looked at
  xff += ",10.0.0.99";
  EXPECT_EQ(Resolve("127.0.0.1", xff), Ip("10.0.0.1"));  // the 17th is never reached
}

}  // namespace
}  // namespace ttlogin::common
