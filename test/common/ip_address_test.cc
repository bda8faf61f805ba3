#include "common/ip_address.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "test/common/address_test_util.h"

namespace ttlogin::common {
namespace {

using testutil::Ip;
using testutil::Prefix;

// --- addresses ---------------------------------------------------------------------------------

TEST(IpAddressTest, ParsesIpv4) {
  const IpAddress a = Ip("1.2.3.4");
  EXPECT_FALSE(a.v6);
  EXPECT_EQ(a.bytes[0], 1);
  EXPECT_EQ(a.bytes[3], 4);
  EXPECT_EQ(a.bytes[4], 0);
  EXPECT_EQ(Ip("255.255.255.255").ToString(), "255.255.255.255");
  EXPECT_EQ(Ip("0.0.0.0").ToString(), "0.0.0.0");
  EXPECT_EQ(Ip("10.0.100.200").ToString(), "10.0.100.200");
}

TEST(IpAddressTest, RejectsMalformedIpv4) {
  for (const char* bad :
       {"",          "256.1.1.1", "1.2.3",     "1.2.3.4.5",  "01.2.3.4",   "1.2.3.04",
        "1.2.3.00",  "1..2.3",    ".1.2.3",    "1.2.3.",     "1.2.3.4 ",   " 1.2.3.4",
        "1.2.3.4\n", "1.2.3.-4",  "1.2.3.+4",  "1234.1.1.1", "1.2.3.4/32", "1.2.3.4:80",
        "0x1.2.3.4", "a.b.c.d",   "[1.2.3.4]", "1.2.3.4%0",  "1,2,3,4",    "999.1.1.1"}) {
    EXPECT_FALSE(ParseIpAddress(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(IpAddressTest, ParsesIpv6) {
  EXPECT_EQ(Ip("::").ToString(), "::");
  EXPECT_TRUE(Ip("::").v6);
  EXPECT_EQ(Ip("::1").ToString(), "::1");
  EXPECT_EQ(Ip("[::1]").ToString(), "::1");
  EXPECT_EQ(Ip("1::").ToString(), "1::");
  EXPECT_EQ(Ip("2001:DB8:0:0:0:0:0:1").ToString(), "2001:db8::1");
  EXPECT_EQ(Ip("2001:0db8:0000:0000:0001:0000:0000:0001").ToString(), "2001:db8::1:0:0:1");
  EXPECT_EQ(Ip("1:2:3:4:5:6:7:8").ToString(), "1:2:3:4:5:6:7:8");
  EXPECT_EQ(Ip("1:0:3:4:5:6:7:8").ToString(), "1:0:3:4:5:6:7:8");  // one zero group: no "::"
  EXPECT_EQ(Ip("1::3:4:5:6:7:8").ToString(), "1:0:3:4:5:6:7:8");   // "::" for one group is valid
  EXPECT_EQ(Ip("1:2:3:4:5:6:7::").ToString(), "1:2:3:4:5:6:7:0");
  EXPECT_EQ(Ip("fe80::1").ToString(), "fe80::1");
  // Embedded IPv4 outside the mapped range stays IPv6.
  EXPECT_EQ(Ip("64:ff9b::1.2.3.4").ToString(), "64:ff9b::102:304");
  EXPECT_EQ(Ip("::1.2.3.4").ToString(), "::102:304");
  EXPECT_EQ(Ip("1:2:3:4:5:6:1.2.3.4").ToString(), "1:2:3:4:5:6:102:304");
}

TEST(IpAddressTest, MappedIpv6IsIpv4) {
  const IpAddress a = Ip("::ffff:1.2.3.4");
  EXPECT_FALSE(a.v6);
  EXPECT_EQ(a, Ip("1.2.3.4"));
  EXPECT_EQ(Ip("::FFFF:0102:0304"), Ip("1.2.3.4"));
  EXPECT_EQ(Ip("[::ffff:10.0.0.1]"), Ip("10.0.0.1"));
  EXPECT_EQ(Ip("0:0:0:0:0:ffff:a00:1"), Ip("10.0.0.1"));
  EXPECT_EQ(IpAddress::V6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1}), Ip("10.0.0.1"));
  EXPECT_TRUE(Ip("::fffe:1.2.3.4").v6);
}

TEST(IpAddressTest, RejectsMalformedIpv6) {
  for (const char* bad : {":",
                          ":::",
                          "1:::2",
                          "1::2::3",
                          ":1::",
                          "1:",
                          ":1",
                          "1:2:3:4:5:6:7:8:9",
                          "1:2:3:4:5:6:7:8::",
                          "::1:2:3:4:5:6:7:8",
                          "1:2:3:4:5:6:7",
                          "12345::",
                          "g::",
                          "::1 ",
                          "fe80::1%eth0",
                          "[::1",
                          "::1]",
                          "[::1]:80",
                          "::1.2.3",
                          "::1.2.3.4.5",
                          "::01.2.3.4",
                          "1:2:3:4:5:6:7:1.2.3.4",
                          "::1.2.3.4:5",
                          "1.2.3.4::",
                          "::ffff:256.1.1.1",
                          "[]",
                          "[:]",
                          "::-1",
                          "::+1",
                          "0x1::"}) {
    EXPECT_FALSE(ParseIpAddress(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(IpAddressTest, ToStringRoundTrips) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::array<std::uint8_t, 16> b{};
    for (auto& x : b)
      x = (rng() % 3 == 0) ? static_cast<std::uint8_t>(rng()) : 0;  // plenty of zero runs
    const IpAddress a = IpAddress::V6(b);
    const auto again = ParseIpAddress(a.ToString());
    ASSERT_TRUE(again.has_value()) << a.ToString();
    EXPECT_EQ(*again, a) << a.ToString();
  }
}

// --- prefixes ----------------------------------------------------------------------------------

TEST(IpPrefixTest, ParsesAndNormalises) {
  std::string error;
  auto p = ParseIpPrefix("10.0.0.0/8", &error);
  ASSERT_TRUE(p.has_value()) << error;
  EXPECT_EQ(p->ToString(), "10.0.0.0/8");
  EXPECT_EQ(ParseIpPrefix("1.2.3.4", &error)->length, 32);
  EXPECT_EQ(ParseIpPrefix("::1", &error)->length, 128);
  EXPECT_EQ(ParseIpPrefix("0.0.0.0/0", &error)->length, 0);
  EXPECT_EQ(ParseIpPrefix("::/0", &error)->ToString(), "::/0");
  EXPECT_EQ(ParseIpPrefix("::ffff:10.0.0.0/104", &error)->ToString(), "10.0.0.0/8");
  EXPECT_EQ(ParseIpPrefix("::ffff:0.0.0.0/96", &error)->ToString(), "0.0.0.0/0");
  EXPECT_EQ(ParseIpPrefix("::ffff:1.2.3.4", &error)->ToString(), "1.2.3.4/32");
  EXPECT_EQ(ParseIpPrefix("[2001:db8::]/32", &error)->ToString(), "2001:db8::/32");
}

TEST(IpPrefixTest, ErrorsSayWhy) {
  std::string error;
  EXPECT_FALSE(ParseIpPrefix("10.0.0.0/33", &error));
  EXPECT_EQ(error, "bad prefix length in '10.0.0.0/33' (IPv4 allows /0 to /32)");
  EXPECT_FALSE(ParseIpPrefix("::/129", &error));
  EXPECT_EQ(error, "bad prefix length in '::/129' (IPv6 allows /0 to /128)");
  for (const char* bad : {"10.0.0.0/", "10.0.0.0/08", "10.0.0.0/-1", "10.0.0.0/8/8", "10.0.0.0/ 8",
                          "10.0.0.0/1000", "10.0.0.0/x"}) {
    EXPECT_FALSE(ParseIpPrefix(bad, &error)) << bad;
    EXPECT_NE(error.find("bad prefix length"), std::string::npos) << error;
  }
  EXPECT_FALSE(ParseIpPrefix("10.1.0.0/8", &error));
  EXPECT_EQ(error, "'10.1.0.0/8' has host bits set beyond /8 (the network is 10.0.0.0/8)");
  EXPECT_FALSE(ParseIpPrefix("2001:db8::1/32", &error));
  EXPECT_EQ(error, "'2001:db8::1/32' has host bits set beyond /32 (the network is 2001:db8::/32)");
  EXPECT_FALSE(ParseIpPrefix("10.0.0.300/8", &error));
  EXPECT_EQ(error, "'10.0.0.300' is not an IPv4 or IPv6 address");
  EXPECT_FALSE(ParseIpPrefix(std::string("1.2.3.4\x01", 8), &error));
  EXPECT_EQ(error, "'1.2.3.4\\x01' is not an IPv4 or IPv6 address");
}

TEST(IpPrefixTest, ContainsTheNetworkAndNothingElse) {
  const IpPrefix v4 = Prefix("10.1.128.0/17");
  EXPECT_TRUE(v4.Contains(Ip("10.1.128.0")));
  EXPECT_TRUE(v4.Contains(Ip("10.1.255.255")));
  EXPECT_TRUE(v4.Contains(Ip("::ffff:10.1.200.1")));  // the mapped form is the same address
  EXPECT_FALSE(v4.Contains(Ip("10.1.127.255")));
  EXPECT_FALSE(v4.Contains(Ip("10.2.128.0")));
  const IpPrefix v6 = Prefix("2001:db8:8000::/33");
  EXPECT_TRUE(v6.Contains(Ip("2001:db8:8000::")));
  EXPECT_TRUE(v6.Contains(Ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(v6.Contains(Ip("2001:db8:7fff:ffff:ffff:ffff:ffff:ffff")));
  // A default route covers its own family only.
  EXPECT_TRUE(Prefix("0.0.0.0/0").Contains(Ip("255.255.255.255")));
  EXPECT_FALSE(Prefix("0.0.0.0/0").Contains(Ip("::")));
  EXPECT_TRUE(Prefix("::/0").Contains(Ip("ffff::")));
  EXPECT_FALSE(Prefix("::/0").Contains(Ip("0.0.0.0")));
  EXPECT_FALSE(Prefix("::/0").Contains(Ip("::ffff:1.2.3.4")));
  // A host route contains exactly its address.
  EXPECT_TRUE(Prefix("2001:db8::1").Contains(Ip("2001:db8::1")));
  EXPECT_FALSE(Prefix("2001:db8::1").Contains(Ip("2001:db8::")));
}

// The trie is built in this order, so that a longer prefix overwrites a shorter one: every IPv4
// prefix, then every IPv6 one; within a family shortest first; repeats of a network adjacent.
TEST(IpPrefixTest, PrefixLessIsFamilyThenLengthThenAddress) {
  std::vector<IpPrefix> prefixes;
  for (const char* text : {"2001:db8::/32", "10.1.0.0/16", "::/0", "10.0.0.0/8", "9.0.0.0/8",
                           "10.1.0.0/16", "0.0.0.0/0", "2001:db8::1", "::ffff:10.0.0.0/104"}) {
    prefixes.push_back(Prefix(text));
  }
  std::sort(prefixes.begin(), prefixes.end(), PrefixLess);
  std::vector<std::string> sorted;
  for (const IpPrefix& p : prefixes)
    sorted.push_back(p.ToString());
  EXPECT_EQ(sorted, (std::vector<std::string>{"0.0.0.0/0", "9.0.0.0/8", "10.0.0.0/8", "10.0.0.0/8",
                                              "10.1.0.0/16", "10.1.0.0/16", "::/0", "2001:db8::/32",
                                              "2001:db8::1/128"}));
  for (const IpPrefix& p : prefixes)
    EXPECT_FALSE(PrefixLess(p, p)) << p.ToString();  // irreflexive: a strict order
}

}  // namespace
}  // namespace ttlogin::common
