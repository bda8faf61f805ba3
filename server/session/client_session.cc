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

common::SessionVerdict ClientSession::OnBytes(std::span<const std::uint8_t> bytes,
                                              std::string& reply) {
  if (action_ == common::SessionVerdict::Action::kContinue) {
    const common::FrameError error = decoder_.Feed(
        bytes, [&](const common::DecodedFrame& frame) { return Dispatch(frame, reply); });
    if (error != common::FrameError::kNone) {
      context_.metrics.Add(Counter::kErrorBadLength);
      TTLOGIN_LOG_PER_PEER(spdlog::level::warn,
                           "client {}: protocol error: {}; closing the connection", peer_,
                           decoder_.error_text());
      action_ = common::SessionVerdict::Action::kClose;
      reason_ = common::CloseReasonOf(error);
    }
  }
  return {action_, reason_, {}};
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
      action_ = common::SessionVerdict::Action::kClose;
      reason_ = common::CloseReason::kBadLoginRequest;
      return false;
    }
    const registry::Choice choice = context_.registry.Choose();
    context_.metrics.Add(PduAnswerCounter(choice.code));
    AppendMsgServRspPdu(reply, choice, h.seq_num, PrefersIp2(context_.config(), peer_));
    action_ = common::SessionVerdict::Action::kReplyThenClose;
    reason_ = common::CloseReason::kAnswered;
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
