// The two answers to "which msg_server should I log in to?": the HTTP JSON body and the
// CID_LOGIN_RES_MSGSERVER PDU. Pure functions of a registry Choice, so they are unit-tested alone.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "server/registry/msg_server_registry.h"

namespace ttlogin::server {

// JSON body of GET /msg_server (docs/PROTOCOL.md, "The HTTP JSON reply"): on success priorIP,
// backupIP, port (a string), msfsPrior, msfsBackup, discovery, code 0, msg ""; otherwise code 1 or
// 2 and a msg. `prefer_ip2` (the client's network prefers the second address) swaps priorIP and
// backupIP. When the choice lists candidates, a "candidates" array follows, best first, each
// {"backupIP":...,"ip":...,"port":"..."} with the same address order; classic clients ignore it.
std::string BuildMsgServerJson(const registry::Choice& choice, std::string_view msfs,
                               std::string_view discovery, bool prefer_ip2 = false);

// Appends the IMMsgServRsp PDU answering a request with `seq_num`; `prefer_ip2` as above.
void AppendMsgServRspPdu(std::string& out, const registry::Choice& choice, std::uint16_t seq_num,
                         bool prefer_ip2 = false);

// The classic server's "msg" for result 1 (no msg_server registered) and 2 (all full), as UTF-8
// bytes: "没有msg_server" and "负载过高". Spelled as escapes so the bytes do not depend on the
// source file's encoding.
inline constexpr std::string_view kClassicNoMsgServerText = "\xe6\xb2\xa1\xe6\x9c\x89msg_server";
inline constexpr std::string_view kClassicAllFullText =
    "\xe8\xb4\x9f\xe8\xbd\xbd\xe8\xbf\x87\xe9\xab\x98";

// The JSON "msg" for a choice's code: empty on success, otherwise the classic text above.
std::string_view ChooseCodeText(registry::ChooseCode code);

}  // namespace ttlogin::server
