#include "server/login_reply.h"

#include <cstdint>
#include <string_view>

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

namespace {

// Appends `text` as the contents of a JSON string. Invalid UTF-8 (a msg_server may advertise any
// bytes) becomes U+FFFD, so the reply is always valid JSON. Written out by hand because this runs
// once per HTTP request: building a DOM and dumping it cost ~80% of the request's instructions.
void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20) {
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
      } else {
        out += static_cast<char>(c);
      }
      ++p;
      continue;
    }
    // Length of a well-formed sequence starting with c (RFC 3629), or 0 if c cannot start one.
    std::size_t len = 0;
    std::uint32_t min = 0;
    std::uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4, cp = c & 0x07, min = 0x10000;
    }
    bool ok = len != 0 && static_cast<std::size_t>(end - p) >= len;
    for (std::size_t i = 1; ok && i < len; ++i) {
      ok = (p[i] & 0xc0) == 0x80;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    ok = ok && cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    if (ok) {
      out.append(reinterpret_cast<const char*>(p), len);
      p += len;
    } else {
      out += "\xef\xbf\xbd";  // U+FFFD for the offending byte; resynchronise after it
      ++p;
    }
  }
}

void AppendKey(std::string& out, std::string_view key) {
  out += '"';
  out += key;
  out += "\":";
}

void AppendStringField(std::string& out, std::string_view key, std::string_view value) {
  AppendKey(out, key);
  out += '"';
  AppendJsonString(out, value);
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
