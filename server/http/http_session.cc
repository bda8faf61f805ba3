#include "server/http/http_session.h"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

namespace ttlogin::server::http {
namespace {

// Parsers kept per thread for reuse. A few cover a thread's requests that are half-received at
// one moment in the common case; more are freed rather than kept.
constexpr std::size_t kPooledParsers = 8;

std::vector<std::unique_ptr<HttpRequestParser>>& ParserPool() {
  thread_local std::vector<std::unique_ptr<HttpRequestParser>> pool;
  return pool;
}

std::uint32_t Clamp32(std::size_t n) {
  return static_cast<std::uint32_t>(
      std::min<std::size_t>(n, std::numeric_limits<std::uint32_t>::max()));
}

}  // namespace

HttpSession::HttpSession(HttpHandler& handler, std::size_t max_head_size, std::size_t max_body_size)
    : handler_(handler),
      max_head_size_(Clamp32(max_head_size)),
      max_body_size_(Clamp32(max_body_size)) {}

// A parser still held here (the connection ended mid-request) is freed, not pooled: the session
// may be destroyed on another thread, or after this thread's pool, at shutdown.
HttpSession::~HttpSession() = default;

void HttpSession::ReleaseParser() {
  if (!parser_) return;
  auto& pool = ParserPool();
  if (pool.size() < kPooledParsers) pool.push_back(std::move(parser_));
  parser_.reset();
}

common::SessionVerdict HttpSession::OnBytes(std::span<const std::uint8_t> bytes, std::string& out,
                                            std::string_view peer) {
  return OnBytesUpTo(bytes, out, peer, std::numeric_limits<std::size_t>::max()).verdict;
}

HttpSession::Progress HttpSession::OnBytesUpTo(std::span<const std::uint8_t> bytes,
                                               std::string& out, std::string_view peer,
                                               std::size_t max_output) {
  if (done()) return {bytes.size(), common::SessionVerdict::ReplyThenClose(close_reason_), false};
  if (max_output == 0 || bytes.empty()) return {0, common::SessionVerdict::Continue(), false};
  if (!parser_) {
    auto& pool = ParserPool();
    if (pool.empty()) {
      parser_ = std::make_unique<HttpRequestParser>(max_head_size_, max_body_size_);
    } else {
      parser_ = std::move(pool.back());
      pool.pop_back();
      parser_->Reset(max_head_size_, max_body_size_);
    }
  }
  parser_->set_peer(peer);
  parser_->set_deferral(deferral_ != nullptr ? this : nullptr);
  const std::size_t out_before = out.size();
  std::size_t consumed = 0;
  const HttpParseError error = parser_->Feed(
      std::span<const char>(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
      [&](const HttpRequest& request) {
        ++answered_;
        const bool keep_alive = request.keep_alive && !last_answer_;
        handler_.Handle(request, keep_alive, out);
        if (!keep_alive) close_reason_ = common::CloseReason::kAnswered;
        // A deferred answer comes later: parse nothing after it until it is out.
        return keep_alive && !deferred_ && out.size() - out_before < max_output;
      },
      &consumed);
  common::SessionVerdict verdict;
  if (error) {
    const int status = error.status();
    handler_.CountError(status);
    AppendJsonError(out, status,
                    status == 431   ? "request head too large"
                    : status == 413 ? "request body too large"
                                    : "malformed HTTP request",
                    false);
    close_reason_ = error.close_reason();
    verdict = common::SessionVerdict::ReplyThenClose(close_reason_, error.Describe());
  } else if (done()) {
    verdict = common::SessionVerdict::ReplyThenClose(close_reason_);
  }
  // Between requests (or once done) the parser holds nothing worth keeping: a fresh one is in
  // the same state at the start of the next request. Blank lines before a request count toward
  // its head, so a parser that has read some is kept.
  if (done() || parser_->at_request_boundary()) ReleaseParser();
  if (done()) consumed = bytes.size();  // the rest is never parsed: the connection closes
  const bool deferred = std::exchange(deferred_, false);
  return {consumed, std::move(verdict), deferred};
}

ReplyDeferral::Deliver HttpSession::Defer() {
  deferred_ = true;
  return deferral_->Defer();
}

common::SessionVerdict HttpSession::OnTimeout(std::string& out) {
  const bool half_received = in_request();
  close_reason_ =
      half_received ? common::CloseReason::kHttpRequestTimeout : common::CloseReason::kTimeout;
  ReleaseParser();
  if (!half_received) return common::SessionVerdict::Close(close_reason_);
  handler_.CountError(408);
  AppendJsonError(out, 408, "request not completed in time", false);
  return common::SessionVerdict::ReplyThenClose(close_reason_);
}

}  // namespace ttlogin::server::http
