#include "common/cidr_set.h"

#include <gtest/gtest.h>

#include <string>

#include "test/common/address_test_util.h"

namespace ttlogin::common {
namespace {

using testutil::Ip;
using testutil::Set;

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

}  // namespace
}  // namespace ttlogin::common
