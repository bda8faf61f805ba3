#include "server/http/http_session.h"

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

Counter StatusCounter(int status) {
  switch (status) {
    case 404:
      return Counter::kHttp404;
    case 405:
      return Counter::kHttp405;
    case 408:
      return Counter::kHttp408;
    case 413:
      return Counter::kHttp413;
    case 431:
      return Counter::kHttp431;
    default:
      return Counter::kHttp400;
  }
}

Counter AnswerCounter(registry::ChooseCode code) {
  switch (code) {
    case registry::ChooseCode::kOk:
      return Counter::kHttpAnswerOk;
    case registry::ChooseCode::kNoMsgServer:
      return Counter::kHttpAnswerNoMsgServer;
    case registry::ChooseCode::kAllFull:
      break;
  }
  return Counter::kHttpAnswerAllFull;
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

HttpSession::HttpSession(ServerContext& context, std::string peer)
    : context_(context),
      peer_(std::move(peer)),
      parser_(context.config.max_http_head_size, context.config.max_http_body_size) {}

void HttpSession::AppendError(std::string& out, int status, std::string_view msg, bool keep_alive,
                              std::string_view extra_headers) {
  context_.metrics.Add(StatusCounter(status));
  // Fixed text only: nothing from the request is echoed back.
  std::string body = "{\"code\":";
  body += std::to_string(status);
  body += ",\"msg\":\"";
  body += msg;
  body += "\"}";
  AppendHttpResponse(out, status, body, keep_alive, false, extra_headers);
}

bool HttpSession::OnBytes(std::span<const std::uint8_t> bytes, std::string& out) {
  if (done_) return true;
  const HttpParseError error =
      parser_.Feed(std::span<const char>(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                   [&](const HttpRequest& request) { return HandleRequest(request, out); });
  if (error) {
    spdlog::debug("http {}: bad request: {}", peer_, error.reason);
    if (error.status == 400) context_.metrics.Add(Counter::kErrorHttpMalformed);
    AppendError(out, error.status,
                error.status == 431   ? "request head too large"
                : error.status == 413 ? "request body too large"
                                      : "malformed HTTP request",
                false);
    done_ = true;
  }
  return done_;
}

void HttpSession::OnTimeout(std::string& out) {
  if (parser_.in_request()) AppendError(out, 408, "request not completed in time", false);
  done_ = true;
}

bool HttpSession::HandleRequest(const HttpRequest& request, std::string& out) {
  ++answered_;
  const auto method = static_cast<llhttp_method_t>(request.method);
  const bool head = method == HTTP_HEAD;
  const bool keep_alive = request.keep_alive;
  if (!IsMsgServerPath(request.url)) {
    AppendError(out, 404, "not found; use GET /msg_server", keep_alive);
  } else if (method != HTTP_GET && method != HTTP_POST && !head) {
    AppendError(out, 405, "method not allowed; use GET", keep_alive, "Allow: GET, HEAD, POST\r\n");
  } else {
    const registry::Choice choice = context_.registry.Choose();
    context_.metrics.Add(AnswerCounter(choice.code));
    AppendHttpResponse(out, 200,
                       BuildMsgServerJson(choice, context_.config.msfs, context_.config.discovery),
                       keep_alive, head);
  }
  if (!keep_alive) done_ = true;
  return keep_alive;
}

}  // namespace ttlogin::server::http
