#include "tools/common/peer_pdu.h"

#include "IM.Login.pb.h"
#include "IM.Other.pb.h"
#include "IM.Server.pb.h"
#include "common/pdu_header.h"
#include "common/protocol.h"

namespace ttlogin::peer {

void AppendServInfoPdu(std::string& out, const MsgServerInfo& info, std::uint16_t seq) {
  IM::Server::IMMsgServInfo msg;
  msg.set_ip1(info.ip1);
  msg.set_ip2(info.ip2);
  msg.set_port(info.port);
  msg.set_max_conn_cnt(info.max_conn_cnt);
  msg.set_cur_conn_cnt(info.cur_conn_cnt);
  msg.set_host_name(info.host_name);
  common::AppendPdu(out, common::kSidOther, common::kCidOtherMsgServInfo, seq, msg);
}

std::string ServInfoPdu(const MsgServerInfo& info, std::uint16_t seq) {
  std::string out;
  AppendServInfoPdu(out, info, seq);
  return out;
}

void AppendUserCntUpdatePdu(std::string& out, std::uint32_t action, std::uint32_t user_id,
                            std::uint16_t seq) {
  IM::Server::IMUserCntUpdate msg;
  msg.set_user_action(action);
  msg.set_user_id(user_id);
  common::AppendPdu(out, common::kSidOther, common::kCidOtherUserCntUpdate, seq, msg);
}

std::string UserCntUpdatePdu(std::uint32_t action, std::uint32_t user_id, std::uint16_t seq) {
  std::string out;
  AppendUserCntUpdatePdu(out, action, user_id, seq);
  return out;
}

void AppendHeartbeatPdu(std::string& out, std::uint16_t seq) {
  common::AppendPdu(out, common::kSidOther, common::kCidOtherHeartbeat, seq,
                    IM::Other::IMHeartBeat{});
}

std::string HeartbeatPdu(std::uint16_t seq) {
  std::string out;
  AppendHeartbeatPdu(out, seq);
  return out;
}

std::string MsgServReqPdu(std::uint16_t seq) {
  return common::MakePdu(common::kSidLogin, common::kCidLoginReqMsgServer, seq,
                         IM::Login::IMMsgServReq{});
}

std::string MsgServRspPdu(std::uint16_t seq, std::uint32_t result_code, const std::string& prior_ip,
                          const std::string& backup_ip, std::uint32_t port) {
  IM::Login::IMMsgServRsp msg;
  msg.set_result_code(static_cast<IM::BaseDefine::ResultType>(result_code));
  if (!prior_ip.empty()) msg.set_prior_ip(prior_ip);
  if (!backup_ip.empty()) msg.set_backip_ip(backup_ip);
  if (port != 0) msg.set_port(port);
  return common::MakePdu(common::kSidLogin, common::kCidLoginResMsgServer, seq, msg);
}

std::string RawPdu(std::uint32_t length, std::uint16_t service_id, std::uint16_t command_id,
                   std::uint16_t seq, std::string_view body) {
  std::string out(common::kPduHeaderSize, '\0');
  common::PduHeader h;
  h.length = length;
  h.service_id = service_id;
  h.command_id = command_id;
  h.seq_num = seq;
  common::EncodePduHeader(h,
                          std::span<std::uint8_t, common::kPduHeaderSize>(
                              reinterpret_cast<std::uint8_t*>(out.data()), common::kPduHeaderSize));
  out.append(body);
  return out;
}

}  // namespace ttlogin::peer
