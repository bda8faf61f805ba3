#include "common/network_table.h"

#include "common/config_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <tuple>

namespace ttlogin::common {
namespace {

constexpr int kRootBits = 16;
constexpr int kStepBits = 4;
constexpr std::uint32_t kValueMask = 3;
// Quoted user text is cut to this many bytes so that one bad line cannot flood a log.
constexpr std::size_t kMaxQuoted = 64;

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

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// 'text', cut and with control bytes escaped, for error messages.
std::string Quote(std::string_view text) {
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < kMaxQuoted; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMaxQuoted) out += "...";
  out += "'";
  return out;
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

// Text without brackets: IPv6 if it has a ':', else IPv4. `raw_v6` is the IPv6 bytes as written.
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

std::optional<AddressPreference> ParsePreference(std::string_view word) {
  if (word.size() != 3) return std::nullopt;
  if ((word[0] | 0x20) != 'i' || (word[1] | 0x20) != 'p') return std::nullopt;
  if (word[2] == '1') return AddressPreference::kIp1;
  if (word[2] == '2') return AddressPreference::kIp2;
  return std::nullopt;
}

// The n-th 4-bit step of an address, counted from the most significant bits.
std::uint32_t Nibble(const std::uint8_t* bytes, int n) {
  const std::uint8_t b = bytes[n >> 1];
  return (n & 1) != 0 ? b & 15u : static_cast<std::uint32_t>(b >> 4);
}

bool PrefixLess(const IpPrefix& a, const IpPrefix& b) {
  return std::tie(a.address.v6, a.length, a.address.bytes) <
         std::tie(b.address.v6, b.length, b.address.bytes);
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

std::string_view ToString(AddressPreference preference) {
  switch (preference) {
    case AddressPreference::kIp1:
      return "ip1";
    case AddressPreference::kIp2:
      return "ip2";
    case AddressPreference::kNone:
      break;
  }
  return "none";
}

// --- PrefixTrie --------------------------------------------------------------------------------

std::optional<PrefixTrie> PrefixTrie::Build(std::vector<Entry> entries, std::size_t max_nodes) {
  // Shortest first, so that a longer prefix overwrites the expansion of a shorter one.
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return PrefixLess(a.prefix, b.prefix); });
  PrefixTrie trie;
  // Reserve the most nodes the entries could need: pages never touched cost no memory, and the
  // nodes are not copied over and over while they grow. One exact-size copy at the end.
  std::size_t most[2] = {1, 1};
  for (const Entry& e : entries) {
    most[e.prefix.address.v6 ? 1 : 0] +=
        static_cast<std::size_t>(std::max(0, e.prefix.length - kRootBits + kStepBits - 1)) /
        kStepBits;
  }
  // Capped by the node budget (+1 for each family's unused node 0).
  trie.v4_.nodes.reserve(std::min(most[0], max_nodes + 1));
  trie.v6_.nodes.reserve(std::min(most[1], max_nodes + 1));
  std::size_t budget = max_nodes;
  for (const Entry& e : entries) {
    if (!(e.prefix.address.v6 ? trie.v6_ : trie.v4_).Insert(e.prefix, e.value, budget)) {
      return std::nullopt;
    }
  }
  for (Family* f : {&trie.v4_, &trie.v6_})
    f->nodes.shrink_to_fit();
  return trie;
}

bool PrefixTrie::Family::Insert(const IpPrefix& prefix, std::uint8_t value, std::size_t& budget) {
  const std::uint8_t* bytes = prefix.address.bytes.data();
  const int length = prefix.length;
  if (root.empty()) {
    root.assign(std::size_t{1} << kRootBits, 0);
    nodes.resize(1);  // index 0 stands for "no child"
  }
  const auto fill = [value](std::uint32_t* slots, std::uint32_t first, std::uint32_t count) {
    for (std::uint32_t i = first; i < first + count; ++i)
      slots[i] = (slots[i] & ~kValueMask) | value;
  };
  const std::uint32_t top = (std::uint32_t{bytes[0]} << 8) | bytes[1];
  if (length <= kRootBits) {
    const std::uint32_t count = std::uint32_t{1} << (kRootBits - length);
    fill(root.data(), top & ~(count - 1), count);
    return true;
  }
  // Walk (and grow) the path of 4-bit steps down to the node the prefix ends in. A slot is named
  // by (node, index), node -1 being the root, because growing `nodes` moves them.
  int node = -1;
  std::uint32_t index = top;
  const auto slot = [&]() -> std::uint32_t& {
    return node < 0 ? root[index] : nodes[static_cast<std::size_t>(node)][index];
  };
  int consumed = kRootBits;
  while (true) {
    std::uint32_t child = slot() >> 2;
    if (child == 0) {
      if (budget == 0) return false;
      --budget;
      child = static_cast<std::uint32_t>(nodes.size());
      nodes.emplace_back();
      nodes.back().fill(0);
      slot() |= child << 2;
    }
    node = static_cast<int>(child);
    const std::uint32_t nibble = Nibble(bytes, consumed / kStepBits);
    const int remaining = length - consumed;
    if (remaining <= kStepBits) {
      const std::uint32_t count = std::uint32_t{1} << (kStepBits - remaining);
      fill(nodes[child].data(), nibble & ~(count - 1), count);
      return true;
    }
    index = nibble;
    consumed += kStepBits;
  }
}

std::uint8_t PrefixTrie::Family::Lookup(const std::uint8_t* bytes, int bits) const noexcept {
  if (root.empty()) return 0;
  std::uint32_t slot = root[(std::uint32_t{bytes[0]} << 8) | bytes[1]];
  std::uint32_t best = slot & kValueMask;
  const int steps = bits / kStepBits;
  for (int n = kRootBits / kStepBits; n < steps && (slot >> 2) != 0; ++n) {
    slot = nodes[slot >> 2][Nibble(bytes, n)];
    if ((slot & kValueMask) != 0) best = slot & kValueMask;
  }
  return static_cast<std::uint8_t>(best);
}

std::uint8_t PrefixTrie::Lookup(const IpAddress& address) const noexcept {
  return address.v6 ? v6_.Lookup(address.bytes.data(), 128) : v4_.Lookup(address.bytes.data(), 32);
}

std::size_t PrefixTrie::MemoryBytes() const {
  std::size_t total = sizeof(*this);
  for (const Family* f : {&v4_, &v6_})
    total += f->root.capacity() * sizeof(std::uint32_t) + f->nodes.capacity() * sizeof(Node);
  return total;
}

// --- NetworkTable ------------------------------------------------------------------------------

namespace {

struct LineError {
  std::size_t line;
  std::string what;
};

struct ParsedLine {
  IpPrefix prefix;
  AddressPreference preference;
  std::size_t line;
};

}  // namespace

std::optional<NetworkTable> NetworkTable::Parse(std::string_view text, std::string_view source_name,
                                                std::string* error, std::size_t max_trie_nodes) {
  std::vector<LineError> syntax;  // the first kMaxNetworkTableErrors, in line order
  std::size_t syntax_count = 0;
  const auto report = [&](std::size_t line, std::string what) {
    if (++syntax_count <= kMaxNetworkTableErrors) syntax.push_back({line, std::move(what)});
  };

  std::vector<ParsedLine> parsed;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    line = line.substr(0, line.find('#'));

    std::string_view tokens[3];
    std::size_t count = 0;
    for (line = Trim(line); !line.empty() && count < 3; line = Trim(line)) {
      std::size_t end = 0;
      while (end < line.size() && !IsBlank(line[end]))
        ++end;
      tokens[count++] = line.substr(0, end);
      line.remove_prefix(end);
    }
    if (count == 0) continue;
    std::string why;
    const std::optional<IpPrefix> prefix = ParseIpPrefix(tokens[0], &why);
    if (!prefix) {
      report(line_no, why);
      continue;
    }
    if (count == 1) {
      report(line_no, "missing preference after " + Quote(tokens[0]) + " (expected ip1 or ip2)");
      continue;
    }
    const std::optional<AddressPreference> preference = ParsePreference(tokens[1]);
    if (!preference) {
      report(line_no, "unknown preference " + Quote(tokens[1]) + " (expected ip1 or ip2)");
      continue;
    }
    if (count == 3) {
      report(line_no, "unexpected " + Quote(tokens[2]) +
                          " after the preference (one '<network> <ip1|ip2>' per line)");
      continue;
    }
    if (parsed.size() == kMaxNetworkTablePrefixes) {
      report(line_no, "more than " + std::to_string(kMaxNetworkTablePrefixes) +
                          " networks; this is not a carrier table");
      break;
    }
    parsed.push_back({*prefix, *preference, line_no});
  }

  // The same network on several lines: the first one sets the preference; a later one that
  // disagrees is an error naming the first.
  std::sort(parsed.begin(), parsed.end(), [](const ParsedLine& a, const ParsedLine& b) {
    if (PrefixLess(a.prefix, b.prefix)) return true;
    if (PrefixLess(b.prefix, a.prefix)) return false;
    return a.line < b.line;
  });
  std::vector<PrefixTrie::Entry> entries;
  entries.reserve(parsed.size());
  struct Conflict {
    std::size_t line;
    std::size_t index;  // in parsed
    std::size_t first;  // in parsed
  };
  std::vector<Conflict> conflicts;
  for (std::size_t i = 0, first = 0; i < parsed.size(); ++i) {
    if (i > 0 && parsed[i].prefix == parsed[first].prefix) {
      if (parsed[i].preference != parsed[first].preference)
        conflicts.push_back({parsed[i].line, i, first});
      continue;
    }
    first = i;
    entries.push_back({parsed[i].prefix, static_cast<std::uint8_t>(parsed[i].preference)});
  }

  if (syntax_count > 0 || !conflicts.empty()) {
    if (error != nullptr) {
      // Both lists are in line order and the first kMaxNetworkTableErrors of their union lie in
      // the first kMaxNetworkTableErrors of each.
      const std::size_t total = syntax_count + conflicts.size();
      std::sort(conflicts.begin(), conflicts.end(),
                [](const Conflict& a, const Conflict& b) { return a.line < b.line; });
      if (conflicts.size() > kMaxNetworkTableErrors) conflicts.resize(kMaxNetworkTableErrors);
      std::vector<LineError> all = std::move(syntax);
      for (const Conflict& c : conflicts) {
        const ParsedLine& here = parsed[c.index];
        const ParsedLine& there = parsed[c.first];
        all.push_back({c.line, here.prefix.ToString() + " is given " +
                                   std::string(ToString(here.preference)) + " here but " +
                                   std::string(ToString(there.preference)) + " on line " +
                                   std::to_string(there.line)});
      }
      std::stable_sort(all.begin(), all.end(),
                       [](const LineError& a, const LineError& b) { return a.line < b.line; });
      error->clear();
      for (std::size_t i = 0; i < all.size() && i < kMaxNetworkTableErrors; ++i) {
        if (i > 0) *error += '\n';
        *error += std::string(source_name) + ":" + std::to_string(all[i].line) + ": " + all[i].what;
      }
      if (total > kMaxNetworkTableErrors) {
        *error += "\n" + std::string(source_name) + ": " +
                  std::to_string(total - kMaxNetworkTableErrors) + " more errors not shown";
      }
    }
    return std::nullopt;
  }

  NetworkTable table;
  table.size_ = entries.size();
  std::optional<PrefixTrie> trie = PrefixTrie::Build(std::move(entries), max_trie_nodes);
  if (!trie) {
    if (error != nullptr) {
      *error = std::string(source_name) + ": its " + std::to_string(table.size_) +
               " networks need more than " + std::to_string(max_trie_nodes) + " lookup nodes (" +
               std::to_string(max_trie_nodes * PrefixTrie::kNodeBytes / (1024 * 1024)) +
               " MiB); long IPv6 prefixes that share nothing cost the most; this is not a "
               "carrier table";
    }
    return std::nullopt;
  }
  table.trie_ = std::move(*trie);
  return table;
}

std::optional<NetworkTable> NetworkTable::LoadFile(const std::string& path, std::string* error) {
  // Non-blocking and refusing FIFOs, sockets and devices: a reload must never wait on this file.
  std::string text;
  if (const std::string why = ReadRegularFile(path, kMaxNetworkTableFileSize, text); !why.empty()) {
    if (error != nullptr) {
      const bool too_big = why.starts_with("larger than");
      *error =
          path + ": " +
          (too_big ? "larger than " + std::to_string(kMaxNetworkTableFileSize / (1024 * 1024)) +
                         " MiB; this is not a carrier table"
                   : why);
    }
    return std::nullopt;
  }
  return Parse(text, path, error);
}

// --- CidrSet -----------------------------------------------------------------------------------

std::optional<CidrSet> CidrSet::Parse(std::string_view list, std::string* error) {
  std::vector<PrefixTrie::Entry> entries;
  while (!list.empty()) {
    std::size_t end = 0;
    while (end < list.size() && list[end] != ',' && !IsBlank(list[end]))
      ++end;
    const std::string_view element = list.substr(0, end);
    list.remove_prefix(end == list.size() ? end : end + 1);
    if (element.empty()) continue;
    const std::optional<IpPrefix> prefix = ParseIpPrefix(element, error);
    if (!prefix) return std::nullopt;
    entries.push_back({*prefix, 1});
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return PrefixLess(a.prefix, b.prefix); });
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const auto& a, const auto& b) { return a.prefix == b.prefix; }),
                entries.end());
  CidrSet set;
  set.size_ = entries.size();
  std::optional<PrefixTrie> trie = PrefixTrie::Build(std::move(entries));
  if (!trie) {
    if (error != nullptr) *error = std::to_string(set.size_) + " networks: too many for one list";
    return std::nullopt;
  }
  set.trie_ = std::move(*trie);
  return set;
}

// --- X-Forwarded-For ---------------------------------------------------------------------------

namespace {

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
