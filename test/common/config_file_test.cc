#include "common/config_file.h"

#include "common/logging.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>

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

// The classic rule cut a value at any '#': "AdminToken=#Kx9fQ2" became an empty token (admin API
// open) and "AdminToken=Kx9#fQ2" became "Kx9". A '#' is a comment only after a blank.
TEST(ConfigFileTest, HashInsideAValueIsKept) {
  const ConfigFile f = ParseConfigText(
      "AdminToken=#Kx9fQ2\n"
      "a=Kx9#fQ2\n"
      "b=http://h/#frag   # a comment\n"
      "c=x\t# tab before the hash\n");
  EXPECT_TRUE(f.errors.empty());
  EXPECT_EQ(f.Find("AdminToken")->value, "#Kx9fQ2");
  EXPECT_EQ(f.Find("a")->value, "Kx9#fQ2");
  EXPECT_EQ(f.Find("b")->value, "http://h/#frag");
  EXPECT_EQ(f.Find("c")->value, "x");
  EXPECT_TRUE(f.warnings.empty()) << f.warnings[0];
}

TEST(ConfigFileTest, CommentLinesStartWithHashAfterBlanks) {
  const ConfigFile f = ParseConfigText("#a=1\n   # b=2\n\t#c=3\nd=4\n");
  EXPECT_TRUE(f.errors.empty());
  EXPECT_EQ(f.values.size(), 1u);
  EXPECT_EQ(f.Find("a"), nullptr);
  EXPECT_EQ(f.Find("d")->value, "4");
}

TEST(ConfigFileTest, CommentThatLooksCutFromTheValueWarns) {
  const ConfigFile f = ParseConfigText("AdminToken=Kx9 #fQ2\nHttpPort=1 # fine\n", "x.conf");
  EXPECT_EQ(f.Find("AdminToken")->value, "Kx9");
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_NE(f.warnings[0].find("x.conf:1: AdminToken"), std::string::npos) << f.warnings[0];
  EXPECT_NE(f.warnings[0].find("looks cut"), std::string::npos) << f.warnings[0];
}

TEST(ConfigFileTest, ValueEmptiedByACommentWarns) {
  const ConfigFile f = ParseConfigText("AdminToken= #Kx9fQ2\n", "x.conf");
  EXPECT_EQ(f.Find("AdminToken")->value, "");
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_NE(f.warnings[0].find("x.conf:1: AdminToken is empty"), std::string::npos)
      << f.warnings[0];
}

// The classic TeamTalk loginserver.conf, as shipped with the classic server.
TEST(ConfigFileTest, ClassicTeamTalkFileParsesWithoutWarnings) {
  const ConfigFile f = ParseConfigText(
      "#configure for login_server\n"
      "ClientListenIP=0.0.0.0\n"
      "ClientPort=8008\n"
      "HttpListenIP=0.0.0.0\n"
      "HttpPort=8080\n"
      "MsgServerListenIP=0.0.0.0\n"
      "MsgServerPort=8100\n"
      "msfs=http://127.0.0.1:8700/\n"
      "discovery=http://127.0.0.1/api/discovery\n");
  EXPECT_TRUE(f.errors.empty());
  EXPECT_TRUE(f.warnings.empty());
  EXPECT_EQ(f.values.size(), 8u);
  EXPECT_EQ(f.Find("discovery")->value, "http://127.0.0.1/api/discovery");
}

class ConfigFileSpecialTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "/cfspecial" + std::to_string(::getpid());
    ::mkdir(dir_.c_str(), 0700);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Loads on another thread, so that a regression (a blocking open) fails instead of hanging.
  ConfigFile LoadBounded(const std::string& path) {
    auto load = std::async(std::launch::async, [path] { return LoadConfigFile(path); });
    if (load.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);  // release the reader
      if (fd >= 0) ::close(fd);
      ADD_FAILURE() << "LoadConfigFile blocked on " << path;
    }
    return load.get();
  }
  std::string dir_;
};

TEST_F(ConfigFileSpecialTest, FifoIsRefusedWithoutBlocking) {
  const std::string path = dir_ + "/fifo.conf";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  const ConfigFile f = LoadBounded(path);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0], path + ": config file is a FIFO (named pipe), not a regular file");
}

TEST_F(ConfigFileSpecialTest, SocketDeviceAndDirectoryAreRefused) {
  const std::string sock_path = dir_ + "/s.conf";
  const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock_path.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, sock_path.c_str(), sock_path.size() + 1);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ConfigFile f = LoadBounded(sock_path);
  ::close(s);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_NE(f.errors[0].find("is a socket, not a regular file"), std::string::npos);
  f = LoadBounded("/dev/zero");  // would read forever without the size bound
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_NE(f.errors[0].find("is a character device"), std::string::npos);
  f = LoadBounded(dir_);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_NE(f.errors[0].find("is a directory"), std::string::npos);
  EXPECT_EQ(NotARegularFile(dir_ + "/absent.log"), "");
  EXPECT_EQ(NotARegularFile("/dev/null"), "is a character device, not a regular file");
}

// LogFile is checked when the config is built, but it could become a FIFO before logging starts;
// spdlog's fopen would then block until a reader came. SetupLogging opens it non-blocking first.
TEST_F(ConfigFileSpecialTest, LogSetupRefusesAFifoWithoutBlocking) {
  const std::string path = dir_ + "/log.fifo";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto setup = [&] {
    auto run = std::async(std::launch::async, [path] {
      LogOptions options;
      options.file = path;
      return SetupLogging(options);
    });
    if (run.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);  // release the writer
      ADD_FAILURE() << "SetupLogging blocked on a FIFO";
      const std::string error = run.get();
      if (fd >= 0) ::close(fd);
      return error;
    }
    return run.get();
  };
  // No reader: the non-blocking open fails at once.
  EXPECT_EQ(setup(), path + " is a FIFO (named pipe), not a regular file");
  // With a reader the open succeeds, and the opened descriptor's type refuses it.
  const int reader = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  EXPECT_EQ(setup(), path + " is not a regular file (a FIFO, socket or device)");
  ::close(reader);
}

}  // namespace
}  // namespace ttlogin::common
