// The login_server command line: options, config errors, exit codes, and signals.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

std::string Config(std::uint16_t client, std::uint16_t http, std::uint16_t msg) {
  return "ClientListenIP=127.0.0.1\nClientPort=" + std::to_string(client) +
         "\nHttpListenIP=127.0.0.1\nHttpPort=" + std::to_string(http) +
         "\nMsgServerListenIP=127.0.0.1\nMsgServerPort=" + std::to_string(msg) +
         "\nmsfs=http://127.0.0.1:8700/\ndiscovery=http://127.0.0.1/api/discovery\n";
}

class CliTest : public testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string WriteConfig(const std::string& text) {
    const std::string path = dir_ + "/loginserver.conf";
    WriteFile(path, text);
    return path;
  }
  std::string dir_;
};

TEST_F(CliTest, HelpAndVersionExitZero) {
  std::string out;
  EXPECT_EQ(RunLoginServer({"--help"}, &out), 0);
  EXPECT_NE(out.find("Usage: login_server"), std::string::npos);
  EXPECT_NE(out.find("Exit codes"), std::string::npos);
  EXPECT_EQ(RunLoginServer({"-h"}, &out), 0);
  EXPECT_EQ(RunLoginServer({"--version"}, &out), 0);
  EXPECT_NE(out.find("login_server (ttlogin)"), std::string::npos);
  EXPECT_EQ(RunLoginServer({"-v"}, &out), 0);
}

TEST_F(CliTest, UnknownOptionAndMissingValueExitTwo) {
  std::string out;
  EXPECT_EQ(RunLoginServer({"--frobnicate"}, &out), 2);
  EXPECT_NE(out.find("unknown option '--frobnicate'"), std::string::npos);
  EXPECT_EQ(RunLoginServer({"-c"}, &out), 2);
  EXPECT_NE(out.find("needs a value"), std::string::npos);
}

TEST_F(CliTest, CheckConfigAcceptsTheShippedConfig) {
  std::string out;
  EXPECT_EQ(RunLoginServer(
                {"--check-config", "-c", std::string(TTLOGIN_SOURCE_DIR) + "/etc/loginserver.conf"},
                &out),
            0)
      << out;
  EXPECT_NE(out.find("config OK"), std::string::npos);
  EXPECT_EQ(out.find("warning"), std::string::npos) << out;  // every shipped key is known
}

TEST_F(CliTest, MissingConfigFileExitsTwo) {
  std::string out;
  EXPECT_EQ(RunLoginServer({"-c", dir_ + "/nope.conf"}, &out), 2);
  EXPECT_NE(out.find("cannot open config file"), std::string::npos) << out;
}

TEST_F(CliTest, MissingKeyExitsTwoNamingItAndNothingListens) {
  std::uint16_t client = 0, http = 0;
  {
    const LoopbackListener c, h;  // find two free ports, then free them again
    client = c.port();
    http = h.port();
  }
  std::string text = Config(client, http, 0);
  text.erase(text.find("MsgServerPort"));  // drops MsgServerPort and the keys after it
  std::string out;
  EXPECT_EQ(RunLoginServer({"-c", WriteConfig(text)}, &out), 2);
  EXPECT_NE(out.find("required key MsgServerPort is missing"), std::string::npos) << out;
  EXPECT_EQ(out.find("listener on"), std::string::npos) << out;
  TcpClient c;
  EXPECT_FALSE(c.Connect(http));
}

TEST_F(CliTest, BadValueExitsTwoNamingKeyAndLine) {
  std::string out;
  const std::string path = WriteConfig(Config(0, 0, 0) + "HttpPort=99999\n");
  EXPECT_EQ(RunLoginServer({"-c", path}, &out), 2);
  EXPECT_NE(out.find(path + ":9: HttpPort: 99999 is out of range"), std::string::npos) << out;
  EXPECT_EQ(RunLoginServer({"--check-config", "-c", path}, &out), 2);
  const std::string bad_ip = WriteConfig(Config(0, 0, 0) + "ClientListenIP=1.2.3\n");
  EXPECT_EQ(RunLoginServer({"-c", bad_ip}, &out), 2);
  EXPECT_NE(out.find(":9: ClientListenIP: '1.2.3' is not an IPv4 or IPv6 address"),
            std::string::npos)
      << out;
}

TEST_F(CliTest, PortInUseExitsOneWithAClearMessage) {
  LoopbackListener busy;
  std::string out;
  EXPECT_EQ(RunLoginServer({"-c", WriteConfig(Config(0, busy.port(), 0))}, &out), 1);
  EXPECT_NE(out.find("cannot listen on 127.0.0.1:" + std::to_string(busy.port())),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("HttpPort"), std::string::npos) << out;
}

TEST_F(CliTest, UnwritableLogFileExitsOne) {
  std::string out;
  WriteFile(dir_ + "/not-a-dir", "x");  // a file where the log's directory should be
  EXPECT_EQ(
      RunLoginServer(
          {"-c", WriteConfig(Config(0, 0, 0) + "LogFile=" + dir_ + "/not-a-dir/y.log\n")}, &out),
      1);
  EXPECT_NE(out.find("cannot set up logging"), std::string::npos) << out;
}

TEST_F(CliTest, SigtermAndSigintStopWithinTwoSecondsAndExitZero) {
  for (int signo : {SIGTERM, SIGINT}) {
    ServerProcess server;
    ASSERT_TRUE(server.started()) << server.log();
    FakeMsgServer ms(server.ports().msg_server);
    ASSERT_TRUE(ms.Register({}));
    TcpClient idle_http(server.ports().http);
    ASSERT_TRUE(Eventually([&] {
      const auto r = HttpGetMsgServer(server.ports().http);
      return r && r->body.find("\"code\":0") != std::string::npos;
    }));
    EXPECT_EQ(server.Stop(signo, std::chrono::seconds(2)), 0) << server.log();
    EXPECT_TRUE(ms.conn().WaitClosed(std::chrono::seconds(1)));
    EXPECT_NE(server.log().find("shutting down"), std::string::npos);
  }
}

}  // namespace
}  // namespace ttlogin::test
