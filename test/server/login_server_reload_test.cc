// LoginServer::Reload: the reload path's own checks, driven without binding any listener (the
// server under test is built but never bound, so no port is opened).
#include "server/login_server.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace ttlogin::server {
namespace {

constexpr const char* kBase =
    "ClientListenIP=127.0.0.1\nClientPort=0\nHttpListenIP=127.0.0.1\nHttpPort=0\n"
    "MsgServerListenIP=127.0.0.1\nMsgServerPort=0\nmsfs=http://x/\ndiscovery=http://y/\n"
    "AdminPort=0\n";

class LoginServerReloadTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "/reload" + std::to_string(::getpid());
    std::filesystem::create_directories(dir_);
    path_ = dir_ + "/loginserver.conf";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& text) { std::ofstream(path_, std::ios::trunc) << text; }
  common::LoginServerConfig Load() {
    common::ConfigLoadResult r = common::LoadLoginServerConfig(path_);
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0]);
    return r.config;
  }
  std::string dir_;
  std::string path_;
};

// The admin listener keeps its start-up addresses across a reload, so a reload that moves
// AdminListenIP to loopback and drops the token would leave the running listener (still beyond
// loopback) open. It is judged against the running addresses and refused.
TEST_F(LoginServerReloadTest, DroppingTheTokenOfAnAdminListenerBeyondLoopbackIsRefused) {
  Write(std::string(kBase) + "AdminListenIP=0.0.0.0\nAdminToken=s3cret\n");
  LoginServer server(Load(), path_);
  Write(std::string(kBase) + "AdminListenIP=127.0.0.1\n");
  admin::ReloadOutcome r = server.Reload("test");
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("AdminToken: the admin listener runs beyond loopback"),
            std::string::npos)
      << r.errors[0];
  EXPECT_EQ(server.metrics().Get(Counter::kReloadFailures), 1u);

  // Allowed explicitly: applied, and the address change is reported as needing a restart.
  Write(std::string(kBase) + "AdminListenIP=127.0.0.1\nAdminAllowInsecure=1\n");
  r = server.Reload("test");
  EXPECT_TRUE(r.ok) << (r.errors.empty() ? "" : r.errors[0]);
  // A token for the running listener: fine.
  Write(std::string(kBase) + "AdminListenIP=0.0.0.0\nAdminToken=other\n");
  r = server.Reload("test");
  EXPECT_TRUE(r.ok) << (r.errors.empty() ? "" : r.errors[0]);
}

// A reload answers within its bound even when the config became a FIFO: the file is refused by
// type, never opened for a blocking read.
TEST_F(LoginServerReloadTest, AFifoConfigIsRefusedPromptly) {
  Write(kBase);
  LoginServer server(Load(), path_);
  std::filesystem::remove(path_);
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  const auto start = std::chrono::steady_clock::now();
  const admin::ReloadOutcome r = server.Reload("test");
  EXPECT_LT(std::chrono::steady_clock::now() - start, LoginServer::kReloadAnswerWait);
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("config file is a FIFO"), std::string::npos) << r.errors[0];
}

}  // namespace
}  // namespace ttlogin::server
