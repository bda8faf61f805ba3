#include "server/client_connection.h"

#include <spdlog/spdlog.h>

namespace ttlogin::server {

ClientConnection::ClientConnection(asio::ip::tcp::socket socket, ServerContext& context)
    : Connection(std::move(socket)), context_(context), session_(context, peer()) {
  set_output_budget(context_.config().max_queued_output);
  context_.metrics.ConnectionOpened(ListenerKind::kClient);
}

ClientConnection::~ClientConnection() {
  context_.metrics.ConnectionClosed(ListenerKind::kClient);
}

void ClientConnection::OnStart() {
  ArmTimer(last_received() + context_.config().client_timeout);
}

void ClientConnection::OnTimer(Clock::time_point now) {
  const auto deadline = last_received() + context_.config().client_timeout;
  if (now >= deadline) {
    spdlog::debug("client {}: idle for {} s; closing", peer(),
                  context_.config().client_timeout.count());
    Close("idle timeout");
    return;
  }
  ArmTimer(deadline);
}

std::size_t ClientConnection::OnData(std::span<const std::uint8_t> data) {
  // Built in a per-thread string that keeps its capacity: no allocation per request. A client
  // gets one reply and the connection closes, so its output is bounded by one reply and all of
  // its input is always consumed (a partial PDU waits in the session's frame decoder).
  thread_local std::string reply;
  reply.clear();
  const ClientSession::Result r = session_.OnBytes(data, reply);
  switch (r.outcome) {
    case ClientSession::Outcome::kNeedMore:
      break;
    case ClientSession::Outcome::kReply:
      SendAndClose(reply);
      context_.metrics.Observe(Histogram::kPduAnswer, Clock::now() - last_received());
      break;
    case ClientSession::Outcome::kClose:
      Close(r.reason);
      break;
  }
  return data.size();
}

}  // namespace ttlogin::server
