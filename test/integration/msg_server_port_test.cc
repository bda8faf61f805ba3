// The MsgServer port, end to end against the real binary: registration, counts, heartbeats,
// timeouts, and every kind of bad input a msg_server (or an attacker) can send.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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
  common::PduHeader h;
  h.length = length;
  h.service_id = service;
  h.command_id = command;
  std::string s(common::kPduHeaderSize, '\0');
  common::EncodePduHeader(
      h, std::span<std::uint8_t, 16>(reinterpret_cast<std::uint8_t*>(s.data()), 16));
  return s;
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

}  // namespace
}  // namespace ttlogin::test
