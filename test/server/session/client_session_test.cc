// ClientSession: the Client-port protocol from bytes to one reply, with no socket.
#include "server/session/client_session.h"

#include <gtest/gtest.h>

#include <string>

#include "IM.Login.pb.h"
#include "common/protocol.h"
#include "server/session/metrics.h"
#include "tools/common/peer_pdu.h"

namespace ttlogin::server {
namespace {

using common::CloseReason;
using common::SessionVerdict;

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string LoginRequest(std::uint16_t seq) {
  return peer::MsgServReqPdu(seq);
}

// A PDU header declaring `length` bytes, with nothing after it.
std::string LengthOnly(std::uint32_t length) {
  std::string h(common::kPduHeaderSize, '\0');
  common::StoreBe32(reinterpret_cast<std::uint8_t*>(h.data()), length);
  return h;
}

common::LoginServerConfig Config() {
  common::LoginServerConfig c;
  c.client.addresses = {"127.0.0.1"};
  c.http.addresses = {"127.0.0.1"};
  return c;
}

class ClientSessionTest : public testing::Test {
 protected:
  ClientSessionTest() : live_(Config()), context_{live_, registry_, metrics_} {}
  LiveConfig live_;
  registry::MsgServerRegistry registry_;
  Metrics metrics_;
  ServerContext context_;
};

TEST_F(ClientSessionTest, AnswersOnceWithTheSeq) {
  ClientSession c(context_, "client");
  std::string reply;
  const std::string req = LoginRequest(31);
  const SessionVerdict first = c.OnBytes(Bytes(req.substr(0, 5)), reply);
  EXPECT_EQ(first.action, SessionVerdict::Action::kContinue);
  EXPECT_TRUE(reply.empty());
  const SessionVerdict second = c.OnBytes(Bytes(req.substr(5)), reply);
  EXPECT_EQ(second.action, SessionVerdict::Action::kReplyThenClose);
  EXPECT_EQ(second.reason, CloseReason::kAnswered);
  const auto r = common::DecodeFrame(Bytes(reply), 65536);
  ASSERT_EQ(r.status, common::DecodeStatus::kFrame);
  EXPECT_EQ(r.consumed, reply.size());  // one answer, nothing after it
  EXPECT_EQ(r.frame.header.seq_num, 31);
  IM::Login::IMMsgServRsp rsp;
  ASSERT_TRUE(rsp.ParseFromArray(r.frame.body.data(), static_cast<int>(r.frame.body.size())));
  EXPECT_EQ(rsp.result_code(), IM::BaseDefine::REFUSE_REASON_NO_MSG_SERVER);
  EXPECT_EQ(metrics_.Get(Counter::kPduAnswerNoMsgServer), 1u);
  EXPECT_EQ(metrics_.Get(Counter::kPduLoginReq), 1u);
}

TEST_F(ClientSessionTest, ASecondRequestInTheSameReadIsNotAnswered) {
  ClientSession c(context_, "client");
  std::string reply;
  const SessionVerdict v = c.OnBytes(Bytes(LoginRequest(1) + LoginRequest(2)), reply);
  EXPECT_EQ(v.action, SessionVerdict::Action::kReplyThenClose);
  const auto r = common::DecodeFrame(Bytes(reply), 65536);
  ASSERT_EQ(r.status, common::DecodeStatus::kFrame);
  EXPECT_EQ(r.consumed, reply.size());
  EXPECT_EQ(r.frame.header.seq_num, 1);
  EXPECT_EQ(metrics_.Get(Counter::kPduLoginReq), 1u);
}

TEST_F(ClientSessionTest, OnceDecidedTheVerdictStaysAndNothingMoreIsRead) {
  ClientSession c(context_, "client");
  std::string reply;
  ASSERT_TRUE(c.OnBytes(Bytes(LoginRequest(4)), reply).closes());
  reply.clear();
  const SessionVerdict again = c.OnBytes(Bytes(LoginRequest(5)), reply);
  EXPECT_EQ(again.action, SessionVerdict::Action::kReplyThenClose);
  EXPECT_EQ(again.reason, CloseReason::kAnswered);
  EXPECT_TRUE(reply.empty());
  EXPECT_EQ(metrics_.Get(Counter::kPduLoginReq), 1u);
}

TEST_F(ClientSessionTest, HeartbeatsAndUnknownPdusAreSkipped) {
  ClientSession c(context_, "client");
  std::string reply;
  const std::string heartbeat = peer::HeartbeatPdu();
  const std::string unknown = peer::RawPdu(common::kPduHeaderSize, 0x0042, 0x0001);
  const SessionVerdict v = c.OnBytes(Bytes(heartbeat + unknown + heartbeat), reply);
  EXPECT_EQ(v.action, SessionVerdict::Action::kContinue);
  EXPECT_EQ(v.reason, CloseReason::kNone);
  EXPECT_TRUE(reply.empty());
  EXPECT_EQ(metrics_.Get(Counter::kPduHeartbeat), 2u);
  EXPECT_EQ(metrics_.Get(Counter::kPduOther), 1u);
  EXPECT_EQ(c.OnBytes(Bytes(LoginRequest(9)), reply).reason, CloseReason::kAnswered);
}

// Each framing error closes with its own reason and no reply, whether the length arrives whole
// or split across reads.
TEST_F(ClientSessionTest, EachBadLengthClosesWithItsCode) {
  struct Case {
    std::uint32_t length;
    CloseReason reason;
  };
  const Case cases[] = {{0, CloseReason::kPduLengthBelowHeader},
                        {15, CloseReason::kPduLengthBelowHeader},
                        {context_.config().max_pdu_size + 1, CloseReason::kPduLengthAboveMax},
                        {0x7fffffff, CloseReason::kPduLengthAboveMax}};
  std::uint64_t closes = 0;
  for (const Case& k : cases) {
    for (const std::size_t split : {std::size_t{16}, std::size_t{2}}) {
      ClientSession c(context_, "client");
      std::string reply;
      const std::string bytes = LengthOnly(k.length);
      SessionVerdict v = c.OnBytes(Bytes(bytes.substr(0, split)), reply);
      if (split < bytes.size()) {
        EXPECT_FALSE(v.closes()) << k.length;
        v = c.OnBytes(Bytes(bytes.substr(split)), reply);
      }
      EXPECT_EQ(v.action, SessionVerdict::Action::kClose) << k.length;
      EXPECT_EQ(v.reason, k.reason) << k.length;
      EXPECT_TRUE(reply.empty()) << k.length;
      EXPECT_EQ(metrics_.Get(Counter::kErrorBadLength), ++closes) << k.length;
    }
  }
}

TEST_F(ClientSessionTest, ARequestBodyThatDoesNotParseClosesWithoutAnswer) {
  ClientSession c(context_, "client");
  std::string reply;
  // Field 1 as a varint that never ends: no protobuf reads this.
  std::string pdu = LoginRequest(3) + std::string("\x08\xff", 2);
  common::StoreBe32(reinterpret_cast<std::uint8_t*>(pdu.data()),
                    static_cast<std::uint32_t>(pdu.size()));
  const SessionVerdict v = c.OnBytes(Bytes(pdu), reply);
  EXPECT_EQ(v.action, SessionVerdict::Action::kClose);
  EXPECT_EQ(v.reason, CloseReason::kBadLoginRequest);
  EXPECT_TRUE(reply.empty());
  EXPECT_EQ(metrics_.Get(Counter::kErrorBadBody), 1u);
  EXPECT_EQ(metrics_.Get(Counter::kPduAnswerNoMsgServer), 0u);
}

}  // namespace
}  // namespace ttlogin::server
