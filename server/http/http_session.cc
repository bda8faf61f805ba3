#include "server/http/http_session.h"

namespace ttlogin::server::http {

HttpSession::HttpSession(HttpHandler& handler, std::size_t max_head_size, std::size_t max_body_size)
    : handler_(handler), parser_(max_head_size, max_body_size) {}

bool HttpSession::OnBytes(std::span<const std::uint8_t> bytes, std::string& out) {
  if (done_) return true;
  const HttpParseError error =
      parser_.Feed(std::span<const char>(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                   [&](const HttpRequest& request) {
                     ++answered_;
                     handler_.Handle(request, request.keep_alive, out);
                     if (!request.keep_alive) done_ = true;
                     return request.keep_alive;
                   });
  if (error) {
    last_error_ = error.reason;
    handler_.CountError(error.status);
    AppendJsonError(out, error.status,
                    error.status == 431   ? "request head too large"
                    : error.status == 413 ? "request body too large"
                                          : "malformed HTTP request",
                    false);
    done_ = true;
  }
  return done_;
}

void HttpSession::OnTimeout(std::string& out) {
  if (parser_.in_request()) {
    handler_.CountError(408);
    AppendJsonError(out, 408, "request not completed in time", false);
  }
  done_ = true;
}

}  // namespace ttlogin::server::http
