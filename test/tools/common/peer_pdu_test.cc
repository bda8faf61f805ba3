#include "tools/common/peer_pdu.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>

#include "IM.Login.pb.h"
#include "IM.Other.pb.h"
#include "IM.Server.pb.h"
#include "common/frame_decoder.h"
#include "common/protocol.h"

namespace ttlogin::peer {
namespace {

// Decodes `bytes` as exactly one frame, checking the header's fixed fields on the way.
common::DecodedFrame OneFrame(const std::string& bytes, std::uint16_t service,
                              std::uint16_t command, std::uint16_t seq) {
  const auto r = common::DecodeFrame(
      std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
      common::kDefaultMaxPduSize);
  EXPECT_EQ(r.status, common::DecodeStatus::kFrame) << r.error_text();
  EXPECT_EQ(r.consumed, bytes.size()) << "one PDU, nothing after it";
  EXPECT_EQ(r.frame.header.length, bytes.size());
  EXPECT_EQ(r.frame.header.version, common::kPduVersion);
  EXPECT_EQ(r.frame.header.flag, 0);
  EXPECT_EQ(r.frame.header.reserved, 0);
  EXPECT_EQ(r.frame.header.service_id, service);
  EXPECT_EQ(r.frame.header.command_id, command);
  EXPECT_EQ(r.frame.header.seq_num, seq);
  return r.frame;
}

template <typename Message>
Message Parse(const common::DecodedFrame& frame) {
  Message m;
  EXPECT_TRUE(m.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size())));
  return m;
}

TEST(PeerPduTest, ServInfoCarriesEveryField) {
  MsgServerInfo info;
  info.ip1 = "192.0.2.7";
  info.ip2 = "198.51.100.7";
  info.port = 8123;
  info.max_conn_cnt = 5000;
  info.cur_conn_cnt = 17;
  info.host_name = "msg-seven";
  const std::string pdu = ServInfoPdu(info, 41);
  const auto frame = OneFrame(pdu, common::kSidOther, common::kCidOtherMsgServInfo, 41);
  const auto m = Parse<IM::Server::IMMsgServInfo>(frame);
  EXPECT_EQ(m.ip1(), "192.0.2.7");
  EXPECT_EQ(m.ip2(), "198.51.100.7");
  EXPECT_EQ(m.port(), 8123u);
  EXPECT_EQ(m.max_conn_cnt(), 5000u);
  EXPECT_EQ(m.cur_conn_cnt(), 17u);
  EXPECT_EQ(m.host_name(), "msg-seven");
}

TEST(PeerPduTest, UserCountUpdatesIncAndDec) {
  const auto inc = Parse<IM::Server::IMUserCntUpdate>(
      OneFrame(UserCntUpdatePdu(common::kUserActionInc, 90001, 3), common::kSidOther,
               common::kCidOtherUserCntUpdate, 3));
  EXPECT_EQ(inc.user_action(), common::kUserActionInc);
  EXPECT_EQ(inc.user_id(), 90001u);
  const auto dec = Parse<IM::Server::IMUserCntUpdate>(
      OneFrame(UserCntUpdatePdu(common::kUserActionDec, 7), common::kSidOther,
               common::kCidOtherUserCntUpdate, 0));
  EXPECT_EQ(dec.user_action(), common::kUserActionDec);
  EXPECT_EQ(dec.user_id(), 7u);
}

TEST(PeerPduTest, HeartbeatHasAnEmptyBody) {
  const auto frame = OneFrame(HeartbeatPdu(9), common::kSidOther, common::kCidOtherHeartbeat, 9);
  EXPECT_TRUE(frame.body.empty());
  EXPECT_EQ(HeartbeatPdu().size(), common::kPduHeaderSize);
}

TEST(PeerPduTest, ClientRequestCarriesItsSeq) {
  const auto frame =
      OneFrame(MsgServReqPdu(0xfffe), common::kSidLogin, common::kCidLoginReqMsgServer, 0xfffe);
  (void)Parse<IM::Login::IMMsgServReq>(frame);
}

TEST(PeerPduTest, ReplyLeavesOutWhatARefusalLacks) {
  const auto full =
      Parse<IM::Login::IMMsgServRsp>(OneFrame(MsgServRspPdu(5, 0, "10.0.0.1", "10.0.1.1", 8000),
                                              common::kSidLogin, common::kCidLoginResMsgServer, 5));
  EXPECT_EQ(full.result_code(), 0);
  EXPECT_EQ(full.prior_ip(), "10.0.0.1");
  EXPECT_EQ(full.backip_ip(), "10.0.1.1");
  EXPECT_EQ(full.port(), 8000u);
  const auto refusal = Parse<IM::Login::IMMsgServRsp>(
      OneFrame(MsgServRspPdu(6, 1), common::kSidLogin, common::kCidLoginResMsgServer, 6));
  EXPECT_EQ(refusal.result_code(), 1);
  EXPECT_FALSE(refusal.has_prior_ip());
  EXPECT_FALSE(refusal.has_port());
}

TEST(PeerPduTest, AppendFormsBuildABatchOfWholePdus) {
  std::string batch;
  AppendServInfoPdu(batch, MsgServerInfo{});
  for (std::uint32_t user = 1; user <= 3; ++user)
    AppendUserCntUpdatePdu(batch, common::kUserActionInc, user, static_cast<std::uint16_t>(user));
  AppendHeartbeatPdu(batch);
  EXPECT_EQ(batch, ServInfoPdu(MsgServerInfo{}) + UserCntUpdatePdu(common::kUserActionInc, 1, 1) +
                       UserCntUpdatePdu(common::kUserActionInc, 2, 2) +
                       UserCntUpdatePdu(common::kUserActionInc, 3, 3) + HeartbeatPdu());
  common::FrameDecoder decoder;
  std::vector<std::uint16_t> commands;
  const common::FrameError error =
      decoder.Feed(std::span(reinterpret_cast<const std::uint8_t*>(batch.data()), batch.size()),
                   [&](const common::DecodedFrame& f) {
                     commands.push_back(f.header.command_id);
                     return true;
                   });
  EXPECT_TRUE(error == common::FrameError::kNone) << decoder.error_text();
  EXPECT_EQ(decoder.buffered(), 0u);
  EXPECT_EQ(commands, (std::vector<std::uint16_t>{
                          common::kCidOtherMsgServInfo, common::kCidOtherUserCntUpdate,
                          common::kCidOtherUserCntUpdate, common::kCidOtherUserCntUpdate,
                          common::kCidOtherHeartbeat}));
}

}  // namespace
}  // namespace ttlogin::peer
