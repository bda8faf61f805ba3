// The MsgServer port, end to end against the real binary: registration, counts, heartbeats,
// timeouts, and every kind of bad input a msg_server (or an attacker) can send.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <vector>

#include "common/pdu_header.h"
#include "common/protocol.h"
#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

using nlohmann::json;

json Ask(const ServerProcess& server) {
  const auto r = HttpGetMsgServer(server.ports().http);
  if (!r) return json{{"code", -99}};
  return json::parse(r->body, nullptr, false);
}

// Waits until the HTTP answer satisfies `pred`; returns the last answer seen.
bool AnswerBecomes(const ServerProcess& server, const std::function<bool(const json&)>& pred,
                   json* last = nullptr) {
  json seen;
  const bool ok = Eventually([&] {
    seen = Ask(server);
    return pred(seen);
  });
  if (last != nullptr) *last = seen;
  return ok;
}

bool ChoosesPort(const ServerProcess& server, std::uint32_t port) {
  return AnswerBecomes(server, [&](const json& j) {
    return j.value("code", -1) == 0 && j.value("port", "") == std::to_string(port);
  });
}

bool AnswersCode(const ServerProcess& server, int code) {
  return AnswerBecomes(server, [&](const json& j) { return j.value("code", -1) == code; });
}

std::string RawHeader(std::uint32_t length, std::uint16_t service = 7,
                      std::uint16_t command = 0x070b) {
  return peer::RawPdu(length, service, command);
}

MsgServerFields Fields(std::uint32_t port, std::uint32_t cur = 0, std::uint32_t max = 1000,
                       const std::string& host = "msg") {
  MsgServerFields f;
  f.port = port;
  f.cur_conn_cnt = cur;
  f.max_conn_cnt = max;
  f.host_name = host + std::to_string(port);
  return f;
}

class MsgServerPortTest : public testing::Test {
 protected:
  ServerProcess server_{"HeartbeatInterval=1\nMsgServerTimeout=3\n"};
  void SetUp() override { ASSERT_TRUE(server_.started()) << server_.log(); }
};

TEST_F(MsgServerPortTest, RegistrationMakesTheServerChoosable) {
  EXPECT_TRUE(AnswersCode(server_, 1));
  FakeMsgServer ms(server_.ports().msg_server);
  MsgServerFields f = Fields(8000, 0, 100, "msg-a");
  f.ip1 = "192.168.1.150";
  f.ip2 = "192.168.1.151";
  ASSERT_TRUE(ms.Register(f));
  json j;
  ASSERT_TRUE(AnswerBecomes(
      server_, [](const json& a) { return a.value("code", -1) == 0; }, &j));
  EXPECT_EQ(j["priorIP"], "192.168.1.150");
  EXPECT_EQ(j["backupIP"], "192.168.1.151");
  EXPECT_EQ(j["port"], "8000");
  EXPECT_NE(server_.log().find("registered: host_name=msg-a"), std::string::npos) << server_.log();
}

TEST_F(MsgServerPortTest, UpdatesSteerTheChoiceToTheLeastLoaded) {
  FakeMsgServer a(server_.ports().msg_server), b(server_.ports().msg_server);
  ASSERT_TRUE(a.Register(Fields(1001, 10)));
  ASSERT_TRUE(b.Register(Fields(1002, 12)));
  ASSERT_TRUE(ChoosesPort(server_, 1001));
  ASSERT_TRUE(a.Inc(5));  // a: 15, b: 12
  ASSERT_TRUE(ChoosesPort(server_, 1002));
  ASSERT_TRUE(b.Inc(10));  // a: 15, b: 22
  ASSERT_TRUE(ChoosesPort(server_, 1001));
  ASSERT_TRUE(b.Dec(20));  // b: 2
  ASSERT_TRUE(ChoosesPort(server_, 1002));
}

TEST_F(MsgServerPortTest, FullServersAreSkippedAndAllFullIsCodeTwo) {
  FakeMsgServer a(server_.ports().msg_server);
  ASSERT_TRUE(a.Register(Fields(1001, 1, 3)));
  ASSERT_TRUE(ChoosesPort(server_, 1001));
  ASSERT_TRUE(a.Inc(2));
  EXPECT_TRUE(AnswersCode(server_, 2));
  ASSERT_TRUE(a.Dec(1));
  EXPECT_TRUE(ChoosesPort(server_, 1001));
}

TEST_F(MsgServerPortTest, ClosedConnectionLeavesTheRegistryAtOnce) {
  {
    FakeMsgServer a(server_.ports().msg_server);
    ASSERT_TRUE(a.Register(Fields(1001, 5)));
    ASSERT_TRUE(ChoosesPort(server_, 1001));
  }
  EXPECT_TRUE(AnswersCode(server_, 1));
  EXPECT_TRUE(Eventually([&] {
    return server_.log().find(
               "removed (peer closed): host_name=msg1001 port=1001 users dropped=5") !=
           std::string::npos;
  })) << server_.log();
}

TEST_F(MsgServerPortTest, ResetConnectionLeavesTheRegistry) {
  FakeMsgServer a(server_.ports().msg_server);
  ASSERT_TRUE(a.Register(Fields(1001)));
  ASSERT_TRUE(ChoosesPort(server_, 1001));
  a.conn().Send(UserCntUpdatePdu(1, 1).substr(0, 20));  // reset mid-PDU
  a.conn().Reset();
  EXPECT_TRUE(AnswersCode(server_, 1));
}

TEST_F(MsgServerPortTest, ServerSendsHeartbeatsWhenIdle) {
  FakeMsgServer a(server_.ports().msg_server);
  ASSERT_TRUE(a.Register(Fields(1001)));
  const auto pdu = ReadPdu(a.conn(), std::chrono::milliseconds(2500));
  ASSERT_TRUE(pdu);
  EXPECT_EQ(pdu->header.service_id, common::kSidOther);
  EXPECT_EQ(pdu->header.command_id, common::kCidOtherHeartbeat);
}

TEST_F(MsgServerPortTest, SilentMsgServerIsDroppedAfterTheTimeoutWithItsUsers) {
  FakeMsgServer silent(server_.ports().msg_server);
  ASSERT_TRUE(silent.Register(Fields(1001, 7)));
  ASSERT_TRUE(ChoosesPort(server_, 1001));
  // It reads (heartbeats arrive) but never sends: dropped after MsgServerTimeout=3 s.
  EXPECT_TRUE(silent.conn().WaitClosed(std::chrono::seconds(6)));
  EXPECT_TRUE(AnswersCode(server_, 1));
  EXPECT_NE(server_.log().find("timed out"), std::string::npos);
}

TEST_F(MsgServerPortTest, HeartbeatsKeepAMsgServerAlive) {
  FakeMsgServer a(server_.ports().msg_server);
  ASSERT_TRUE(a.Register(Fields(1001)));
  for (int i = 0; i < 9; ++i) {  // 4.5 s > MsgServerTimeout
    ASSERT_TRUE(a.Heartbeat());
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_TRUE(ChoosesPort(server_, 1001));
}

TEST_F(MsgServerPortTest, UpdatesBeforeRegistrationAreIgnoredWithAWarning) {
  FakeMsgServer a(server_.ports().msg_server);
  ASSERT_TRUE(a.Inc(50));
  ASSERT_TRUE(a.Register(Fields(1001, 3)));
  FakeMsgServer b(server_.ports().msg_server);
  ASSERT_TRUE(b.Register(Fields(1002, 4)));
  // Had the 50 early increments counted, b would be chosen.
  EXPECT_TRUE(ChoosesPort(server_, 1001));
  EXPECT_NE(server_.log().find("before IMMsgServInfo ignored"), std::string::npos);
}

TEST_F(MsgServerPortTest, DecrementsNeverWrapBelowZero) {
  FakeMsgServer a(server_.ports().msg_server), b(server_.ports().msg_server);
  ASSERT_TRUE(a.Register(Fields(1001, 0, 0xffffffffu)));
  ASSERT_TRUE(b.Register(Fields(1002, 2)));
  ASSERT_TRUE(a.Dec(5));  // classic: 2^32-5; ours: 0
  ASSERT_TRUE(a.Inc(1));  // 1 < 2
  EXPECT_TRUE(ChoosesPort(server_, 1001));
  ASSERT_TRUE(a.Inc(2));  // 3 > 2
  EXPECT_TRUE(ChoosesPort(server_, 1002));
  EXPECT_NE(server_.log().find("below zero"), std::string::npos);
}

TEST_F(MsgServerPortTest, SecondRegistrationReplacesTheEntry) {
  FakeMsgServer a(server_.ports().msg_server);
  ASSERT_TRUE(a.Register(Fields(1001, 0)));
  ASSERT_TRUE(ChoosesPort(server_, 1001));
  ASSERT_TRUE(a.Register(Fields(2002, 0)));
  EXPECT_TRUE(ChoosesPort(server_, 2002));
  a.conn().Close();
  EXPECT_TRUE(AnswersCode(server_, 1));  // no stale entry left behind
}

TEST_F(MsgServerPortTest, UnparsableBodyClosesOnlyThatConnection) {
  FakeMsgServer good(server_.ports().msg_server), bad(server_.ports().msg_server);
  ASSERT_TRUE(good.Register(Fields(1001)));
  const std::string garbage = "\xff\xff\xff\xff\xff";
  ASSERT_TRUE(bad.conn().Send(RawHeader(16 + 5, 7, 0x0709) + garbage));
  EXPECT_TRUE(bad.conn().WaitClosed());
  EXPECT_TRUE(ChoosesPort(server_, 1001));
  ASSERT_TRUE(good.Inc(1));
  EXPECT_NE(server_.log().find("IMMsgServInfo body does not parse"), std::string::npos);
}

TEST_F(MsgServerPortTest, UnparsableUpdateClosesTheConnectionAndRemovesItsEntry) {
  FakeMsgServer a(server_.ports().msg_server);
  ASSERT_TRUE(a.Register(Fields(1001)));
  ASSERT_TRUE(ChoosesPort(server_, 1001));
  ASSERT_TRUE(a.conn().Send(RawHeader(16 + 3) + "\x08\x80\x80"));  // truncated varint
  EXPECT_TRUE(a.conn().WaitClosed());
  EXPECT_TRUE(AnswersCode(server_, 1));
}

TEST_F(MsgServerPortTest, UnknownCommandsAreSkipped) {
  FakeMsgServer a(server_.ports().msg_server);
  ASSERT_TRUE(a.conn().Send(RawHeader(16 + 4, 3, 0x0301) + "abcd"));
  ASSERT_TRUE(a.Register(Fields(1001)));
  EXPECT_TRUE(ChoosesPort(server_, 1001));
  EXPECT_NE(server_.log().find("skipping unknown PDU service=0x0003 command=0x0301"),
            std::string::npos);
}

class BadLengthTest : public MsgServerPortTest,
                      public testing::WithParamInterface<std::uint32_t> {};

TEST_P(BadLengthTest, ClosesThatConnectionWithALogLineAndKeepsServing) {
  FakeMsgServer good(server_.ports().msg_server);
  ASSERT_TRUE(good.Register(Fields(1001)));
  TcpClient bad(server_.ports().msg_server);
  ASSERT_TRUE(bad.Send(RawHeader(GetParam())));
  EXPECT_TRUE(bad.WaitClosed());
  EXPECT_TRUE(ChoosesPort(server_, 1001));
  EXPECT_TRUE(Eventually([&] {
    return server_.log().find("protocol error: PDU length " + std::to_string(GetParam())) !=
           std::string::npos;
  })) << server_.log();
}

INSTANTIATE_TEST_SUITE_P(Lengths, BadLengthTest,
                         testing::Values(0u, 5u, 15u, 0x7fffffffu, 64u * 1024 + 1));

TEST_F(MsgServerPortTest, GarbageBytesCloseTheConnection) {
  TcpClient bad(server_.ports().msg_server);
  ASSERT_TRUE(bad.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));  // "GET " = 0x47455420: too long
  EXPECT_TRUE(bad.WaitClosed());
}

TEST_F(MsgServerPortTest, DisconnectMidHeaderIsHarmless) {
  for (int i = 0; i < 20; ++i) {
    TcpClient c(server_.ports().msg_server);
    ASSERT_TRUE(c.Send(RawHeader(30).substr(0, 7)));
  }
  FakeMsgServer a(server_.ports().msg_server);
  ASSERT_TRUE(a.Register(Fields(1001)));
  EXPECT_TRUE(ChoosesPort(server_, 1001));
}

TEST_F(MsgServerPortTest, PduSplitIntoSingleBytesIsDecoded) {
  FakeMsgServer a(server_.ports().msg_server);
  const std::string pdu = ServInfoPdu(Fields(1001));
  for (char c : pdu) {
    ASSERT_TRUE(a.conn().Send(std::string(1, c)));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(ChoosesPort(server_, 1001));
}

TEST_F(MsgServerPortTest, ManyPipelinedUpdatesAreAllCounted) {
  FakeMsgServer a(server_.ports().msg_server), b(server_.ports().msg_server);
  ASSERT_TRUE(a.Register(Fields(1001, 0, 1000000)));
  ASSERT_TRUE(b.Register(Fields(1002, 20000, 1000000)));
  ASSERT_TRUE(a.Inc(20001));  // one big write of 20,001 PDUs
  EXPECT_TRUE(ChoosesPort(server_, 1002));
  ASSERT_TRUE(a.Dec(2));  // 19,999 < 20,000
  EXPECT_TRUE(ChoosesPort(server_, 1001));
}

// --- Who may use the port: registration values, one live entry per host_name:port,
// MsgServerAllowFrom and the per-address cap. Peers on "other hosts" connect from 127.0.0.2.

constexpr const char* kOtherHost = "127.0.0.2";

// The admin port's /metrics text.
std::string Scrape(const ServerProcess& server) {
  const auto r = HttpRequest(server.ports().admin,
                             "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  return r && r->status == 200 ? r->body : std::string();
}

// The value of one sample line (`name{labels}` exactly as written), or -1 when absent.
double Sample(const std::string& text, const std::string& sample) {
  const std::string key = "\n" + sample + " ";
  const std::size_t at = ("\n" + text).find(key);
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + key.size() - 1, nullptr);
}

std::size_t Occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

bool MetricReaches(const ServerProcess& server, const std::string& sample, double value) {
  return Eventually([&] { return Sample(Scrape(server), sample) == value; });
}

class MsgServerTrustTest : public testing::Test {
 protected:
  explicit MsgServerTrustTest(const std::string& extra = "")
      : server_("AdminPort=0\nHeartbeatInterval=1\nMsgServerTimeout=30\n" + extra) {}
  void SetUp() override {
    ASSERT_TRUE(server_.started()) << server_.log();
    // A peer on "another host" needs 127.0.0.2, which Linux routes to lo.
    FakeMsgServer probe(server_.ports().msg_server, kOtherHost);
    ASSERT_TRUE(probe.connected()) << "cannot connect from " << kOtherHost;
  }
  ServerProcess server_;
};

TEST_F(MsgServerTrustTest, BadPortsAndAddressesAreRefusedAndNeverHandedToClients) {
  std::vector<MsgServerFields> bad;
  for (std::uint32_t port : {0u, 70000u, 4294967295u}) {
    bad.push_back(Fields(1001));
    bad.back().port = port;
  }
  bad.push_back(Fields(1002));
  bad.back().ip1 = std::string(20 * 1024, 'a');  // one label of 20 KB
  bad.push_back(Fields(1003));
  bad.back().ip2 = "not an address";
  bad.push_back(Fields(1004));
  bad.back().host_name = std::string(63 * 1024, 'h');
  for (const MsgServerFields& f : bad) {
    FakeMsgServer ms(server_.ports().msg_server);
    ASSERT_TRUE(ms.Register(f));
    EXPECT_TRUE(ms.conn().WaitClosed()) << "port " << f.port;
  }
  const std::string prefix = "ttlogin_msg_server_registrations_refused_total{reason=";
  EXPECT_TRUE(MetricReaches(server_, prefix + "\"bad_port\"}", 3));
  EXPECT_TRUE(MetricReaches(server_, prefix + "\"bad_address\"}", 2));
  EXPECT_TRUE(MetricReaches(server_, prefix + "\"bad_host_name\"}", 1));
  EXPECT_EQ(Ask(server_).value("code", -1), 1);  // none registered, none handed out
  const std::string log = server_.log();
  EXPECT_NE(log.find("registration refused: port 70000 is not a TCP port"), std::string::npos);
  EXPECT_NE(log.find("registration refused: ip2 "), std::string::npos);
  EXPECT_EQ(log.find(std::string(300, 'h')), std::string::npos);  // the 63 KB never reached it
  // A good registration still works.
  FakeMsgServer ok(server_.ports().msg_server);
  ASSERT_TRUE(ok.Register(Fields(65535)));
  EXPECT_TRUE(ChoosesPort(server_, 65535));
}

TEST_F(MsgServerTrustTest, AnotherHostCannotTakeALiveMsgServersLogins) {
  FakeMsgServer real(server_.ports().msg_server);
  MsgServerFields f = Fields(8000, 10, 1000, "msg-a");
  f.ip1 = "10.0.0.1";
  ASSERT_TRUE(real.Register(f));
  ASSERT_TRUE(ChoosesPort(server_, 8000));
  // The claim of the report: the same host_name:port, cur 0 and max 2^32-1, another address.
  FakeMsgServer fake(server_.ports().msg_server, kOtherHost);
  MsgServerFields hijack = f;
  hijack.ip1 = "192.0.2.66";
  hijack.cur_conn_cnt = 0;
  hijack.max_conn_cnt = 0xffffffffu;
  ASSERT_TRUE(real.Heartbeat());
  ASSERT_TRUE(fake.Register(hijack));
  EXPECT_TRUE(fake.conn().WaitClosed());
  for (int i = 0; i < 20; ++i) {
    const json j = Ask(server_);
    ASSERT_EQ(j.value("code", -1), 0);
    EXPECT_EQ(j.value("priorIP", ""), "10.0.0.1");
  }
  EXPECT_TRUE(MetricReaches(
      server_, "ttlogin_msg_server_registrations_refused_total{reason=\"host_port_taken\"}", 1));
  EXPECT_NE(server_.log().find("is held by the live link from 127.0.0.1:"), std::string::npos);
}

TEST_F(MsgServerTrustTest, AReconnectFromTheSameHostReplacesItsEntryAndTheOldLinkEnds) {
  FakeMsgServer old_link(server_.ports().msg_server);
  ASSERT_TRUE(old_link.Register(Fields(8000, 10, 1000, "msg-a")));
  ASSERT_TRUE(ChoosesPort(server_, 8000));
  FakeMsgServer new_link(server_.ports().msg_server);
  ASSERT_TRUE(new_link.Register(Fields(8000, 3, 1000, "msg-a")));
  ASSERT_TRUE(MetricReaches(server_, "ttlogin_msg_server_events_total{event=\"displaced\"}", 1));
  // The old link is closed at its next read, and there is one entry, with the new count.
  ASSERT_TRUE(old_link.Heartbeat());
  EXPECT_TRUE(old_link.conn().WaitClosed());
  const std::string text = Scrape(server_);
  EXPECT_EQ(Sample(text, "ttlogin_msg_servers{state=\"registered\"}"), 1);
  EXPECT_EQ(Sample(text, "ttlogin_users"), 3);
  EXPECT_EQ(Occurrences(text, "ttlogin_msg_server_users{host=\"msg-a8000\",port=\"8000\"}"), 1u);
  ASSERT_TRUE(new_link.Inc(1));
  EXPECT_TRUE(Eventually([&] { return Sample(Scrape(server_), "ttlogin_users") == 4; }));
}

TEST_F(MsgServerTrustTest, AnotherHostTakesOverOnlyAfterTheOldLinkWentSilent) {
  // Silence is measured from the last read the server recorded, here the registration.
  const auto start = std::chrono::steady_clock::now();
  FakeMsgServer old_link(server_.ports().msg_server);
  ASSERT_TRUE(old_link.Register(Fields(8000, 10, 1000, "msg-a")));
  ASSERT_TRUE(ChoosesPort(server_, 8000));
  // Each claim from another host either is closed (refused) or becomes the answer (taken).
  std::optional<FakeMsgServer> moved;
  auto claim = [&]() -> int {
    moved.emplace(server_.ports().msg_server, kOtherHost);
    MsgServerFields f = Fields(8000, 0, 1000, "msg-a");
    f.ip1 = "10.9.9.9";
    if (!moved->Register(f)) return -1;
    int outcome = -1;
    Eventually([&] {
      if (moved->conn().WaitClosed(std::chrono::milliseconds(20))) outcome = 0;
      if (Ask(server_).value("priorIP", "") == "10.9.9.9") outcome = 1;
      return outcome != -1;
    });
    return outcome;
  };
  EXPECT_EQ(claim(), 0) << "taken over while the old link had just registered";
  int attempts = 1;
  // Two heartbeat intervals (HeartbeatInterval=1) of silence, then the next claim wins.
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(15)) {
    ++attempts;
    const int outcome = claim();
    ASSERT_NE(outcome, -1);
    if (outcome == 1) break;
  }
  ASSERT_EQ(Ask(server_).value("priorIP", ""), "10.9.9.9") << attempts << " claims";
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_TRUE(MetricReaches(server_, "ttlogin_msg_server_events_total{event=\"displaced\"}", 1));
  ASSERT_TRUE(old_link.Heartbeat());
  EXPECT_TRUE(old_link.conn().WaitClosed());
}

TEST_F(MsgServerTrustTest, RefusalsRepeatedByAPeerDoNotFloodTheLog) {
  constexpr int kTries = 60;
  for (int i = 0; i < kTries; ++i) {
    FakeMsgServer ms(server_.ports().msg_server);
    ASSERT_TRUE(ms.Register(Fields(70000)));
    ASSERT_TRUE(ms.conn().WaitClosed());
  }
  EXPECT_TRUE(MetricReaches(
      server_, "ttlogin_msg_server_registrations_refused_total{reason=\"bad_port\"}", kTries));
  // The first ten are logged, then one in a thousand.
  EXPECT_EQ(Occurrences(server_.log(), "registration refused: port"), 10u);
}

class MsgServerAllowFromTest : public MsgServerTrustTest {
 protected:
  MsgServerAllowFromTest() : MsgServerTrustTest("MsgServerAllowFrom=127.0.0.2/32\n") {}
};

TEST_F(MsgServerAllowFromTest, OnlyListedNetworksMayConnect) {
  FakeMsgServer outsider(server_.ports().msg_server);  // 127.0.0.1: not listed
  EXPECT_TRUE(outsider.conn().WaitClosed());
  FakeMsgServer insider(server_.ports().msg_server, kOtherHost);
  ASSERT_TRUE(insider.Register(Fields(8000)));
  EXPECT_TRUE(ChoosesPort(server_, 8000));
  EXPECT_TRUE(MetricReaches(
      server_, "ttlogin_msg_server_connections_refused_total{reason=\"not_allowed\"}", 1));
  EXPECT_NE(server_.log().find("refused: not in MsgServerAllowFrom"), std::string::npos);
}

class MsgServerAddressCapTest : public MsgServerTrustTest {
 protected:
  MsgServerAddressCapTest() : MsgServerTrustTest("MaxMsgServerConnectionsPerAddress=8\n") {}
};

TEST_F(MsgServerAddressCapTest, OneAddressCannotCrowdOutTheRest) {
  constexpr int kFlood = 200;
  std::vector<TcpClient> flood;
  flood.reserve(kFlood);
  for (int i = 0; i < kFlood; ++i) {
    flood.emplace_back();
    ASSERT_TRUE(flood.back().Connect(server_.ports().msg_server));
  }
  // The SetUp probe came and went from 127.0.0.2; 8 of the flood stay, the rest are closed.
  EXPECT_TRUE(MetricReaches(
      server_, "ttlogin_msg_server_connections_refused_total{reason=\"per_address_limit\"}",
      kFlood - 8));
  EXPECT_TRUE(MetricReaches(server_, "ttlogin_connections_open{listener=\"msg_server\"}", 8));
  // A real msg_server on another host still gets in and registers.
  FakeMsgServer real(server_.ports().msg_server, kOtherHost);
  ASSERT_TRUE(real.Register(Fields(8000)));
  EXPECT_TRUE(ChoosesPort(server_, 8000));
  // A place comes back when one of the 8 closes.
  flood.clear();
  EXPECT_TRUE(MetricReaches(server_, "ttlogin_connections_open{listener=\"msg_server\"}", 1));
  FakeMsgServer local(server_.ports().msg_server);
  ASSERT_TRUE(local.Register(Fields(8001, 0, 1000, "msg-b")));
  EXPECT_TRUE(Eventually(
      [&] { return Sample(Scrape(server_), "ttlogin_msg_servers{state=\"registered\"}") == 2; }));
}

TEST(MsgServerTrustConfigTest, AnOpenPortWithoutAllowFromIsWarnedAbout) {
  const std::string dir = MakeTempDir();
  const std::string base =
      "ClientListenIP=127.0.0.1\nClientPort=0\nHttpListenIP=127.0.0.1\nHttpPort=0\n"
      "MsgServerPort=0\nmsfs=x\ndiscovery=y\n";
  WriteFile(dir + "/open.conf", base + "MsgServerListenIP=0.0.0.0\n");
  WriteFile(dir + "/allowed.conf",
            base + "MsgServerListenIP=0.0.0.0\nMsgServerAllowFrom=10.0.0.0/8\n");
  WriteFile(dir + "/loopback.conf", base + "MsgServerListenIP=127.0.0.1\n");
  WriteFile(dir + "/bad.conf", base +
                                   "MsgServerListenIP=127.0.0.1\nMsgServerAllowFrom=10.0.0.0/33\n"
                                   "MaxMsgServerConnectionsPerAddress=0\n");
  std::string out;
  EXPECT_EQ(RunLoginServer({"--check-config", "-c", dir + "/open.conf"}, &out), 0) << out;
  EXPECT_NE(out.find("MsgServerAllowFrom is empty"), std::string::npos) << out;
  for (const char* quiet : {"/allowed.conf", "/loopback.conf"}) {
    EXPECT_EQ(RunLoginServer({"--check-config", "-c", dir + quiet}, &out), 0) << out;
    EXPECT_EQ(out.find("MsgServerAllowFrom"), std::string::npos) << quiet << ": " << out;
  }
  EXPECT_EQ(RunLoginServer({"--check-config", "-c", dir + "/bad.conf"}, &out), 2) << out;
  EXPECT_NE(out.find("MsgServerAllowFrom"), std::string::npos) << out;
  EXPECT_NE(out.find("MaxMsgServerConnectionsPerAddress"), std::string::npos) << out;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ttlogin::test
