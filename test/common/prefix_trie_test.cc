#include "common/prefix_trie.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

#include "test/common/address_test_util.h"

namespace ttlogin::common {
namespace {

using testutil::Ip;
using testutil::Prefix;

PrefixTrie Trie(std::vector<PrefixTrie::Entry> entries) {
  auto trie = PrefixTrie::Build(std::move(entries));
  EXPECT_TRUE(trie.has_value());
  return trie ? std::move(*trie) : PrefixTrie{};
}

// --- longest-prefix match ----------------------------------------------------------------------

// Nested prefixes across the 16-bit root and two 4-bit steps, in every insertion order: the
// longest one containing the address wins, whichever came first.
TEST(PrefixTrieTest, LongestPrefixWinsInEveryInsertionOrder) {
  std::vector<PrefixTrie::Entry> entries = {{Prefix("10.0.0.0/8"), 1},
                                            {Prefix("10.1.0.0/16"), 2},
                                            {Prefix("10.1.0.0/18"), 3},
                                            {Prefix("10.1.2.0/24"), 1}};
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return PrefixLess(a.prefix, b.prefix); });
  int orders = 0;
  do {
    const PrefixTrie t = Trie(entries);
    EXPECT_EQ(t.Lookup(Ip("10.200.0.1")), 1);
    EXPECT_EQ(t.Lookup(Ip("10.1.64.0")), 2);
    EXPECT_EQ(t.Lookup(Ip("10.1.63.255")), 3);
    EXPECT_EQ(t.Lookup(Ip("10.1.2.77")), 1);
    EXPECT_EQ(t.Lookup(Ip("10.1.3.0")), 3);
    EXPECT_EQ(t.Lookup(Ip("11.0.0.0")), 0);
    ++orders;
  } while (std::next_permutation(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return PrefixLess(a.prefix, b.prefix);
  }));
  EXPECT_EQ(orders, 24);
}

IpAddress V4(std::uint32_t a) {
  return IpAddress::V4({static_cast<std::uint8_t>(a >> 24), static_cast<std::uint8_t>(a >> 16),
                        static_cast<std::uint8_t>(a >> 8), static_cast<std::uint8_t>(a)});
}

// A prefix that ends inside a 4-bit step is expanded to the slots it covers, and no further.
TEST(PrefixTrieTest, PrefixesEndingInsideAStepCoverExactlyTheirAddresses) {
  constexpr std::uint32_t kNetwork = 0x0a140000;  // 10.20.0.0
  for (int length = 17; length <= 32; ++length) {
    const PrefixTrie t = Trie({{IpPrefix{V4(kNetwork), length}, 2}});
    const std::uint32_t last = kNetwork + ((std::uint32_t{1} << (32 - length)) - 1);
    EXPECT_EQ(t.Lookup(V4(kNetwork)), 2) << length;
    EXPECT_EQ(t.Lookup(V4(last)), 2) << length;
    EXPECT_EQ(t.Lookup(V4(last + 1)), 0) << length;
    EXPECT_EQ(t.Lookup(V4(kNetwork - 1)), 0) << length;
  }
  const PrefixTrie v6 = Trie({{Prefix("2001:db8::/126"), 3}});
  EXPECT_EQ(v6.Lookup(Ip("2001:db8::")), 3);
  EXPECT_EQ(v6.Lookup(Ip("2001:db8::3")), 3);
  EXPECT_EQ(v6.Lookup(Ip("2001:db8::4")), 0);
  EXPECT_EQ(v6.Lookup(Ip("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")), 0);
}

TEST(PrefixTrieTest, FamiliesAreSeparate) {
  const PrefixTrie v6_default = Trie({{Prefix("::/0"), 2}});
  EXPECT_EQ(v6_default.Lookup(Ip("::1")), 2);
  EXPECT_EQ(v6_default.Lookup(Ip("1.2.3.4")), 0);
  EXPECT_EQ(v6_default.Lookup(Ip("::ffff:1.2.3.4")), 0);
  const PrefixTrie v4_default = Trie({{Prefix("0.0.0.0/0"), 1}});
  EXPECT_EQ(v4_default.Lookup(Ip("1.2.3.4")), 1);
  EXPECT_EQ(v4_default.Lookup(Ip("::")), 0);
}

TEST(PrefixTrieTest, EmptyTrieMatchesNothing) {
  EXPECT_EQ(PrefixTrie{}.Lookup(Ip("1.2.3.4")), 0);
  EXPECT_EQ(PrefixTrie{}.Lookup(Ip("::1")), 0);
  const PrefixTrie built = Trie({});
  EXPECT_EQ(built.Lookup(Ip("0.0.0.0")), 0);
  EXPECT_EQ(built.Lookup(Ip("::")), 0);
}

// --- memory ------------------------------------------------------------------------------------

// A family costs its 256 KiB root only once it has a prefix; each node is one cache line.
TEST(PrefixTrieTest, MemoryIsARootPerFamilyInUsePlusItsNodes) {
  constexpr std::size_t kRootBytes = 65'536 * 4;
  const std::size_t empty = Trie({}).MemoryBytes();
  EXPECT_LT(empty, std::size_t{1024});
  const std::size_t v4_short = Trie({{Prefix("10.0.0.0/8"), 1}}).MemoryBytes();
  EXPECT_GE(v4_short, empty + kRootBytes);
  EXPECT_LT(v4_short, empty + kRootBytes + 2 * PrefixTrie::kNodeBytes);
  const std::size_t both =
      Trie({{Prefix("10.0.0.0/8"), 1}, {Prefix("2001::/16"), 1}}).MemoryBytes();
  EXPECT_GE(both, empty + 2 * kRootBytes);
  EXPECT_LT(both, empty + 2 * kRootBytes + 4 * PrefixTrie::kNodeBytes);
  // A /32 adds 4 nodes below the root; a /128 adds 28.
  const std::size_t host = Trie({{Prefix("10.1.2.3"), 1}}).MemoryBytes();
  EXPECT_GE(host, v4_short + 4 * PrefixTrie::kNodeBytes);
  EXPECT_LT(host, v4_short + 6 * PrefixTrie::kNodeBytes);
}

// The budget counts nodes below the roots, both families together; Build refuses the entries
// that need one more node than allowed.
TEST(PrefixTrieTest, NodeBudgetIsExact) {
  const auto fits = [](std::vector<std::string_view> prefixes, std::size_t max_nodes) {
    std::vector<PrefixTrie::Entry> entries;
    for (const std::string_view p : prefixes)
      entries.push_back({Prefix(p), 1});
    return PrefixTrie::Build(std::move(entries), max_nodes).has_value();
  };
  EXPECT_TRUE(fits({"10.0.0.0/16", "2001::/16"}, 0));  // in the roots
  EXPECT_TRUE(fits({"10.0.0.0/20"}, 1));
  EXPECT_FALSE(fits({"10.0.0.0/17"}, 0));
  EXPECT_TRUE(fits({"10.1.2.3"}, 4));
  EXPECT_FALSE(fits({"10.1.2.3"}, 3));
  EXPECT_TRUE(fits({"2001:db8::1"}, 28));
  EXPECT_FALSE(fits({"2001:db8::1"}, 27));
  EXPECT_TRUE(fits({"2001:db8::1", "2001:db8::2"}, 28));  // one shared path
  EXPECT_FALSE(fits({"2001:db8::1", "10.1.2.3"}, 31));
  EXPECT_TRUE(fits({"2001:db8::1", "10.1.2.3"}, 32));
}

// --- the trie against a linear scan ------------------------------------------------------------

// The plainest longest-prefix match: every network, as two 64-bit words and a mask (so that a
// Debug or sanitizer build gets through 100,000 x 3,000 comparisons in a few seconds).
class LinearScan {
 public:
  explicit LinearScan(const std::vector<PrefixTrie::Entry>& entries) {
    for (const PrefixTrie::Entry& r : entries) {
      Row row;
      row.v6 = r.prefix.address.v6;
      row.length = r.prefix.length;
      row.value = r.value;
      const Words w = ToWords(r.prefix.address);
      row.hi = w.hi;
      row.lo = w.lo;
      // IPv4 sits in the top 32 bits of hi with zeros after it, so one mask rule fits both.
      const int top = row.length;
      row.mask_hi = top >= 64 ? ~0ULL : top == 0 ? 0 : ~0ULL << (64 - top);
      row.mask_lo = top <= 64 ? 0 : top >= 128 ? ~0ULL : ~0ULL << (128 - top);
      rows_.push_back(row);
    }
  }
  std::uint8_t Lookup(const IpAddress& a) const {
    const Words w = ToWords(a);
    int best = -1;
    std::uint8_t out = 0;
    for (const Row& r : rows_) {
      if (r.v6 == a.v6 && r.length > best && (w.hi & r.mask_hi) == r.hi &&
          (w.lo & r.mask_lo) == r.lo) {
        best = r.length;
        out = r.value;
      }
    }
    return out;
  }

 private:
  struct Words {
    std::uint64_t hi = 0, lo = 0;
  };
  struct Row {
    bool v6;
    int length;
    std::uint8_t value;
    std::uint64_t hi, lo, mask_hi, mask_lo;
  };
  static Words ToWords(const IpAddress& a) {
    Words w;
    for (int i = 0; i < 8; ++i) {
      w.hi = (w.hi << 8) | a.bytes[i];
      w.lo = (w.lo << 8) | a.bytes[8 + i];
    }
    return w;
  }
  std::vector<Row> rows_;
};

TEST(PrefixTrieTest, MatchesALinearScanOnRandomTries) {
  std::mt19937_64 rng(20240607);
  // Clustered so that prefixes nest: a few /12 "carriers" with random sub-networks inside.
  std::vector<IpAddress> bases;
  for (int i = 0; i < 8; ++i) {
    const auto r = rng();
    bases.push_back(
        IpAddress::V4({static_cast<std::uint8_t>(r), static_cast<std::uint8_t>(r >> 8), 0, 0}));
    std::array<std::uint8_t, 16> b{0x20, 0x01, static_cast<std::uint8_t>(r >> 16)};
    bases.push_back(IpAddress::V6(b));
  }
  const auto random_near = [&](const IpAddress& base) {
    IpAddress a = base;
    const int fixed = base.v6 ? 3 : 2;  // keep the cluster's leading bytes
    for (int i = fixed; i < a.bit_length() / 8; ++i)
      a.bytes[i] = static_cast<std::uint8_t>(rng());
    if (rng() % 8 == 0) a.bytes[fixed - 1] ^= static_cast<std::uint8_t>(rng());
    return a;
  };
  std::vector<PrefixTrie::Entry> refs;
  for (int i = 0; i < 3000; ++i) {
    const IpAddress a = random_near(bases[rng() % bases.size()]);
    const int bits = a.bit_length();
    int length = static_cast<int>(rng() % (bits + 1));
    if (rng() % 2 == 0) length = a.v6 ? 24 + static_cast<int>(rng() % 41) : 8 + rng() % 25;
    IpPrefix p{a, length};
    for (int bit = length; bit < bits; ++bit)
      p.address.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
    bool duplicate = false;
    for (const PrefixTrie::Entry& r : refs)
      duplicate = duplicate || r.prefix == p;
    if (duplicate) continue;
    refs.push_back({p, static_cast<std::uint8_t>(1 + rng() % 3)});
  }
  const LinearScan scan(refs);
  std::shuffle(refs.begin(), refs.end(), rng);  // Build must not depend on the order given
  const PrefixTrie t = Trie(refs);
  int matched = 0;
  for (int i = 0; i < 100'000; ++i) {
    IpAddress a;
    if (i % 3 == 0) {
      // Right at a prefix boundary: the first or last address of a listed network, or just
      // outside it.
      const PrefixTrie::Entry& r = refs[rng() % refs.size()];
      a = r.prefix.address;
      if (rng() % 2 == 0)
        for (int bit = r.prefix.length; bit < a.bit_length(); ++bit)
          a.bytes[bit / 8] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
      if (rng() % 2 == 0 && r.prefix.length > 0) {
        const int bit = r.prefix.length - 1;
        a.bytes[bit / 8] ^= static_cast<std::uint8_t>(0x80 >> (bit % 8));
      }
    } else {
      a = random_near(bases[rng() % bases.size()]);
    }
    const std::uint8_t want = scan.Lookup(a);
    matched += want != 0;
    ASSERT_EQ(int{t.Lookup(a)}, int{want}) << a.ToString();
  }
  EXPECT_GT(matched, 50'000);  // the test exercises matches, not only misses
}

}  // namespace
}  // namespace ttlogin::common
