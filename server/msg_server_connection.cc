#include "server/msg_server_connection.h"

#include <spdlog/spdlog.h>

#include "IM.Other.pb.h"
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
  set_output_budget(context_.config().max_queued_output);
  context_.metrics.ConnectionOpened(ListenerKind::kMsgServer);
}

MsgServerConnection::~MsgServerConnection() {
  context_.metrics.ConnectionClosed(ListenerKind::kMsgServer);
}

void MsgServerConnection::OnStart() {
  spdlog::debug("msg_server connection from {}", peer());
  ScheduleTimer();
}

void MsgServerConnection::ScheduleTimer() {
  // While output is queued no heartbeat is sent, so its due time moves on by an interval rather
  // than staying in the past (which would fire the timer again at once).
  const auto heartbeat_due = queued_output() == 0
                                 ? last_sent() + context_.config().heartbeat_interval
                                 : Clock::now() + context_.config().heartbeat_interval;
  const auto silence_due = last_received() + context_.config().msg_server_timeout;
  ArmTimer(std::min(heartbeat_due, silence_due));
}

void MsgServerConnection::OnTimer(Clock::time_point now) {
  if (now >= last_received() + context_.config().msg_server_timeout) {
    context_.metrics.Add(Counter::kMsgServerTimedOut);
    spdlog::warn("msg_server {} ({}) timed out: nothing received for {} s; dropping it", peer(),
                 session_.registered() ? session_.host_name() : "unregistered",
                 context_.config().msg_server_timeout.count());
    Close("timeout");
    return;
  }
  // A heartbeat is only queued when nothing is: a msg_server that stops reading costs at most
  // one heartbeat of output, however long it keeps sending.
  if (now >= last_sent() + context_.config().heartbeat_interval && queued_output() == 0) {
    Send(HeartbeatPdu());
  }
  ScheduleTimer();
}

std::size_t MsgServerConnection::OnData(std::span<const std::uint8_t> data) {
  // A msg_server is never answered (only heartbeats go out, on the timer), so input is always
  // consumed whole; a partial PDU waits in the session's frame decoder.
  if (auto reason = session_.OnBytes(data)) {
    Close(*reason);
    return data.size();
  }
  session_.Heard(last_received());
  return data.size();
}

void MsgServerConnection::OnClose(std::string_view reason) {
  session_.OnClosed(reason);
}

}  // namespace ttlogin::server
