#include "server/session/client_session.h"

#include <spdlog/spdlog.h>

#include "IM.Login.pb.h"
#include "common/log_rate_limiter.h"
#include "common/protocol.h"
#include "server/session/login_reply.h"
#include "server/session/routing.h"

namespace ttlogin::server {
namespace {
constexpr int kMaxUnknownPdusLogged = 3;

Counter PduAnswerCounter(registry::ChooseCode code) {
  switch (code) {
    case registry::ChooseCode::kOk:
      return Counter::kPduAnswerOk;
    case registry::ChooseCode::kNoMsgServer:
      return Counter::kPduAnswerNoMsgServer;
    case registry::ChooseCode::kAllFull:
      break;
  }
  return Counter::kPduAnswerAllFull;
}
}  // namespace

ClientSession::ClientSession(ServerContext& context, std::string peer)
    : context_(context), peer_(std::move(peer)), decoder_(context.config().max_pdu_size) {}

ClientSession::Result ClientSession::OnBytes(std::span<const std::uint8_t> bytes,
                                             std::string& reply) {
  if (result_.outcome != Outcome::kNeedMore) return result_;
  const std::string error = decoder_.Feed(
      bytes, [&](const common::DecodedFrame& frame) { return Dispatch(frame, reply); });
  if (!error.empty()) {
    context_.metrics.Add(Counter::kErrorBadLength);
    TTLOGIN_LOG_PER_PEER(spdlog::level::warn,
                         "client {}: protocol error: {}; closing the connection", peer_, error);
    result_ = {Outcome::kClose, "protocol error"};
  }
  return result_;
}

bool ClientSession::Dispatch(const common::DecodedFrame& frame, std::string& reply) {
  const auto& h = frame.header;
  if (h.service_id == common::kSidLogin && h.command_id == common::kCidLoginReqMsgServer) {
    context_.metrics.Add(Counter::kPduLoginReq);
    IM::Login::IMMsgServReq req;
    if (!req.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size()))) {
      context_.metrics.Add(Counter::kErrorBadBody);
      TTLOGIN_LOG_PER_PEER(spdlog::level::warn,
                           "client {}: IMMsgServReq body does not parse ({} bytes); closing", peer_,
                           frame.body.size());
      result_ = {Outcome::kClose, "bad IMMsgServReq"};
      return false;
    }
    const registry::Choice choice = context_.registry.Choose();
    context_.metrics.Add(PduAnswerCounter(choice.code));
    AppendMsgServRspPdu(reply, choice, h.seq_num, PrefersIp2(context_.config(), peer_));
    result_ = {Outcome::kReply, "reply sent"};
    return false;
  }
  if (h.service_id == common::kSidOther && h.command_id == common::kCidOtherHeartbeat) {
    context_.metrics.Add(Counter::kPduHeartbeat);
    return true;
  }
  context_.metrics.Add(Counter::kPduOther);
  if (++unknown_pdus_ <= kMaxUnknownPdusLogged) {
    TTLOGIN_LOG_PER_PEER(spdlog::level::warn,
                         "client {}: skipping unexpected PDU service={:#06x} command={:#06x}",
                         peer_, h.service_id, h.command_id);
  }
  return true;
}

}  // namespace ttlogin::server
