#include "server/registry/load_key.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>

namespace ttlogin::registry {
namespace {

constexpr std::uint32_t kTop = std::numeric_limits<std::uint32_t>::max();  // 2^32 - 1

// The sign of a/b - c/d, computed exactly by cross-multiplication.
int CompareRatios(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d) {
  using Wide = unsigned __int128;
  const Wide left = static_cast<Wide>(a) * d;
  const Wide right = static_cast<Wide>(c) * b;
  return left < right ? -1 : (left > right ? 1 : 0);
}

int CompareKeys(std::uint64_t x, std::uint64_t y) {
  return x < y ? -1 : (x > y ? 1 : 0);
}

TEST(LoadKeyTest, CountKeyIsTheLoadWithProvisionalUsers) {
  EXPECT_EQ(CountKey(0, 0), 0u);
  EXPECT_EQ(CountKey(7, 0), 7u);
  EXPECT_EQ(CountKey(5, 3), 8u);
  EXPECT_EQ(CountKey(0, 4), CountKey(4, 0));
  // Both at the top still fit: the sum needs 33 bits, far below the keys reserved above it.
  EXPECT_EQ(CountKey(kTop, kTop), 2 * std::uint64_t{kTop});
  EXPECT_LT(CountKey(kTop, kTop), kMaxKey);
  // least_count ignores max: eligibility (cur < max) is judged apart from the key.
  EXPECT_EQ(LoadKey(Policy::kLeastCount, 5, 3, 1), 8u);
  EXPECT_EQ(LoadKey(Policy::kLeastCount, 5, 0, 0), 5u);
}

TEST(LoadKeyTest, RatioKeysOrderExactlyAsTheRatiosBelowOne) {
  std::mt19937_64 rng(20240601);
  // Magnitudes from tiny to the top of the 32-bit range, so both small and huge maxima meet.
  const auto draw_max = [&rng] {
    const unsigned bits = 1 + static_cast<unsigned>(rng() % 32);
    const std::uint64_t below = std::uint64_t{1} << bits;
    return static_cast<std::uint32_t>(1 + rng() % (below - 1));
  };
  int orders_seen[3] = {0, 0, 0};
  for (int i = 0; i < 200000; ++i) {
    const std::uint32_t max_a = draw_max();
    const std::uint32_t max_b = i % 4 == 0 ? max_a : draw_max();
    const std::uint32_t load_a = static_cast<std::uint32_t>(rng() % max_a);
    // Every few draws, a load right next to the other's ratio, where a coarse key would tie.
    std::uint32_t load_b = static_cast<std::uint32_t>(rng() % max_b);
    if (i % 3 == 0) {
      load_b = static_cast<std::uint32_t>(std::uint64_t{load_a} * max_b / max_a);
    }
    const int want = CompareRatios(load_a, max_a, load_b, max_b);
    const int got = CompareKeys(RatioKey(load_a, 0, max_a), RatioKey(load_b, 0, max_b));
    ASSERT_EQ(got, want) << load_a << "/" << max_a << " vs " << load_b << "/" << max_b;
    ++orders_seen[want + 1];
  }
  // The draws exercised all three outcomes, ties included.
  EXPECT_GT(orders_seen[0], 1000);
  EXPECT_GT(orders_seen[1], 1000);
  EXPECT_GT(orders_seen[2], 1000);
}

TEST(LoadKeyTest, NeighbouringRatiosAtTheTopOfTheRangeStayApart) {
  // (2^32-3)/(2^32-2) < (2^32-2)/(2^32-1): they differ by 1/((2^32-2)(2^32-1)), the smallest gap
  // two ratios of 32-bit numbers can have.
  const std::uint64_t lower = RatioKey(kTop - 2, 0, kTop - 1);
  const std::uint64_t upper = RatioKey(kTop - 1, 0, kTop);
  EXPECT_LT(lower, upper);
  EXPECT_LT(upper, kRatioOne);
  // 1/(2^32-1) < 1/(2^32-2): the smallest non-zero ratios are apart from each other and from 0.
  EXPECT_GT(RatioKey(1, 0, kTop), 0u);
  EXPECT_LT(RatioKey(1, 0, kTop), RatioKey(1, 0, kTop - 1));
}

TEST(LoadKeyTest, EqualRatiosShareOneKey) {
  EXPECT_EQ(RatioKey(1, 0, 2), RatioKey(2, 0, 4));
  EXPECT_EQ(RatioKey(1, 0, 2), RatioKey(kTop / 2, 0, kTop - 1));
  EXPECT_EQ(RatioKey(1, 0, 2), kRatioOne / 2);
  std::mt19937 rng(7);
  for (int i = 0; i < 10000; ++i) {
    const std::uint32_t max = 2 + rng() % 1000;
    const std::uint32_t load = rng() % max;
    const std::uint32_t factor = 1 + rng() % (kTop / max);
    ASSERT_EQ(RatioKey(load, 0, max), RatioKey(load * factor, 0, max * factor))
        << load << "/" << max << " times " << factor;
  }
}

TEST(LoadKeyTest, ExtremesZeroAndTheTop) {
  EXPECT_EQ(RatioKey(0, 0, 1), 0u);
  EXPECT_EQ(RatioKey(0, 0, kTop), 0u);
  // A full entry (load == max) sits exactly at 1, whatever its size.
  EXPECT_EQ(RatioKey(1, 0, 1), kRatioOne);
  EXPECT_EQ(RatioKey(kTop, 0, kTop), kRatioOne);
  // max 0 ranks last, but below the "no candidate" word a heap publishes when empty.
  EXPECT_EQ(RatioKey(0, 0, 0), kMaxKey);
  EXPECT_EQ(RatioKey(kTop, kTop, 0), kMaxKey);
  // The largest excess is clamped to the last real key, never reaching kNoCandidate.
  EXPECT_EQ(RatioKey(kTop, kTop, 1), kMaxKey);
  EXPECT_LT(RatioKey(kTop, kTop, kTop), kMaxKey);
  EXPECT_LT(kMaxKey, kNoCandidate);
}

TEST(LoadKeyTest, ProvisionalUsersCountAsLoad) {
  EXPECT_EQ(RatioKey(3, 2, 10), RatioKey(5, 0, 10));
  EXPECT_LT(RatioKey(3, 1, 10), RatioKey(3, 2, 10));
  // Holds can take an entry to and beyond its max: it then ranks after every entry below max...
  EXPECT_EQ(RatioKey(9, 1, 10), kRatioOne);
  EXPECT_GT(RatioKey(9, 2, 10), kRatioOne);
  EXPECT_GT(RatioKey(9, 2, 10), RatioKey(kTop - 1, 0, kTop));
  // ...ordered by its excess over max relative to max: 2/10 over beats 1/20 over.
  EXPECT_GT(RatioKey(10, 2, 10), RatioKey(20, 1, 20));
  EXPECT_LT(RatioKey(10, 1, 10), RatioKey(10, 2, 10));
  // At a resolution of 2^-16: excesses of 2^-20 and 2^-19 tie.
  constexpr std::uint32_t kBig = 1u << 20;
  EXPECT_EQ(RatioKey(kBig, 1, kBig), RatioKey(kBig, 2, kBig));
  // The sum cur + held of two 32-bit numbers does not overflow.
  EXPECT_GT(RatioKey(kTop, kTop, kTop), kRatioOne);
}

TEST(LoadKeyTest, PolicyPicksTheKey) {
  // 10 of 1000 is a smaller ratio than 5 of 10, but a larger count.
  EXPECT_GT(LoadKey(Policy::kLeastCount, 10, 0, 1000), LoadKey(Policy::kLeastCount, 5, 0, 10));
  EXPECT_LT(LoadKey(Policy::kLeastRatio, 10, 0, 1000), LoadKey(Policy::kLeastRatio, 5, 0, 10));
  EXPECT_EQ(LoadKey(Policy::kP2c, 10, 3, 1000), RatioKey(10, 3, 1000));
  EXPECT_EQ(LoadKey(Policy::kLeastRatio, 10, 3, 1000), RatioKey(10, 3, 1000));
  EXPECT_EQ(LoadKey(Policy::kLeastCount, 10, 3, 1000), CountKey(10, 3));
}

}  // namespace
}  // namespace ttlogin::registry
