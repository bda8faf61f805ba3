#include "server/client_connection.h"

#include <spdlog/spdlog.h>

#include "common/log_rate_limiter.h"
#include "common/session_verdict.h"

namespace ttlogin::server {

ClientConnection::ClientConnection(asio::ip::tcp::socket socket, ServerContext& context)
    : Connection(std::move(socket)),
      context_(context),
      session_(context, peer()),
      accepted_(last_received()) {
  set_output_budget(context_.config().max_queued_output);
}

void ClientConnection::OnStart() {
  ArmTimer(Deadline());
}

// Read from the live config each time, so a reload shortens or lengthens open connections too.
Clock::time_point ClientConnection::Deadline() const {
  return accepted_ + context_.config().client_timeout;
}

void ClientConnection::OnTimer(Clock::time_point now) {
  const auto deadline = Deadline();
  if (now >= deadline) {
    TTLOGIN_LOG_PER_PEER(spdlog::level::debug,
                         "client {}: no request answered within {} s; closing", peer(),
                         context_.config().client_timeout.count());
    context_.metrics.Closed(ListenerKind::kClient, common::CloseReason::kTimeout);
    Close("request timeout");
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
  const common::SessionVerdict verdict = session_.OnBytes(data, reply);
  if (!verdict.closes()) return data.size();
  context_.metrics.Closed(ListenerKind::kClient, verdict.reason);
  if (verdict.action == common::SessionVerdict::Action::kReplyThenClose) {
    SendAndClose(reply);
    context_.metrics.Observe(Histogram::kPduAnswer, Clock::now() - last_received());
  } else {
    // The session logged why (rate-limited per peer).
    Close(common::CloseReasonText(verdict.reason));
  }
  return data.size();
}

}  // namespace ttlogin::server
