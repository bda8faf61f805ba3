#include "tools/loadgen/histogram.h"

#include <algorithm>
#include <bit>

namespace ttlogin::tools::loadgen {

int LatencyHistogram::IndexOf(std::uint64_t ns) {
  if (ns < static_cast<std::uint64_t>(kSub)) return static_cast<int>(ns);
  const int exponent = 63 - std::countl_zero(ns);  // >= kSubBits
  const int sub = static_cast<int>((ns >> (exponent - kSubBits)) & (kSub - 1));
  return (exponent - kSubBits + 1) * kSub + sub;
}

std::uint64_t LatencyHistogram::UpperBoundOf(int index) {
  if (index < kSub) return static_cast<std::uint64_t>(index);
  const int exponent = index / kSub + kSubBits - 1;
  const std::uint64_t sub = static_cast<std::uint64_t>(index % kSub);
  const std::uint64_t base = (std::uint64_t{1} << exponent) | (sub << (exponent - kSubBits));
  return base + (std::uint64_t{1} << (exponent - kSubBits)) - 1;
}

void LatencyHistogram::Record(std::uint64_t ns) {
  ++counts_[static_cast<std::size_t>(IndexOf(ns))];
  ++count_;
  max_ns_ = std::max(max_ns_, ns);
}

double LatencyHistogram::PercentileUs(double fraction) const {
  if (count_ == 0) return 0;
  const auto target = static_cast<std::uint64_t>(fraction * static_cast<double>(count_ - 1)) + 1;
  std::uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[static_cast<std::size_t>(i)];
    if (seen >= target) {
      return static_cast<double>(std::min(UpperBoundOf(i), max_ns_)) / 1000.0;
    }
  }
  return MaxUs();
}

}  // namespace ttlogin::tools::loadgen
