// IPv4 and IPv6 addresses and prefixes (networks): the value types, their strict text forms and
// containment. The network table, the CIDR sets (trusted proxies, allow lists) and the
// X-Forwarded-For walk are all built on these. docs/NETWORK_TABLE.md has the accepted forms.
//
// The parser accepts what inet_pton accepts (the network_table fuzz target checks this) plus
// brackets ("[::1]", as URLs and X-Forwarded-For write IPv6), folds IPv4-mapped IPv6 into IPv4 so
// that one entry covers a client however its socket reports it, and reads a string_view with no
// NUL-terminated copy.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ttlogin::common {

// An IPv4 or IPv6 address. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, as a dual-stack socket
// reports IPv4 peers) is always kept as IPv4, so one table entry covers both ways of arriving.
struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4, the rest are 0

  static IpAddress V4(const std::array<std::uint8_t, 4>& b);
  static IpAddress V6(const std::array<std::uint8_t, 16>& b);  // normalises ::ffff:a.b.c.d

  int bit_length() const { return v6 ? 128 : 32; }
  // "1.2.3.4"; IPv6 in the RFC 5952 form ("2001:db8::1").
  std::string ToString() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// Strict text form: dotted IPv4 with exactly four decimal parts of 0..255 and no leading zeros
// ("01.2.3.4" is refused: some parsers read it as octal); IPv6 as in RFC 4291, with "::", an
// embedded IPv4 tail and optional surrounding brackets ("[::1]"). Refused: whitespace, ports,
// a zone ("fe80::1%eth0": a scope means nothing in a table of networks).
[[nodiscard]] std::optional<IpAddress> ParseIpAddress(std::string_view text);

// A network: an address whose bits beyond `length` are zero.
struct IpPrefix {
  IpAddress address;
  int length = 0;  // 0..32 for IPv4, 0..128 for IPv6

  bool Contains(const IpAddress& a) const;
  std::string ToString() const;  // "10.0.0.0/8"
  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
};

// "<address>/<length>", or a bare address (a /32 or /128). Host bits set beyond the length are
// an error (a typo more often than not). An IPv6 prefix inside ::ffff:0:0/96 becomes the IPv4
// prefix it maps (::ffff:10.0.0.0/104 is 10.0.0.0/8); a shorter IPv6 prefix, even ::/0, never
// matches an IPv4 address. On failure `error` (if given) says why, quoting the text.
[[nodiscard]] std::optional<IpPrefix> ParseIpPrefix(std::string_view text, std::string* error);

// A strict total order: IPv4 before IPv6, then shortest first, then by address. PrefixTrie
// inserts in this order (a longer prefix must overwrite a shorter one's expansion), and sorting
// by it puts the repeats of a network next to each other.
bool PrefixLess(const IpPrefix& a, const IpPrefix& b);

}  // namespace ttlogin::common
