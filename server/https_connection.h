// HttpsConnection: one socket of the HTTPS listener. TLS (tls::TlsSession, a byte transform) turns
// the per-thread read into plaintext for an HttpSession with the same handler as the HTTP port
// (GET /msg_server, the same JSON, X-Forwarded-For and network-table rules), and its replies into
// records. Besides HttpConnection's deadlines it has the handshake's: TlsHandshakeTimeout from
// accept (slowloris over TLS), and at most MaxTlsHandshakes in progress per server, so a flood of
// handshakes cannot starve established connections of CPU. A first byte that cannot start a TLS
// record is not handed to OpenSSL: plaintext HTTP gets a 400 saying to use https, anything else
// is closed.
//
// Its keys live inside OpenSSL, so a live upgrade cannot carry it to another process.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "server/http/http_session.h"
#include "server/net/connection.h"
#include "server/session/server_context.h"
#include "server/tls/tls_context.h"
#include "server/tls/tls_session.h"

namespace ttlogin::server {

// What every HTTPS connection of the server shares.
struct HttpsShared {
  tls::TlsContextSlot context;                          // what new handshakes use
  std::atomic<std::int64_t> handshakes_in_progress{0};  // MaxTlsHandshakes caps it
};

class HttpsConnection final : public Connection {
 public:
  HttpsConnection(asio::ip::tcp::socket socket, ServerContext& context, HttpsShared& shared,
                  http::HttpHandler& handler);
  ~HttpsConnection() override;

  // The JSON answer to a plaintext HTTP request on the HTTPS port.
  static std::string PlaintextReply();

  // Live upgrade, in the old process: TLS cannot be carried, so every HTTPS connection stays
  // here. Once the new process serves, one between requests is closed (its client reconnects to
  // the new process, as after any idle close), and a request in progress is answered as its last.
  bool BetweenRequests() const {
    return Quiescent() && tls_.handshake_done() && !session_.in_request() && pending_plain_.empty();
  }
  void AnswerLastRequest() { session_.AnswerLastRequest(); }

 private:
  void OnStart() override;
  std::size_t OnData(std::span<const std::uint8_t> data) override;
  void OnTimer(Clock::time_point now) override;
  void OnClose(std::string_view reason) override;
  Clock::time_point Deadline() const;
  // The handshake ended (done or failed): it no longer counts against MaxTlsHandshakes.
  void HandshakeEnded();
  void HandshakeFailed(tls::HandshakeFailure failure, std::string_view detail);
  // Feeds plaintext to the HTTP session and encrypts its replies into `wire`. Returns false when
  // the connection is closing.
  bool Serve(std::string_view plain, std::string& wire);

  ServerContext& context_;
  HttpsShared& shared_;
  http::HttpSession session_;
  tls::TlsSession tls_;
  const Clock::time_point accepted_;
  Clock::time_point request_started_{};
  // Decrypted input the HTTP session could not take yet (its output over budget); empty, with no
  // capacity, otherwise.
  std::string pending_plain_;
  bool first_byte_seen_ = false;
  bool handshake_counted_ = false;  // counted in HttpsShared::handshakes_in_progress
};

}  // namespace ttlogin::server
