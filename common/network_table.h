// Carrier-aware network table: from a client's IP address, decide whether a
// msg_server's first (ip1) or second (ip2) address is handed out as "prior"; plus the
// trusted-proxy rule that decides which address is the client's when X-Forwarded-For is present.
// docs/NETWORK_TABLE.md has the file format and the figures.
//
// Why a multibit trie with prefix expansion: the table is loaded once and then only read, by
// every io thread, so we pay at load time to make a lookup a handful of array reads with no
// branch on the table's size. Each address family has a 16-bit root (65,536 slots) followed by
// 4-bit steps (16-slot nodes, one 64-byte cache line each). A prefix is expanded to the slots of
// the step it ends in; prefixes are inserted shortest first, so a longer prefix overwrites the
// expansion of a shorter one. A lookup walks down while a slot has a child, remembering the last
// preference seen.
//
// Cost of one Lookup: at most 1 + (bits - 16) / 4 slot reads: 5 for IPv4, 29 for IPv6, whatever
// the table size; no allocation, no lock. Memory: 256 KiB per address family in use plus
// 64 bytes per node, at most (length - 16) / 4 new nodes per prefix and fewer when prefixes share
// their leading bits: 100,000 carrier-like prefixes, half IPv4 /24-ish and half IPv6 /48-ish, take
// 24 MB (docs/NETWORK_TABLE.md). Sparse long IPv6 prefixes are the expensive case (about 360 B
// per random /48); a path-compressed trie would be smaller but slower to walk.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
std::optional<IpAddress> ParseIpAddress(std::string_view text);

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
std::optional<IpPrefix> ParseIpPrefix(std::string_view text, std::string* error);

enum class AddressPreference : std::uint8_t { kNone, kIp1, kIp2 };
std::string_view ToString(AddressPreference preference);  // "none", "ip1", "ip2"

// At most this many 64-byte trie nodes (256 MiB) per table. A realistic table needs far fewer
// (100,000 mixed IPv4/IPv6 prefixes: about 375,000); long IPv6 prefixes that share nothing cost up
// to 28 nodes each, so a hostile file of /128s is refused here rather than taking gigabytes.
inline constexpr std::size_t kMaxPrefixTrieNodes = std::size_t{1} << 22;

// The longest-prefix-match structure shared by NetworkTable and CidrSet: maps a prefix to a small
// value 1..3 (0 is "no match"). Immutable once built.
class PrefixTrie {
 public:
  struct Entry {
    IpPrefix prefix;
    std::uint8_t value = 1;  // 1..3
  };
  static constexpr std::size_t kNodeBytes = 64;
  // Entries must not repeat a prefix (callers decide what a repeat means). Empty when the entries
  // need more than `max_nodes` nodes (both families together).
  static std::optional<PrefixTrie> Build(std::vector<Entry> entries,
                                         std::size_t max_nodes = kMaxPrefixTrieNodes);

  // The value of the longest prefix containing `address`, 0 if none. Noexcept, allocation-free.
  std::uint8_t Lookup(const IpAddress& address) const noexcept;
  std::size_t MemoryBytes() const;

 private:
  // One 4-bit step. A slot is (child node index << 2) | value; index 0 means no child.
  using Node = std::array<std::uint32_t, 16>;
  static_assert(sizeof(Node) == kNodeBytes);
  struct Family {
    std::vector<std::uint32_t> root;  // 1 << kRootBits slots; empty when the family has no prefix
    std::vector<Node> nodes;          // nodes[0] is unused so that index 0 can mean "none"
    // False, leaving the family unusable, when it would take a node beyond `budget` (which
    // counts down the nodes still allowed).
    bool Insert(const IpPrefix& prefix, std::uint8_t value, std::size_t& budget);
    std::uint8_t Lookup(const std::uint8_t* bytes, int bits) const noexcept;
  };
  Family v4_;
  Family v6_;
};

// Bounds on a network table: a carrier list is thousands of lines; the design target is 100,000
// prefixes. Anything far bigger is a wrong file, refused before it takes gigabytes.
inline constexpr std::size_t kMaxNetworkTableFileSize = 64 * 1024 * 1024;
inline constexpr std::size_t kMaxNetworkTablePrefixes = 1'000'000;
// Parse reports at most this many errors (then how many more there were).
inline constexpr std::size_t kMaxNetworkTableErrors = 20;

class NetworkTable {
 public:
  // Text format, one entry per line: "<network> <ip1|ip2>" ("10.0.0.0/8 ip2", "2001:db8::/32 ip1",
  // a bare address is a /32 or /128; ip1/ip2 in any case). '#' starts a comment (whole line or
  // trailing); blank lines and surrounding blanks are ignored. The same network twice with the
  // same preference is fine; with different ones it is an error naming both lines.
  // On failure `error` (if given) gets every error, one per line as "<source>:<line>: <what>",
  // in line order, at most kMaxNetworkTableErrors of them and then a count of the rest.
  // A table needing more than `max_trie_nodes` (see kMaxPrefixTrieNodes) is refused.
  static std::optional<NetworkTable> Parse(std::string_view text, std::string_view source_name,
                                           std::string* error,
                                           std::size_t max_trie_nodes = kMaxPrefixTrieNodes);
  // Reads a regular file of at most kMaxNetworkTableFileSize bytes; errors are "<path>: <what>"
  // for the file itself, as in Parse for its lines. An empty file is an empty table.
  static std::optional<NetworkTable> LoadFile(const std::string& path, std::string* error);

  // Longest-prefix match; kNone when no network contains the address. Thread-safe (const).
  AddressPreference Lookup(const IpAddress& address) const noexcept {
    return static_cast<AddressPreference>(trie_.Lookup(address));
  }
  std::size_t size() const { return size_; }  // distinct networks loaded
  std::size_t MemoryBytes() const { return trie_.MemoryBytes(); }

 private:
  PrefixTrie trie_;
  std::size_t size_ = 0;
};

// A set of networks, e.g. the trusted proxies.
class CidrSet {
 public:
  // A list of networks (bare addresses allowed) separated by commas and/or blanks:
  // "127.0.0.1/32, 10.0.0.0/8 ::1". An empty list is an empty set. On failure `error` names the
  // first bad element (without a key or line: the caller knows where the list came from).
  static std::optional<CidrSet> Parse(std::string_view list, std::string* error);

  bool Contains(const IpAddress& address) const noexcept { return trie_.Lookup(address) != 0; }
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }

 private:
  PrefixTrie trie_;
  std::size_t size_ = 0;
};

// How many X-Forwarded-For elements are looked at, from the right, at most: a real chain is a
// few proxies long, and a hostile header must not buy unbounded work.
inline constexpr int kMaxForwardedHops = 16;

// The client's address for a request that arrived from `peer` carrying X-Forwarded-For `xff`
// (several headers joined with ", "; empty when there is none).
//  - `peer` not in `trusted`: `peer`, whatever the header says.
//  - otherwise walk the elements from the right, skipping trusted ones; the first untrusted
//    element is the client. If every element is trusted, the leftmost one is the client.
//  - an element that does not parse (garbage, "unknown", an empty element) stops the walk: the
//    answer is the last good address seen (the peer or the last trusted element).
//  - after kMaxForwardedHops trusted elements the walk stops at the last of them.
// Elements may carry blanks around them, brackets ("[2001:db8::1]"), and a port
// ("1.2.3.4:5678", "[2001:db8::1]:5678"), as some proxies write them; the port is ignored.
IpAddress ResolveClientAddress(const IpAddress& peer, std::string_view xff, const CidrSet& trusted);

}  // namespace ttlogin::common
