// StopGrace: after SIGTERM the server says "stopping" on /readyz for the grace while it still
// answers clients and keeps its msg_servers, then stops as without a grace and exits 0. A second
// stop signal ends the grace at once.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Signal 0 sends nothing: ServerProcess::Stop(kNoSignal, t) only waits for the exit.
constexpr int kNoSignal = 0;

std::optional<HttpResponse> Get(std::uint16_t port, const std::string& path) {
  return HttpRequest(port, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

int ReadyzStatus(const ServerProcess& server) {
  const auto r = Get(server.ports().admin, "/readyz");
  return r ? r->status : 0;
}

// The "code" of a GET /msg_server reply, or -1 when there was no reply.
int MsgServerCode(const ServerProcess& server) {
  const auto r = HttpGetMsgServer(server.ports().http);
  if (!r || r->status != 200) return -1;
  const json j = json::parse(r->body, nullptr, false);
  return j.is_discarded() ? -1 : j.value("code", -1);
}

class StopGraceTest : public testing::Test {
 protected:
  void Start(int grace_seconds) {
    server_.emplace("AdminPort=0\nStopGrace=" + std::to_string(grace_seconds) + "\n");
    ASSERT_TRUE(server_->started()) << server_->log();
    ms_.emplace(server_->ports().msg_server);
    MsgServerFields f;
    f.host_name = "msg-a";
    f.port = 8000;
    f.ip1 = "192.0.2.1";
    ASSERT_TRUE(ms_->Register(f));
    ASSERT_TRUE(Eventually([&] { return ReadyzStatus(*server_) == 200; }));
  }
  std::optional<ServerProcess> server_;
  std::optional<FakeMsgServer> ms_;
};

TEST_F(StopGraceTest, ReadyzSaysStoppingWhileClientsAreStillServedThenExitsZero) {
  constexpr int kGrace = 2;
  Start(kGrace);
  const auto signalled = Clock::now();
  ASSERT_EQ(kill(server_->pid(), SIGTERM), 0);
  ASSERT_TRUE(Eventually([&] { return ReadyzStatus(*server_) == 503; }));
  const auto r = Get(server_->ports().admin, "/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body, nullptr, false).value("status", ""), "stopping");

  // Inside the grace everything else serves: clients get a msg_server, the msg_server keeps its
  // link (a heartbeat goes through), the liveness probe says ok.
  int answered = 0;
  while (Clock::now() - signalled < std::chrono::seconds(kGrace) - 500ms) {
    ASSERT_EQ(MsgServerCode(*server_), 0) << "a client was refused during the grace";
    ++answered;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_GT(answered, 10);
  EXPECT_TRUE(ms_->Heartbeat());
  const auto health = Get(server_->ports().admin, "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  const int code = server_->Stop(kNoSignal, 10s);
  const auto stopped = Clock::now();
  EXPECT_EQ(code, 0) << server_->log();
  EXPECT_GE(stopped - signalled, std::chrono::seconds(kGrace)) << "stopped before the grace ended";
  const std::string log = server_->log();
  EXPECT_NE(log.find("SIGTERM: stopping in 2 s (StopGrace)"), std::string::npos) << log;
  EXPECT_NE(log.find("SIGTERM, StopGrace over"), std::string::npos) << log;
  // As a stop without a grace: the msg_server's link is closed.
  EXPECT_TRUE(ms_->conn().WaitClosed(1s));
}

TEST_F(StopGraceTest, ASecondSignalStopsAtOnce) {
  Start(600);
  ASSERT_EQ(kill(server_->pid(), SIGTERM), 0);
  ASSERT_TRUE(Eventually([&] { return ReadyzStatus(*server_) == 503; }));
  EXPECT_EQ(MsgServerCode(*server_), 0);
  const auto second = Clock::now();
  EXPECT_EQ(server_->Stop(SIGINT, 10s), 0) << server_->log();
  EXPECT_LT(Clock::now() - second, 5s) << "the second signal did not cut the grace short";
  EXPECT_NE(server_->log().find("SIGINT during StopGrace"), std::string::npos) << server_->log();
}

TEST_F(StopGraceTest, NoLiveUpgradeDuringTheGrace) {
  Start(2);
  const pid_t pid = server_->pid();
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_TRUE(Eventually([&] { return ReadyzStatus(*server_) == 503; }));
  const auto r = HttpRequest(server_->ports().admin,
                             "POST /upgrade HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                             "Content-Length: 0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500) << r->body;
  EXPECT_NE(r->body.find("StopGrace"), std::string::npos) << r->body;
  // The stop the operator asked for goes on: this process exits 0 and no other took over.
  EXPECT_EQ(server_->Stop(kNoSignal, 10s), 0) << server_->log();
  EXPECT_NE(server_->log().find("live upgrade (POST /upgrade) refused: the server is stopping"),
            std::string::npos)
      << server_->log();
  EXPECT_FALSE(HttpGetMsgServer(server_->ports().http)) << "something still serves the port";
}

TEST_F(StopGraceTest, WithoutAGraceSigtermStopsAtOnce) {
  Start(0);
  const auto signalled = Clock::now();
  EXPECT_EQ(server_->Stop(SIGTERM, 10s), 0) << server_->log();
  EXPECT_LT(Clock::now() - signalled, 5s);
  EXPECT_EQ(server_->log().find("StopGrace"), std::string::npos) << server_->log();
}

}  // namespace
}  // namespace ttlogin::test
