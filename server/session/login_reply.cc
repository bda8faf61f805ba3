#include "server/session/login_reply.h"

#include <cstdint>
#include <string_view>

#include "IM.Login.pb.h"
#include "common/json_text.h"
#include "common/protocol.h"

namespace ttlogin::server {

std::string_view ChooseCodeText(registry::ChooseCode code) {
  // The classic server's own texts, byte for byte: some clients show "msg" to the user, so a
  // drop-in must not change it (docs/PROTOCOL.md, "The HTTP JSON reply").
  switch (code) {
    case registry::ChooseCode::kOk:
      return "";
    case registry::ChooseCode::kNoMsgServer:
      return kClassicNoMsgServerText;
    case registry::ChooseCode::kAllFull:
      return kClassicAllFullText;
  }
  return "unknown";
}

namespace {

void AppendKey(std::string& out, std::string_view key) {
  out += '"';
  out += key;
  out += "\":";
}

void AppendStringField(std::string& out, std::string_view key, std::string_view value) {
  AppendKey(out, key);
  out += '"';
  common::AppendJsonEscaped(out, value);
  out += "\",";
}

}  // namespace

std::string BuildMsgServerJson(const registry::Choice& choice, std::string_view msfs,
                               std::string_view discovery, bool prefer_ip2) {
  const std::string& prior = prefer_ip2 ? choice.ip2 : choice.ip1;
  const std::string& backup = prefer_ip2 ? choice.ip1 : choice.ip2;
  std::string out;
  out.reserve(256 + choice.candidates.size() * 64);
  out += '{';
  if (choice.code == registry::ChooseCode::kOk) {
    AppendStringField(out, "backupIP", backup);
    if (!choice.candidates.empty()) {
      AppendKey(out, "candidates");
      out += '[';
      for (const registry::Candidate& c : choice.candidates) {
        out += '{';
        AppendStringField(out, "backupIP", prefer_ip2 ? c.ip1 : c.ip2);
        AppendStringField(out, "ip", prefer_ip2 ? c.ip2 : c.ip1);
        AppendStringField(out, "port", std::to_string(c.port));
        out.back() = '}';
        out += ',';
      }
      out.back() = ']';
      out += ',';
    }
  }
  AppendKey(out, "code");
  out += std::to_string(static_cast<std::uint32_t>(choice.code));
  out += ',';
  if (choice.code == registry::ChooseCode::kOk) {
    AppendStringField(out, "discovery", discovery);
    AppendStringField(out, "msfsBackup", msfs);
    AppendStringField(out, "msfsPrior", msfs);
  }
  AppendStringField(out, "msg", ChooseCodeText(choice.code));
  if (choice.code == registry::ChooseCode::kOk) {
    // port is a string: clients parse it as one.
    AppendStringField(out, "port", std::to_string(choice.port));
    AppendStringField(out, "priorIP", prior);
  }
  out.back() = '}';  // replaces the last field's comma
  return out;
}

void AppendMsgServRspPdu(std::string& out, const registry::Choice& choice, std::uint16_t seq_num,
                         bool prefer_ip2) {
  IM::Login::IMMsgServRsp rsp;
  rsp.set_result_code(static_cast<IM::BaseDefine::ResultType>(choice.code));
  if (choice.code == registry::ChooseCode::kOk) {
    rsp.set_prior_ip(prefer_ip2 ? choice.ip2 : choice.ip1);
    rsp.set_backip_ip(prefer_ip2 ? choice.ip1 : choice.ip2);
    rsp.set_port(choice.port);
  }
  common::AppendPdu(out, common::kSidLogin, common::kCidLoginResMsgServer, seq_num, rsp);
}

}  // namespace ttlogin::server
