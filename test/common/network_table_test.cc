#include "common/network_table.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <vector>

namespace ttlogin::common {
namespace {

IpAddress Ip(std::string_view text) {
  const auto a = ParseIpAddress(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress{});
}

NetworkTable Table(std::string_view text) {
  std::string error;
  auto table = NetworkTable::Parse(text, "t", &error);
  EXPECT_TRUE(table.has_value()) << error;
  return table ? std::move(*table) : NetworkTable{};
}

// The errors Parse reports for `text`, or "" when it loads.
std::string Errors(std::string_view text) {
  std::string error;
  if (NetworkTable::Parse(text, "t", &error)) return "";
  EXPECT_FALSE(error.empty());
  return error;
}

CidrSet Set(std::string_view list) {
  std::string error;
  auto set = CidrSet::Parse(list, &error);
  EXPECT_TRUE(set.has_value()) << error;
  return set ? std::move(*set) : CidrSet{};
}

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

// --- longest-prefix match ----------------------------------------------------------------------

TEST(NetworkTableTest, LongestPrefixWins) {
  const NetworkTable t = Table(
      "10.0.0.0/8 ip1\n"
      "10.1.0.0/16 ip2\n"
      "10.1.2.0/24 ip1\n"
      "10.1.2.3/32 ip2\n"
      "10.1.2.128/25 ip2\n"
      "10.255.0.0/17 ip2\n");
  EXPECT_EQ(t.size(), 6u);
  EXPECT_EQ(t.Lookup(Ip("10.9.9.9")), AddressPreference::kIp1);
  EXPECT_EQ(t.Lookup(Ip("10.1.9.9")), AddressPreference::kIp2);
  EXPECT_EQ(t.Lookup(Ip("10.1.2.4")), AddressPreference::kIp1);
  EXPECT_EQ(t.Lookup(Ip("10.1.2.3")), AddressPreference::kIp2);
  EXPECT_EQ(t.Lookup(Ip("10.1.2.127")), AddressPreference::kIp1);
  EXPECT_EQ(t.Lookup(Ip("10.1.2.128")), AddressPreference::kIp2);
  EXPECT_EQ(t.Lookup(Ip("10.255.127.255")), AddressPreference::kIp2);
  EXPECT_EQ(t.Lookup(Ip("10.255.128.0")), AddressPreference::kIp1);
  EXPECT_EQ(t.Lookup(Ip("11.0.0.0")), AddressPreference::kNone);
  EXPECT_EQ(t.Lookup(Ip("9.255.255.255")), AddressPreference::kNone);
  EXPECT_EQ(t.Lookup(Ip("::ffff:10.1.2.3")), AddressPreference::kIp2);
  EXPECT_EQ(t.Lookup(Ip("::a01:203")), AddressPreference::kNone);  // IPv4-compatible is not v4
}

TEST(NetworkTableTest, InsertionOrderDoesNotMatter) {
  const NetworkTable t = Table(
      "10.1.2.3/32 ip2\n"
      "10.1.2.0/24 ip1\n"
      "10.1.0.0/16 ip2\n"
      "10.0.0.0/8 ip1\n");
  EXPECT_EQ(t.Lookup(Ip("10.1.2.3")), AddressPreference::kIp2);
  EXPECT_EQ(t.Lookup(Ip("10.1.2.4")), AddressPreference::kIp1);
  EXPECT_EQ(t.Lookup(Ip("10.1.3.4")), AddressPreference::kIp2);
  EXPECT_EQ(t.Lookup(Ip("10.2.3.4")), AddressPreference::kIp1);
}

TEST(NetworkTableTest, DefaultRoutesAndHostRoutes) {
  const NetworkTable t = Table(
      "0.0.0.0/0 ip1\n"
      "::/0 ip2\n"
      "2001:db8::/32 ip1\n"
      "2001:db8::1/128 ip2\n"
      "255.255.255.255 ip2\n"
      "0.0.0.0/1 ip2\n");
  EXPECT_EQ(t.Lookup(Ip("200.1.1.1")), AddressPreference::kIp1);
  EXPECT_EQ(t.Lookup(Ip("100.1.1.1")), AddressPreference::kIp2);
  EXPECT_EQ(t.Lookup(Ip("0.0.0.0")), AddressPreference::kIp2);
  EXPECT_EQ(t.Lookup(Ip("255.255.255.254")), AddressPreference::kIp1);
  EXPECT_EQ(t.Lookup(Ip("255.255.255.255")), AddressPreference::kIp2);
  EXPECT_EQ(t.Lookup(Ip("fe80::1")), AddressPreference::kIp2);
  EXPECT_EQ(t.Lookup(Ip("2001:db8::2")), AddressPreference::kIp1);
  EXPECT_EQ(t.Lookup(Ip("2001:db8::1")), AddressPreference::kIp2);
  EXPECT_EQ(t.Lookup(Ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")), AddressPreference::kIp1);
  EXPECT_EQ(t.Lookup(Ip("2001:db9::")), AddressPreference::kIp2);
  EXPECT_EQ(t.Lookup(Ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), AddressPreference::kIp2);
}

TEST(NetworkTableTest, Ipv6OnlyTableDoesNotMatchIpv4) {
  const NetworkTable t = Table("::/0 ip2\n::/96 ip1\n");
  EXPECT_EQ(t.Lookup(Ip("1.2.3.4")), AddressPreference::kNone);
  EXPECT_EQ(t.Lookup(Ip("::ffff:1.2.3.4")), AddressPreference::kNone);
  EXPECT_EQ(t.Lookup(Ip("::1")), AddressPreference::kIp1);
}

TEST(NetworkTableTest, MappedPrefixesAreIpv4) {
  const NetworkTable t = Table("::ffff:10.0.0.0/104 ip2\n");
  EXPECT_EQ(t.Lookup(Ip("10.2.3.4")), AddressPreference::kIp2);
}

TEST(NetworkTableTest, EmptyTableMatchesNothing) {
  const NetworkTable t = Table("# only a comment\n\n   \n");
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.Lookup(Ip("1.2.3.4")), AddressPreference::kNone);
  EXPECT_EQ(t.Lookup(Ip("::1")), AddressPreference::kNone);
  EXPECT_EQ(NetworkTable{}.Lookup(Ip("::1")), AddressPreference::kNone);
}

TEST(NetworkTableTest, CommentsBlanksAndCase) {
  const NetworkTable t = Table(
      "# carrier B\n"
      "  10.0.0.0/8\tIP2   # trailing comment\r\n"
      "\t\n"
      "192.168.0.0/16 Ip1#no blank before the comment\n"
      "172.16.0.0/12 ip1");  // no final newline
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.Lookup(Ip("10.1.1.1")), AddressPreference::kIp2);
  EXPECT_EQ(t.Lookup(Ip("192.168.1.1")), AddressPreference::kIp1);
  EXPECT_EQ(t.Lookup(Ip("172.31.1.1")), AddressPreference::kIp1);
}

TEST(NetworkTableTest, SameNetworkTwiceWithSamePreferenceIsFine) {
  const NetworkTable t = Table("10.0.0.0/8 ip2\n10.0.0.0/8 ip2\n::ffff:10.0.0.0/104 IP2\n");
  EXPECT_EQ(t.size(), 1u);
}

// --- errors ------------------------------------------------------------------------------------

TEST(NetworkTableTest, EachMalformedLineIsNamed) {
  EXPECT_EQ(Errors("10.0.0.0/8 ip1\nfoo ip1\n"), "t:2: 'foo' is not an IPv4 or IPv6 address");
  EXPECT_EQ(Errors("\n\n10.0.0.0/33 ip1\n"),
            "t:3: bad prefix length in '10.0.0.0/33' (IPv4 allows /0 to /32)");
  EXPECT_EQ(Errors("2001:db8::/129 ip1"),
            "t:1: bad prefix length in '2001:db8::/129' (IPv6 allows /0 to /128)");
  EXPECT_EQ(Errors("10.0.0.1/8 ip1"),
            "t:1: '10.0.0.1/8' has host bits set beyond /8 (the network is 10.0.0.0/8)");
  EXPECT_EQ(Errors("10.0.0.0/8 ip3"), "t:1: unknown preference 'ip3' (expected ip1 or ip2)");
  EXPECT_EQ(Errors("10.0.0.0/8 ip"), "t:1: unknown preference 'ip' (expected ip1 or ip2)");
  EXPECT_EQ(Errors("10.0.0.0/8   # ip1"),
            "t:1: missing preference after '10.0.0.0/8' (expected ip1 or ip2)");
  EXPECT_EQ(Errors("10.0.0.0/8 ip1 ip2"),
            "t:1: unexpected 'ip2' after the preference (one '<network> <ip1|ip2>' per line)");
  EXPECT_EQ(Errors("10.0.0.0/8 ip1\n\n10.0.0.0/8 ip2\n"),
            "t:3: 10.0.0.0/8 is given ip2 here but ip1 on line 1");
  EXPECT_EQ(Errors("::ffff:10.0.0.0/104 ip1\n10.0.0.0/8 ip2\n"),
            "t:2: 10.0.0.0/8 is given ip2 here but ip1 on line 1");
  EXPECT_EQ(Errors("10.0.0.0/8,ip1"),
            "t:1: bad prefix length in '10.0.0.0/8,ip1' (IPv4 allows /0 to /32)");
}

TEST(NetworkTableTest, AllErrorsInLineOrder) {
  EXPECT_EQ(Errors("1.1.1.1 ip1\n"
                   "bad\n"
                   "1.1.1.1 ip2\n"
                   "2.2.2.2 ip9\n"
                   "1.1.1.1 ip2\n"),
            "t:2: 'bad' is not an IPv4 or IPv6 address\n"
            "t:3: 1.1.1.1/32 is given ip2 here but ip1 on line 1\n"
            "t:4: unknown preference 'ip9' (expected ip1 or ip2)\n"
            "t:5: 1.1.1.1/32 is given ip2 here but ip1 on line 1");
}

TEST(NetworkTableTest, ErrorListIsBounded) {
  std::string text;
  for (int i = 0; i < 30; ++i)
    text += "bad" + std::to_string(i) + " ip1\n";
  for (int i = 0; i < 30; ++i)
    text += "9.9.9." + std::to_string(i) + " ip" + std::to_string(1 + i % 2) + "\n";
  for (int i = 0; i < 30; ++i)
    text += "9.9.9." + std::to_string(i) + " ip" + std::to_string(2 - i % 2) + "\n";
  const std::string errors = Errors(text);
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start <= errors.size()) {
    const std::size_t end = std::min(errors.find('\n', start), errors.size());
    lines.push_back(errors.substr(start, end - start));
    start = end + 1;
  }
  ASSERT_EQ(lines.size(), kMaxNetworkTableErrors + 1) << errors;
  EXPECT_EQ(lines[0], "t:1: 'bad0' is not an IPv4 or IPv6 address");
  EXPECT_EQ(lines[19], "t:20: 'bad19' is not an IPv4 or IPv6 address");
  EXPECT_EQ(lines[20], "t: 40 more errors not shown");
}

TEST(NetworkTableTest, ConflictsBeforeLaterSyntaxErrorsAreListedFirst) {
  std::string text = "1.1.1.1 ip1\n1.1.1.1 ip2\n";
  for (int i = 0; i < 30; ++i)
    text += "bad\n";
  const std::string errors = Errors(text);
  EXPECT_EQ(errors.rfind("t:2: 1.1.1.1/32 is given ip2 here but ip1 on line 1\nt:3: ", 0), 0u)
      << errors;
  EXPECT_NE(errors.find("t: 11 more errors not shown"), std::string::npos) << errors;
}

// A lone IPv6 host route takes 28 nodes below the 16-bit root (112 bits in 4-bit steps); a table
// needing more nodes than allowed is refused, saying why.
TEST(NetworkTableTest, NodeBudgetIsExact) {
  std::string error;
  EXPECT_TRUE(NetworkTable::Parse("2001:db8::1 ip1", "t", &error, 28).has_value()) << error;
  EXPECT_FALSE(NetworkTable::Parse("2001:db8::1 ip1", "t", &error, 27).has_value());
  EXPECT_EQ(error.rfind("t: its 1 networks need more than 27 lookup nodes", 0), 0u) << error;
  // Prefixes sharing their path share its nodes: two host routes in one /124 need 28, not 56.
  EXPECT_TRUE(NetworkTable::Parse("2001:db8::1 ip1\n2001:db8::2 ip2", "t", &error, 28));
  // IPv4 below the root: a /32 takes 4 nodes; both families count against one budget.
  EXPECT_TRUE(NetworkTable::Parse("10.1.2.3 ip2\n2001:db8::1 ip1", "t", &error, 32));
  EXPECT_FALSE(NetworkTable::Parse("10.1.2.3 ip2\n2001:db8::1 ip1", "t", &error, 31));
  // Prefixes of at most 16 bits live in the root and need no node.
  EXPECT_TRUE(NetworkTable::Parse("10.0.0.0/8 ip2\n2001::/16 ip1", "t", &error, 0));
}

// The default budget holds against a hostile file: random IPv6 host routes share nothing, so
// 200,000 of them would need about 5 million 64-byte nodes (25 each below the shared top levels);
// the table is refused at the cap (256 MiB) instead of taking what it asks for.
TEST(NetworkTableTest, HostileHostRoutesAreRefusedAtTheMemoryCap) {
  std::mt19937_64 rng(7);
  std::string text;
  for (int i = 0; i < 200'000; ++i) {
    std::array<std::uint8_t, 16> b{};
    for (std::size_t k = 0; k < b.size(); k += 8) {
      const auto r = rng();
      for (std::size_t j = 0; j < 8; ++j)
        b[k + j] = static_cast<std::uint8_t>(r >> (8 * j));
    }
    b[0] = 0x20;  // not ::ffff:0:0/96 (that would be IPv4)
    text += IpAddress::V6(b).ToString() + " ip1\n";
  }
  std::string error;
  EXPECT_FALSE(NetworkTable::Parse(text, "t", &error).has_value());
  EXPECT_NE(error.find("need more than 4194304 lookup nodes (256 MiB)"), std::string::npos)
      << error;
}

TEST(NetworkTableTest, NullErrorPointerIsAllowed) {
  EXPECT_FALSE(NetworkTable::Parse("bad", "t", nullptr).has_value());
  EXPECT_TRUE(NetworkTable::Parse("1.2.3.4 ip1", "t", nullptr).has_value());
}

// --- files -------------------------------------------------------------------------------------

class NetworkTableFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("network_table_test." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }
  std::filesystem::path dir_;
};

TEST_F(NetworkTableFileTest, LoadsAFile) {
  const std::string path = Write("table.txt", "10.0.0.0/8 ip2\n");
  std::string error;
  const auto t = NetworkTable::LoadFile(path, &error);
  ASSERT_TRUE(t.has_value()) << error;
  EXPECT_EQ(t->Lookup(Ip("10.1.1.1")), AddressPreference::kIp2);
}

TEST_F(NetworkTableFileTest, EmptyFileIsAnEmptyTable) {
  std::string error;
  const auto t = NetworkTable::LoadFile(Write("empty.txt", ""), &error);
  ASSERT_TRUE(t.has_value()) << error;
  EXPECT_EQ(t->size(), 0u);
}

TEST_F(NetworkTableFileTest, LineErrorsNameTheFile) {
  const std::string path = Write("bad.txt", "10.0.0.0/8 ip2\n10.0.0.0/8 ip1\n");
  std::string error;
  EXPECT_FALSE(NetworkTable::LoadFile(path, &error));
  EXPECT_EQ(error, path + ":2: 10.0.0.0/8 is given ip1 here but ip2 on line 1");
}

TEST_F(NetworkTableFileTest, FileErrors) {
  std::string error;
  const std::string missing = (dir_ / "missing.txt").string();
  EXPECT_FALSE(NetworkTable::LoadFile(missing, &error));
  EXPECT_EQ(error, missing + ": cannot open: No such file or directory");
  EXPECT_FALSE(NetworkTable::LoadFile(dir_.string(), &error));
  EXPECT_EQ(error, dir_.string() + ": is a directory, not a regular file");
  EXPECT_FALSE(NetworkTable::LoadFile("/dev/null", &error));
  EXPECT_EQ(error, "/dev/null: is a character device, not a regular file");
}

// Opening a FIFO for reading blocks until a writer comes, so the table must be refused by its
// type before any open. Run on another thread so that a regression fails instead of hanging.
TEST_F(NetworkTableFileTest, FifoIsRefusedWithoutBlocking) {
  const std::string path = (dir_ / "table.fifo").string();
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto load = std::async(std::launch::async, [path] {
    std::string error;
    const bool loaded = NetworkTable::LoadFile(path, &error).has_value();
    return std::make_pair(loaded, error);
  });
  if (load.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    // Unblock the reader with a writer so the test can end, then fail.
    const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
    FAIL() << "NetworkTable::LoadFile blocked on a FIFO";
  }
  const auto [loaded, error] = load.get();
  EXPECT_FALSE(loaded);
  EXPECT_EQ(error, path + ": is a FIFO (named pipe), not a regular file");
}

TEST_F(NetworkTableFileTest, TooBigFileIsRefusedWithoutReadingIt) {
  const std::string path = Write("big.txt", "");
  std::filesystem::resize_file(path, kMaxNetworkTableFileSize + 1);  // sparse
  std::string error;
  EXPECT_FALSE(NetworkTable::LoadFile(path, &error));
  EXPECT_EQ(error, path + ": larger than 64 MiB; this is not a carrier table");
}

// --- CidrSet -----------------------------------------------------------------------------------

TEST(CidrSetTest, ParsesListsWithCommasAndBlanks) {
  const CidrSet s = Set("127.0.0.1/32, 10.0.0.0/8 ::1\t2001:db8::/32,,192.168.1.1");
  EXPECT_EQ(s.size(), 5u);
  EXPECT_TRUE(s.Contains(Ip("127.0.0.1")));
  EXPECT_FALSE(s.Contains(Ip("127.0.0.2")));
  EXPECT_TRUE(s.Contains(Ip("10.200.0.1")));
  EXPECT_TRUE(s.Contains(Ip("::ffff:10.200.0.1")));
  EXPECT_TRUE(s.Contains(Ip("::1")));
  EXPECT_FALSE(s.Contains(Ip("::2")));
  EXPECT_TRUE(s.Contains(Ip("2001:db8:1::5")));
  EXPECT_TRUE(s.Contains(Ip("192.168.1.1")));
  EXPECT_FALSE(s.Contains(Ip("192.168.1.2")));
  EXPECT_FALSE(s.empty());
}

TEST(CidrSetTest, EmptyListIsEmptySet) {
  for (const char* list : {"", " ", " , ,\t"}) {
    const CidrSet s = Set(list);
    EXPECT_TRUE(s.empty());
    EXPECT_FALSE(s.Contains(Ip("127.0.0.1")));
  }
  EXPECT_TRUE(CidrSet{}.empty());
}

TEST(CidrSetTest, DuplicatesAndOverlapsAreFine) {
  const CidrSet s = Set("10.0.0.0/8 10.0.0.0/8 10.1.0.0/16");
  EXPECT_EQ(s.size(), 2u);
  EXPECT_TRUE(s.Contains(Ip("10.1.2.3")));
}

TEST(CidrSetTest, FirstBadElementIsNamed) {
  std::string error;
  EXPECT_FALSE(CidrSet::Parse("10.0.0.0/8, 10.0.0.1/33, nonsense", &error));
  EXPECT_EQ(error, "bad prefix length in '10.0.0.1/33' (IPv4 allows /0 to /32)");
  EXPECT_FALSE(CidrSet::Parse("10.0.0.0/8; 127.0.0.1", &error));
  EXPECT_EQ(error,
            "bad prefix length in '10.0.0.0/8;' (IPv4 allows /0 to /32)");  // not a separator
  EXPECT_FALSE(CidrSet::Parse("10.0.0.1/8", &error));
  EXPECT_EQ(error, "'10.0.0.1/8' has host bits set beyond /8 (the network is 10.0.0.0/8)");
}

// --- X-Forwarded-For ---------------------------------------------------------------------------

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

// --- the trie against a linear scan ------------------------------------------------------------

struct Ref {
  IpPrefix prefix;
  AddressPreference preference;
};

// The plainest longest-prefix match: every network, as two 64-bit words and a mask (so that a
// Debug or sanitizer build gets through 100,000 x 3,000 comparisons in a few seconds).
class LinearScan {
 public:
  explicit LinearScan(const std::vector<Ref>& refs) {
    for (const Ref& r : refs) {
      Row row;
      row.v6 = r.prefix.address.v6;
      row.length = r.prefix.length;
      row.preference = r.preference;
      const Words w = ToWords(r.prefix.address);
      row.hi = w.hi;
      row.lo = w.lo;
      // IPv4 sits in the top 32 bits of hi with zeros after it, so one mask rule fits both.
      const int top = row.length;
      row.mask_hi = top >= 64 ? ~0ULL : top == 0 ? 0 : ~0ULL << (64 - top);
      row.mask_lo = top <= 64 ? 0 : top >= 128 ? ~0ULL : ~0ULL << (128 - top);
      rows_.push_back(row);
    }
  }
  AddressPreference Lookup(const IpAddress& a) const {
    const Words w = ToWords(a);
    int best = -1;
    AddressPreference out = AddressPreference::kNone;
    for (const Row& r : rows_) {
      if (r.v6 == a.v6 && r.length > best && (w.hi & r.mask_hi) == r.hi &&
          (w.lo & r.mask_lo) == r.lo) {
        best = r.length;
        out = r.preference;
      }
    }
    return out;
  }

 private:
  struct Words {
    std::uint64_t hi = 0, lo = 0;
  };
  struct Row {
    bool v6;
    int length;
    AddressPreference preference;
    std::uint64_t hi, lo, mask_hi, mask_lo;
  };
  static Words ToWords(const IpAddress& a) {
    Words w;
    for (int i = 0; i < 8; ++i) {
      w.hi = (w.hi << 8) | a.bytes[i];
      w.lo = (w.lo << 8) | a.bytes[8 + i];
    }
    return w;
  }
  std::vector<Row> rows_;
};

TEST(NetworkTableTest, MatchesALinearScanOnRandomTables) {
  std::mt19937_64 rng(20240607);
  // Clustered so that prefixes nest: a few /12 "carriers" with random sub-networks inside.
  std::vector<IpAddress> bases;
  for (int i = 0; i < 8; ++i) {
    const auto r = rng();
    bases.push_back(
        IpAddress::V4({static_cast<std::uint8_t>(r), static_cast<std::uint8_t>(r >> 8), 0, 0}));
    std::array<std::uint8_t, 16> b{0x20, 0x01, static_cast<std::uint8_t>(r >> 16)};
    bases.push_back(IpAddress::V6(b));
  }
  const auto random_near = [&](const IpAddress& base) {
    IpAddress a = base;
    const int fixed = base.v6 ? 3 : 2;  // keep the cluster's leading bytes
    for (int i = fixed; i < a.bit_length() / 8; ++i)
      a.bytes[i] = static_cast<std::uint8_t>(rng());
    if (rng() % 8 == 0) a.bytes[fixed - 1] ^= static_cast<std::uint8_t>(rng());
    return a;
  };
  std::string text;
  std::vector<Ref> refs;
  for (int i = 0; i < 3000; ++i) {
    const IpAddress a = random_near(bases[rng() % bases.size()]);
    const int bits = a.bit_length();
    int length = static_cast<int>(rng() % (bits + 1));
    if (rng() % 2 == 0) length = a.v6 ? 24 + static_cast<int>(rng() % 41) : 8 + rng() % 25;
    IpPrefix p{a, length};
    for (int bit = length; bit < bits; ++bit)
      p.address.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
    bool duplicate = false;
    for (const Ref& r : refs)
      duplicate = duplicate || r.prefix == p;
    if (duplicate) continue;
    const auto pref = rng() % 2 == 0 ? AddressPreference::kIp1 : AddressPreference::kIp2;
    refs.push_back({p, pref});
    text += p.ToString() + " " + std::string(ToString(pref)) + "\n";
  }
  const NetworkTable t = Table(text);
  ASSERT_EQ(t.size(), refs.size());
  const LinearScan scan(refs);
  int matched = 0;
  for (int i = 0; i < 100'000; ++i) {
    IpAddress a;
    if (i % 3 == 0) {
      // Right at a prefix boundary: the first or last address of a listed network, or just
      // outside it.
      const Ref& r = refs[rng() % refs.size()];
      a = r.prefix.address;
      if (rng() % 2 == 0)
        for (int bit = r.prefix.length; bit < a.bit_length(); ++bit)
          a.bytes[bit / 8] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
      if (rng() % 2 == 0 && r.prefix.length > 0) {
        const int bit = r.prefix.length - 1;
        a.bytes[bit / 8] ^= static_cast<std::uint8_t>(0x80 >> (bit % 8));
      }
    } else {
      a = random_near(bases[rng() % bases.size()]);
    }
    const AddressPreference want = scan.Lookup(a);
    matched += want != AddressPreference::kNone;
    ASSERT_EQ(t.Lookup(a), want) << a.ToString();
  }
  EXPECT_GT(matched, 50'000);  // the test exercises matches, not only misses
}

TEST(NetworkTableTest, LoadsAHundredThousandPrefixes) {
  std::mt19937_64 rng(1);
  std::string text;
  for (int i = 0; i < 50'000; ++i) {
    const auto r = rng();
    IpPrefix v4{IpAddress::V4({static_cast<std::uint8_t>(r), static_cast<std::uint8_t>(r >> 8),
                               static_cast<std::uint8_t>(r >> 16), 0}),
                24};
    text += v4.ToString() + " ip1\n";
    std::array<std::uint8_t, 16> b{0x24,
                                   static_cast<std::uint8_t>(r >> 24),
                                   static_cast<std::uint8_t>(r >> 32),
                                   static_cast<std::uint8_t>(r >> 40),
                                   static_cast<std::uint8_t>(r >> 48),
                                   static_cast<std::uint8_t>(r >> 56)};
    text += IpPrefix{IpAddress::V6(b), 48}.ToString() + " ip2\n";
  }
  const auto start = std::chrono::steady_clock::now();
  const NetworkTable t = Table(text);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GT(t.size(), 99'000u);
  std::printf(
      "100,000 prefixes: loaded in %lld ms, %zu bytes\n",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()),
      t.MemoryBytes());
  EXPECT_LT(took, std::chrono::seconds(10));  // generous: Debug and sanitizer builds run this too
}

}  // namespace
}  // namespace ttlogin::common
