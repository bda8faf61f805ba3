// The Client port: one request PDU, one reply PDU with the request's seq_num, then close.
#include <gtest/gtest.h>

#include "common/protocol.h"
#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

class ClientPortTest : public testing::Test {
 protected:
  ServerProcess server_{"ClientTimeout=2\n"};
  void SetUp() override { ASSERT_TRUE(server_.started()) << server_.log(); }

  // Registers a msg_server and waits until the client port sees it.
  void RegisterAndWait(FakeMsgServer& ms, const MsgServerFields& f) {
    ASSERT_TRUE(ms.Register(f));
    ASSERT_TRUE(Eventually([&] {
      const auto c = AskClientPort(server_.ports().client);
      return c && c->result_code == 0 && c->port == f.port;
    }));
  }
};

TEST_F(ClientPortTest, NoMsgServerIsResultOneWithTheRequestsSeqThenClose) {
  bool closed = false;
  const auto c = AskClientPort(server_.ports().client, 4242, &closed);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->header.service_id, common::kSidLogin);
  EXPECT_EQ(c->header.command_id, common::kCidLoginResMsgServer);
  EXPECT_EQ(c->header.seq_num, 4242);
  EXPECT_EQ(c->result_code, 1u);
  EXPECT_TRUE(c->prior_ip.empty());
  EXPECT_TRUE(closed);
}

TEST_F(ClientPortTest, AnswersWithTheChosenMsgServer) {
  FakeMsgServer ms(server_.ports().msg_server);
  MsgServerFields f;
  f.ip1 = "203.0.113.7";
  f.ip2 = "198.51.100.7";
  f.port = 8123;
  RegisterAndWait(ms, f);
  bool closed = false;
  const auto c = AskClientPort(server_.ports().client, 9, &closed);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->result_code, 0u);
  EXPECT_EQ(c->prior_ip, "203.0.113.7");
  EXPECT_EQ(c->backip_ip, "198.51.100.7");
  EXPECT_EQ(c->port, 8123u);
  EXPECT_EQ(c->header.seq_num, 9);
  EXPECT_TRUE(closed);
}

TEST_F(ClientPortTest, AllFullIsResultTwo) {
  FakeMsgServer ms(server_.ports().msg_server);
  MsgServerFields f;
  f.cur_conn_cnt = 10;
  f.max_conn_cnt = 10;
  ASSERT_TRUE(ms.Register(f));
  EXPECT_TRUE(Eventually([&] {
    const auto c = AskClientPort(server_.ports().client);
    return c && c->result_code == 2;
  }));
}

TEST_F(ClientPortTest, HeartbeatBeforeTheRequestIsAccepted) {
  TcpClient conn(server_.ports().client);
  ASSERT_TRUE(conn.Send(HeartbeatPdu() + MsgServReqPdu(77)));
  const auto pdu = ReadPdu(conn);
  ASSERT_TRUE(pdu);
  EXPECT_EQ(pdu->header.seq_num, 77);
  EXPECT_EQ(pdu->header.command_id, common::kCidLoginResMsgServer);
}

TEST_F(ClientPortTest, RequestSplitAcrossWritesIsAnswered) {
  TcpClient conn(server_.ports().client);
  const std::string req = MsgServReqPdu(5);
  ASSERT_TRUE(conn.Send(req.substr(0, 3)));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(conn.Send(req.substr(3)));
  const auto pdu = ReadPdu(conn);
  ASSERT_TRUE(pdu);
  EXPECT_EQ(pdu->header.seq_num, 5);
}

TEST_F(ClientPortTest, BadLengthClosesWithoutReply) {
  for (std::uint32_t len : {0u, 5u, 0x7fffffffu}) {
    TcpClient conn(server_.ports().client);
    std::string h(16, '\0');
    common::StoreBe32(reinterpret_cast<std::uint8_t*>(h.data()), len);
    ASSERT_TRUE(conn.Send(h));
    bool closed = false;
    const std::string got = conn.ReadUntilClose(std::chrono::seconds(3), &closed);
    EXPECT_TRUE(closed) << len;
    EXPECT_TRUE(got.empty()) << len;
  }
  EXPECT_TRUE(AskClientPort(server_.ports().client));
}

TEST_F(ClientPortTest, DisconnectMidHeaderKeepsTheServerServing) {
  for (int i = 0; i < 50; ++i) {
    TcpClient conn(server_.ports().client);
    ASSERT_TRUE(conn.Send(MsgServReqPdu(1).substr(0, 9)));
  }
  EXPECT_TRUE(AskClientPort(server_.ports().client));
}

TEST_F(ClientPortTest, IdleClientIsDroppedAfterClientTimeout) {
  TcpClient conn(server_.ports().client);
  ASSERT_TRUE(conn.connected());
  EXPECT_TRUE(conn.WaitClosed(std::chrono::seconds(5)));
}

}  // namespace
}  // namespace ttlogin::test
