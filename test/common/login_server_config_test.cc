#include "common/login_server_config.h"

#include <gtest/gtest.h>

namespace ttlogin::common {
namespace {

constexpr const char* kClassic =
    "ClientListenIP=0.0.0.0\n"
    "ClientPort=8008\n"
    "HttpListenIP=0.0.0.0\n"
    "HttpPort=8080\n"
    "MsgServerListenIP=10.0.0.5;127.0.0.1\n"
    "MsgServerPort=8100\n"
    "msfs=http://127.0.0.1:8700/\n"
    "discovery=http://127.0.0.1/api/discovery\n";

ConfigLoadResult Build(const std::string& text) {
  return BuildLoginServerConfig(ParseConfigText(text, "t.conf"));
}

bool AnyContains(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v) {
    if (s.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(LoginServerConfigTest, ClassicFileWorksUnchangedWithDefaults) {
  const ConfigLoadResult r = Build(kClassic);
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.config.client.port, 8008);
  EXPECT_EQ(r.config.http.port, 8080);
  EXPECT_EQ(r.config.msg_server.port, 8100);
  EXPECT_EQ(r.config.msg_server.addresses, (std::vector<std::string>{"10.0.0.5", "127.0.0.1"}));
  EXPECT_EQ(r.config.msfs, "http://127.0.0.1:8700/");
  EXPECT_EQ(r.config.discovery, "http://127.0.0.1/api/discovery");
  EXPECT_EQ(r.config.max_pdu_size, 64u * 1024);
  EXPECT_EQ(r.config.heartbeat_interval.count(), 5);
  EXPECT_EQ(r.config.msg_server_timeout.count(), 30);
  EXPECT_EQ(r.config.client_timeout.count(), 120);
  EXPECT_EQ(r.config.http_timeout.count(), 60);
  EXPECT_EQ(r.config.io_threads, 0u);
}

TEST(LoginServerConfigTest, OptionalKeysAreRead) {
  const ConfigLoadResult r =
      Build(std::string(kClassic) +
            "IoThreads=3\nMaxPduSize=4096\nHeartbeatInterval=2\nMsgServerTimeout=9\n"
            "ClientTimeout=7\nHttpTimeout=8\nLogLevel=debug\nLogFile=/tmp/x.log\n"
            "HttpListenIP=::1\n");
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_EQ(r.config.io_threads, 3u);
  EXPECT_EQ(r.config.max_pdu_size, 4096u);
  EXPECT_EQ(r.config.heartbeat_interval.count(), 2);
  EXPECT_EQ(r.config.msg_server_timeout.count(), 9);
  EXPECT_EQ(r.config.client_timeout.count(), 7);
  EXPECT_EQ(r.config.http_timeout.count(), 8);
  EXPECT_EQ(r.config.log_level, "debug");
  EXPECT_EQ(r.config.log_file, "/tmp/x.log");
  EXPECT_EQ(r.config.http.addresses, (std::vector<std::string>{"::1"}));
}

TEST(LoginServerConfigTest, MissingRequiredKeyIsNamed) {
  const ConfigLoadResult r = Build("ClientListenIP=0.0.0.0\nClientPort=8008\n");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(AnyContains(r.errors, "required key HttpPort is missing"));
  EXPECT_TRUE(AnyContains(r.errors, "required key MsgServerListenIP is missing"));
}

struct BadValue {
  const char* line;
  const char* key;
  const char* what;
};

class LoginServerConfigBadValueTest : public testing::TestWithParam<BadValue> {};

TEST_P(LoginServerConfigBadValueTest, NamesKeyAndLine) {
  const ConfigLoadResult r = Build(std::string(kClassic) + GetParam().line + "\n");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find(std::string("t.conf:9: ") + GetParam().key), std::string::npos)
      << r.errors[0];
  EXPECT_NE(r.errors[0].find(GetParam().what), std::string::npos) << r.errors[0];
}

INSTANTIATE_TEST_SUITE_P(
    AllKinds, LoginServerConfigBadValueTest,
    testing::Values(BadValue{"ClientPort=70000", "ClientPort", "out of range"},
                    BadValue{"HttpPort=abc", "HttpPort", "not a number"},
                    BadValue{"HttpPort=-1", "HttpPort", "not a number"},
                    BadValue{"MsgServerPort=8100x", "MsgServerPort", "not a number"},
                    BadValue{"ClientListenIP=300.1.1.1", "ClientListenIP", "not an IPv4"},
                    BadValue{"HttpListenIP=localhost", "HttpListenIP", "not an IPv4"},
                    BadValue{"MsgServerListenIP=", "MsgServerListenIP", "empty"},
                    BadValue{"MaxPduSize=10", "MaxPduSize", "out of range"},
                    BadValue{"IoThreads=many", "IoThreads", "not a number"},
                    BadValue{"HttpTimeout=0", "HttpTimeout", "out of range"},
                    BadValue{"LogLevel=loud", "LogLevel", "not one of"},
                    BadValue{"HeartbeatInterval=30", "HeartbeatInterval", "shorter"},
                    BadValue{"ClientListenIP=;", "ClientListenIP", "no address"}),
    [](const testing::TestParamInfo<BadValue>& info) {
      std::string name = std::to_string(info.index) + "_" + info.param.key;
      return name;
    });

TEST(LoginServerConfigTest, AdminAndLimitKeys) {
  ConfigLoadResult r = Build(kClassic);
  EXPECT_FALSE(r.config.admin_enabled);
  r = Build(std::string(kClassic) +
            "AdminPort=8090\nAdminToken=t\nMaxMsgServers=5\nMaxHttpConnections=7\n"
            "HttpRequestTimeout=3\nLogFormat=json\nLogMaxSizeMB=2\nLogMaxFiles=3\n");
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  EXPECT_TRUE(r.config.admin_enabled);
  EXPECT_EQ(r.config.admin.addresses, (std::vector<std::string>{"127.0.0.1"}));
  EXPECT_EQ(r.config.admin.port, 8090);
  EXPECT_EQ(r.config.admin_token, "t");
  EXPECT_EQ(r.config.max_msg_servers, 5u);
  EXPECT_EQ(r.config.http.max_connections, 7u);
  EXPECT_EQ(r.config.client.max_connections, kDefaultMaxClientConnections);
  EXPECT_EQ(r.config.http_request_timeout.count(), 3);
  EXPECT_EQ(r.config.log_format, "json");
  EXPECT_FALSE(Build(std::string(kClassic) + "LogFormat=xml\n").ok());
  EXPECT_FALSE(Build(std::string(kClassic) + "AdminPort=x\n").ok());
}

TEST(LoginServerConfigTest, MaxQueuedOutputHasADefaultAndARange) {
  ConfigLoadResult r = Build(kClassic);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.max_queued_output, 64u * 1024);
  r = Build(std::string(kClassic) + "MaxQueuedOutput=4096\n");
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  EXPECT_EQ(r.config.max_queued_output, 4096u);
  for (const char* bad :
       {"MaxQueuedOutput=4095\n", "MaxQueuedOutput=67108865\n", "MaxQueuedOutput=big\n"}) {
    r = Build(std::string(kClassic) + bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.errors[0].find("MaxQueuedOutput"), std::string::npos) << r.errors[0];
  }
}

TEST(LoginServerConfigTest, LoopbackHelpers) {
  for (const char* a : {"127.0.0.1", "127.1.2.3", "0.0.0.0", "::1", "::", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(IsLoopbackOrUnspecified(a)) << a;
  }
  for (const char* a : {"10.0.0.1", "192.168.1.150", "2001:db8::1", "::2", "host", ""}) {
    EXPECT_FALSE(IsLoopbackOrUnspecified(a)) << a;
  }
  LoginServerConfig c;
  c.client.addresses = {"127.0.0.1"};
  c.http.addresses = {"::1"};
  EXPECT_FALSE(ListensBeyondLoopback(c));
  c.http.addresses = {"::1", "0.0.0.0"};
  EXPECT_TRUE(ListensBeyondLoopback(c));
}

TEST(LoginServerConfigTest, PortZeroIsAllowedWithAWarning) {
  const ConfigLoadResult r = Build(std::string(kClassic) + "HttpPort=0\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.http.port, 0);
  EXPECT_TRUE(AnyContains(r.warnings, "free port"));
}

TEST(LoginServerConfigTest, UnknownKeysAndMissingMsfsWarnOnly) {
  const ConfigLoadResult r = Build(
      "ClientListenIP=0.0.0.0\nClientPort=1\nHttpListenIP=0.0.0.0\nHttpPort=2\n"
      "MsgServerListenIP=0.0.0.0\nMsgServerPort=3\nClinetPort=4\n");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(AnyContains(r.warnings, "unknown key ClinetPort"));
  EXPECT_TRUE(AnyContains(r.warnings, "msfs is not set"));
  EXPECT_TRUE(AnyContains(r.warnings, "discovery is not set"));
}

TEST(LoginServerConfigTest, UnreadableFileGivesOnlyThatError) {
  const ConfigLoadResult r = LoadLoginServerConfig("/nonexistent/loginserver.conf");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace ttlogin::common
