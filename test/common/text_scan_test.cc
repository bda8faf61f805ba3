#include "common/text_scan.h"

#include <gtest/gtest.h>

#include <string>

namespace ttlogin::common::text {
namespace {

TEST(TextScanTest, TrimRemovesAsciiBlanksOnly) {
  EXPECT_EQ(Trim(" \t\r\n\v\fx y\f\v\n\r\t "), "x y");
  EXPECT_EQ(Trim("   "), "");
  EXPECT_EQ(Trim(""), "");
  EXPECT_EQ(Trim("\xa0x\xa0"), "\xa0x\xa0");  // a Latin-1 no-break space is not a blank
  EXPECT_EQ(Trim(std::string_view("\0x\0", 3)), std::string_view("\0x\0", 3));
}

TEST(TextScanTest, DigitsAreAsciiDigits) {
  for (char c = '0'; c <= '9'; ++c)
    EXPECT_TRUE(IsDigit(c)) << c;
  for (const char c : {'/', ':', 'a', ' ', '\xb2'})  // '\xb2' is a superscript 2 in Latin-1
    EXPECT_FALSE(IsDigit(c)) << c;
}

TEST(TextScanTest, QuoteEscapesBytesALogCannotShow) {
  EXPECT_EQ(Quote("10.0.0.0/8"), "'10.0.0.0/8'");
  EXPECT_EQ(Quote(""), "''");
  EXPECT_EQ(Quote(std::string("a\0b", 3)), "'a\\x00b'");
  EXPECT_EQ(Quote("tab\there\r\n"), "'tab\\x09here\\x0d\\x0a'");
  EXPECT_EQ(Quote("\x7f\xc3\xa9"), "'\\x7f\\xc3\\xa9'");
}

TEST(TextScanTest, QuoteCutsLongText) {
  const std::string exact(kMaxQuoted, 'x');
  EXPECT_EQ(Quote(exact), "'" + exact + "'");
  EXPECT_EQ(Quote(exact + "y"), "'" + exact + "...'");
  EXPECT_EQ(Quote(std::string(100'000, 'z')).size(), kMaxQuoted + 5);  // quotes and "..."
}

}  // namespace
}  // namespace ttlogin::common::text
