#include "common/prefix_trie.h"

#include <algorithm>

namespace ttlogin::common {
namespace {

constexpr int kRootBits = 16;
constexpr int kStepBits = 4;
constexpr std::uint32_t kValueMask = 3;

// The n-th 4-bit step of an address, counted from the most significant bits.
std::uint32_t Nibble(const std::uint8_t* bytes, int n) {
  const std::uint8_t b = bytes[n >> 1];
  return (n & 1) != 0 ? b & 15u : static_cast<std::uint32_t>(b >> 4);
}

}  // namespace

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

}  // namespace ttlogin::common
