// HttpConnection: a client on the HTTP port asking `GET /msg_server`.
//
// Keep-alive and pipelining follow the client (llhttp applies the HTTP/1.0 and 1.1 rules); every
// reply of one read goes out in one write. Errors answer with a status and a small JSON body,
// then close: 400 malformed, 404 other paths, 405 other methods, 413 large body, 431 large head.
#pragma once

#include <string>

#include "server/connection.h"
#include "server/http/http_request_parser.h"
#include "server/server_context.h"

namespace ttlogin::server::http {

class HttpConnection final : public Connection {
 public:
  HttpConnection(asio::ip::tcp::socket socket, ServerContext& context);
  ~HttpConnection() override;

 private:
  void OnStart() override;
  void OnData(std::span<const std::uint8_t> data) override;
  void OnTimer(Clock::time_point now) override;

  // Appends the reply to `out`; returns false when the connection must close after it.
  bool HandleRequest(const HttpRequest& request, std::string& out);

  ServerContext& context_;
  HttpRequestParser parser_;
};

// Builds a whole HTTP/1.1 response. `body` is JSON.
void AppendHttpResponse(std::string& out, int status, std::string_view body, bool keep_alive,
                        bool head_only = false, std::string_view extra_headers = {});

// True when `url` names the msg_server resource: "/msg_server", optionally followed by a query
// string or a further path segment (the classic server matched by prefix).
bool IsMsgServerPath(std::string_view url);

}  // namespace ttlogin::server::http
