// ClientConnection: a client on the Client port asking, by PDU, where to log in. The protocol is
// ClientSession's; this class adds the connection's deadline (ClientTimeout) and answer latency.
//
// The connection exists for one request, so ClientTimeout runs from the accept and nothing the
// peer sends extends it: not a heartbeat (classic clients are not kept alive by one either), not
// a PDU dribbled in a byte at a time. An idle timeout would let either hold the connection, and
// a descriptor, for as long as the peer likes.
#pragma once

#include "server/net/connection.h"
#include "server/session/client_session.h"
#include "server/session/server_context.h"

namespace ttlogin::server {

class ClientConnection final : public Connection {
 public:
  ClientConnection(asio::ip::tcp::socket socket, ServerContext& context);

  // --- Live upgrade: a connection is carried only before its request's first byte ---
  bool Carriable() const { return Quiescent() && last_received() == accepted_; }
  Clock::time_point accepted() const { return accepted_; }
  // ClientTimeout goes on from the accept in the old process.
  void RestoreAccepted(Clock::time_point accepted) { accepted_ = accepted; }

 private:
  void OnStart() override;
  std::size_t OnData(std::span<const std::uint8_t> data) override;
  void OnTimer(Clock::time_point now) override;
  Clock::time_point Deadline() const;

  ServerContext& context_;
  ClientSession session_;
  Clock::time_point accepted_;
};

}  // namespace ttlogin::server
