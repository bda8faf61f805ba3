#include "server/registry/registration_check.h"

#include <arpa/inet.h>

namespace ttlogin::registry {
namespace {

bool IsIpLiteral(std::string_view text) {
  // inet_pton needs a terminated string; the longest literal (IPv4-mapped IPv6) is 45 bytes.
  constexpr std::size_t kMaxLiteral = 64;
  if (text.empty() || text.size() >= kMaxLiteral) return false;
  // inet_pton stops at a NUL: "10.0.0.1\0junk" must not pass as 10.0.0.1.
  if (text.find('\0') != std::string_view::npos) return false;
  char buf[kMaxLiteral];
  text.copy(buf, text.size());
  buf[text.size()] = '\0';
  unsigned char out[16];
  return inet_pton(AF_INET, buf, out) == 1 || inet_pton(AF_INET6, buf, out) == 1;
}

bool IsLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool IsDnsName(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);  // fully qualified form
  if (text.empty() || text.size() > kMaxDnsNameBytes) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = text.find('.', start);
    const std::string_view label =
        text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > kMaxDnsLabelBytes) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (const char c : label) {
      if (!IsLabelChar(c)) return false;
    }
    if (dot == std::string_view::npos) {
      // No top-level domain is all digits (RFC 3696 section 2): such a name is a malformed IPv4
      // address ("256.1.1.1", "10.0.0"), which clients would not resolve either.
      return label.find_first_not_of("0123456789") != std::string_view::npos;
    }
    start = dot + 1;
  }
}

}  // namespace

bool IsAddressOrDnsName(std::string_view text) {
  return IsIpLiteral(text) || IsDnsName(text);
}

std::optional<RegistrationProblem> CheckRegistration(const MsgServerInfo& info) {
  if (info.port == 0 || info.port > kMaxPort) {
    return RegistrationProblem{"bad_port", "port",
                               std::to_string(info.port) + " is not a TCP port (1-65535)"};
  }
  if (info.host_name.empty() || info.host_name.size() > kMaxHostNameBytes) {
    return RegistrationProblem{"bad_host_name", "host_name",
                               std::to_string(info.host_name.size()) +
                                   " bytes; a host name has 1-" +
                                   std::to_string(kMaxHostNameBytes)};
  }
  for (const auto& [field, value] :
       {std::pair<std::string_view, const std::string*>{"ip1", &info.ip1},
        std::pair<std::string_view, const std::string*>{"ip2", &info.ip2}}) {
    if (!IsAddressOrDnsName(*value)) {
      return RegistrationProblem{
          "bad_address", field,
          std::to_string(value->size()) +
              " bytes that are neither an IP address nor a DNS name of at most " +
              std::to_string(kMaxDnsNameBytes) + " bytes"};
    }
  }
  return std::nullopt;
}

}  // namespace ttlogin::registry
