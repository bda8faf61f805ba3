// Restart windows: for ONE login server whose msg_servers reconnect as the classic msg_server does
// (first attempt 4 s after the drop, then doubling), how long clients asking it directly get a
// failure or code 1 ("no msg_server") around a restart. Each way of restarting is one case; the
// figures go into docs/OPERATIONS.md ("Restart windows").
//
// The window runs from the start of the first bad request to the end of the last one. Requests go
// straight to the login server's HTTP port, with no balancer to hide anything.
#include <signal.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test/support/fake_peers.h"
#include "test/support/reconnecting_msg_server.h"
#include "test/tier/client_load.h"
#include "test/tier/restartable_server.h"

namespace ttlogin::test {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kMsgServers = 5;
constexpr int kClientLoops = 2;
constexpr auto kWarmUp = 500ms;
constexpr auto kAfterReady = 1s;
constexpr auto kReadyWait = 20s;

void PrintWindow(const std::string& how, const LoadFigures& f) {
  std::printf("%-44s %9s %9s %7s %7s\n", "restart of one login server", "window ms", "requests",
              "failed", "code-1");
  std::printf("%-44s %9lld %9llu %7llu %7llu\n", how.c_str(),
              static_cast<long long>(f.bad_window.count()), static_cast<unsigned long long>(f.sent),
              static_cast<unsigned long long>(f.failed), static_cast<unsigned long long>(f.code1));
  std::fflush(stdout);
}

class RestartWindowTest : public testing::Test {
 protected:
  void Start(const std::string& extra_config) {
    server_.emplace("LogLevel=info\n" + extra_config);
    ASSERT_TRUE(server_->running()) << server_->log();
    for (std::size_t i = 0; i < kMsgServers; ++i) {
      MsgServerFields f;
      f.host_name = "classic-" + std::to_string(i);
      f.port = static_cast<std::uint32_t>(8000 + i);
      f.ip1 = "192.0.2." + std::to_string(i + 1);
      f.max_conn_cnt = 10000;
      f.cur_conn_cnt = static_cast<std::uint32_t>(10 * i);
      fakes_.push_back(std::make_unique<ReconnectingMsgServer>(
          std::vector<std::uint16_t>{server_->ports().msg_server}, f,
          ReconnectingMsgServer::Options{}));
      fakes_.back()->Start();
    }
    ASSERT_TRUE(server_->WaitReady(kReadyWait));
    load_.emplace(server_->ports().http, kClientLoops);
    load_->Start();
    std::this_thread::sleep_for(kWarmUp);
    ASSERT_EQ(load_->figures(0).bad(), 0u) << load_->first_bad();
    load_->SetPhase(1);
  }

  // After the restart: ready again and, when the restart dropped them, every msg_server
  // registered again (so the window covers the hand-over from a snapshot to the live entries),
  // then a second of good answers, then the figures.
  LoadFigures Finish(bool msg_servers_reconnect) {
    EXPECT_TRUE(server_->WaitReady(kReadyWait));
    EXPECT_TRUE(Eventually(
        [&] {
          for (const auto& f : fakes_) {
            if (f->linked() != 1 || (msg_servers_reconnect && f->registrations() < 2)) {
              return false;
            }
          }
          return true;
        },
        kReadyWait))
        << "not every msg_server is back";
    std::this_thread::sleep_for(kAfterReady);
    load_->Stop();
    return load_->figures(1);
  }

  void TearDown() override {
    if (load_) load_->Stop();
    for (auto& f : fakes_)
      f->Stop();
  }

  std::optional<RestartableServer> server_;
  std::vector<std::unique_ptr<ReconnectingMsgServer>> fakes_;
  std::optional<ClientLoad> load_;
};

TEST_F(RestartWindowTest, PlainRestartWaitsForTheMsgServersBackoff) {
  ASSERT_NO_FATAL_FAILURE(Start(""));
  ASSERT_EQ(server_->Stop(SIGTERM, 10s), 0);
  std::string why;
  ASSERT_TRUE(server_->Start(&why)) << why;
  const LoadFigures f = Finish(true);
  PrintWindow("ours, plain restart", f);
  // Clients are refused until the first msg_server is back, which the classic backoff puts 4 s
  // after the drop: a shorter window would mean the measurement missed something.
  EXPECT_GT(f.code1, 0u);
  EXPECT_GE(f.bad_window, kClassicReconnectBackoff - 200ms);
  EXPECT_LT(f.bad_window, kClassicReconnectBackoff + 4s);
}

TEST_F(RestartWindowTest, WarmStartAnswersFromTheSnapshot) {
  if (!LoginServerKnowsKey("StateFile", "/tmp/ttlogin-state-check")) {
    GTEST_SKIP() << "this login_server has no StateFile (warm start): row not measured";
  }
  const std::string state_dir = MakeTempDir();
  ASSERT_NO_FATAL_FAILURE(Start("StateFile=" + state_dir + "/registry.state\n"));
  ASSERT_EQ(server_->Stop(SIGTERM, 10s), 0);
  std::string why;
  ASSERT_TRUE(server_->Start(&why)) << why;
  const LoadFigures f = Finish(true);
  PrintWindow("ours, warm start (StateFile)", f);
  std::error_code ec;
  std::filesystem::remove_all(state_dir, ec);
  // Only the moment no process listens is left: the snapshot answers until the msg_servers are
  // back.
  EXPECT_EQ(f.code1, 0u) << load_->first_bad();
  EXPECT_LT(f.bad_window, kClassicReconnectBackoff / 4);
}

TEST_F(RestartWindowTest, LiveUpgradeHasNoWindow) {
  if (!LiveUpgradeAvailable()) {
    GTEST_SKIP() << "this login_server has no live upgrade (SIGUSR2): row not measured";
  }
  ASSERT_NO_FATAL_FAILURE(Start(""));
  std::string why;
  ASSERT_TRUE(server_->Upgrade(kReadyWait, &why)) << why;
  const LoadFigures f = Finish(false);
  PrintWindow("ours, live upgrade (SIGUSR2)", f);
  EXPECT_EQ(f.bad(), 0u) << load_->first_bad();
  for (const auto& fake : fakes_)
    EXPECT_EQ(fake->drops(), 0u) << fake->key() << " lost its login server";
}

}  // namespace
}  // namespace ttlogin::test
