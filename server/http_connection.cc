#include "server/http_connection.h"

#include <spdlog/spdlog.h>

#include "common/log_rate_limiter.h"
#include "common/session_verdict.h"

namespace ttlogin::server::http {
namespace {

// The per-thread reply string keeps this much capacity between reads (the replies of a read of
// ordinary requests); a larger one is freed after use.
constexpr std::size_t kKeptReplyCapacity = 64 * 1024;

}  // namespace

HttpConnection::HttpConnection(asio::ip::tcp::socket socket, ServerContext& context,
                               HttpHandler& handler, ListenerKind kind)
    : Connection(std::move(socket)),
      context_(context),
      kind_(kind),
      session_(handler, context.config().max_http_head_size, context.config().max_http_body_size) {
  set_output_budget(context_.config().max_queued_output);
  session_.set_deferral(this);
}

void HttpConnection::OnStart() {
  ArmTimer(Deadline());
}

Clock::time_point HttpConnection::Deadline() const {
  const auto& config = context_.config();
  const auto idle = last_received() + config.http_timeout;
  if (!session_.in_request()) return idle;
  return std::min(idle, request_started_ + config.http_request_timeout);
}

void HttpConnection::OnTimer(Clock::time_point now) {
  const auto deadline = Deadline();
  if (now < deadline) {
    ArmTimer(deadline);
    return;
  }
  std::string out;
  const common::SessionVerdict verdict = session_.OnTimeout(out);
  context_.metrics.Closed(kind_, verdict.reason);
  if (verdict.action == common::SessionVerdict::Action::kReplyThenClose) {
    SendAndClose(out);
  } else {
    Close("idle timeout");
  }
}

std::size_t HttpConnection::OnData(std::span<const std::uint8_t> data) {
  // The replies of one read, built in a per-thread string: no allocation per request. Send()
  // copies only what the kernel does not take at once. Parsing stops once the replies fill the
  // connection's output room, so the string holds at most the budget plus one reply.
  thread_local std::string out;
  out.clear();
  const std::uint64_t before = session_.answered();
  const bool was_in_request = session_.in_request();
  const HttpSession::Progress progress = session_.OnBytesUpTo(data, out, peer(), output_room());
  if (session_.answered() != before && kind_ == ListenerKind::kHttp) {
    context_.metrics.Observe(Histogram::kHttpAnswer, Clock::now() - last_received());
  }
  const common::SessionVerdict& verdict = progress.verdict;
  if (verdict.closes()) {
    context_.metrics.Closed(kind_, verdict.reason);
    if (!verdict.detail.empty()) {
      TTLOGIN_LOG_PER_PEER(spdlog::level::debug, "{} {}: bad request: {}", ListenerName(kind_),
                           peer(), verdict.detail);
    }
  }
  if (progress.deferred) {
    // The answers before the deferred one go out now; it follows, then (unless it is the last)
    // the held input is parsed again.
    if (!out.empty()) Send(out);
  } else if (verdict.closes()) {
    SendAndClose(out);
  } else {
    if (session_.in_request() && (!was_in_request || session_.answered() != before)) {
      // A new request began and is not complete yet: bring the timer forward to its deadline.
      request_started_ = last_received();
      ArmTimer(Deadline());
    }
    if (!out.empty()) Send(out);
  }
  // One large answer (GET /servers of a big registry) must not stay allocated per thread.
  if (out.capacity() > kKeptReplyCapacity) std::string().swap(out);
  return progress.consumed;
}

ReplyDeferral::Deliver HttpConnection::Defer() {
  HoldInput();
  // Runs on whichever thread produced the answer: it only posts to this connection's loop. It
  // holds the connection, which has no read or write pending while it waits; a connection closed
  // meanwhile drops the answer.
  return [self = shared_from_this(), executor = executor()](std::string response) {
    asio::post(executor, [self, response = std::move(response)] {
      static_cast<HttpConnection&>(*self).OnDeferredReply(response);
    });
  };
}

void HttpConnection::OnDeferredReply(const std::string& response) {
  if (closed()) return;
  if (session_.done() || last_answer_) {
    SendAndClose(response);
    return;
  }
  Send(response);
  ReleaseInput();
}

}  // namespace ttlogin::server::http
