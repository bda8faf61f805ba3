// HttpHandler: what an HTTP listener does with one complete request. The public port's handler
// answers GET /msg_server; the admin port's serves metrics and control. Both share the session
// (parsing, limits, keep-alive) and the response helpers below.
#pragma once

#include <string>
#include <string_view>

#include "server/http/http_request_parser.h"

namespace ttlogin::server::http {

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Appends one whole response to `out`, honouring `keep_alive` in its Connection header.
  virtual void Handle(const HttpRequest& request, bool keep_alive, std::string& out) = 0;
  // Counts an error response the session produced itself (400, 408, 413, 431).
  virtual void CountError(int status) { (void)status; }
};

// Builds a whole HTTP/1.1 response with a Content-Length.
void AppendHttpResponse(std::string& out, int status, std::string_view body, bool keep_alive,
                        bool head_only = false, std::string_view extra_headers = {},
                        std::string_view content_type = "application/json; charset=utf-8");

// A JSON error response {"code":<status>,"msg":"<msg>"}. `msg` must be fixed text: nothing from
// the request is ever echoed back.
void AppendJsonError(std::string& out, int status, std::string_view msg, bool keep_alive,
                     std::string_view extra_headers = {});

std::string_view StatusText(int status);

// The path of a request target, without query string.
std::string_view UrlPath(std::string_view url);

}  // namespace ttlogin::server::http
