#include "tools/common/msg_server_client.h"

#include <sys/socket.h>

#include <cerrno>

#include "common/protocol.h"

namespace ttlogin::peer {

IoResult MsgServerClient::Connect(std::uint16_t port, std::string_view source,
                                  milliseconds timeout) {
  decoder_ = common::FrameDecoder();
  heartbeats_received_ = 0;
  socket_.Connect(port, source, timeout);
  return socket_.last_result();
}

IoResult MsgServerClient::Send(std::string_view bytes) {
  socket_.Send(bytes, send_timeout_);
  return socket_.last_result();
}

IoResult MsgServerClient::Register(const MsgServerInfo& info) {
  return Send(ServInfoPdu(info));
}

IoResult MsgServerClient::SendUpdates(std::uint32_t action, int n, std::uint32_t first_user) {
  batch_.clear();
  for (int i = 0; i < n; ++i) {
    AppendUserCntUpdatePdu(batch_, action, first_user + static_cast<std::uint32_t>(i));
  }
  return Send(batch_);
}

IoResult MsgServerClient::Inc(int n, std::uint32_t first_user) {
  return SendUpdates(common::kUserActionInc, n, first_user);
}

IoResult MsgServerClient::Dec(int n, std::uint32_t first_user) {
  return SendUpdates(common::kUserActionDec, n, first_user);
}

IoResult MsgServerClient::Heartbeat() {
  return Send(HeartbeatPdu());
}

IoResult MsgServerClient::ReadInput(OnHeartbeat on_heartbeat) {
  if (!socket_.connected()) return {IoStatus::kClosed, 0};
  char buf[4096];
  int to_answer = 0;
  while (true) {
    const ssize_t n = recv(socket_.fd(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      const common::FrameError error = decoder_.Feed(
          std::span(reinterpret_cast<const std::uint8_t*>(buf), static_cast<std::size_t>(n)),
          [&](const common::DecodedFrame& frame) {
            if (frame.header.service_id == common::kSidOther &&
                frame.header.command_id == common::kCidOtherHeartbeat) {
              ++heartbeats_received_;
              ++to_answer;
            }
            return true;
          });
      if (error != common::FrameError::kNone) return {IoStatus::kError, EBADMSG};
      continue;
    }
    if (n == 0) return {IoStatus::kClosed, 0};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    return {errno == ECONNRESET ? IoStatus::kClosed : IoStatus::kError, errno};
  }
  if (on_heartbeat == OnHeartbeat::kAnswer) {
    for (; to_answer > 0; --to_answer) {
      if (IoResult r = Heartbeat(); !r.ok()) return r;
    }
  }
  return {};
}

}  // namespace ttlogin::peer
