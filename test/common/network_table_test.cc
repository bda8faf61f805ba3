#include "common/network_table.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <vector>

#include "test/common/address_test_util.h"

namespace ttlogin::common {
namespace {

using testutil::Ip;

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

TEST(NetworkTableTest, PreferenceNames) {
  EXPECT_EQ(ToString(AddressPreference::kNone), "none");
  EXPECT_EQ(ToString(AddressPreference::kIp1), "ip1");
  EXPECT_EQ(ToString(AddressPreference::kIp2), "ip2");
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
