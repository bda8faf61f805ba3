// HttpRequestParser: llhttp wrapped into "feed bytes, get whole requests or one error".
//
// llhttp does the HTTP/1.x grammar (pipelining, chunked bodies, keep-alive rules of 1.0 and 1.1).
// This class adds the limits llhttp leaves to its user: the size of a request head and of a body,
// and turns each outcome into a value the connection acts on.
//
// The head limit counts the bytes of the stream from the end of the previous request (or the
// start) to the end of this request's head: request line, header lines, the blank line, and any
// blank lines before the request. While a head is incomplete llhttp is given no more than what is
// left of the limit, so a head that does not end within it is a 431 and a syntax error within it
// a 400, decided by the bytes alone: how the reads split them never changes the answer.
//
// It is stricter than llhttp where a lenient reading lets two servers on one path disagree about
// a request (RFC 9112 and RFC 9110 allow or require the refusals; nginx makes the same ones): each
// of these is a 400 and the connection closes.
//   - obs-fold: a header line starting with SP or HT, continuing the previous one. llhttp joins it
//     to the previous value (a folded Transfer-Encoding included); a proxy in front may not.
//   - a second Authorization header (llhttp would hand both; joining them made one token of two)
//     or a second Host header.
//   - an HTTP/1.1 request without Host.
//   - an origin-form target whose path is not in normal form (see RequestTargetError).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include <llhttp.h>

#include "common/session_verdict.h"

namespace ttlogin::server::http {

// Lets a handler answer a request later, off the io loop (POST /reload reads files on the reload
// thread). Defer() returns the callable that delivers the whole response, from any thread; until
// it has run, the connection parses and reads nothing more, so replies stay in request order.
class ReplyDeferral {
 public:
  using Deliver = std::function<void(std::string response)>;
  virtual Deliver Defer() = 0;

 protected:
  ~ReplyDeferral() = default;
};

struct HttpRequest {
  std::uint8_t method = 0;  // llhttp_method_t
  std::string url;
  bool keep_alive = false;
  std::uint8_t http_major = 1;
  std::uint8_t http_minor = 1;
  std::size_t body_size = 0;
  std::string authorization;  // the Authorization header's value (the admin listener checks it)
  // The values of every X-Forwarded-For header, in order, joined with ", " (as one header with a
  // list would read). Bounded with the rest of the head by the head size limit.
  std::string x_forwarded_for;
  // The connection's peer as "ip:port" (the session sets it; empty when unknown, e.g. in tests).
  std::string_view peer;
  // Set by a connection that can answer later; null where every answer must be immediate (unit
  // tests, fuzzers), and then a handler answers in place.
  ReplyDeferral* deferral = nullptr;
};

// Why a request was refused. Values, so a connection's metrics count each kind; Describe() gives
// the text for the log line.
enum class HttpParseCode : std::uint8_t {
  kNone,
  kMalformed,               // llhttp's grammar refused it (detail: llhttp's error name)
  kHeadTooLarge,            // no end of head within the head limit
  kBodyTooLarge,            // Content-Length or the chunks beyond the body limit
  kObsFold,                 // a folded header line
  kDuplicateHost,           // a second Host header
  kDuplicateAuthorization,  // a second Authorization header
  kMissingHost,             // an HTTP/1.1 request without Host
  kBadPath,                 // RequestTargetError refused the target (detail: which rule)
};

struct HttpParseError {
  HttpParseCode code = HttpParseCode::kNone;
  // Static text that says more: llhttp's error name, or RequestTargetError's reason.
  std::string_view detail;
  std::size_t limit = 0;  // the head or body limit exceeded (kHeadTooLarge, kBodyTooLarge)

  explicit operator bool() const { return code != HttpParseCode::kNone; }
  // The HTTP status to answer with: 400, 413 or 431 (0 for kNone).
  [[nodiscard]] int status() const;
  // The session verdict's reason for this error.
  [[nodiscard]] common::CloseReason close_reason() const;
  // The text for the log line, as "request head larger than 8192 bytes".
  [[nodiscard]] std::string Describe() const;
};

class HttpRequestParser {
 public:
  HttpRequestParser(std::size_t max_head_size, std::size_t max_body_size);
  ~HttpRequestParser() = default;
  // Back to the state of a new parser with these limits (so a parser can be reused by another
  // connection between requests).
  void Reset(std::size_t max_head_size, std::size_t max_body_size);
  // The peer the next requests come from (HttpRequest::peer); the text must outlive them.
  void set_peer(std::string_view peer) { request_.peer = peer; }
  void set_deferral(ReplyDeferral* deferral) { request_.deferral = deferral; }
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  // Parses `data`, calling `on_request(const HttpRequest&)` for each complete request; it returns
  // false to stop (the connection is closing, or its output is over budget). Returns the error
  // that broke the stream, if any; after an error the parser must not be fed again. `consumed`,
  // when given, receives the bytes parsed: all of `data` unless `on_request` stopped it, in which
  // case the rest starts the next request and is fed again later.
  template <typename OnRequest>
  [[nodiscard]] HttpParseError Feed(std::span<const char> data, OnRequest&& on_request,
                                    std::size_t* consumed = nullptr);

  // True between the first byte after the last complete request (a blank line before a request
  // included) and the end of the next one: a request is half-received, and its deadline runs.
  bool in_request() const { return in_message_ || head_size_ != 0; }
  // True when no byte after the last complete request has been read (not even a blank line): a
  // new parser would be in the same state.
  bool at_request_boundary() const { return !in_request(); }
  // Bytes of request text held (URL, header name being parsed, the values kept): bounded by the
  // head limit.
  std::size_t held_bytes() const {
    return request_.url.size() + field_.size() + request_.authorization.size() +
           request_.x_forwarded_for.size();
  }

 private:
  static int OnMessageBegin(llhttp_t* p);
  static int OnUrl(llhttp_t* p, const char* at, std::size_t len);
  static int OnUrlComplete(llhttp_t* p);
  static int OnHeaderField(llhttp_t* p, const char* at, std::size_t len);
  static int OnHeaderFieldComplete(llhttp_t* p);
  static int OnHeaderValue(llhttp_t* p, const char* at, std::size_t len);
  static int OnHeaderValueComplete(llhttp_t* p);
  static int OnHeadersComplete(llhttp_t* p);
  static int OnBody(llhttp_t* p, const char* at, std::size_t len);
  static int OnMessageComplete(llhttp_t* p);
  static HttpRequestParser& Self(llhttp_t* p) { return *static_cast<HttpRequestParser*>(p->data); }

  static const llhttp_settings_t& Settings();
  int Refuse(HttpParseCode code, std::string_view detail = {});
  // Scans bytes llhttp has read, up to the blank line ending the head; false on an obs-fold (see
  // the class comment). The message's end resets it (ResetHeadLines).
  bool ScanHeadLines(const char* p, std::size_t n);
  void ResetHeadLines();

  // The header whose value is being read, for the few this parser keeps or checks.
  enum class Field : std::uint8_t { kOther, kAuthorization, kXForwardedFor, kHost };
  // Where the line scanner is within the current line of the head.
  enum class Line : std::uint8_t { kStart, kCr, kText };

  llhttp_t parser_;
  std::size_t max_head_size_;
  std::size_t max_body_size_;
  std::size_t head_size_ = 0;  // bytes of the current head read so far (see the class comment)
  bool head_complete_ = false;
  bool in_message_ = false;
  bool complete_ = false;
  std::string field_;  // name of the header being parsed (bounded by max_head_size)
  Field field_kind_ = Field::kOther;
  bool value_started_ = false;  // a piece of the current header's value has been read
  bool authorization_seen_ = false;
  bool host_seen_ = false;
  // The line scanner's state (ScanHeadLines): its place in the current line, whether a non-blank
  // line (the request line) has ended, and whether the blank line ending the head was seen.
  Line line_ = Line::kStart;
  bool line_seen_ = false;
  bool lines_done_ = false;
  HttpRequest request_;
  HttpParseError callback_error_;  // set by a callback that stopped llhttp (limit or strictness)
};

// Why an origin-form request target ("/path?query") is refused, or empty when it is accepted.
// Routes are matched on the raw path, so the server accepts only paths that are already in the
// normal form of RFC 3986 section 6 and that no other server could read as another path:
//   - no dot segment ("." or ".."): "/msg_server/../x" is not "/msg_server";
//   - no empty segment ("//") except a trailing slash;
//   - no percent-encoded unreserved character (letters, digits, "-._~": "%2e" is a dot), slash,
//     backslash or control character, no malformed "%", no literal backslash;
//   - no fragment ("#").
// The query string is not a path and is not checked. Other target forms (absolute-form, "*",
// authority-form) match no route and get the route's 404.
[[nodiscard]] std::string_view RequestTargetError(std::string_view target);

template <typename OnRequest>
HttpParseError HttpRequestParser::Feed(std::span<const char> data, OnRequest&& on_request,
                                       std::size_t* consumed) {
  const char* p = data.data();
  const char* const end = data.data() + data.size();
  if (consumed) *consumed = data.size();
  while (p < end) {
    std::size_t n = static_cast<std::size_t>(end - p);
    const bool in_head = !head_complete_;
    if (in_head) {
      if (head_size_ >= max_head_size_) {
        return HttpParseError{HttpParseCode::kHeadTooLarge, {}, max_head_size_};
      }
      n = std::min(n, max_head_size_ - head_size_);
    }
    const llhttp_errno_t err = llhttp_execute(&parser_, p, n);
    // The bytes llhttp read are scanned for obs-fold before anything it made of them is used: a
    // request handed out, or an error answered (a fold before the error's position wins, so the
    // answer depends on the bytes, not on how reads split them).
    const char* stop = err == HPE_OK ? p + n : llhttp_get_error_pos(&parser_);
    if (stop == nullptr || stop < p || stop > p + n) stop = p + n;
    if (!ScanHeadLines(p, static_cast<std::size_t>(stop - p))) {
      return HttpParseError{HttpParseCode::kObsFold, {}, 0};
    }
    if (err == HPE_OK) {
      if (in_head && !head_complete_) head_size_ += n;
      p += n;
      continue;
    }
    if (err == HPE_PAUSED && complete_) {
      // One whole request: hand it out, then go on after it (pipelining).
      complete_ = false;
      ResetHeadLines();
      llhttp_resume(&parser_);
      if (!on_request(static_cast<const HttpRequest&>(request_))) {
        if (consumed) *consumed = static_cast<std::size_t>(stop - data.data());
        return {};
      }
      p = stop;
      continue;
    }
    if (callback_error_) return callback_error_;
    return HttpParseError{HttpParseCode::kMalformed, llhttp_errno_name(err), 0};
  }
  return {};
}

}  // namespace ttlogin::server::http
