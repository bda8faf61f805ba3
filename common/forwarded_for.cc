#include "common/forwarded_for.h"

#include <optional>

#include "common/text_scan.h"

namespace ttlogin::common {
namespace {

using text::IsDigit;
using text::Trim;

// 1 to 5 digits, at most 65535.
bool IsPort(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  unsigned value = 0;
  for (const char c : s) {
    if (!IsDigit(c)) return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value <= 65535;
}

// One X-Forwarded-For element: an address, "[v6]", "[v6]:port" or "a.b.c.d:port".
std::optional<IpAddress> ParseForwardedElement(std::string_view s) {
  s = Trim(s);
  if (!s.empty() && s.front() == '[') {
    const std::size_t close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view rest = s.substr(close + 1);
    if (!rest.empty() && !(rest.front() == ':' && IsPort(rest.substr(1)))) return std::nullopt;
    return ParseIpAddress(s.substr(0, close + 1));
  }
  const std::size_t colon = s.find(':');
  if (colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos) {
    if (!IsPort(s.substr(colon + 1))) return std::nullopt;
    return ParseIpAddress(s.substr(0, colon));  // no ':' left, so IPv4 or nothing
  }
  return ParseIpAddress(s);
}

}  // namespace

IpAddress ResolveClientAddress(const IpAddress& peer, std::string_view xff,
                               const CidrSet& trusted) {
  if (!trusted.Contains(peer) || Trim(xff).empty()) return peer;
  IpAddress last = peer;
  // rfind only scans back to the previous comma, so the work is bounded by the elements looked
  // at, not by the header's length.
  for (int hop = 0; hop < kMaxForwardedHops; ++hop) {
    const std::size_t comma = xff.rfind(',');
    const std::optional<IpAddress> address =
        ParseForwardedElement(comma == std::string_view::npos ? xff : xff.substr(comma + 1));
    if (!address) return last;
    if (!trusted.Contains(*address)) return *address;
    last = *address;
    if (comma == std::string_view::npos) break;  // the leftmost element, trusted too
    xff = xff.substr(0, comma);
  }
  return last;
}

}  // namespace ttlogin::common
