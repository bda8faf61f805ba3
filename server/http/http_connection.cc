#include "server/http/http_connection.h"

#include <spdlog/spdlog.h>

#include "server/login_reply.h"

namespace ttlogin::server::http {
namespace {

std::string_view StatusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Error";
  }
}

// Error bodies carry fixed text only: nothing from the request is echoed back.
std::string ErrorJson(int status, std::string_view msg) {
  std::string body = "{\"code\":";
  body += std::to_string(status);
  body += ",\"msg\":\"";
  body += msg;
  body += "\"}";
  return body;
}

}  // namespace

bool IsMsgServerPath(std::string_view url) {
  constexpr std::string_view kPath = "/msg_server";
  if (url.substr(0, kPath.size()) != kPath) return false;
  if (url.size() == kPath.size()) return true;
  const char next = url[kPath.size()];
  return next == '?' || next == '/';
}

void AppendHttpResponse(std::string& out, int status, std::string_view body, bool keep_alive,
                        bool head_only, std::string_view extra_headers) {
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += StatusText(status);
  out += "\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += keep_alive ? "\r\nConnection: keep-alive\r\n" : "\r\nConnection: close\r\n";
  out += extra_headers;
  out += "\r\n";
  if (!head_only) out += body;
}

HttpConnection::HttpConnection(asio::ip::tcp::socket socket, ServerContext& context)
    : Connection(std::move(socket), "http"),
      context_(context),
      parser_(context.config.max_http_head_size, context.config.max_http_body_size) {
  context_.counters.http_connections.fetch_add(1, std::memory_order_relaxed);
}

HttpConnection::~HttpConnection() {
  context_.counters.http_connections.fetch_sub(1, std::memory_order_relaxed);
}

void HttpConnection::OnStart() {
  ArmTimer(last_received() + context_.config.http_timeout);
}

void HttpConnection::OnTimer(Clock::time_point now) {
  const auto deadline = last_received() + context_.config.http_timeout;
  if (now >= deadline) {
    if (parser_.in_request()) {
      std::string out;
      AppendHttpResponse(out, 408, ErrorJson(408, "request not completed in time"), false);
      SendAndClose(out);
    } else {
      Close("idle timeout");
    }
    return;
  }
  ArmTimer(deadline);
}

void HttpConnection::OnData(std::span<const std::uint8_t> data) {
  std::string out;
  const HttpParseError error =
      parser_.Feed(std::span<const char>(reinterpret_cast<const char*>(data.data()), data.size()),
                   [&](const HttpRequest& request) { return HandleRequest(request, out); });
  if (error) {
    context_.counters.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("http {}: bad request: {}", peer(), error.reason);
    std::string_view msg = error.status == 431   ? "request head too large"
                           : error.status == 413 ? "request body too large"
                                                 : "malformed HTTP request";
    AppendHttpResponse(out, error.status, ErrorJson(error.status, msg), false);
    SendAndClose(out);
    return;
  }
  if (out.empty()) return;
  Send(out);
}

bool HttpConnection::HandleRequest(const HttpRequest& request, std::string& out) {
  context_.counters.http_requests.fetch_add(1, std::memory_order_relaxed);
  const auto method = static_cast<llhttp_method_t>(request.method);
  const bool head = method == HTTP_HEAD;
  bool keep_alive = request.keep_alive;
  if (!IsMsgServerPath(request.url)) {
    AppendHttpResponse(out, 404, ErrorJson(404, "not found; use GET /msg_server"), keep_alive,
                       head);
  } else if (method != HTTP_GET && method != HTTP_POST && !head) {
    AppendHttpResponse(out, 405, ErrorJson(405, "method not allowed; use GET"), keep_alive, false,
                       "Allow: GET, HEAD, POST\r\n");
  } else {
    const registry::Choice choice = context_.registry.Choose();
    AppendHttpResponse(out, 200,
                       BuildMsgServerJson(choice, context_.config.msfs, context_.config.discovery),
                       keep_alive, head);
  }
  if (!keep_alive) {
    SendAndClose(out);
    out.clear();
    return false;
  }
  return true;
}

}  // namespace ttlogin::server::http
