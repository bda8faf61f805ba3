// Fuzz target: the network table, its address parser, CidrSet and the
// X-Forwarded-For rule, each against a plain restatement that shares no code with them.
//
// The input is used four ways:
//  - every token (split at blanks, ',', '/', '#') is parsed by ParseIpAddress and by a reference
//    built on inet_pton; both must agree (our parser is inet_pton plus brackets and the
//    IPv4-mapped normalisation);
//  - as table text: NetworkTable::Parse must accept exactly what the reference line parser
//    accepts, and on a table that loads, Lookup must equal a linear longest-prefix scan for
//    addresses at and around every listed network and for addresses cut from the input's bytes;
//  - as a CidrSet list, checked the same way;
//  - as an X-Forwarded-For value, from a trusted and an untrusted peer, against a reference walk
//    over the fully split header.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr_set.h"
#include "common/forwarded_for.h"
#include "common/ip_address.h"
#include "common/network_table.h"
#include "test/fuzz/fuzz_input.h"

namespace ttlogin::fuzz {
namespace {

using common::AddressPreference;
using common::IpAddress;
using common::IpPrefix;

bool IsBlank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back()))
    s.remove_suffix(1);
  return s;
}

// --- the reference ---------------------------------------------------------------------------

std::optional<IpAddress> RefAddress(std::string_view s) {
  if (s.find('\0') != std::string_view::npos) return std::nullopt;  // inet_pton stops at NUL
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') {
    s = s.substr(1, s.size() - 2);
    if (s.find(':') == std::string_view::npos) return std::nullopt;
  }
  const std::string z(s);
  std::array<std::uint8_t, 16> b{};
  if (s.find(':') != std::string_view::npos) {
    if (inet_pton(AF_INET6, z.c_str(), b.data()) != 1) return std::nullopt;
    const bool mapped = std::all_of(b.begin(), b.begin() + 10, [](auto x) { return x == 0; }) &&
                        b[10] == 0xff && b[11] == 0xff;
    IpAddress a;
    if (mapped) {
      std::copy(b.begin() + 12, b.end(), a.bytes.begin());
    } else {
      a.v6 = true;
      a.bytes = b;
    }
    return a;
  }
  if (inet_pton(AF_INET, z.c_str(), b.data()) != 1) return std::nullopt;
  IpAddress a;
  std::copy(b.begin(), b.begin() + 4, a.bytes.begin());
  return a;
}

bool Bit(const IpAddress& a, int i) {
  return ((a.bytes[i / 8] >> (7 - i % 8)) & 1) != 0;
}

bool RefContains(const IpPrefix& p, const IpAddress& a) {
  if (p.address.v6 != a.v6) return false;
  for (int i = 0; i < p.length; ++i)
    if (Bit(p.address, i) != Bit(a, i)) return false;
  return true;
}

std::optional<IpPrefix> RefPrefix(std::string_view s) {
  const std::size_t slash = s.find('/');
  const std::string_view host = s.substr(0, slash);
  if (host.find('\0') != std::string_view::npos) return std::nullopt;
  std::string_view inner = host;
  if (inner.size() >= 2 && inner.front() == '[' && inner.back() == ']')
    inner = inner.substr(1, inner.size() - 2);
  const bool v6_text = inner.find(':') != std::string_view::npos;
  std::optional<IpAddress> a = RefAddress(host);
  if (!a) return std::nullopt;
  int bits = v6_text ? 128 : 32;
  int length = bits;
  if (slash != std::string_view::npos) {
    const std::string_view d = s.substr(slash + 1);
    if (d.empty() || d.size() > 3 || (d.size() > 1 && d[0] == '0')) return std::nullopt;
    length = 0;
    for (const char c : d) {
      if (c < '0' || c > '9') return std::nullopt;
      length = length * 10 + (c - '0');
    }
    if (length > bits) return std::nullopt;
  }
  if (v6_text && !a->v6) {
    // Written as ::ffff:a.b.c.d: the first 96 bits are fixed, so a prefix shorter than /96 is an
    // IPv6 network with bits set past it (an error) unless it covers the ffff too; keep it simple
    // and look at it as the IPv6 bytes.
    if (length < 96) {
      IpAddress v6 = *a;
      v6.v6 = true;
      v6.bytes = {0, 0, 0,    0,    0,           0,           0,           0,
                  0, 0, 0xff, 0xff, a->bytes[0], a->bytes[1], a->bytes[2], a->bytes[3]};
      for (int i = length; i < 128; ++i)
        if (Bit(v6, i)) return std::nullopt;
      return IpPrefix{v6, length};
    }
    length -= 96;
    bits = 32;
  }
  for (int i = length; i < bits; ++i)
    if (Bit(*a, i)) return std::nullopt;
  return IpPrefix{*a, length};
}

struct RefEntry {
  IpPrefix prefix;
  AddressPreference preference;
};

// The table format restated: nullopt when the text must be refused.
std::optional<std::vector<RefEntry>> RefTable(std::string_view text) {
  std::vector<RefEntry> out;
  bool ok = true;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    line = line.substr(0, line.find('#'));
    std::vector<std::string_view> tokens;
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && IsBlank(line[i]))
        ++i;
      const std::size_t start = i;
      while (i < line.size() && !IsBlank(line[i]))
        ++i;
      if (i > start) tokens.push_back(line.substr(start, i - start));
    }
    if (tokens.empty()) continue;
    if (tokens.size() != 2) {
      ok = false;
      continue;
    }
    const std::optional<IpPrefix> p = RefPrefix(tokens[0]);
    std::string word(tokens[1]);
    std::transform(word.begin(), word.end(), word.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
    if (!p || (word != "ip1" && word != "ip2")) {
      ok = false;
      continue;
    }
    const AddressPreference pref =
        word == "ip1" ? AddressPreference::kIp1 : AddressPreference::kIp2;
    bool seen = false;
    for (const RefEntry& e : out) {
      if (e.prefix == *p) {
        seen = true;
        if (e.preference != pref) ok = false;
      }
    }
    if (!seen) out.push_back({*p, pref});
  }
  if (!ok) return std::nullopt;
  return out;
}

AddressPreference RefLookup(const std::vector<RefEntry>& entries, const IpAddress& a) {
  int best = -1;
  AddressPreference out = AddressPreference::kNone;
  for (const RefEntry& e : entries) {
    if (e.prefix.length > best && RefContains(e.prefix, a)) {
      best = e.prefix.length;
      out = e.preference;
    }
  }
  return out;
}

std::optional<std::vector<IpPrefix>> RefList(std::string_view list) {
  std::vector<IpPrefix> out;
  std::size_t i = 0;
  while (i < list.size()) {
    const std::size_t start = i;
    while (i < list.size() && list[i] != ',' && !IsBlank(list[i]))
      ++i;
    if (i > start) {
      const auto p = RefPrefix(list.substr(start, i - start));
      if (!p) return std::nullopt;
      out.push_back(*p);
    }
    ++i;
  }
  return out;
}

std::optional<IpAddress> RefElement(std::string_view s) {
  s = Trim(s);
  if (!s.empty() && s.front() == '[') {
    const std::size_t close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view port = s.substr(close + 1);
    if (!port.empty()) {
      if (port.front() != ':') return std::nullopt;
      port.remove_prefix(1);
      if (port.empty() || port.size() > 5 ||
          !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
          std::stoi(std::string(port)) > 65535)
        return std::nullopt;
    }
    return RefAddress(s.substr(0, close + 1));
  }
  if (std::count(s.begin(), s.end(), ':') == 1) {
    const std::size_t colon = s.find(':');
    const std::string_view port = s.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(std::string(port)) > 65535)
      return std::nullopt;
    const auto a = RefAddress(s.substr(0, colon));
    if (a && a->v6) return std::nullopt;
    return a;
  }
  return RefAddress(s);
}

IpAddress RefResolve(const IpAddress& peer, std::string_view xff,
                     const std::vector<IpPrefix>& trusted) {
  const auto is_trusted = [&](const IpAddress& a) {
    return std::any_of(trusted.begin(), trusted.end(),
                       [&](const IpPrefix& p) { return RefContains(p, a); });
  };
  if (!is_trusted(peer) || Trim(xff).empty()) return peer;
  std::vector<std::string_view> elements;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = xff.find(',', start);
    elements.push_back(xff.substr(start, comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  IpAddress last = peer;
  for (std::size_t n = 0; n < elements.size() && n < common::kMaxForwardedHops; ++n) {
    const auto a = RefElement(elements[elements.size() - 1 - n]);
    if (!a) return last;
    if (!is_trusted(*a)) return *a;
    last = *a;
  }
  return last;
}

// --- probes ------------------------------------------------------------------------------------

// Addresses at and around a network: its first and last address and the neighbours just outside.
void AddProbes(const IpPrefix& p, std::vector<IpAddress>& out) {
  IpAddress first = p.address;
  IpAddress last = p.address;
  const int bits = p.address.bit_length();
  for (int i = p.length; i < bits; ++i)
    last.bytes[i / 8] |= static_cast<std::uint8_t>(0x80 >> (i % 8));
  out.push_back(first);
  out.push_back(last);
  if (p.length > 0) {
    for (IpAddress a : {first, last}) {
      const int i = p.length - 1;
      a.bytes[i / 8] ^= static_cast<std::uint8_t>(0x80 >> (i % 8));
      out.push_back(a);
    }
  }
}

// Addresses cut from the raw input, so that the fuzzer can steer lookups too.
void AddRawProbes(std::string_view text, std::vector<IpAddress>& out) {
  for (std::size_t at = 0; at + 16 <= text.size() && out.size() < 64; at += 16) {
    std::array<std::uint8_t, 16> b;
    std::copy_n(reinterpret_cast<const std::uint8_t*>(text.data()) + at, 16, b.begin());
    out.push_back(IpAddress::V6(b));
    out.push_back(IpAddress::V4({b[0], b[1], b[2], b[3]}));
  }
}

void CheckAddressTokens(std::string_view text) {
  std::size_t i = 0;
  int checked = 0;
  const auto sep = [](char c) { return IsBlank(c) || c == ',' || c == '/' || c == '#'; };
  while (i < text.size() && checked < 256) {
    while (i < text.size() && sep(text[i]))
      ++i;
    const std::size_t start = i;
    while (i < text.size() && !sep(text[i]))
      ++i;
    if (i == start) continue;
    const std::string_view token = text.substr(start, i - start);
    const auto ours = common::ParseIpAddress(token);
    const auto ref = RefAddress(token);
    FUZZ_CHECK(ours.has_value() == ref.has_value());
    if (ours) {
      FUZZ_CHECK(*ours == *ref);
      // The canonical text parses back to the same address.
      const auto again = common::ParseIpAddress(ours->ToString());
      FUZZ_CHECK(again.has_value() && *again == *ours);
    }
    ++checked;
  }
}

void CheckTable(std::string_view text) {
  std::string error;
  const auto table = common::NetworkTable::Parse(text, "fuzz", &error);
  const auto ref = RefTable(text);
  FUZZ_CHECK(table.has_value() == ref.has_value());
  if (!table) {
    // Every error line names the source; at most the bound plus the "more" line.
    FUZZ_CHECK(!error.empty());
    std::size_t lines = 0;
    std::size_t at = 0;
    while (true) {
      FUZZ_CHECK(error.compare(at, 5, "fuzz:") == 0);
      ++lines;
      const std::size_t eol = error.find('\n', at);
      if (eol == std::string::npos) break;
      at = eol + 1;
    }
    FUZZ_CHECK(lines <= common::kMaxNetworkTableErrors + 1);
    return;
  }
  FUZZ_CHECK(table->size() == ref->size());
  std::vector<IpAddress> probes;
  for (std::size_t i = 0; i < ref->size() && i < 256; ++i)
    AddProbes((*ref)[i].prefix, probes);
  AddRawProbes(text, probes);
  for (const IpAddress& a : probes)
    FUZZ_CHECK(table->Lookup(a) == RefLookup(*ref, a));
}

void CheckCidrSet(std::string_view text) {
  std::string error;
  const auto set = common::CidrSet::Parse(text, &error);
  const auto ref = RefList(text);
  FUZZ_CHECK(set.has_value() == ref.has_value());
  if (!set) {
    FUZZ_CHECK(!error.empty());
    return;
  }
  FUZZ_CHECK(set->empty() == ref->empty());
  std::vector<IpAddress> probes;
  for (std::size_t i = 0; i < ref->size() && i < 256; ++i)
    AddProbes((*ref)[i], probes);
  AddRawProbes(text, probes);
  for (const IpAddress& a : probes) {
    const bool want =
        std::any_of(ref->begin(), ref->end(), [&](const IpPrefix& p) { return RefContains(p, a); });
    FUZZ_CHECK(set->Contains(a) == want);
  }
}

void CheckForwarded(std::string_view xff) {
  static const char kTrusted[] = "127.0.0.0/8, 10.0.0.0/8, ::1, fd00::/8, 192.0.2.0/24";
  static const common::CidrSet trusted = *common::CidrSet::Parse(kTrusted, nullptr);
  static const std::vector<IpPrefix> ref_trusted = *RefList(kTrusted);
  for (const char* peer_text : {"127.0.0.1", "::1", "::ffff:10.1.2.3", "203.0.113.5"}) {
    const IpAddress peer = *common::ParseIpAddress(peer_text);
    const IpAddress got = common::ResolveClientAddress(peer, xff, trusted);
    FUZZ_CHECK(got == RefResolve(peer, xff, ref_trusted));
  }
}

}  // namespace
}  // namespace ttlogin::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ttlogin::fuzz;
  // The reference scans are quadratic; a table check is about lines, not megabytes.
  if (size > 16 * 1024) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckAddressTokens(text);
  CheckTable(text);
  CheckCidrSet(text);
  CheckForwarded(text);
  return 0;
}
