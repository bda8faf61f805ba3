// Command ids, names and message types of the login tier's PDUs (docs/PROTOCOL.md, "Commands").
// Numbers come from the generated IM.BaseDefine enums, so the .proto files stay the one source.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <google/protobuf/message_lite.h>

#include "IM.BaseDefine.pb.h"

namespace ttlogin::common {

inline constexpr std::uint16_t kSidLogin = IM::BaseDefine::SID_LOGIN;
inline constexpr std::uint16_t kSidOther = IM::BaseDefine::SID_OTHER;

inline constexpr std::uint16_t kCidLoginReqMsgServer = IM::BaseDefine::CID_LOGIN_REQ_MSGSERVER;
inline constexpr std::uint16_t kCidLoginResMsgServer = IM::BaseDefine::CID_LOGIN_RES_MSGSERVER;
inline constexpr std::uint16_t kCidOtherHeartbeat = IM::BaseDefine::CID_OTHER_HEARTBEAT;
inline constexpr std::uint16_t kCidOtherMsgServInfo = IM::BaseDefine::CID_OTHER_MSG_SERV_INFO;
inline constexpr std::uint16_t kCidOtherUserCntUpdate = IM::BaseDefine::CID_OTHER_USER_CNT_UPDATE;

inline constexpr std::uint32_t kUserActionInc = IM::BaseDefine::USER_CNT_INC;
inline constexpr std::uint32_t kUserActionDec = IM::BaseDefine::USER_CNT_DEC;

// "SID_OTHER" for 7; empty for an unknown service.
std::string_view ServiceName(std::uint16_t service_id);

struct CommandInfo {
  std::string_view name;          // "CID_OTHER_USER_CNT_UPDATE"
  std::string_view message_name;  // full protobuf name: "IM.Server.IMUserCntUpdate"
};

// The known (service, command) pairs of the login tier; nullopt for anything else.
std::optional<CommandInfo> FindCommand(std::uint16_t service_id, std::uint16_t command_id);

// Command id by name ("CID_OTHER_HEARTBEAT"), for filters on the command line.
std::optional<std::uint16_t> CommandIdByName(std::string_view name);

// Appends one whole PDU (header + serialized `body`) to `out`.
void AppendPdu(std::string& out, std::uint16_t service_id, std::uint16_t command_id,
               std::uint16_t seq_num, const google::protobuf::MessageLite& body);

// Convenience form of AppendPdu.
std::string MakePdu(std::uint16_t service_id, std::uint16_t command_id, std::uint16_t seq_num,
                    const google::protobuf::MessageLite& body);

}  // namespace ttlogin::common
