// Live upgrade of the real binary, the quick cases: one upgrade that carries a registered
// msg_server (with half a PDU in flight) and an idle keep-alive HTTP connection, and upgrades
// that fail (a binary that does not exist, a config that no longer loads) with the old process
// serving on. The heavy cases (load, many connections, every failure) have their own suite.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/protocol.h"
#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kUpgradeWait{15000};

std::optional<HttpResponse> Admin(std::uint16_t port, const std::string& method,
                                  const std::string& path) {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  if (method == "POST") req += "Content-Length: 0\r\n";
  return HttpRequest(port, req + "\r\n", kUpgradeWait);
}

json ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str(), nullptr, false);
}

// The process that took over is no child of ours: as a subreaper we inherit it when the old one
// exits, so it can be stopped and reaped here.
class NewProcess {
 public:
  explicit NewProcess(pid_t pid) : pid_(pid) {}
  NewProcess(const NewProcess&) = delete;
  NewProcess& operator=(const NewProcess&) = delete;
  ~NewProcess() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    if (!Reaped(seconds(5))) {
      kill(pid_, SIGKILL);
      (void)Reaped(seconds(5));
    }
  }
  // Waits (bounded) for it to exit; true once reaped.
  bool Reaped(milliseconds timeout) {
    return Eventually(
        [&] {
          int status = 0;
          return waitpid(pid_, &status, WNOHANG) == pid_;
        },
        timeout);
  }

 private:
  pid_t pid_;
};

class UpgradeQuickTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }

  static json Servers(std::uint16_t admin_port) {
    const auto r = Admin(admin_port, "GET", "/servers");
    return r ? json::parse(r->body, nullptr, false) : json();
  }
  static bool CountIs(std::uint16_t admin_port, int cur) {
    const json l = Servers(admin_port);
    return l.is_array() && l.size() == 1 && l[0]["cur"] == cur;
  }
  static std::string Metrics(std::uint16_t admin_port) {
    const auto r = Admin(admin_port, "GET", "/metrics");
    return r ? r->body : std::string();
  }
};

TEST_F(UpgradeQuickTest, CarriesAMsgServerHalfAPduAndAKeepAliveConnection) {
  ServerProcess server("AdminPort=0\nAssignmentHold=60000\n");
  ASSERT_TRUE(server.started());
  const ServerPorts ports = server.ports();
  const pid_t old_pid = server.pid();

  FakeMsgServer ms(ports.msg_server);
  MsgServerFields f;
  f.host_name = "msg-a";
  f.ip1 = "192.0.2.1";
  ASSERT_TRUE(ms.Register(f));
  ASSERT_TRUE(ms.Inc(5));
  ASSERT_TRUE(Eventually([&] { return CountIs(ports.admin, 5); }));
  // A login: a provisional user held for a minute, carried with the entry.
  ASSERT_TRUE(HttpGetMsgServer(ports.http));
  ASSERT_TRUE(Eventually([&] { return Servers(ports.admin)[0]["held"] == 1; }));

  // An idle keep-alive connection that has had one answer.
  TcpClient keep_alive(ports.http);
  const std::string get = "GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(keep_alive.Send(get));
  const auto first = ReadHttpResponse(keep_alive);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200);

  // Half of an increment: the rest arrives after the upgrade.
  const std::string inc = UserCntUpdatePdu(common::kUserActionInc, 42);
  ASSERT_TRUE(ms.conn().Send(inc.substr(0, 10)));

  const auto answer = Admin(ports.admin, "POST", "/upgrade");
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->status, 200) << answer->body << "\n" << server.log();
  const json j = json::parse(answer->body, nullptr, false);
  ASSERT_EQ(j["status"], "upgraded");
  const pid_t new_pid = j["pid"].get<pid_t>();
  NewProcess guard(new_pid);
  EXPECT_NE(new_pid, old_pid);
  EXPECT_GT(j["handover_ms"].get<double>(), 0.0);
  EXPECT_LT(j["handover_ms"].get<double>(), 10000.0);

  // The old process finishes and exits 0; the new one rewrote the ready file.
  EXPECT_EQ(server.Stop(0, kUpgradeWait), 0) << server.log();
  const json ready = ReadJsonFile(server.dir() + "/ready.json");
  ASSERT_FALSE(ready.is_discarded());
  EXPECT_EQ(ready["pid"], new_pid);
  EXPECT_EQ(ready["http"][0], ports.http);
  EXPECT_EQ(ready["admin"][0], ports.admin);

  // The msg_server's link goes on: the rest of its PDU and one more update count, and the hold
  // came along.
  ASSERT_TRUE(ms.conn().Send(inc.substr(10)));
  ASSERT_TRUE(ms.Inc(2, 100));
  EXPECT_TRUE(Eventually([&] { return CountIs(ports.admin, 8); })) << Servers(ports.admin).dump();
  const json entry = Servers(ports.admin)[0];
  EXPECT_EQ(entry["host_name"], "msg-a");
  // Three increments settled the one hold.
  EXPECT_EQ(entry["held"], 0);

  // The keep-alive connection is answered by the new process.
  ASSERT_TRUE(keep_alive.Send(get));
  const auto second = ReadHttpResponse(keep_alive);
  ASSERT_TRUE(second) << server.log();
  EXPECT_EQ(second->status, 200);
  EXPECT_NE(second->body.find("192.0.2.1"), std::string::npos);

  const std::string metrics = Metrics(ports.admin);
  EXPECT_NE(metrics.find("ttlogin_upgrades_total{result=\"ok\"} 1"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("ttlogin_handover_seconds 0\n"), std::string::npos) << metrics;

  const std::string log = server.log();
  EXPECT_NE(log.find("live upgrade: serving, took over from pid " + std::to_string(old_pid)),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("removed ("), std::string::npos) << log;
}

TEST_F(UpgradeQuickTest, AMissingBinaryOrABadConfigLeavesTheOldProcessServing) {
  ServerProcess server("AdminPort=0\nUpgradeBinary=/nonexistent/login_server\n");
  ASSERT_TRUE(server.started());
  const ServerPorts ports = server.ports();
  FakeMsgServer ms(ports.msg_server);
  MsgServerFields f;
  f.host_name = "msg-a";
  ASSERT_TRUE(ms.Register(f));
  ASSERT_TRUE(ms.Inc(3));
  ASSERT_TRUE(Eventually([&] { return CountIs(ports.admin, 3); }));

  // Should an upgrade succeed after all, the process it started is stopped with the test.
  std::vector<std::unique_ptr<NewProcess>> unexpected;
  auto upgrade = [&] {
    auto answer = Admin(ports.admin, "POST", "/upgrade");
    if (answer && answer->status == 200) {
      const json j = json::parse(answer->body, nullptr, false);
      if (j.contains("pid"))
        unexpected.push_back(std::make_unique<NewProcess>(j["pid"].get<pid_t>()));
    }
    return answer;
  };
  auto answer = upgrade();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 500) << answer->body;
  json j = json::parse(answer->body, nullptr, false);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_NE(j["error"].get<std::string>().find("/nonexistent/login_server"), std::string::npos)
      << answer->body;

  // The next attempt starts the real binary, whose config no longer loads: it exits 2.
  std::ifstream in(server.config_path());
  std::stringstream config;
  config << in.rdbuf();
  std::string text = config.str();
  text.replace(text.find("UpgradeBinary=/nonexistent/login_server"),
               std::string("UpgradeBinary=/nonexistent/login_server").size(),
               "UpgradeBinary=" LOGIN_SERVER_BIN);
  WriteFile(server.config_path(), text);
  ASSERT_EQ(Admin(ports.admin, "POST", "/reload")->status, 200);
  WriteFile(server.config_path(), text + "ClientTimeout=not-a-number\n");
  answer = upgrade();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 500) << answer->body;
  j = json::parse(answer->body, nullptr, false);
  EXPECT_NE(j["error"].get<std::string>().find("exited 2"), std::string::npos) << answer->body;

  // Nothing was lost: the same process serves, the msg_server's link is the one it had.
  ASSERT_TRUE(ms.Inc(1, 50));
  EXPECT_TRUE(Eventually([&] { return CountIs(ports.admin, 4); }));
  const auto login = HttpGetMsgServer(ports.http);
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 200);
  const std::string metrics = Metrics(ports.admin);
  EXPECT_NE(metrics.find("ttlogin_upgrades_total{result=\"failed\"} 2"), std::string::npos)
      << metrics;
  const std::string log = server.log();
  EXPECT_NE(log.find("live upgrade failed: "), std::string::npos) << log;
  EXPECT_NE(log.find("; serving on"), std::string::npos) << log;
  EXPECT_EQ(kill(server.pid(), 0), 0);
}

}  // namespace
}  // namespace ttlogin::test
