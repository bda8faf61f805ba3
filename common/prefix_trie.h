// PrefixTrie: longest-prefix match over IPv4 and IPv6 networks, the lookup structure under
// NetworkTable (the carrier table) and CidrSet (trusted proxies, allow lists).
//
// Why a multibit trie with prefix expansion: the table is loaded once and then only read, by
// every io thread, so we pay at load time to make a lookup a handful of array reads with no
// branch on the table's size. Each address family has a 16-bit root (65,536 slots) followed by
// 4-bit steps (16-slot nodes, one 64-byte cache line each). A prefix is expanded to the slots of
// the step it ends in; prefixes are inserted shortest first, so a longer prefix overwrites the
// expansion of a shorter one. A lookup walks down while a slot has a child, remembering the last
// value seen.
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
#include <vector>

#include "common/ip_address.h"

namespace ttlogin::common {

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
  [[nodiscard]] static std::optional<PrefixTrie> Build(std::vector<Entry> entries,
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
    [[nodiscard]] bool Insert(const IpPrefix& prefix, std::uint8_t value, std::size_t& budget);
    std::uint8_t Lookup(const std::uint8_t* bytes, int bits) const noexcept;
  };
  Family v4_;
  Family v6_;
};

}  // namespace ttlogin::common
