#include "server/msg_server_connection.h"

#include <spdlog/spdlog.h>

#include "IM.Other.pb.h"
#include "common/log_rate_limiter.h"
#include "common/protocol.h"

namespace ttlogin::server {
namespace {

const std::string& HeartbeatPdu() {
  static const std::string pdu =
      common::MakePdu(common::kSidOther, common::kCidOtherHeartbeat, 0, IM::Other::IMHeartBeat{});
  return pdu;
}

}  // namespace

MsgServerConnection::MsgServerConnection(asio::ip::tcp::socket socket, ServerContext& context)
    : Connection(std::move(socket)), context_(context), session_(context, peer()) {
  context_.metrics.ConnectionOpened(ListenerKind::kMsgServer);
}

MsgServerConnection::~MsgServerConnection() {
  context_.metrics.ConnectionClosed(ListenerKind::kMsgServer);
}

void MsgServerConnection::OnStart() {
  TTLOGIN_LOG_PER_PEER(spdlog::level::debug, "msg_server connection from {}", peer());
  ScheduleTimer();
}

void MsgServerConnection::ScheduleTimer() {
  const auto heartbeat_due = last_sent() + context_.config().heartbeat_interval;
  const auto silence_due = last_received() + context_.config().msg_server_timeout;
  ArmTimer(std::min(heartbeat_due, silence_due));
}

void MsgServerConnection::OnTimer(Clock::time_point now) {
  if (now >= last_received() + context_.config().msg_server_timeout) {
    context_.metrics.Add(Counter::kMsgServerTimedOut);
    TTLOGIN_LOG_PER_PEER(spdlog::level::warn,
                         "msg_server {} ({}) timed out: nothing received for {} s; dropping it",
                         peer(), session_.registered() ? session_.host_name() : "unregistered",
                         context_.config().msg_server_timeout.count());
    Close("timeout");
    return;
  }
  if (now >= last_sent() + context_.config().heartbeat_interval) Send(HeartbeatPdu());
  ScheduleTimer();
}

void MsgServerConnection::OnData(std::span<const std::uint8_t> data) {
  if (auto reason = session_.OnBytes(data)) {
    Close(*reason);
    return;
  }
  session_.Heard(last_received());
}

void MsgServerConnection::OnClose(std::string_view reason) {
  session_.OnClosed(reason);
}

}  // namespace ttlogin::server
