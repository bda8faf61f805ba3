#include "common/ip_address.h"

#include <algorithm>
#include <tuple>

#include "common/text_scan.h"

namespace ttlogin::common {
namespace {

using text::IsDigit;
using text::Quote;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Exactly four decimal parts 0..255, no leading zeros, nothing else.
bool ParseV4(std::string_view s, std::uint8_t* out) {
  std::size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
    const std::size_t start = i;
    unsigned value = 0;
    while (i < s.size() && IsDigit(s[i]) && i - start < 3) {
      value = value * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
    }
    if (i == start || value > 255) return false;
    if (i - start > 1 && s[start] == '0') return false;
    out[part] = static_cast<std::uint8_t>(value);
  }
  return i == s.size();
}

// RFC 4291 text, without brackets or zone; the 16 bytes as written (no IPv4 normalisation).
bool ParseV6(std::string_view s, std::array<std::uint8_t, 16>& out) {
  std::uint16_t groups[8] = {};
  int n = 0;
  int gap = -1;  // where "::" stands, as an index into groups
  std::size_t i = 0;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 0;
    i = 2;
  } else if (!s.empty() && s[0] == ':') {
    return false;
  }
  while (i < s.size()) {
    const std::size_t start = i;
    unsigned value = 0;
    while (i < s.size() && HexValue(s[i]) >= 0 && i - start < 5) {
      value = value * 16 + static_cast<unsigned>(HexValue(s[i]));
      ++i;
    }
    if (i < s.size() && s[i] == '.') {
      // An embedded IPv4 address ends the text and fills two groups.
      std::uint8_t v4[4];
      if (n > 6 || !ParseV4(s.substr(start), v4)) return false;
      groups[n++] = static_cast<std::uint16_t>((v4[0] << 8) | v4[1]);
      groups[n++] = static_cast<std::uint16_t>((v4[2] << 8) | v4[3]);
      i = s.size();
      break;
    }
    if (i == start || i - start > 4 || n == 8) return false;
    groups[n++] = static_cast<std::uint16_t>(value);
    if (i == s.size()) break;
    if (s[i] != ':') return false;
    ++i;
    if (i < s.size() && s[i] == ':') {
      if (gap >= 0) return false;
      gap = n;
      ++i;
    } else if (i == s.size()) {
      return false;  // a single trailing ':'
    }
  }
  if (gap < 0 ? n != 8 : n > 7) return false;
  out.fill(0);
  const int tail = gap < 0 ? 0 : n - gap;  // groups written after "::"
  const int head = n - tail;
  for (int g = 0; g < head; ++g) {
    out[2 * g] = static_cast<std::uint8_t>(groups[g] >> 8);
    out[2 * g + 1] = static_cast<std::uint8_t>(groups[g]);
  }
  for (int g = 0; g < tail; ++g) {
    const int at = 8 - tail + g;
    out[2 * at] = static_cast<std::uint8_t>(groups[head + g] >> 8);
    out[2 * at + 1] = static_cast<std::uint8_t>(groups[head + g]);
  }
  return true;
}

bool IsV4Mapped(const std::array<std::uint8_t, 16>& b) {
  for (int i = 0; i < 10; ++i)
    if (b[i] != 0) return false;
  return b[10] == 0xff && b[11] == 0xff;
}

// Text, optionally bracketed: IPv6 if it has a ':', else IPv4. `raw` gets the bytes as written
// (an IPv4-mapped IPv6 address is not folded here).
bool ParseRaw(std::string_view s, bool* v6, std::array<std::uint8_t, 16>& raw) {
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') {
    s = s.substr(1, s.size() - 2);
    if (s.find(':') == std::string_view::npos) return false;
  }
  raw.fill(0);
  *v6 = s.find(':') != std::string_view::npos;
  return *v6 ? ParseV6(s, raw) : ParseV4(s, raw.data());
}

// Bits of `bytes` beyond the first `length` are all zero.
bool HostBitsClear(const std::array<std::uint8_t, 16>& bytes, int bits, int length) {
  for (int i = 0; i < bits / 8; ++i) {
    const int keep = std::clamp(length - 8 * i, 0, 8);
    const auto mask = static_cast<std::uint8_t>(keep == 8 ? 0 : 0xff >> keep);
    if ((bytes[i] & mask) != 0) return false;
  }
  return true;
}

std::array<std::uint8_t, 16> Masked(std::array<std::uint8_t, 16> bytes, int bits, int length) {
  for (int i = 0; i < bits / 8; ++i) {
    const int keep = std::clamp(length - 8 * i, 0, 8);
    bytes[i] &= static_cast<std::uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
  }
  return bytes;
}

}  // namespace

// --- IpAddress ---------------------------------------------------------------------------------

IpAddress IpAddress::V4(const std::array<std::uint8_t, 4>& b) {
  IpAddress a;
  std::copy(b.begin(), b.end(), a.bytes.begin());
  return a;
}

IpAddress IpAddress::V6(const std::array<std::uint8_t, 16>& b) {
  if (IsV4Mapped(b)) return V4({b[12], b[13], b[14], b[15]});
  IpAddress a;
  a.v6 = true;
  a.bytes = b;
  return a;
}

std::string IpAddress::ToString() const {
  std::string out;
  if (!v6) {
    for (int i = 0; i < 4; ++i) {
      if (i > 0) out += '.';
      out += std::to_string(bytes[i]);
    }
    return out;
  }
  std::uint16_t g[8];
  for (int i = 0; i < 8; ++i)
    g[i] = static_cast<std::uint16_t>((bytes[2 * i] << 8) | bytes[2 * i + 1]);
  // RFC 5952: the longest run of two or more zero groups (the first on a tie) becomes "::".
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    int j = i;
    while (j < 8 && g[j] == 0)
      ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j == i ? i + 1 : j;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const int d = (g[i] >> shift) & 15;
      if (d != 0 || started || shift == 0) {
        out += kHex[d];
        started = true;
      }
    }
  }
  return out;
}

std::optional<IpAddress> ParseIpAddress(std::string_view text) {
  bool v6 = false;
  std::array<std::uint8_t, 16> raw;
  if (!ParseRaw(text, &v6, raw)) return std::nullopt;
  return v6 ? IpAddress::V6(raw) : IpAddress::V4({raw[0], raw[1], raw[2], raw[3]});
}

// --- IpPrefix ----------------------------------------------------------------------------------

bool IpPrefix::Contains(const IpAddress& a) const {
  return a.v6 == address.v6 && Masked(a.bytes, a.bit_length(), length) == address.bytes;
}

std::string IpPrefix::ToString() const {
  return address.ToString() + "/" + std::to_string(length);
}

std::optional<IpPrefix> ParseIpPrefix(std::string_view text, std::string* error) {
  const auto fail = [&](std::string what) -> std::optional<IpPrefix> {
    if (error != nullptr) *error = std::move(what);
    return std::nullopt;
  };
  const std::size_t slash = text.find('/');
  const std::string_view address_text = text.substr(0, slash);
  bool v6 = false;
  std::array<std::uint8_t, 16> raw;
  if (!ParseRaw(address_text, &v6, raw)) {
    return fail(Quote(address_text) + " is not an IPv4 or IPv6 address");
  }
  const int bits = v6 ? 128 : 32;
  int length = bits;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    bool ok = !digits.empty() && digits.size() <= 3 && !(digits.size() > 1 && digits[0] == '0');
    length = 0;
    for (const char c : digits) {
      ok = ok && IsDigit(c);
      if (ok) length = length * 10 + (c - '0');
    }
    if (!ok || length > bits) {
      return fail("bad prefix length in " + Quote(text) + " (" + (v6 ? "IPv6" : "IPv4") +
                  " allows /0 to /" + std::to_string(bits) + ")");
    }
  }
  if (!HostBitsClear(raw, bits, length)) {
    IpPrefix network;
    network.length = length;
    network.address = v6 ? IpAddress{true, Masked(raw, bits, length)}
                         : IpAddress::V4({raw[0], raw[1], raw[2], raw[3]});
    if (!v6) network.address.bytes = Masked(network.address.bytes, 32, length);
    return fail(Quote(text) + " has host bits set beyond /" + std::to_string(length) +
                " (the network is " + network.ToString() + ")");
  }
  IpPrefix prefix;
  prefix.length = length;
  if (!v6) {
    prefix.address = IpAddress::V4({raw[0], raw[1], raw[2], raw[3]});
  } else if (length >= 96 && IsV4Mapped(raw)) {
    prefix.address = IpAddress::V4({raw[12], raw[13], raw[14], raw[15]});
    prefix.length = length - 96;
  } else {
    prefix.address.v6 = true;
    prefix.address.bytes = raw;
  }
  return prefix;
}

bool PrefixLess(const IpPrefix& a, const IpPrefix& b) {
  return std::tie(a.address.v6, a.length, a.address.bytes) <
         std::tie(b.address.v6, b.length, b.address.bytes);
}

}  // namespace ttlogin::common
