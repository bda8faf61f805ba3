// HttpSession: the HTTP port's protocol with no socket. Requests are parsed by HttpRequestParser;
// each complete one gets its reply appended to the caller's output, so every reply of one read
// goes out in one write. Errors answer with a status and a small JSON body, then close: 400
// malformed, 404 other paths, 405 other methods, 413 large body, 431 large head, 408 too slow.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "server/http/http_request_parser.h"
#include "server/server_context.h"

namespace ttlogin::server::http {

class HttpSession {
 public:
  HttpSession(ServerContext& context, std::string peer);

  // Feeds bytes and appends replies to `out`. Returns true when the connection must close after
  // `out` is sent (an error, or a request without keep-alive).
  bool OnBytes(std::span<const std::uint8_t> bytes, std::string& out);
  // The connection timed out: appends a 408 when a request was half-received. Always closes.
  void OnTimeout(std::string& out);
  bool in_request() const { return parser_.in_request(); }
  std::uint64_t answered() const { return answered_; }

 private:
  // Appends the reply; returns false when the connection must close after it.
  bool HandleRequest(const HttpRequest& request, std::string& out);
  void AppendError(std::string& out, int status, std::string_view msg, bool keep_alive,
                   std::string_view extra_headers = {});

  ServerContext& context_;
  std::string peer_;
  HttpRequestParser parser_;
  bool done_ = false;
  std::uint64_t answered_ = 0;
};

// Builds a whole HTTP/1.1 response. `body` is JSON.
void AppendHttpResponse(std::string& out, int status, std::string_view body, bool keep_alive,
                        bool head_only = false, std::string_view extra_headers = {});

// True when `url` names the msg_server resource: "/msg_server", optionally followed by a query
// string or a further path segment (the classic server matched by prefix).
bool IsMsgServerPath(std::string_view url);

}  // namespace ttlogin::server::http
