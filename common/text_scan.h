// Small text helpers shared by the parsers of address text: addresses and prefixes, network
// table lines, CIDR lists and X-Forwarded-For elements. They read user-written text, so every
// one of them is strict ASCII (no locale: isspace() would accept other bytes under some locales).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ttlogin::common::text {

// Quoted user text is cut to this many bytes so that one bad line cannot flood a log.
inline constexpr std::size_t kMaxQuoted = 64;

inline bool IsBlank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

inline bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back()))
    s.remove_suffix(1);
  return s;
}

// 'text', cut to kMaxQuoted bytes (then "...") and with control bytes and non-ASCII written as
// \xNN, for error messages that quote what the user wrote.
std::string Quote(std::string_view text);

}  // namespace ttlogin::common::text
