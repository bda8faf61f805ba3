// HttpSession: one HTTP connection's protocol with no socket. Requests are parsed by
// HttpRequestParser (llhttp plus head/body limits); each complete one goes to the listener's
// HttpHandler, and its reply is appended to the caller's output, so every reply of one read goes
// out in one write, up to the caller's output budget (OnBytesUpTo). The session's own errors answer
// with a status and a JSON body, then close: 400 malformed, 413 large body, 431 large head, 408 too
// slow.
//
// The parser (llhttp's state, the request's strings: about 300 bytes) is only held while a
// request is half-received. Between requests it goes back to a small per-thread pool, so an idle
// keep-alive connection holds none and a busy thread reuses the same few parsers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/session_verdict.h"
#include "server/http/http_handler.h"
#include "server/http/http_request_parser.h"

namespace ttlogin::server::http {

class HttpSession : private ReplyDeferral {
 public:
  HttpSession(HttpHandler& handler, std::size_t max_head_size, std::size_t max_body_size);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // Feeds bytes and appends replies to `out`. Returns continue, or reply-then-close once the
  // connection must close after `out` is sent: a request without keep-alive was answered
  // (kAnswered), or a parse error was answered with its status (its reason code, and the error's
  // text as detail). `peer` ("ip:port") reaches the handler as HttpRequest::peer.
  [[nodiscard]] common::SessionVerdict OnBytes(std::span<const std::uint8_t> bytes,
                                               std::string& out, std::string_view peer = {});

  struct Progress {
    std::size_t consumed = 0;        // bytes of the input parsed
    common::SessionVerdict verdict;  // as OnBytes'
    // The last request parsed is answered later (see ReplyDeferral): parsing stopped after it.
    bool deferred = false;
  };
  // As OnBytes, but parses no further request once it has added `max_output` bytes to `out`, so
  // pipelined requests cannot make replies pile up beyond the connection's output budget (one
  // reply may overshoot it). The unparsed rest (from `consumed`) must be fed again later, first.
  // With max_output 0 nothing is parsed.
  [[nodiscard]] Progress OnBytesUpTo(std::span<const std::uint8_t> bytes, std::string& out,
                                     std::string_view peer, std::size_t max_output);
  // The connection timed out: appends a 408 when a request was half-received (reply-then-close,
  // kHttpRequestTimeout), else closes at once (kTimeout).
  [[nodiscard]] common::SessionVerdict OnTimeout(std::string& out);
  bool in_request() const { return parser_ && parser_->in_request(); }
  // Lets handlers answer later through `deferral` (the connection); null: answers are immediate.
  void set_deferral(ReplyDeferral* deferral) { deferral_ = deferral; }
  // No further request will be parsed (an error, or a request without keep-alive).
  bool done() const { return close_reason_ != common::CloseReason::kNone; }
  std::uint64_t answered() const { return answered_; }
  // The next answer is the last: it says "Connection: close" and no request after it is parsed
  // (a process that handed its other connections to a new one, finishing what it kept).
  void AnswerLastRequest() { last_answer_ = true; }

 private:
  void ReleaseParser();
  ReplyDeferral::Deliver Defer() override;

  HttpHandler& handler_;
  std::uint32_t max_head_size_;
  std::uint32_t max_body_size_;
  std::unique_ptr<HttpRequestParser> parser_;  // only while a request is half-received
  // Why no further request is parsed; kNone while requests go on.
  common::CloseReason close_reason_ = common::CloseReason::kNone;
  ReplyDeferral* deferral_ = nullptr;
  bool deferred_ = false;  // the request being handled was deferred
  bool last_answer_ = false;
  std::uint64_t answered_ = 0;
};

}  // namespace ttlogin::server::http
