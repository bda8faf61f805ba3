// The carrier-aware network table: from a client's IP address, decide whether a msg_server's
// first (ip1) or second (ip2) address is handed out as "prior". Loaded from a text file
// (NetworkTable=), looked up on every login. docs/NETWORK_TABLE.md has the file format and the
// figures; common/prefix_trie.h the lookup structure and its cost.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/ip_address.h"
#include "common/prefix_trie.h"

namespace ttlogin::common {

enum class AddressPreference : std::uint8_t { kNone, kIp1, kIp2 };
std::string_view ToString(AddressPreference preference);  // "none", "ip1", "ip2"

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
  [[nodiscard]] static std::optional<NetworkTable> Parse(
      std::string_view text, std::string_view source_name, std::string* error,
      std::size_t max_trie_nodes = kMaxPrefixTrieNodes);
  // Reads a regular file of at most kMaxNetworkTableFileSize bytes; errors are "<path>: <what>"
  // for the file itself, as in Parse for its lines. An empty file is an empty table.
  [[nodiscard]] static std::optional<NetworkTable> LoadFile(const std::string& path,
                                                            std::string* error);

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

}  // namespace ttlogin::common
