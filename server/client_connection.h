// ClientConnection: a client on the Client port asking, by PDU, where to log in.
//
// One CID_LOGIN_REQ_MSGSERVER gets one CID_LOGIN_RES_MSGSERVER carrying the request's seq_num,
// then the server closes. (The classic server never answered here: it lost track of client
// connections. We answer.) Heartbeats are accepted; other PDUs are logged and skipped.
#pragma once

#include "common/frame_decoder.h"
#include "server/connection.h"
#include "server/server_context.h"

namespace ttlogin::server {

class ClientConnection final : public Connection {
 public:
  ClientConnection(asio::ip::tcp::socket socket, ServerContext& context);
  ~ClientConnection() override;

 private:
  void OnStart() override;
  void OnData(std::span<const std::uint8_t> data) override;
  void OnTimer(Clock::time_point now) override;

  bool Dispatch(const common::DecodedFrame& frame);

  ServerContext& context_;
  common::FrameDecoder decoder_;
  int unknown_pdus_ = 0;
};

}  // namespace ttlogin::server
