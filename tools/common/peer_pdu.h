// The PDUs a msg_server or a client sends to a login server, built in one place for every tool
// and test (the framing is common/protocol's AppendPdu over common/pdu_header). Each builder has
// an Append form, so a batch of thousands of PDUs grows one string instead of allocating each.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ttlogin::peer {

// The fields of IMMsgServInfo. The defaults describe a plausible msg_server, so a test that cares
// about one field sets only that one.
struct MsgServerInfo {
  std::string ip1 = "10.0.0.1";
  std::string ip2 = "10.0.1.1";
  std::uint32_t port = 8000;
  std::uint32_t max_conn_cnt = 1000;
  std::uint32_t cur_conn_cnt = 0;
  std::string host_name = "msg-a";
};

// CID_OTHER_MSG_SERV_INFO: a msg_server's registration.
void AppendServInfoPdu(std::string& out, const MsgServerInfo& info, std::uint16_t seq = 0);
std::string ServInfoPdu(const MsgServerInfo& info, std::uint16_t seq = 0);

// CID_OTHER_USER_CNT_UPDATE: one user logged in (common::kUserActionInc) or out (kUserActionDec).
// `action` is not checked, so tests can send the values a real msg_server never would.
void AppendUserCntUpdatePdu(std::string& out, std::uint32_t action, std::uint32_t user_id,
                            std::uint16_t seq = 0);
std::string UserCntUpdatePdu(std::uint32_t action, std::uint32_t user_id, std::uint16_t seq = 0);

// CID_OTHER_HEARTBEAT with an empty IMHeartBeat body.
void AppendHeartbeatPdu(std::string& out, std::uint16_t seq = 0);
std::string HeartbeatPdu(std::uint16_t seq = 0);

// CID_LOGIN_REQ_MSGSERVER: a client asking which msg_server to use; the reply carries `seq` back.
std::string MsgServReqPdu(std::uint16_t seq);

// CID_LOGIN_RES_MSGSERVER, the login server's answer: for fixtures and fake login servers. Empty
// addresses and a zero port are left out of the body, as the server leaves them out on a refusal.
std::string MsgServRspPdu(std::uint16_t seq, std::uint32_t result_code,
                          const std::string& prior_ip = {}, const std::string& backup_ip = {},
                          std::uint32_t port = 0);

// A header declaring `length` (right or wrong) followed by `body` as given: the malformed and
// unknown PDUs a hostile or confused peer sends, for tests and fuzz seeds.
std::string RawPdu(std::uint32_t length, std::uint16_t service_id, std::uint16_t command_id,
                   std::uint16_t seq = 0, std::string_view body = {});

}  // namespace ttlogin::peer
