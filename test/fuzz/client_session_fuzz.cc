// Fuzz target: the Client-port path, bytes -> ClientSession -> reply PDU.
//
// Input: [config][msg_servers to register][n][n chunk sizes][stream]. A reference reading of the
// whole stream predicts the outcome: the first well-formed CID_LOGIN_REQ_MSGSERVER is answered,
// a bad length or an unparsable request closes without a reply, anything else waits for more.
// The session, fed in the chosen chunks, must reach the same outcome; its reply must be exactly
// one CID_LOGIN_RES_MSGSERVER PDU with the request's seq_num and the registry's choice; and once
// the outcome is final, more bytes change nothing.
#include <array>
#include <optional>
#include <vector>

#include "IM.Login.pb.h"
#include "common/protocol.h"
#include "server/session/client_session.h"
#include "test/fuzz/fuzz_support.h"

namespace ttlogin::fuzz {
namespace {

constexpr std::array<std::uint32_t, 2> kMaxPduSizes = {common::kMinMaxPduSize,
                                                       common::kDefaultMaxPduSize};

using Action = common::SessionVerdict::Action;
using common::CloseReason;

struct Expected {
  Action action = Action::kContinue;
  CloseReason reason = CloseReason::kNone;
  std::uint16_t seq = 0;  // of the answered request
};

Expected Reference(std::span<const std::uint8_t> s, std::uint32_t max_pdu) {
  std::size_t pos = 0;
  while (s.size() - pos >= 4) {
    const std::uint32_t len = Be32(s.data() + pos);
    if (len < common::kPduHeaderSize) return {Action::kClose, CloseReason::kPduLengthBelowHeader};
    if (len > max_pdu) return {Action::kClose, CloseReason::kPduLengthAboveMax};
    if (s.size() - pos < len) break;
    const std::uint8_t* p = s.data() + pos;
    pos += len;
    if (Be16(p + 8) != 1 || Be16(p + 10) != 0x0101) continue;  // heartbeats and the rest: skipped
    IM::Login::IMMsgServReq req;
    if (!req.ParseFromArray(p + common::kPduHeaderSize,
                            static_cast<int>(len - common::kPduHeaderSize))) {
      return {Action::kClose, CloseReason::kBadLoginRequest};
    }
    return {Action::kReplyThenClose, CloseReason::kAnswered, Be16(p + 12)};
  }
  return {};
}

void CheckReply(const std::string& reply, std::uint16_t seq, const registry::Choice& choice) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(reply.data());
  FUZZ_CHECK(reply.size() >= common::kPduHeaderSize);
  FUZZ_CHECK(Be32(p) == reply.size());  // exactly one PDU
  FUZZ_CHECK(Be16(p + 4) == common::kPduVersion);
  FUZZ_CHECK(Be16(p + 8) == common::kSidLogin);
  FUZZ_CHECK(Be16(p + 10) == common::kCidLoginResMsgServer);
  FUZZ_CHECK(Be16(p + 12) == seq);
  IM::Login::IMMsgServRsp rsp;
  FUZZ_CHECK(rsp.ParseFromArray(p + common::kPduHeaderSize,
                                static_cast<int>(reply.size() - common::kPduHeaderSize)));
  FUZZ_CHECK(rsp.result_code() == static_cast<int>(choice.code));
  if (choice.code == registry::ChooseCode::kOk) {
    FUZZ_CHECK(rsp.prior_ip() == choice.ip1);
    FUZZ_CHECK(rsp.backip_ip() == choice.ip2);
    FUZZ_CHECK(rsp.port() == choice.port);
  } else {
    FUZZ_CHECK(!rsp.has_prior_ip() && !rsp.has_port());
  }
}

}  // namespace
}  // namespace ttlogin::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ttlogin;
  using namespace ttlogin::fuzz;
  UseSilentLogger();
  FuzzInput in(data, size);
  const std::uint32_t max_pdu = kMaxPduSizes[in.U8() & 1];
  Harness h(max_pdu);
  RegisterFromInput(in, h.registry);
  std::vector<std::size_t> chunks(in.U8() % 8);
  for (auto& c : chunks)
    c = in.U8() + 1;
  const std::span<const std::uint8_t> stream = in.Rest();

  // Nothing changes the registry during the session, so the choice is fixed.
  const registry::Choice choice = h.registry.Choose();
  const Expected expected = Reference(stream, max_pdu);

  server::ClientSession session(h.context, "127.0.0.1:4000");
  std::string reply;
  common::SessionVerdict result;
  std::size_t pos = 0;
  std::size_t turn = 0;
  while (pos < stream.size()) {
    std::size_t n = chunks.empty() ? stream.size() : chunks[turn++ % chunks.size()];
    if (n > stream.size() - pos) n = stream.size() - pos;
    const std::size_t before = reply.size();
    const common::SessionVerdict previous = result;
    result = session.OnBytes(stream.subspan(pos, n), reply);
    pos += n;
    // A final verdict sticks, and nothing is appended after it.
    if (previous.closes()) {
      FUZZ_CHECK(reply.size() == before);
      FUZZ_CHECK(result.action == previous.action && result.reason == previous.reason);
    }
    if (!result.closes()) FUZZ_CHECK(reply.empty() && result.reason == CloseReason::kNone);
  }
  FUZZ_CHECK(result.action == expected.action);
  FUZZ_CHECK(result.reason == expected.reason);
  if (result.action == Action::kReplyThenClose) {
    CheckReply(reply, expected.seq, choice);
  } else {
    FUZZ_CHECK(reply.empty());
  }
  return 0;
}
