#include "server/login_reply.h"

#include <nlohmann/json.hpp>

#include "IM.Login.pb.h"
#include "common/protocol.h"

namespace ttlogin::server {

std::string_view ChooseCodeText(registry::ChooseCode code) {
  switch (code) {
    case registry::ChooseCode::kOk:
      return "";
    case registry::ChooseCode::kNoMsgServer:
      return "no msg_server is available";
    case registry::ChooseCode::kAllFull:
      return "all msg_servers are full";
  }
  return "unknown";
}

std::string BuildMsgServerJson(const registry::Choice& choice, std::string_view msfs,
                               std::string_view discovery) {
  nlohmann::json j;
  j["code"] = static_cast<std::uint32_t>(choice.code);
  j["msg"] = ChooseCodeText(choice.code);
  if (choice.code == registry::ChooseCode::kOk) {
    j["priorIP"] = choice.ip1;
    j["backupIP"] = choice.ip2;
    j["port"] = std::to_string(choice.port);  // a string: clients parse it as one
    j["msfsPrior"] = msfs;
    j["msfsBackup"] = msfs;
    j["discovery"] = discovery;
  }
  // Replace invalid UTF-8 (a msg_server could advertise anything) instead of throwing.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AppendMsgServRspPdu(std::string& out, const registry::Choice& choice, std::uint16_t seq_num) {
  IM::Login::IMMsgServRsp rsp;
  rsp.set_result_code(static_cast<IM::BaseDefine::ResultType>(choice.code));
  if (choice.code == registry::ChooseCode::kOk) {
    rsp.set_prior_ip(choice.ip1);
    rsp.set_backip_ip(choice.ip2);
    rsp.set_port(choice.port);
  }
  common::AppendPdu(out, common::kSidLogin, common::kCidLoginResMsgServer, seq_num, rsp);
}

}  // namespace ttlogin::server
