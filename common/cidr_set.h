// CidrSet: a set of IPv4 and IPv6 networks written as a list ("127.0.0.1/32, 10.0.0.0/8 ::1"),
// for the config's allow lists (MsgServerAllowFrom) and trusted proxies (TrustedProxies).
// Membership is one PrefixTrie lookup: no allocation, no lock, whatever the list's length.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/ip_address.h"
#include "common/prefix_trie.h"

namespace ttlogin::common {

// Immutable once parsed; shared read-only by every io thread.
class CidrSet {
 public:
  // A list of networks (bare addresses allowed) separated by commas and/or blanks:
  // "127.0.0.1/32, 10.0.0.0/8 ::1". An empty list is an empty set. On failure `error` names the
  // first bad element (without a key or line: the caller knows where the list came from).
  [[nodiscard]] static std::optional<CidrSet> Parse(std::string_view list, std::string* error);

  bool Contains(const IpAddress& address) const noexcept { return trie_.Lookup(address) != 0; }
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }

 private:
  PrefixTrie trie_;
  std::size_t size_ = 0;
};

}  // namespace ttlogin::common
