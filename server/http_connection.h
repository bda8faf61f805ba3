// HttpConnection: one socket of an HTTP listener (public or admin). The protocol is HttpSession's
// with the listener's HttpHandler; this class adds the socket's part: the idle timeout
// (HttpTimeout), the request deadline (HttpRequestTimeout, against slowloris) and answer latency.
#pragma once

#include "server/http/http_session.h"
#include "server/net/connection.h"
#include "server/session/server_context.h"

namespace ttlogin::server::http {

class HttpConnection final : public Connection, private ReplyDeferral {
 public:
  HttpConnection(asio::ip::tcp::socket socket, ServerContext& context, HttpHandler& handler,
                 ListenerKind kind);

  // --- Live upgrade: carried only between requests (none begun, none answered later) ---
  bool Carriable() const { return Quiescent() && !session_.in_request() && !session_.done(); }
  ListenerKind kind() const { return kind_; }
  // In the old process after the handover: the request it kept is answered with
  // "Connection: close", and the connection closes after that answer (a deferred one too).
  void AnswerLastRequest() {
    session_.AnswerLastRequest();
    last_answer_ = true;
  }

 private:
  void OnStart() override;
  std::size_t OnData(std::span<const std::uint8_t> data) override;
  void OnTimer(Clock::time_point now) override;
  Clock::time_point Deadline() const;
  // A handler answers later (ReplyDeferral): input is held until the answer is out.
  ReplyDeferral::Deliver Defer() override;
  void OnDeferredReply(const std::string& response);

  ServerContext& context_;
  ListenerKind kind_;
  HttpSession session_;
  // When the request now half-received began: it must be complete by HttpRequestTimeout after,
  // however slowly its bytes trickle in (slowloris).
  Clock::time_point request_started_{};
  bool last_answer_ = false;
};

}  // namespace ttlogin::server::http
