// Routing through the real login_server: policies, candidates, assignment holds, the
// carrier-aware network table with X-Forwarded-For, reload, and every bad routing key.
#include <signal.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

using nlohmann::json;

MsgServerFields Fields(const std::string& name, std::uint32_t port, std::uint32_t cur,
                       std::uint32_t max) {
  MsgServerFields f;
  f.host_name = name;
  f.ip1 = "10.0.0." + std::to_string(port % 250);
  f.ip2 = "172.16.0." + std::to_string(port % 250);
  f.port = port;
  f.cur_conn_cnt = cur;
  f.max_conn_cnt = max;
  return f;
}

std::optional<json> Ask(std::uint16_t http_port, const std::string& headers = "") {
  const auto r = HttpRequest(
      http_port, "GET /msg_server HTTP/1.1\r\nHost: t\r\n" + headers + "Connection: close\r\n\r\n");
  if (!r || r->status != 200) return std::nullopt;
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// Starts a server with `config`, registers `servers` and waits until all are chosen-able.
class RoutingTest : public testing::Test {
 protected:
  void Start(const std::string& config) {
    server_ = std::make_unique<ServerProcess>(config + "AdminPort=0\n");
    ASSERT_TRUE(server_->started()) << server_->log();
  }
  void Add(const MsgServerFields& f) {
    peers_.push_back(std::make_unique<FakeMsgServer>(server_->ports().msg_server));
    ASSERT_TRUE(peers_.back()->Register(f));
  }
  // Waits until the server holds every msg_server added so far (registrations race the queries).
  bool WaitRegistered() {
    return Eventually([&] {
      const auto r = HttpRequest(server_->ports().admin,
                                 "GET /servers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      if (!r || r->status != 200) return false;
      const json list = json::parse(r->body, nullptr, false);
      return list.is_array() && list.size() == peers_.size();
    });
  }
  // Waits until the server answers with `port`.
  bool WaitForAnswer(std::uint32_t port) {
    return WaitRegistered() && Eventually([&] {
             const auto j = Ask(http());
             return j && j->value("code", -1) == 0 && j->value("port", "") == std::to_string(port);
           });
  }
  std::uint16_t http() const { return server_->ports().http; }
  std::string TableFile(const std::string& text) {
    dir_ = MakeTempDir();
    const std::string path = dir_ + "/networks.txt";
    WriteFile(path, text);
    return path;
  }
  void TearDown() override {
    peers_.clear();
    server_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<ServerProcess> server_;
  std::vector<std::unique_ptr<FakeMsgServer>> peers_;
  std::string dir_;
};

TEST_F(RoutingTest, LeastRatioPicksTheEmptierLargeServerWhereLeastCountWouldNot) {
  Start("Policy=least_ratio\n");
  Add(Fields("small", 8001, 30, 50));   // 60% full, fewer users
  Add(Fields("large", 8002, 50, 100));  // 50% full
  EXPECT_TRUE(WaitForAnswer(8002));
  // The Client port follows the same policy.
  const auto pdu = AskClientPort(server_->ports().client);
  ASSERT_TRUE(pdu);
  EXPECT_EQ(pdu->port, 8002u);
}

TEST_F(RoutingTest, DefaultIsTheClassicLeastCount) {
  Start("");
  Add(Fields("small", 8001, 30, 50));
  Add(Fields("large", 8002, 50, 100));
  EXPECT_TRUE(WaitForAnswer(8001));
}

TEST_F(RoutingTest, P2cAnswersOnlyEligibleServers) {
  Start("Policy=p2c\n");
  Add(Fields("a", 8001, 10, 100));
  Add(Fields("b", 8002, 20, 100));
  Add(Fields("full", 8003, 5, 5));
  ASSERT_TRUE(WaitForAnswer(8001) || WaitForAnswer(8002));
  std::map<std::string, int> seen;
  for (int i = 0; i < 60; ++i) {
    const auto j = Ask(http());
    ASSERT_TRUE(j);
    ASSERT_EQ(j->at("code"), 0);
    ++seen[j->at("port").get<std::string>()];
  }
  EXPECT_EQ(seen.count("8003"), 0u);
  EXPECT_GT(seen["8001"], 0);
}

TEST_F(RoutingTest, CandidatesListTheNextBestInOrder) {
  Start("Candidates=2\n");
  Add(Fields("a", 8001, 10, 100));
  Add(Fields("b", 8002, 20, 100));
  Add(Fields("c", 8003, 30, 100));
  Add(Fields("d", 8004, 40, 100));
  ASSERT_TRUE(Eventually([&] {
    const auto j = Ask(http());
    // The first answers may come before every msg_server is registered; value() and contains()
    // keep a reply without these keys a "not yet" (const operator[] on a missing key is UB).
    return j && j->value("port", "") == "8001" && j->contains("candidates") &&
           j->at("candidates").size() == 2 && j->at("candidates")[1].value("port", "") == "8003";
  }));
  const auto j = Ask(http());
  ASSERT_TRUE(j);
  const json& c = j->at("candidates");
  EXPECT_EQ(c.at(0), json({{"backupIP", "172.16.0.2"}, {"ip", "10.0.0.2"}, {"port", "8002"}}));
  EXPECT_EQ(c.at(1).at("ip"), "10.0.0.3");
  // The classic keys are all still there.
  for (const char* key :
       {"backupIP", "code", "discovery", "msfsBackup", "msfsPrior", "msg", "port", "priorIP"}) {
    EXPECT_TRUE(j->contains(key)) << key;
  }
}

TEST_F(RoutingTest, NoCandidatesKeyByDefault) {
  Start("");
  Add(Fields("a", 8001, 10, 100));
  Add(Fields("b", 8002, 20, 100));
  ASSERT_TRUE(WaitForAnswer(8001));
  const auto j = Ask(http());
  ASSERT_TRUE(j);
  EXPECT_FALSE(j->contains("candidates"));
}

TEST_F(RoutingTest, AssignmentHoldsSpreadABurstBetweenCountUpdates) {
  Start("AssignmentHold=10000\n");
  Add(Fields("a", 8001, 0, 100));
  Add(Fields("b", 8002, 0, 100));
  ASSERT_TRUE(WaitRegistered());
  // Every answer holds one provisional user on the server it names, so the next ones alternate
  // between the two although neither reports a single login.
  std::map<std::string, int> seen;
  for (int i = 0; i < 20; ++i) {
    const auto j = Ask(http());
    ASSERT_TRUE(j);
    ++seen[j->at("port").get<std::string>()];
  }
  EXPECT_GE(seen["8001"], 9);
  EXPECT_GE(seen["8002"], 9);
  // Operators see the provisional users: in /metrics and per msg_server in /servers.
  const auto metrics = HttpRequest(server_->ports().admin,
                                   "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("\nttlogin_assignment_holds "), std::string::npos);
  EXPECT_EQ(metrics->body.find("\nttlogin_assignment_holds 0\n"), std::string::npos);
  const auto servers = HttpRequest(server_->ports().admin,
                                   "GET /servers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(servers);
  const json list = json::parse(servers->body);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_GE(list[0]["held"].get<int>() + list[1]["held"].get<int>(), 20);
  // A count update settles holds: the provisional users become real ones.
  ASSERT_TRUE(peers_[0]->Inc(3));
  EXPECT_TRUE(Eventually([&] {
    const auto r = HttpRequest(server_->ports().admin,
                               "GET /servers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if (!r) return false;
    for (const json& e : json::parse(r->body)) {
      if (e["host_name"] == "a" && e["cur"] == 3) return true;
    }
    return false;
  }));
}

TEST_F(RoutingTest, NetworkTableHandsOutTheSecondAddressFirst) {
  const std::string table = TableFile("# carrier B\n127.0.0.0/8 ip2\n");
  Start("NetworkTable=" + table + "\n");
  Add(Fields("a", 8001, 0, 100));
  ASSERT_TRUE(WaitForAnswer(8001));
  const auto j = Ask(http());
  ASSERT_TRUE(j);
  EXPECT_EQ(j->at("priorIP"), "172.16.0.1");
  EXPECT_EQ(j->at("backupIP"), "10.0.0.1");
  const auto pdu = AskClientPort(server_->ports().client);
  ASSERT_TRUE(pdu);
  EXPECT_EQ(pdu->prior_ip, "172.16.0.1");
  EXPECT_EQ(pdu->backip_ip, "10.0.0.1");
}

TEST_F(RoutingTest, ForwardedForIsBelievedOnlyFromTrustedProxies) {
  const std::string table = TableFile("203.0.113.0/24 ip2\n198.51.100.0/24 ip1\n");
  Start("NetworkTable=" + table + "\nTrustedProxies=127.0.0.1/32\nCandidates=1\n");
  Add(Fields("a", 8001, 0, 100));
  Add(Fields("b", 8002, 5, 100));
  ASSERT_TRUE(WaitForAnswer(8001));
  // From the trusted proxy (we connect from 127.0.0.1): the forwarded client decides.
  auto j = Ask(http(), "X-Forwarded-For: 203.0.113.7\r\n");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->at("priorIP"), "172.16.0.1");
  EXPECT_EQ(j->at("candidates")[0]["ip"], "172.16.0.2");  // candidates follow the same order
  // The rightmost untrusted hop is the client, whatever the client itself wrote to the left.
  j = Ask(http(), "X-Forwarded-For: 203.0.113.7, 198.51.100.4\r\n");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->at("priorIP"), "10.0.0.1");
  // Two X-Forwarded-For headers are one list.
  j = Ask(http(), "X-Forwarded-For: 198.51.100.4\r\nX-Forwarded-For: 203.0.113.7\r\n");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->at("priorIP"), "172.16.0.1");
  // Garbage in the header: the proxy's own address is used (not in the table: ip1).
  j = Ask(http(), "X-Forwarded-For: not-an-address\r\n");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->at("priorIP"), "10.0.0.1");
  j = Ask(http());
  ASSERT_TRUE(j);
  EXPECT_EQ(j->at("priorIP"), "10.0.0.1");
}

TEST_F(RoutingTest, ForwardedForFromAnUntrustedPeerIsIgnored) {
  const std::string table = TableFile("203.0.113.0/24 ip2\n");
  Start("NetworkTable=" + table + "\nTrustedProxies=10.0.0.0/8\n");
  Add(Fields("a", 8001, 0, 100));
  ASSERT_TRUE(WaitForAnswer(8001));
  const auto j = Ask(http(), "X-Forwarded-For: 203.0.113.7\r\n");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->at("priorIP"), "10.0.0.1");
}

TEST_F(RoutingTest, ReloadSwitchesPolicyAndNetworkTable) {
  const std::string table = TableFile("127.0.0.0/8 ip1\n");
  Start("NetworkTable=" + table + "\n");
  Add(Fields("small", 8001, 30, 50));
  Add(Fields("large", 8002, 50, 100));
  ASSERT_TRUE(WaitForAnswer(8001));
  EXPECT_EQ((*Ask(http()))["priorIP"], "10.0.0.1");
  WriteFile(table, "127.0.0.0/8 ip2\n");
  {
    std::ofstream out(server_->config_path(), std::ios::app);
    out << "Policy=least_ratio\n";
  }
  ASSERT_EQ(kill(server_->pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitForAnswer(8002)) << server_->log();
  EXPECT_EQ((*Ask(http()))["priorIP"], "172.16.0.2");
  EXPECT_NE(server_->log().find("routing: Policy least_ratio"), std::string::npos);
  // A broken table on reload: refused, the running table stays.
  WriteFile(table, "127.0.0.0/8 ip3\n");
  ASSERT_EQ(kill(server_->pid(), SIGHUP), 0);
  ASSERT_TRUE(Eventually(
      [&] { return server_->log().find("reload (SIGHUP) refused") != std::string::npos; }));
  EXPECT_EQ((*Ask(http()))["priorIP"], "172.16.0.2");
}

// Every bad routing key stops the start with exit code 2 and names the key.
TEST(RoutingConfigTest, BadRoutingKeysAreRefusedAtStart) {
  const std::string dir = MakeTempDir();
  WriteFile(dir + "/bad_table.txt", "10.0.0.0/8 ip1\n10.0.0.0/33 ip2\n");
  WriteFile(dir + "/good_table.txt", "10.0.0.0/8 ip2\n");
  const std::string base =
      "ClientListenIP=127.0.0.1\nClientPort=0\nHttpListenIP=127.0.0.1\nHttpPort=0\n"
      "MsgServerListenIP=127.0.0.1\nMsgServerPort=0\nmsfs=x\ndiscovery=y\n";
  const struct {
    std::string line;
    std::string expect;
  } cases[] = {
      {"Policy=round_robin", "Policy: 'round_robin' is not least_count, least_ratio or p2c"},
      {"Candidates=9", "Candidates"},
      {"AssignmentHold=-1", "AssignmentHold"},
      {"AssignmentHold=600000", "AssignmentHold"},
      {"SlowStart=soon", "SlowStart"},
      {"SlowStartMinShare=0", "SlowStartMinShare"},
      {"NetworkTable=" + dir + "/missing.txt", "NetworkTable"},
      {"NetworkTable=bad_table.txt", "bad_table.txt:2"},
      {"TrustedProxies=10.0.0.0/8, banana", "TrustedProxies"},
  };
  for (const auto& c : cases) {
    WriteFile(dir + "/loginserver.conf", base + c.line + "\n");
    std::string output;
    EXPECT_EQ(RunLoginServer({"--check-config", "-c", dir + "/loginserver.conf"}, &output), 2)
        << c.line << "\n"
        << output;
    EXPECT_NE(output.find(c.expect), std::string::npos) << c.line << "\n" << output;
  }
  // A relative NetworkTable path is read from the config file's folder.
  WriteFile(dir + "/loginserver.conf", base + "NetworkTable=good_table.txt\n");
  std::string output;
  EXPECT_EQ(RunLoginServer({"--check-config", "-c", dir + "/loginserver.conf"}, &output), 0)
      << output;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ttlogin::test
