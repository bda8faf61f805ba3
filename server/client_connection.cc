#include "server/client_connection.h"

#include <spdlog/spdlog.h>

#include "IM.Login.pb.h"
#include "common/protocol.h"
#include "server/login_reply.h"

namespace ttlogin::server {
namespace {
constexpr int kMaxUnknownPdusLogged = 3;
}

ClientConnection::ClientConnection(asio::ip::tcp::socket socket, ServerContext& context)
    : Connection(std::move(socket), "client"),
      context_(context),
      decoder_(context.config.max_pdu_size) {
  context_.counters.client_connections.fetch_add(1, std::memory_order_relaxed);
}

ClientConnection::~ClientConnection() {
  context_.counters.client_connections.fetch_sub(1, std::memory_order_relaxed);
}

void ClientConnection::OnStart() {
  ArmTimer(last_received() + context_.config.client_timeout);
}

void ClientConnection::OnTimer(Clock::time_point now) {
  const auto deadline = last_received() + context_.config.client_timeout;
  if (now >= deadline) {
    spdlog::debug("client {}: idle for {} s; closing", peer(),
                  context_.config.client_timeout.count());
    Close("idle timeout");
    return;
  }
  ArmTimer(deadline);
}

void ClientConnection::OnData(std::span<const std::uint8_t> data) {
  const std::string error =
      decoder_.Feed(data, [this](const common::DecodedFrame& frame) { return Dispatch(frame); });
  if (!error.empty()) {
    context_.counters.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("client {}: protocol error: {}; closing the connection", peer(), error);
    Close("protocol error");
  }
}

bool ClientConnection::Dispatch(const common::DecodedFrame& frame) {
  if (closed()) return false;
  const auto& h = frame.header;
  if (h.service_id == common::kSidLogin && h.command_id == common::kCidLoginReqMsgServer) {
    IM::Login::IMMsgServReq req;
    if (!req.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size()))) {
      context_.counters.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("client {}: IMMsgServReq body does not parse ({} bytes); closing", peer(),
                   frame.body.size());
      Close("bad IMMsgServReq");
      return false;
    }
    const registry::Choice choice = context_.registry.Choose();
    context_.counters.pdu_requests.fetch_add(1, std::memory_order_relaxed);
    std::string reply;
    AppendMsgServRspPdu(reply, choice, h.seq_num);
    SendAndClose(reply);
    return false;
  }
  if (h.service_id == common::kSidOther && h.command_id == common::kCidOtherHeartbeat) return true;
  if (++unknown_pdus_ <= kMaxUnknownPdusLogged) {
    spdlog::warn("client {}: skipping unexpected PDU service={:#06x} command={:#06x}", peer(),
                 h.service_id, h.command_id);
  }
  return true;
}

}  // namespace ttlogin::server
