#include "server/http/http_request_parser.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <string_view>

namespace ttlogin::server::http {

const llhttp_settings_t& HttpRequestParser::Settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &HttpRequestParser::OnMessageBegin;
    s.on_url = &HttpRequestParser::OnUrl;
    s.on_header_field = &HttpRequestParser::OnHeaderField;
    s.on_header_value = &HttpRequestParser::OnHeaderValue;
    s.on_header_value_complete = &HttpRequestParser::OnHeaderValueComplete;
    s.on_headers_complete = &HttpRequestParser::OnHeadersComplete;
    s.on_body = &HttpRequestParser::OnBody;
    s.on_message_complete = &HttpRequestParser::OnMessageComplete;
    return s;
  }();
  return settings;
}

namespace {

bool EqualsLowercase(std::string_view name, std::string_view lowercase) {
  return name.size() == lowercase.size() &&
         std::equal(name.begin(), name.end(), lowercase.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

}  // namespace

HttpRequestParser::HttpRequestParser(std::size_t max_head_size, std::size_t max_body_size)
    : max_head_size_(max_head_size), max_body_size_(max_body_size) {
  llhttp_init(&parser_, HTTP_REQUEST, &Settings());
  parser_.data = this;
}

void HttpRequestParser::Reset(std::size_t max_head_size, std::size_t max_body_size) {
  llhttp_init(&parser_, HTTP_REQUEST, &Settings());
  parser_.data = this;
  max_head_size_ = max_head_size;
  max_body_size_ = max_body_size;
  head_size_ = 0;
  head_complete_ = false;
  in_message_ = false;
  complete_ = false;
  field_.clear();
  field_done_ = false;
  request_ = HttpRequest{};
  limit_error_ = HttpParseError{};
}

int HttpRequestParser::OnMessageBegin(llhttp_t* p) {
  HttpRequestParser& self = Self(p);
  self.in_message_ = true;
  self.request_.url.clear();
  self.request_.authorization.clear();
  self.request_.x_forwarded_for.clear();
  self.request_.body_size = 0;
  self.field_.clear();
  self.field_done_ = false;
  return 0;
}

int HttpRequestParser::OnUrl(llhttp_t* p, const char* at, std::size_t len) {
  HttpRequestParser& self = Self(p);
  self.request_.url.append(at, len);
  return 0;
}

int HttpRequestParser::OnHeaderField(llhttp_t* p, const char* at, std::size_t len) {
  HttpRequestParser& self = Self(p);
  // After the head, header lines are a chunked body's trailer section: read past and stored
  // nowhere (nothing here needs them, and the head limit no longer bounds them; the request
  // timeout does).
  if (self.head_complete_) return 0;
  if (self.field_done_) {
    self.field_.clear();
    self.field_done_ = false;
  }
  self.field_.append(at, len);
  return 0;
}

int HttpRequestParser::OnHeaderValue(llhttp_t* p, const char* at, std::size_t len) {
  HttpRequestParser& self = Self(p);
  if (self.head_complete_) return 0;  // a trailer (see OnHeaderField)
  // A value may come in pieces (split across reads): the first piece starts a new value.
  const bool first_piece = !self.field_done_;
  self.field_done_ = true;
  if (EqualsLowercase(self.field_, "authorization")) {
    self.request_.authorization.append(at, len);
  } else if (EqualsLowercase(self.field_, "x-forwarded-for")) {
    std::string& xff = self.request_.x_forwarded_for;
    // The separator is smaller than the ": " and CRLF of each header line, so the joined value
    // stays within the head size limit.
    if (first_piece && !xff.empty()) xff += ", ";
    xff.append(at, len);
  }
  return 0;
}

int HttpRequestParser::OnHeaderValueComplete(llhttp_t* p) {
  HttpRequestParser& self = Self(p);
  self.field_.clear();
  self.field_done_ = false;
  return 0;
}

int HttpRequestParser::OnHeadersComplete(llhttp_t* p) {
  HttpRequestParser& self = Self(p);
  self.head_complete_ = true;
  if (p->content_length > self.max_body_size_ && p->content_length != ULLONG_MAX) {
    self.limit_error_ = HttpParseError{
        413, "request body larger than " + std::to_string(self.max_body_size_) + " bytes"};
    return -1;
  }
  return 0;
}

int HttpRequestParser::OnBody(llhttp_t* p, const char* /*at*/, std::size_t len) {
  HttpRequestParser& self = Self(p);
  self.request_.body_size += len;
  if (self.request_.body_size > self.max_body_size_) {
    self.limit_error_ = HttpParseError{
        413, "request body larger than " + std::to_string(self.max_body_size_) + " bytes"};
    return -1;
  }
  return 0;
}

int HttpRequestParser::OnMessageComplete(llhttp_t* p) {
  HttpRequestParser& self = Self(p);
  self.in_message_ = false;
  self.complete_ = true;
  self.head_size_ = 0;
  self.head_complete_ = false;
  self.request_.method = static_cast<std::uint8_t>(llhttp_get_method(p));
  // A protocol switch (Upgrade, CONNECT) ends HTTP on this connection: llhttp parses nothing
  // after it. The request is answered and the connection closes, so what follows is never read as
  // a request, however the reads split it.
  self.request_.keep_alive = llhttp_should_keep_alive(p) != 0 && llhttp_get_upgrade(p) == 0;
  self.request_.http_major = llhttp_get_http_major(p);
  self.request_.http_minor = llhttp_get_http_minor(p);
  return HPE_PAUSED;
}

}  // namespace ttlogin::server::http
