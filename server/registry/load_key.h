// Load keys: the order in which the registry prefers eligible msg_servers, as one 64-bit number
// per entry (smaller is chosen first). Pure functions of an entry's counts, so the heaps compare
// plain integers and the order is tested on its own.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "server/registry/registry_types.h"

namespace ttlogin::registry {

// The key an empty heap publishes; no entry's key reaches it.
inline constexpr std::uint64_t kNoCandidate = std::numeric_limits<std::uint64_t>::max();
inline constexpr std::uint64_t kMaxKey = kNoCandidate - 1;

// Ratio keys below 1 fill [0, kRatioOne); at and above 1 (only reachable with holds) they follow.
inline constexpr std::uint64_t kRatioOne = kNoCandidate - 0xffffffffULL;  // 2^64 - 2^32

// least_count: the load itself, counting `held` provisional users (assignment holds).
constexpr std::uint64_t CountKey(std::uint32_t cur, std::uint32_t held) {
  return std::min(std::uint64_t{cur} + held, kMaxKey);
}

// least_ratio and p2c: load / max as a fixed-point fraction, load = cur + held. A load below max
// maps to floor(load * kRatioOne / max): two different ratios of 32-bit numbers differ by at least
// 1/(max_a * max_b), and max_a * max_b < kRatioOne, so their keys differ by more than 1: never
// shared, while equal ratios always share one. A load at or over max (held logins beyond the free
// places) maps above all of those, ordered by (load - max) / max at a resolution of 2^-16. A max
// of 0 ranks last.
constexpr std::uint64_t RatioKey(std::uint32_t cur, std::uint32_t held, std::uint32_t max) {
  if (max == 0) return kMaxKey;
  const std::uint64_t load = std::uint64_t{cur} + held;
  using Wide = unsigned __int128;
  if (load < max) return static_cast<std::uint64_t>(static_cast<Wide>(load) * kRatioOne / max);
  const std::uint64_t over = ((load - max) << 16) / max;  // load < 2^33: no overflow
  return kRatioOne + std::min<std::uint64_t>(over, kMaxKey - kRatioOne);
}

// The key of an entry under `policy`.
constexpr std::uint64_t LoadKey(Policy policy, std::uint32_t cur, std::uint32_t held,
                                std::uint32_t max) {
  return policy == Policy::kLeastCount ? CountKey(cur, held) : RatioKey(cur, held, max);
}

}  // namespace ttlogin::registry
