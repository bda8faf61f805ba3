#include "server/http/http_handler.h"

namespace ttlogin::server::http {

std::string_view StatusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
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
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

std::string_view UrlPath(std::string_view url) {
  return url.substr(0, url.find('?'));
}

void AppendHttpResponse(std::string& out, int status, std::string_view body, bool keep_alive,
                        bool head_only, std::string_view extra_headers,
                        std::string_view content_type) {
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += StatusText(status);
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += keep_alive ? "\r\nConnection: keep-alive\r\n" : "\r\nConnection: close\r\n";
  out += extra_headers;
  out += "\r\n";
  if (!head_only) out += body;
}

void AppendJsonError(std::string& out, int status, std::string_view msg, bool keep_alive,
                     std::string_view extra_headers) {
  std::string body = "{\"code\":";
  body += std::to_string(status);
  body += ",\"msg\":\"";
  body += msg;
  body += "\"}";
  AppendHttpResponse(out, status, body, keep_alive, false, extra_headers);
}

}  // namespace ttlogin::server::http
