#include "common/login_server_config.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>

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
  // One warning: the MsgServer port listens beyond loopback and anyone may register on it.
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("MsgServerListenIP 10.0.0.5 is beyond loopback and "
                               "MsgServerAllowFrom is empty"),
            std::string::npos);
  EXPECT_EQ(r.config.msg_server_allow_from, nullptr);
  EXPECT_EQ(r.config.max_msg_server_connections_per_address,
            kDefaultMaxMsgServerConnectionsPerAddress);
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

TEST(LoginServerConfigTest, MsgServerTrustKeys) {
  ConfigLoadResult r = Build(std::string(kClassic) +
                             "MsgServerAllowFrom=10.0.0.0/8, 192.168.1.7 ::1\n"
                             "MaxMsgServerConnectionsPerAddress=3\n");
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  ASSERT_NE(r.config.msg_server_allow_from, nullptr);
  EXPECT_EQ(r.config.msg_server_allow_from->size(), 3u);
  EXPECT_TRUE(r.config.msg_server_allow_from->Contains(*ParseIpAddress("10.1.2.3")));
  EXPECT_FALSE(r.config.msg_server_allow_from->Contains(*ParseIpAddress("192.168.1.8")));
  EXPECT_EQ(r.config.max_msg_server_connections_per_address, 3u);
  // Loopback only: nobody else can reach the port, nothing to warn about.
  r = Build(
      "ClientListenIP=0.0.0.0\nClientPort=1\nHttpListenIP=0.0.0.0\nHttpPort=2\n"
      "MsgServerListenIP=127.0.0.1;::1\nMsgServerPort=3\nmsfs=x\ndiscovery=y\n");
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  // Bad values are errors naming the key.
  for (const char* bad :
       {"MsgServerAllowFrom=10.0.0.0/33", "MsgServerAllowFrom=banana",
        "MaxMsgServerConnectionsPerAddress=0", "MaxMsgServerConnectionsPerAddress=ten"}) {
    r = Build(std::string(kClassic) + bad + "\n");
    ASSERT_FALSE(r.ok()) << bad;
    const std::string key = std::string(bad).substr(0, std::string(bad).find('='));
    EXPECT_TRUE(AnyContains(r.errors, key)) << r.errors[0];
  }
}

TEST(LoginServerConfigTest, AdminAndLimitKeys) {
  ConfigLoadResult r = Build(kClassic);
  EXPECT_FALSE(r.config.admin_enabled);
  r = Build(std::string(kClassic) +
            "AdminPort=8090\nAdminToken=t\nMaxMsgServers=5\nMaxHttpConnections=7\n"
            "HttpRequestTimeout=3\nLogFormat=json\nLogMaxSizeMB=2\nLogMaxFiles=3\n"
            "MsgServerAllowFrom=10.0.0.0/8\n");
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

TEST(LoginServerConfigTest, HttpsKeys) {
  ConfigLoadResult r = Build(kClassic);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.config.https_enabled);
  // Without HttpsPort the TLS keys do nothing, and the operator is told.
  r = Build(std::string(kClassic) + "TlsCertificate=a.pem\n");
  EXPECT_FALSE(r.config.https_enabled);
  EXPECT_TRUE(AnyContains(r.warnings, "TlsCertificate is set but HttpsPort is not"));
  r = Build(std::string(kClassic) +
            "HttpsPort=8443\nTlsCertificate=tls/cert.pem\nTlsPrivateKey=/etc/k.pem\n");
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_TRUE(r.config.https_enabled);
  EXPECT_EQ(r.config.https.port, 8443);
  EXPECT_EQ(r.config.https.addresses, std::vector<std::string>{"0.0.0.0"});  // HttpListenIP's
  EXPECT_EQ(r.config.https.max_connections, kDefaultMaxHttpConnections);
  EXPECT_EQ(r.config.tls_certificate_file, "tls/cert.pem");  // relative to t.conf's folder
  EXPECT_EQ(r.config.tls_private_key_file, "/etc/k.pem");
  EXPECT_EQ(r.config.tls_min_version, "1.2");
  EXPECT_EQ(r.config.tls_handshake_timeout, std::chrono::seconds(10));
  EXPECT_EQ(r.config.max_tls_handshakes, 1000u);
  EXPECT_GT(DescriptorsNeeded(r.config), DescriptorsNeeded(Build(kClassic).config));
  r = Build(std::string(kClassic) +
            "HttpsListenIP=127.0.0.1\nHttpsPort=8443\nTlsCertificate=c\nTlsPrivateKey=k\n"
            "TlsMinVersion=1.3\nTlsHandshakeTimeout=3\nMaxTlsHandshakes=7\n"
            "MaxHttpsConnections=9\nTlsCiphers=ECDHE-ECDSA-AES128-GCM-SHA256\n");
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_EQ(r.config.https.addresses, std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(r.config.tls_min_version, "1.3");
  EXPECT_EQ(r.config.tls_handshake_timeout, std::chrono::seconds(3));
  EXPECT_EQ(r.config.max_tls_handshakes, 7u);
  EXPECT_EQ(r.config.https.max_connections, 9u);
  EXPECT_EQ(r.config.tls_ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
  // Each bad value names its key.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"HttpsPort=8443\nTlsPrivateKey=k\n", "required key TlsCertificate is missing"},
      {"HttpsPort=8443\nTlsCertificate=c\n", "required key TlsPrivateKey is missing"},
      {"HttpsPort=x\nTlsCertificate=c\nTlsPrivateKey=k\n", "HttpsPort"},
      {"HttpsPort=1\nTlsCertificate=c\nTlsPrivateKey=k\nTlsMinVersion=1.1\n", "TlsMinVersion"},
      {"HttpsPort=1\nTlsCertificate=c\nTlsPrivateKey=k\nTlsHandshakeTimeout=0\n",
       "TlsHandshakeTimeout"},
      {"HttpsPort=1\nTlsCertificate=c\nTlsPrivateKey=k\nMaxTlsHandshakes=0\n", "MaxTlsHandshakes"},
  };
  for (const auto& [line, key] : bad) {
    r = Build(std::string(kClassic) + line);
    EXPECT_FALSE(r.ok()) << line;
    EXPECT_TRUE(AnyContains(r.errors, key)) << line << (r.errors.empty() ? "" : r.errors[0]);
  }
}

TEST(LoginServerConfigTest, MaxQueuedOutputHasADefaultAndARange) {
  ConfigLoadResult r = Build(kClassic);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.max_queued_output, 64u * 1024);
  r = Build(std::string(kClassic) + "MaxQueuedOutput=4096\n");
  ASSERT_TRUE(r.ok()) << r.errors[0];
  // No warning beyond the classic file's own (its MsgServer port is beyond loopback).
  EXPECT_EQ(r.warnings, Build(kClassic).warnings);
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

// "AdminToken=" used to mean "auth off"; so did a token the comment rule emptied, or blanks.
TEST(LoginServerConfigTest, EmptyOrBlankAdminTokenIsAnError) {
  for (const char* line : {"AdminToken=\n", "AdminToken=   \t\n", "AdminToken= #Kx9fQ2\n"}) {
    const ConfigLoadResult r = Build(std::string(kClassic) + "AdminPort=8090\n" + line);
    EXPECT_FALSE(r.ok()) << line;
    EXPECT_TRUE(AnyContains(r.errors, "t.conf:10: AdminToken: value is empty")) << line;
  }
  const ConfigLoadResult r = Build(std::string(kClassic) + "AdminPort=8090\nAdminToken=#Kx9fQ2\n");
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_EQ(r.config.admin_token, "#Kx9fQ2");
}

TEST(LoginServerConfigTest, AdminBeyondLoopbackNeedsATokenOrAllowInsecure) {
  const std::string admin = std::string(kClassic) + "AdminPort=8090\n";
  for (const char* ip : {"0.0.0.0", "10.0.0.7", "::", "127.0.0.1;192.168.1.2"}) {
    const ConfigLoadResult r = Build(admin + "AdminListenIP=" + ip + "\n");
    EXPECT_FALSE(r.ok()) << ip;
    EXPECT_TRUE(AnyContains(r.errors, "t.conf:10: AdminListenIP: ")) << ip;
    EXPECT_TRUE(AnyContains(r.errors, "AdminToken is not set")) << ip;
  }
  for (const char* ip : {"127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"}) {
    const ConfigLoadResult r = Build(admin + "AdminListenIP=" + ip + "\n");
    EXPECT_TRUE(r.ok()) << ip << ": " << r.errors[0];
    // No warning beyond the classic file's own (its MsgServer port is beyond loopback).
    EXPECT_EQ(r.warnings, Build(kClassic).warnings) << ip;
  }
  ConfigLoadResult r = Build(admin + "AdminListenIP=0.0.0.0\nAdminToken=s3cret\n");
  EXPECT_TRUE(r.ok()) << r.errors[0];
  r = Build(admin + "AdminListenIP=0.0.0.0\nAdminAllowInsecure=1\n");
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_TRUE(r.config.admin_allow_insecure);
  EXPECT_TRUE(AnyContains(r.warnings, "INSECURE")) << r.warnings.size();
  EXPECT_FALSE(Build(admin + "AdminListenIP=0.0.0.0\nAdminAllowInsecure=0\n").ok());
  EXPECT_FALSE(Build(admin + "AdminAllowInsecure=yes\n").ok());
  // Without AdminPort there is no listener to protect.
  EXPECT_TRUE(Build(std::string(kClassic) + "AdminListenIP=0.0.0.0\n").ok());
}

TEST(LoginServerConfigTest, SpecialFilesAreRefusedWithKeyAndLine) {
  const std::string dir = testing::TempDir() + "/lscspecial" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string fifo = dir + "/pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Built on another thread: opening the FIFO would block, and the test must fail, not hang.
  auto build = std::async(std::launch::async, [fifo] {
    return Build(std::string(kClassic) + "LogFile=" + fifo + "\nNetworkTable=" + fifo + "\n");
  });
  if (build.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    for (int i = 0; i < 2; ++i) {
      const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
      if (fd >= 0) ::close(fd);
    }
    FAIL() << "building the config blocked on a FIFO";
  }
  const ConfigLoadResult r = build.get();
  EXPECT_TRUE(AnyContains(r.errors, "t.conf:9: LogFile: '" + fifo + "' is a FIFO")) << r.errors[0];
  EXPECT_TRUE(AnyContains(r.errors, "t.conf:10: NetworkTable: " + fifo + ": is a FIFO"))
      << r.errors[0];
  EXPECT_TRUE(AnyContains(Build(std::string(kClassic) + "LogFile=/dev/null\n").errors,
                          "LogFile: '/dev/null' is a character device"));
  EXPECT_TRUE(Build(std::string(kClassic) + "LogFile=" + dir + "/new.log\n").ok());
  std::filesystem::remove_all(dir);
}

TEST(LoginServerConfigTest, OpenFilesWarningNamesTheCapsAndTheLimit) {
  ConfigLoadResult r = Build(std::string(kClassic) +
                             "MaxMsgServerConnections=100\n"
                             "MaxClientConnections=200\n"
                             "MaxHttpConnections=300\nAdminPort=1\n");
  ASSERT_TRUE(r.ok()) << r.errors[0];
  const std::uint64_t needed = 100 + 200 + 300 + kMaxAdminConnections + kReservedDescriptors;
  EXPECT_EQ(DescriptorsNeeded(r.config), needed);
  EXPECT_EQ(OpenFilesWarning(r.config, needed), "");
  const std::string w = OpenFilesWarning(r.config, 512);
  EXPECT_NE(w.find("open-files limit (RLIMIT_NOFILE) is 512"), std::string::npos) << w;
  EXPECT_NE(w.find("MaxMsgServerConnections 100 + MaxClientConnections 200 + "
                   "MaxHttpConnections 300"),
            std::string::npos)
      << w;
  EXPECT_NE(w.find("LimitNOFILE=" + std::to_string(needed)), std::string::npos) << w;
  // The defaults need far more than the common soft limit of 1024.
  r = Build(kClassic);
  EXPECT_NE(OpenFilesWarning(r.config, 1024), "");
}

}  // namespace
}  // namespace ttlogin::common
