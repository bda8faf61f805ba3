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
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <llhttp.h>

namespace ttlogin::server::http {

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
};

struct HttpParseError {
  int status = 0;  // 0: none; else the HTTP status to answer with (400, 413, 431)
  std::string reason;
  explicit operator bool() const { return status != 0; }
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
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  // Parses `data`, calling `on_request(const HttpRequest&)` for each complete request; it returns
  // false to stop (the connection is closing, or its output is over budget). Returns the error
  // that broke the stream, if any; after an error the parser must not be fed again. `consumed`,
  // when given, receives the bytes parsed: all of `data` unless `on_request` stopped it, in which
  // case the rest starts the next request and is fed again later.
  template <typename OnRequest>
  HttpParseError Feed(std::span<const char> data, OnRequest&& on_request,
                      std::size_t* consumed = nullptr);

  // True between the first byte of a request and its end: a request is half-received.
  bool in_request() const { return in_message_; }
  // True when no byte after the last complete request has been read (not even a blank line): a
  // new parser would be in the same state.
  bool at_request_boundary() const { return !in_message_ && head_size_ == 0; }
  // Bytes of request text held (URL, header name being parsed, the values kept): bounded by the
  // head limit.
  std::size_t held_bytes() const {
    return request_.url.size() + field_.size() + request_.authorization.size() +
           request_.x_forwarded_for.size();
  }

 private:
  static int OnMessageBegin(llhttp_t* p);
  static int OnUrl(llhttp_t* p, const char* at, std::size_t len);
  static int OnHeaderField(llhttp_t* p, const char* at, std::size_t len);
  static int OnHeaderValue(llhttp_t* p, const char* at, std::size_t len);
  static int OnHeaderValueComplete(llhttp_t* p);
  static int OnHeadersComplete(llhttp_t* p);
  static int OnBody(llhttp_t* p, const char* at, std::size_t len);
  static int OnMessageComplete(llhttp_t* p);
  static HttpRequestParser& Self(llhttp_t* p) { return *static_cast<HttpRequestParser*>(p->data); }

  static const llhttp_settings_t& Settings();

  llhttp_t parser_;
  std::size_t max_head_size_;
  std::size_t max_body_size_;
  std::size_t head_size_ = 0;  // bytes of the current head read so far (see the class comment)
  bool head_complete_ = false;
  bool in_message_ = false;
  bool complete_ = false;
  std::string field_;        // name of the header being parsed (bounded by max_head_size)
  bool field_done_ = false;  // the name is complete; value bytes follow
  HttpRequest request_;
  HttpParseError limit_error_;
};

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
        return HttpParseError{
            431, "request head larger than " + std::to_string(max_head_size_) + " bytes"};
      }
      n = std::min(n, max_head_size_ - head_size_);
    }
    const llhttp_errno_t err = llhttp_execute(&parser_, p, n);
    if (err == HPE_OK) {
      if (in_head && !head_complete_) head_size_ += n;
      p += n;
      continue;
    }
    if (err == HPE_PAUSED && complete_) {
      // One whole request: hand it out, then go on after it (pipelining).
      complete_ = false;
      const char* resume_at = llhttp_get_error_pos(&parser_);
      llhttp_resume(&parser_);
      if (!on_request(static_cast<const HttpRequest&>(request_))) {
        if (consumed) *consumed = static_cast<std::size_t>(resume_at - data.data());
        return {};
      }
      p = resume_at;
      continue;
    }
    if (limit_error_) return limit_error_;
    return HttpParseError{400, llhttp_errno_name(err)};
  }
  return {};
}

}  // namespace ttlogin::server::http
