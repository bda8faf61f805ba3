// MsgServerConnection: a msg_server's long-lived link on the MsgServer port.
//
// The protocol lives in MsgServerSession; this class adds the socket's part: heartbeats after
// HeartbeatInterval without sending, and the drop after MsgServerTimeout of silence.
#pragma once

#include "server/connection.h"
#include "server/msg_server_session.h"
#include "server/server_context.h"

namespace ttlogin::server {

class MsgServerConnection final : public Connection {
 public:
  MsgServerConnection(asio::ip::tcp::socket socket, ServerContext& context);
  ~MsgServerConnection() override;

 private:
  void OnStart() override;
  std::size_t OnData(std::span<const std::uint8_t> data) override;
  void OnTimer(Clock::time_point now) override;
  void OnClose(std::string_view reason) override;
  void ScheduleTimer();

  ServerContext& context_;
  MsgServerSession session_;
};

}  // namespace ttlogin::server
