// ClientConnection: a client on the Client port asking, by PDU, where to log in. The protocol is
// ClientSession's; this class adds the idle timeout (ClientTimeout) and answer latency.
#pragma once

#include "server/client_session.h"
#include "server/connection.h"
#include "server/server_context.h"

namespace ttlogin::server {

class ClientConnection final : public Connection {
 public:
  ClientConnection(asio::ip::tcp::socket socket, ServerContext& context);
  ~ClientConnection() override;

 private:
  void OnStart() override;
  std::size_t OnData(std::span<const std::uint8_t> data) override;
  void OnTimer(Clock::time_point now) override;

  ServerContext& context_;
  ClientSession session_;
};

}  // namespace ttlogin::server
