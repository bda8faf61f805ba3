#include "common/json_text.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

namespace ttlogin::common {
namespace {

std::string Escaped(std::string_view text) {
  std::string out;
  AppendJsonEscaped(out, text);
  return out;
}

TEST(JsonTextTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(Escaped("plain 10.0.0.1"), "plain 10.0.0.1");
  EXPECT_EQ(Escaped("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(Escaped("\n\r\t"), "\\n\\r\\t");
  EXPECT_EQ(Escaped(std::string_view("\x00\x01\x1f\x7f", 4)), "\\u0000\\u0001\\u001f\\u007f");
  std::string quoted;
  AppendJsonQuoted(quoted, "x\"");
  EXPECT_EQ(quoted, "\"x\\\"\"");
}

TEST(JsonTextTest, KeepsWellFormedUtf8AndReplacesEachBadByte) {
  EXPECT_EQ(Escaped("\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80"),
            "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(Escaped("\xff"), fffd);
  EXPECT_EQ(Escaped("\xc0\xaf"), fffd + fffd);                        // overlong '/'
  EXPECT_EQ(Escaped("\xed\xa0\x80"), fffd + fffd + fffd);             // a surrogate
  EXPECT_EQ(Escaped("\xf4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
  EXPECT_EQ(Escaped("\xe4\xb8"), fffd + fffd);                        // cut short at the end
  EXPECT_EQ(Escaped("a\xe4"
                    "b"),
            "a" + fffd + "b");  // resynchronises on the next byte
}

TEST(JsonTextTest, SequenceLengths) {
  EXPECT_EQ(Utf8SequenceLength("a", 0), 1u);
  EXPECT_EQ(Utf8SequenceLength("\xc3\xa9", 0), 2u);
  EXPECT_EQ(Utf8SequenceLength("\xe4\xb8\xad", 0), 3u);
  EXPECT_EQ(Utf8SequenceLength("\xf0\x9f\x98\x80", 0), 4u);
  EXPECT_EQ(Utf8SequenceLength("\x80", 0), 0u);
}

TEST(JsonTextTest, AnyBytesMakeAStringAStrictParserAccepts) {
  std::mt19937 rng(3);
  for (int round = 0; round < 2000; ++round) {
    std::string bytes(rng() % 40, '\0');
    for (char& c : bytes)
      c = static_cast<char>(rng());
    std::string text;
    AppendJsonQuoted(text, bytes);
    const auto parsed = nlohmann::json::parse(text, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << round;
    ASSERT_TRUE(parsed.is_string());
    // Valid input survives exactly.
    bool valid = true;
    for (std::size_t i = 0; i < bytes.size();) {
      const std::size_t len = Utf8SequenceLength(bytes, i);
      if (len == 0) {
        valid = false;
        break;
      }
      i += len;
    }
    if (valid) {
      ASSERT_EQ(parsed.get<std::string>(), bytes);
    }
  }
}

}  // namespace
}  // namespace ttlogin::common
