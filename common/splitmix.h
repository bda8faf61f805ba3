// SplitMix64: a tiny, fast pseudo-random generator whose sequence depends only on its seed (the
// std:: distributions differ between standard libraries). For spreading choices and generating
// test traces; nothing that uses it needs secrecy.
#pragma once

#include <cstdint>

namespace ttlogin::common {

class SplitMix64 {
 public:
  explicit constexpr SplitMix64(std::uint64_t seed = 0) : state_(seed) {}

  constexpr std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n) by multiply-shift (bias below n / 2^64); 0 when n is 0.
  constexpr std::uint64_t Below(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }

  // True with probability num / den; den > 0.
  constexpr bool Chance(std::uint64_t num, std::uint64_t den) { return Below(den) < num; }

  constexpr void Seed(std::uint64_t seed) { state_ = seed; }

 private:
  std::uint64_t state_;
};

}  // namespace ttlogin::common
