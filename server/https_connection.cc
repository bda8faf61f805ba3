#include "server/https_connection.h"

#include <spdlog/spdlog.h>

#include "common/log_rate_limiter.h"
#include "common/session_verdict.h"
#include "server/http/http_handler.h"

namespace ttlogin::server {
namespace {

// The per-thread strings keep this much capacity between reads; a larger one is freed after use.
constexpr std::size_t kKeptCapacity = 64 * 1024;

void Trim(std::string& s) {
  if (s.capacity() > kKeptCapacity) std::string().swap(s);
}

Counter FailureCounter(tls::HandshakeFailure f) {
  return static_cast<Counter>(static_cast<std::size_t>(Counter::kTlsFailProtocolVersion) +
                              static_cast<std::size_t>(f));
}
static_assert(static_cast<std::size_t>(Counter::kTlsFailOther) -
                      static_cast<std::size_t>(Counter::kTlsFailProtocolVersion) ==
                  static_cast<std::size_t>(tls::HandshakeFailure::kOther),
              "the failure counters follow tls::HandshakeFailure");

}  // namespace

HttpsConnection::HttpsConnection(asio::ip::tcp::socket socket, ServerContext& context,
                                 HttpsShared& shared, http::HttpHandler& handler)
    : Connection(std::move(socket)),
      context_(context),
      shared_(shared),
      session_(handler, context.config().max_http_head_size, context.config().max_http_body_size),
      accepted_(Clock::now()) {
  set_output_budget(context_.config().max_queued_output);
}

HttpsConnection::~HttpsConnection() {
  HandshakeEnded();
}

std::string HttpsConnection::PlaintextReply() {
  std::string out;
  http::AppendJsonError(out, 400, "this port speaks HTTPS: use an https:// URL", false);
  return out;
}

void HttpsConnection::OnStart() {
  const auto& config = context_.config();
  // Counted first and compared after, so threads accepting at once cannot overshoot the cap.
  const std::int64_t now_in_progress =
      shared_.handshakes_in_progress.fetch_add(1, std::memory_order_relaxed) + 1;
  handshake_counted_ = true;
  if (now_in_progress > static_cast<std::int64_t>(config.max_tls_handshakes)) {
    HandshakeFailed(tls::HandshakeFailure::kOverCapacity, "MaxTlsHandshakes in progress");
    Close("over MaxTlsHandshakes");
    return;
  }
  if (!tls_.Start(shared_.context.Get())) {
    HandshakeFailed(tls::HandshakeFailure::kOther, tls_.error());
    Close("TLS unavailable");
    return;
  }
  ArmTimer(Deadline());
}

void HttpsConnection::HandshakeEnded() {
  if (!handshake_counted_) return;
  handshake_counted_ = false;
  shared_.handshakes_in_progress.fetch_sub(1, std::memory_order_relaxed);
}

void HttpsConnection::HandshakeFailed(tls::HandshakeFailure failure, std::string_view detail) {
  HandshakeEnded();
  context_.metrics.Add(FailureCounter(failure));
  TTLOGIN_LOG_PER_PEER(spdlog::level::debug, "https {}: TLS handshake failed ({}): {}", peer(),
                       tls::HandshakeFailureName(failure), detail);
}

void HttpsConnection::OnClose(std::string_view /*reason*/) {
  // Closed before the handshake finished (the peer went away, or an error of ours).
  if (handshake_counted_ && !tls_.handshake_done()) {
    HandshakeFailed(tls::HandshakeFailure::kPeerClosed, "closed during the handshake");
  }
  HandshakeEnded();
  std::string().swap(pending_plain_);
}

Clock::time_point HttpsConnection::Deadline() const {
  const auto& config = context_.config();
  if (!tls_.handshake_done()) return accepted_ + config.tls_handshake_timeout;
  const auto idle = last_received() + config.http_timeout;
  if (!session_.in_request()) return idle;
  return std::min(idle, request_started_ + config.http_request_timeout);
}

void HttpsConnection::OnTimer(Clock::time_point now) {
  const auto deadline = Deadline();
  if (now < deadline) {
    ArmTimer(deadline);
    return;
  }
  if (!tls_.handshake_done()) {
    HandshakeFailed(tls::HandshakeFailure::kTimeout, "TlsHandshakeTimeout passed");
    Close("TLS handshake timeout");
    return;
  }
  thread_local std::string out;
  thread_local std::string wire;
  out.clear();
  wire.clear();
  const common::SessionVerdict verdict = session_.OnTimeout(out);
  context_.metrics.Closed(ListenerKind::kHttps, verdict.reason);
  if (!out.empty()) (void)tls_.Send(out, wire);
  tls_.Shutdown(wire);  // a clean close: the client sees no truncation
  SendAndClose(wire);
  Trim(out);
  Trim(wire);
}

bool HttpsConnection::Serve(std::string_view plain, std::string& wire) {
  // The replies of one read, built in a per-thread string (no allocation per request), then
  // encrypted into `wire`. Parsing stops once they fill the connection's output room.
  thread_local std::string out;
  out.clear();
  const std::uint64_t before = session_.answered();
  const bool was_in_request = session_.in_request();
  const std::size_t room = output_room() > wire.size() ? output_room() - wire.size() : 0;
  const http::HttpSession::Progress progress = session_.OnBytesUpTo(
      {reinterpret_cast<const std::uint8_t*>(plain.data()), plain.size()}, out, peer(), room);
  if (session_.answered() != before) {
    context_.metrics.Observe(Histogram::kHttpsAnswer, Clock::now() - last_received());
  }
  const common::SessionVerdict& verdict = progress.verdict;
  if (!out.empty() && !tls_.Send(out, wire)) {
    Close("TLS write failed: " + tls_.error());
    Trim(out);
    return false;
  }
  Trim(out);
  if (verdict.closes()) {
    context_.metrics.Closed(ListenerKind::kHttps, verdict.reason);
    if (!verdict.detail.empty()) {
      TTLOGIN_LOG_PER_PEER(spdlog::level::debug, "https {}: bad request: {}", peer(),
                           verdict.detail);
    }
    tls_.Shutdown(wire);
    SendAndClose(wire);
    return false;
  }
  if (session_.in_request() && (!was_in_request || session_.answered() != before)) {
    // A new request began and is not complete yet: bring the timer forward to its deadline.
    request_started_ = last_received();
    ArmTimer(Deadline());
  }
  if (progress.consumed < plain.size()) {
    // Over the output budget: keep the rest (at most one read's plaintext) until the peer has
    // read the replies.
    pending_plain_.assign(plain.substr(progress.consumed));
    if (!wire.empty()) Send(wire);
    PauseForOutput();
    wire.clear();
    return false;
  }
  return true;
}

std::size_t HttpsConnection::OnData(std::span<const std::uint8_t> data) {
  thread_local std::string plain;
  thread_local std::string wire;
  plain.clear();
  wire.clear();
  if (data.empty()) {
    // Resumed after a pause for output: the plaintext kept then comes first.
    plain.swap(pending_plain_);
    std::string().swap(pending_plain_);
    if (Serve(plain, wire) && !wire.empty()) Send(wire);
    Trim(plain);
    Trim(wire);
    return 0;
  }
  if (!first_byte_seen_) {
    first_byte_seen_ = true;
    switch (tls::ClassifyFirstByte(data[0])) {
      case tls::FirstByte::kTls:
        break;
      case tls::FirstByte::kPlaintextHttp:
        HandshakeFailed(tls::HandshakeFailure::kPlaintextHttp, "a plaintext HTTP request");
        SendAndClose(PlaintextReply());
        return data.size();
      case tls::FirstByte::kNotTls:
        HandshakeFailed(tls::HandshakeFailure::kNotTls, "the first byte is not a TLS record's");
        Close("not TLS");
        return data.size();
    }
  }
  const bool was_done = tls_.handshake_done();
  const tls::TlsSession::Status status = tls_.Receive(data, plain, wire);
  if (!was_done && tls_.handshake_done()) {
    HandshakeEnded();
    context_.metrics.Add(tls_.resumed() ? Counter::kTlsHandshakeResumed
                                        : Counter::kTlsHandshakeFull);
    ArmTimer(Deadline());  // from the handshake's deadline to the HTTP ones
  }
  if (status == tls::TlsSession::Status::kFailed) {
    if (!tls_.handshake_done()) {
      HandshakeFailed(tls_.failure(), tls_.error());
    } else {
      TTLOGIN_LOG_PER_PEER(spdlog::level::debug, "https {}: TLS error: {}", peer(), tls_.error());
    }
    SendAndClose(wire);  // the alert, if OpenSSL made one
    Trim(wire);
    return data.size();
  }
  bool open = true;
  if (!plain.empty()) open = Serve(plain, wire);
  if (open) {
    if (status == tls::TlsSession::Status::kPeerClosed) {
      tls_.Shutdown(wire);
      SendAndClose(wire);
    } else if (!wire.empty()) {
      Send(wire);
    }
  }
  Trim(plain);
  Trim(wire);
  return data.size();
}

}  // namespace ttlogin::server
