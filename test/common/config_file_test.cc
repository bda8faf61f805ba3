#include "common/config_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace ttlogin::common {
namespace {

TEST(ConfigFileTest, ParsesClassicSyntax) {
  const ConfigFile f = ParseConfigText(
      "# comment line\n"
      "ClientListenIP=0.0.0.0\n"
      "  ClientPort = 8008   # trailing comment\n"
      "\n"
      "msfs=http://127.0.0.1:8700/\r\n"
      "discovery=\n");
  EXPECT_TRUE(f.errors.empty());
  ASSERT_NE(f.Find("ClientPort"), nullptr);
  EXPECT_EQ(f.Find("ClientPort")->value, "8008");
  EXPECT_EQ(f.Find("ClientPort")->line, 3);
  EXPECT_EQ(f.Find("ClientListenIP")->value, "0.0.0.0");
  EXPECT_EQ(f.Find("msfs")->value, "http://127.0.0.1:8700/");
  EXPECT_EQ(f.Find("discovery")->value, "");
  EXPECT_EQ(f.Find("missing"), nullptr);
}

TEST(ConfigFileTest, ValueWithEqualsSignKeepsTheRest) {
  const ConfigFile f = ParseConfigText("discovery=http://h/api?a=b\n");
  EXPECT_EQ(f.Find("discovery")->value, "http://h/api?a=b");
}

TEST(ConfigFileTest, LineWithoutEqualsIsAnErrorNamingTheLine) {
  const ConfigFile f = ParseConfigText("ClientPort=1\nHttpPort 8080\n", "x.conf");
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_NE(f.errors[0].find("x.conf:2"), std::string::npos) << f.errors[0];
}

TEST(ConfigFileTest, EmptyKeyAndNulBytesAreErrors) {
  EXPECT_EQ(ParseConfigText("=5\n").errors.size(), 1u);
  EXPECT_EQ(ParseConfigText(std::string("a=b\0c\n", 6)).errors.size(), 1u);
}

TEST(ConfigFileTest, RepeatedKeyWarnsAndLastWins) {
  const ConfigFile f = ParseConfigText("HttpPort=1\nHttpPort=2\n");
  EXPECT_EQ(f.Find("HttpPort")->value, "2");
  EXPECT_EQ(f.warnings.size(), 1u);
}

TEST(ConfigFileTest, MissingFileIsOneClearError) {
  const ConfigFile f = LoadConfigFile("/nonexistent/dir/loginserver.conf");
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_NE(f.errors[0].find("cannot open"), std::string::npos);
}

TEST(ConfigFileTest, HugeFileIsRefused) {
  const std::string path = testing::TempDir() + "/huge.conf";
  {
    std::ofstream out(path);
    std::string line(1000, 'x');
    for (int i = 0; i < 1100; ++i)
      out << "k" << i << "=" << line << "\n";
  }
  const ConfigFile f = LoadConfigFile(path);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_NE(f.errors[0].find("larger than"), std::string::npos);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace ttlogin::common
