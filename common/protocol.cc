#include "common/protocol.h"

#include <array>

#include "common/pdu_header.h"

namespace ttlogin::common {
namespace {

struct CommandEntry {
  std::uint16_t service_id;
  std::uint16_t command_id;
  CommandInfo info;
};

constexpr std::array kCommands = {
    CommandEntry{
        kSidLogin, kCidLoginReqMsgServer, {"CID_LOGIN_REQ_MSGSERVER", "IM.Login.IMMsgServReq"}},
    CommandEntry{
        kSidLogin, kCidLoginResMsgServer, {"CID_LOGIN_RES_MSGSERVER", "IM.Login.IMMsgServRsp"}},
    CommandEntry{kSidOther, kCidOtherHeartbeat, {"CID_OTHER_HEARTBEAT", "IM.Other.IMHeartBeat"}},
    CommandEntry{
        kSidOther, kCidOtherMsgServInfo, {"CID_OTHER_MSG_SERV_INFO", "IM.Server.IMMsgServInfo"}},
    CommandEntry{kSidOther,
                 kCidOtherUserCntUpdate,
                 {"CID_OTHER_USER_CNT_UPDATE", "IM.Server.IMUserCntUpdate"}},
};

}  // namespace

std::string_view ServiceName(std::uint16_t service_id) {
  if (!IM::BaseDefine::ServiceID_IsValid(service_id)) return {};
  return IM::BaseDefine::ServiceID_Name(static_cast<IM::BaseDefine::ServiceID>(service_id));
}

std::optional<CommandInfo> FindCommand(std::uint16_t service_id, std::uint16_t command_id) {
  for (const CommandEntry& e : kCommands) {
    if (e.service_id == service_id && e.command_id == command_id) return e.info;
  }
  return std::nullopt;
}

std::optional<std::uint16_t> CommandIdByName(std::string_view name) {
  for (const CommandEntry& e : kCommands) {
    if (e.info.name == name) return e.command_id;
  }
  return std::nullopt;
}

void AppendPdu(std::string& out, std::uint16_t service_id, std::uint16_t command_id,
               std::uint16_t seq_num, const google::protobuf::MessageLite& body) {
  const std::size_t body_size = body.ByteSizeLong();
  const std::size_t start = out.size();
  out.resize(start + kPduHeaderSize);
  PduHeader h;
  h.length = static_cast<std::uint32_t>(kPduHeaderSize + body_size);
  h.service_id = service_id;
  h.command_id = command_id;
  h.seq_num = seq_num;
  EncodePduHeader(h, std::span<std::uint8_t, kPduHeaderSize>(
                         reinterpret_cast<std::uint8_t*>(out.data() + start), kPduHeaderSize));
  body.AppendToString(&out);
}

std::string MakePdu(std::uint16_t service_id, std::uint16_t command_id, std::uint16_t seq_num,
                    const google::protobuf::MessageLite& body) {
  std::string out;
  AppendPdu(out, service_id, command_id, seq_num, body);
  return out;
}

}  // namespace ttlogin::common
