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
    s.on_url_complete = &HttpRequestParser::OnUrlComplete;
    s.on_header_field = &HttpRequestParser::OnHeaderField;
    s.on_header_field_complete = &HttpRequestParser::OnHeaderFieldComplete;
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

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return (std::tolower(static_cast<unsigned char>(c)) - 'a') + 10;
}

// RFC 3986 unreserved: the characters whose percent-encoding normalisation removes (ASCII only,
// whatever the locale).
bool IsUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

std::string_view RequestTargetError(std::string_view target) {
  if (target.empty() || target.front() != '/') return {};
  if (target.find('#') != std::string_view::npos) return "fragment in the request target";
  const std::string_view path = target.substr(0, target.find('?'));
  std::size_t start = 1;  // after the leading '/'
  while (true) {
    const std::size_t slash = path.find('/', start);
    const bool last = slash == std::string_view::npos;
    const std::string_view segment =
        path.substr(start, last ? std::string_view::npos : slash - start);
    if (segment == "." || segment == "..") return "dot segment in the path";
    if (segment.empty() && !last) return "empty segment (//) in the path";
    for (std::size_t i = 0; i < segment.size(); ++i) {
      if (segment[i] == '\\') return "backslash in the path";
      if (segment[i] != '%') continue;
      if (i + 2 >= segment.size() || !IsHex(segment[i + 1]) || !IsHex(segment[i + 2])) {
        return "malformed percent-encoding in the path";
      }
      const auto c =
          static_cast<unsigned char>(HexValue(segment[i + 1]) * 16 + HexValue(segment[i + 2]));
      if (IsUnreserved(c)) return "percent-encoded unreserved character in the path";
      if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f) {
        return "percent-encoded slash, backslash or control character in the path";
      }
      i += 2;
    }
    if (last) return {};
    start = slash + 1;
  }
}

int HttpParseError::status() const {
  switch (code) {
    case HttpParseCode::kNone:
      return 0;
    case HttpParseCode::kHeadTooLarge:
      return 431;
    case HttpParseCode::kBodyTooLarge:
      return 413;
    case HttpParseCode::kMalformed:
    case HttpParseCode::kObsFold:
    case HttpParseCode::kDuplicateHost:
    case HttpParseCode::kDuplicateAuthorization:
    case HttpParseCode::kMissingHost:
    case HttpParseCode::kBadPath:
      break;
  }
  return 400;
}

common::CloseReason HttpParseError::close_reason() const {
  using common::CloseReason;
  switch (code) {
    case HttpParseCode::kNone:
      return CloseReason::kNone;
    case HttpParseCode::kMalformed:
      return CloseReason::kHttpMalformed;
    case HttpParseCode::kHeadTooLarge:
      return CloseReason::kHttpHeadTooLarge;
    case HttpParseCode::kBodyTooLarge:
      return CloseReason::kHttpBodyTooLarge;
    case HttpParseCode::kObsFold:
      return CloseReason::kHttpObsFold;
    case HttpParseCode::kDuplicateHost:
      return CloseReason::kHttpDuplicateHost;
    case HttpParseCode::kDuplicateAuthorization:
      return CloseReason::kHttpDuplicateAuthorization;
    case HttpParseCode::kMissingHost:
      return CloseReason::kHttpMissingHost;
    case HttpParseCode::kBadPath:
      break;
  }
  return CloseReason::kHttpBadPath;
}

std::string HttpParseError::Describe() const {
  switch (code) {
    case HttpParseCode::kNone:
      return {};
    case HttpParseCode::kMalformed:
    case HttpParseCode::kBadPath:
      return std::string(detail);
    case HttpParseCode::kHeadTooLarge:
      return "request head larger than " + std::to_string(limit) + " bytes";
    case HttpParseCode::kBodyTooLarge:
      return "request body larger than " + std::to_string(limit) + " bytes";
    case HttpParseCode::kObsFold:
      return "obs-fold (folded header line)";
    case HttpParseCode::kDuplicateHost:
      return "more than one Host header";
    case HttpParseCode::kDuplicateAuthorization:
      return "more than one Authorization header";
    case HttpParseCode::kMissingHost:
      break;
  }
  return "HTTP/1.1 request without Host";
}

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
  field_kind_ = Field::kOther;
  value_started_ = false;
  authorization_seen_ = false;
  host_seen_ = false;
  ResetHeadLines();
  request_ = HttpRequest{};
  callback_error_ = HttpParseError{};
}

int HttpRequestParser::Refuse(HttpParseCode code, std::string_view detail) {
  callback_error_ = HttpParseError{code, detail, 0};
  return -1;
}

void HttpRequestParser::ResetHeadLines() {
  line_ = Line::kStart;
  line_seen_ = false;
  lines_done_ = false;
}

bool HttpRequestParser::ScanHeadLines(const char* p, std::size_t n) {
  for (const char* const end = p + n; p < end && !lines_done_; ++p) {
    const char c = *p;
    if (c == '\n') {
      // A blank line before the request is skipped (llhttp does too); after it, it ends the head.
      if (line_ != Line::kText && line_seen_) lines_done_ = true;
      if (line_ == Line::kText) line_seen_ = true;
      line_ = Line::kStart;
    } else if (line_ == Line::kStart && line_seen_ && (c == ' ' || c == '\t')) {
      return false;
    } else if (line_ == Line::kStart && c == '\r') {
      line_ = Line::kCr;
    } else {
      line_ = Line::kText;
    }
  }
  return true;
}

int HttpRequestParser::OnMessageBegin(llhttp_t* p) {
  HttpRequestParser& self = Self(p);
  self.in_message_ = true;
  self.request_.url.clear();
  self.request_.authorization.clear();
  self.request_.x_forwarded_for.clear();
  self.request_.body_size = 0;
  self.field_.clear();
  self.field_kind_ = Field::kOther;
  self.value_started_ = false;
  self.authorization_seen_ = false;
  self.host_seen_ = false;
  return 0;
}

int HttpRequestParser::OnUrl(llhttp_t* p, const char* at, std::size_t len) {
  HttpRequestParser& self = Self(p);
  self.request_.url.append(at, len);
  return 0;
}

int HttpRequestParser::OnUrlComplete(llhttp_t* p) {
  HttpRequestParser& self = Self(p);
  const std::string_view error = RequestTargetError(self.request_.url);
  return error.empty() ? 0 : self.Refuse(HttpParseCode::kBadPath, error);
}

int HttpRequestParser::OnHeaderField(llhttp_t* p, const char* at, std::size_t len) {
  HttpRequestParser& self = Self(p);
  // After the head, header lines are a chunked body's trailer section: read past and stored
  // nowhere (nothing here needs them, and the head limit no longer bounds them; the request
  // timeout does).
  if (self.head_complete_) return 0;
  self.field_.append(at, len);
  return 0;
}

int HttpRequestParser::OnHeaderFieldComplete(llhttp_t* p) {
  HttpRequestParser& self = Self(p);
  if (self.head_complete_) return 0;  // a trailer (see OnHeaderField)
  self.value_started_ = false;
  self.field_kind_ = Field::kOther;
  if (EqualsLowercase(self.field_, "authorization")) {
    // Two would be two credentials: which one a proxy checked and which one we check may differ.
    if (self.authorization_seen_) return self.Refuse(HttpParseCode::kDuplicateAuthorization);
    self.authorization_seen_ = true;
    self.field_kind_ = Field::kAuthorization;
  } else if (EqualsLowercase(self.field_, "host")) {
    if (self.host_seen_) return self.Refuse(HttpParseCode::kDuplicateHost);
    self.host_seen_ = true;
    self.field_kind_ = Field::kHost;
  } else if (EqualsLowercase(self.field_, "x-forwarded-for")) {
    self.field_kind_ = Field::kXForwardedFor;
  }
  self.field_.clear();
  return 0;
}

int HttpRequestParser::OnHeaderValue(llhttp_t* p, const char* at, std::size_t len) {
  HttpRequestParser& self = Self(p);
  if (self.head_complete_) return 0;  // a trailer (see OnHeaderField)
  // A value may come in pieces (split across reads): the first piece starts a new value.
  const bool first_piece = !self.value_started_;
  self.value_started_ = true;
  switch (self.field_kind_) {
    case Field::kAuthorization:
      self.request_.authorization.append(at, len);
      break;
    case Field::kXForwardedFor: {
      std::string& xff = self.request_.x_forwarded_for;
      // The separator is smaller than the ": " and CRLF of each header line, so the joined value
      // stays within the head size limit.
      if (first_piece && !xff.empty()) xff += ", ";
      xff.append(at, len);
      break;
    }
    case Field::kHost:
    case Field::kOther:
      break;
  }
  return 0;
}

int HttpRequestParser::OnHeaderValueComplete(llhttp_t* p) {
  HttpRequestParser& self = Self(p);
  self.field_kind_ = Field::kOther;
  self.value_started_ = false;
  return 0;
}

int HttpRequestParser::OnHeadersComplete(llhttp_t* p) {
  HttpRequestParser& self = Self(p);
  self.head_complete_ = true;
  // RFC 9112 section 3.2: a server must answer 400 to an HTTP/1.1 request without Host.
  if (!self.host_seen_ && (p->http_major > 1 || (p->http_major == 1 && p->http_minor >= 1))) {
    return self.Refuse(HttpParseCode::kMissingHost);
  }
  if (p->content_length > self.max_body_size_ && p->content_length != ULLONG_MAX) {
    self.callback_error_ = HttpParseError{HttpParseCode::kBodyTooLarge, {}, self.max_body_size_};
    return -1;
  }
  return 0;
}

int HttpRequestParser::OnBody(llhttp_t* p, const char* /*at*/, std::size_t len) {
  HttpRequestParser& self = Self(p);
  self.request_.body_size += len;
  if (self.request_.body_size > self.max_body_size_) {
    self.callback_error_ = HttpParseError{HttpParseCode::kBodyTooLarge, {}, self.max_body_size_};
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
