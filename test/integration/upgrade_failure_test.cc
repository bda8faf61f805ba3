// A live upgrade that fails (no binary, a bad config, a binary that exits, crashes, hangs, writes
// garbage on the handover socket or speaks another handover version) leaves the old process
// serving with every connection and count, answers POST /upgrade with the reason, and a later
// upgrade works.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "test/integration/upgrade_load.h"
#include "test/support/fake_peers.h"
#include "test/support/live_upgrade.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

using nlohmann::json;

constexpr char kToken[] = "upgrade-test-token";
// The server gives up on a new process after this long (UpgradeTimeout).
constexpr milliseconds kUpgradeTimeout{2000};
// Bound on POST /upgrade's answer: UpgradeTimeout plus killing the child, on a loaded machine.
constexpr milliseconds kAnswerWait{15000};
constexpr int kMsgServers = 3;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class UpgradeFailureTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ServerProcess::AdoptOrphans());
    bin_dir_ = MakeTempDir();
    binary_ = bin_dir_ + "/login_server-next";
    pid_file_ = bin_dir_ + "/child.pid";
    InstallRealBinary();
    server_ = std::make_unique<ServerProcess>(
        std::string("AdminPort=0\nAdminToken=") + kToken + "\nUpgradeBinary=" + binary_ +
        "\nUpgradeTimeout=" + std::to_string(kUpgradeTimeout.count() / 1000) + "\n");
    ASSERT_TRUE(server_->started()) << server_->log();
    config_ = ReadText(server_->config_path());
    for (int i = 0; i < kMsgServers; ++i) {
      auto ms = std::make_unique<FakeMsgServer>(server_->ports().msg_server);
      MsgServerFields f;
      f.host_name = MsgServerFleet::HostName(i);
      f.port = 9000 + static_cast<std::uint32_t>(i);
      f.cur_conn_cnt = 0;
      ASSERT_TRUE(ms->Register(f));
      ASSERT_TRUE(ms->Inc(5 + 2 * i));
      expected_.push_back(5 + 2 * i);
      msg_servers_.push_back(std::move(ms));
    }
    ASSERT_TRUE(CountsMatch()) << server_->log();
  }

  void TearDown() override {
    server_.reset();
    std::error_code ec;
    std::filesystem::remove_all(bin_dir_, ec);
  }

  // The next binary is a script that records its pid, then runs `body`.
  void InstallScript(const std::string& body) {
    const std::string tmp = binary_ + ".tmp";
    WriteFile(tmp, "#!/bin/bash\necho $$ > '" + pid_file_ + "'\n" + body + "\n");
    ASSERT_EQ(chmod(tmp.c_str(), 0755), 0);
    std::filesystem::rename(tmp, binary_);
  }
  void InstallRealBinary() { InstallScript(std::string("exec '") + LOGIN_SERVER_BIN + "' \"$@\""); }
  void InstallLink(const std::string& target) {
    std::filesystem::remove(binary_);
    std::filesystem::create_symlink(target, binary_);
  }

  bool CountsMatch() {
    return Eventually(
        [&] {
          const auto counts = ServerCounts(server_->ports().admin, kToken);
          if (!counts || counts->size() != expected_.size()) return false;
          for (std::size_t i = 0; i < expected_.size(); ++i) {
            const auto it = counts->find(MsgServerFleet::HostName(static_cast<int>(i)));
            if (it == counts->end() || it->second != expected_[i]) return false;
          }
          return true;
        },
        milliseconds(10000));
  }

  double FailedUpgrades() {
    return MetricValue(server_->ports().admin, kToken, "ttlogin_upgrades_total{result=\"failed\"}")
        .value_or(0);
  }

  // POST /upgrade fails: the answer says why, and the old process serves on with everything.
  // Returns the reason.
  std::string ExpectFailedUpgrade(const std::string& what) {
    SCOPED_TRACE(what);
    std::filesystem::remove(pid_file_);
    const pid_t pid = server_->pid();
    const double failed_before = FailedUpgrades();
    const auto start = std::chrono::steady_clock::now();
    const auto reply = PostUpgrade(*server_, kToken, kAnswerWait);
    answer_after_ =
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
    if (!reply) {
      ADD_FAILURE() << "POST /upgrade got no answer within " << kAnswerWait.count() << " ms\n"
                    << server_->log();
      return "";
    }
    EXPECT_EQ(reply->status, 500) << reply->body;
    const json body = json::parse(reply->body, nullptr, false);
    std::string reason;
    if (body.is_object() && body.contains("error") && body["error"].is_string()) {
      reason = body["error"].get<std::string>();
    }
    EXPECT_TRUE(body.is_object() && body.value("status", "") == "failed") << reply->body;
    EXPECT_FALSE(reason.empty()) << "no reason in " << reply->body;
    std::printf("%s: POST /upgrade answered %d after %lld ms: %s\n", what.c_str(), reply->status,
                static_cast<long long>(answer_after_.count()), reply->body.c_str());

    // Same process, still serving, its msg_servers connected with their counts.
    EXPECT_EQ(server_->pid(), pid);
    EXPECT_EQ(server_->ReadyPid(), pid);
    EXPECT_EQ(kill(pid, 0), 0);
    const auto http = HttpGetMsgServer(server_->ports().http);
    EXPECT_TRUE(http && AnswersCodeZero(*http)) << (http ? http->body : "no answer");
    const auto client = AskClientPort(server_->ports().client);
    EXPECT_TRUE(client && client->result_code == 0);
    for (std::size_t i = 0; i < msg_servers_.size(); ++i) {
      const peer::IoResult r =
          msg_servers_[i]->client().ReadInput(peer::MsgServerClient::OnHeartbeat::kAnswer);
      EXPECT_TRUE(r.ok()) << MsgServerFleet::HostName(static_cast<int>(i)) << ": " << r.Describe();
    }
    EXPECT_TRUE(CountsMatch()) << "counts changed by the failed upgrade";
    for (std::size_t i = 0; i < msg_servers_.size(); ++i) {
      EXPECT_TRUE(msg_servers_[i]->Inc(1));
      ++expected_[i];
    }
    EXPECT_TRUE(CountsMatch()) << "updates after the failed upgrade are not counted";
    EXPECT_EQ(FailedUpgrades(), failed_before + 1);
    const std::string log = server_->log();
    EXPECT_NE(log.find("live upgrade failed: "), std::string::npos) << log;
    EXPECT_NE(log.find("; serving on"), std::string::npos) << log;

    // Whatever was started is gone, not left running or unreaped.
    const std::string child = ReadText(pid_file_);
    if (!child.empty()) {
      const pid_t child_pid = std::atoi(child.c_str());
      EXPECT_TRUE(Eventually([&] { return ProcessState(child_pid) == 0; }, milliseconds(5000)))
          << "the new process " << child_pid << " is left in state " << ProcessState(child_pid);
    }
    return reason;
  }

  // After a failure, an upgrade to the real binary works and keeps the msg_servers.
  void ExpectUpgradeWorks() {
    InstallRealBinary();
    const UpgradeRun run = RunUpgrade(*server_, UpgradeTrigger::kPost, kToken, milliseconds(30000));
    ASSERT_TRUE(run.ok) << run.error << "\n" << server_->log();
    EXPECT_EQ(run.wait.old_exit, 0);
    for (auto& ms : msg_servers_) {
      const peer::IoResult r = ms->client().ReadInput(peer::MsgServerClient::OnHeartbeat::kAnswer);
      EXPECT_TRUE(r.ok()) << r.Describe();
    }
    EXPECT_TRUE(CountsMatch()) << server_->log();
    const auto http = HttpGetMsgServer(server_->ports().http);
    EXPECT_TRUE(http && AnswersCodeZero(*http));
  }

  std::string bin_dir_;
  std::string binary_;
  std::string pid_file_;
  std::string config_;
  std::unique_ptr<ServerProcess> server_;
  std::vector<std::unique_ptr<FakeMsgServer>> msg_servers_;
  std::vector<std::int64_t> expected_;
  milliseconds answer_after_{0};
};

TEST_F(UpgradeFailureTest, BinaryMissing) {
  std::filesystem::remove(binary_);
  ExpectFailedUpgrade("binary missing");
  ExpectUpgradeWorks();
}

// The new process reads the config as it is now; a file broken since the start fails its check.
TEST_F(UpgradeFailureTest, ConfigMadeBadBeforeTheUpgrade) {
  WriteFile(server_->config_path(), config_ + "IoThreads=many\n");
  std::string output;
  ASSERT_EQ(RunLoginServer({"--check-config", "-c", server_->config_path()}, &output), 2) << output;
  ExpectFailedUpgrade("bad config");
  WriteFile(server_->config_path(), config_);
  ExpectUpgradeWorks();
}

TEST_F(UpgradeFailureTest, BinaryExitsAtOnce) {
  InstallLink("/bin/false");
  ExpectFailedUpgrade("exits at once");
  ExpectUpgradeWorks();
}

// A new process killed by a signal (a crash) before its hello.
TEST_F(UpgradeFailureTest, BinaryCrashes) {
  InstallScript("kill -SEGV $$");
  ExpectFailedUpgrade("crashes");
  ExpectUpgradeWorks();
}

// A new process that never answers is killed at UpgradeTimeout; meanwhile another upgrade is
// refused as busy.
TEST_F(UpgradeFailureTest, BinaryHangs) {
  InstallScript("exec sleep 600");
  auto first = std::async(std::launch::async, [&] { return ExpectFailedUpgrade("hangs"); });
  ASSERT_TRUE(Eventually([&] { return !ReadText(pid_file_).empty(); }, milliseconds(10000)));
  const auto second = PostUpgrade(*server_, kToken, kAnswerWait);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 409) << second->body;
  const json busy = json::parse(second->body, nullptr, false);
  EXPECT_TRUE(busy.is_object() && busy.value("status", "") == "busy") << second->body;
  first.get();
  EXPECT_GE(answer_after_, kUpgradeTimeout) << "answered before UpgradeTimeout";
  ExpectUpgradeWorks();
}

TEST_F(UpgradeFailureTest, GarbageOnTheHandoverSocket) {
  InstallScript(
      "if [ -n \"$TTLOGIN_HANDOVER_FD\" ]; then\n"
      "  printf 'GET / HTTP/1.0\\r\\n\\r\\nthis is no handover message' >&$TTLOGIN_HANDOVER_FD\n"
      "fi\n"
      "exec sleep 600");
  ExpectFailedUpgrade("garbage on the handover socket");
  // Refused for what it sent, not for its silence afterwards.
  EXPECT_LT(answer_after_, kUpgradeTimeout);
  ExpectUpgradeWorks();
}

// The test hook makes the new binary claim another handover protocol version.
TEST_F(UpgradeFailureTest, HandoverVersionMismatch) {
  InstallScript(std::string("TTLOGIN_HANDOVER_VERSION_OVERRIDE=999 exec '") + LOGIN_SERVER_BIN +
                "' \"$@\"");
  ExpectFailedUpgrade("version mismatch");
  ExpectUpgradeWorks();
}

TEST_F(UpgradeFailureTest, PostWithoutTheTokenStartsNothing) {
  const pid_t pid = server_->pid();
  const auto r = AdminRequest(server_->ports().admin, "POST", "/upgrade");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401) << r->body;
  EXPECT_FALSE(std::filesystem::exists(pid_file_)) << "a new process was started";
  EXPECT_EQ(server_->ReadyPid(), pid);
  ExpectUpgradeWorks();
}

}  // namespace
}  // namespace ttlogin::test
