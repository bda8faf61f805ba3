// LatencyHistogram: a fixed-size log-linear histogram of latencies in nanoseconds.
//
// Recording is one index computation and one increment (no allocation, no sort), so the load
// generator can record every reply at full rate. Each power of two is split into 32 linear
// sub-buckets, so a reported percentile is within about 3% of the true value.
#pragma once

#include <array>
#include <cstdint>

namespace ttlogin::tools::loadgen {

class LatencyHistogram {
 public:
  void Record(std::uint64_t ns);
  std::uint64_t count() const { return count_; }
  // The latency below which `fraction` (0..1) of the samples lie, in microseconds; 0 if empty.
  double PercentileUs(double fraction) const;
  double MaxUs() const { return static_cast<double>(max_ns_) / 1000.0; }

 private:
  static constexpr int kSubBits = 5;  // 32 sub-buckets per power of two
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSub;

  static int IndexOf(std::uint64_t ns);
  static std::uint64_t UpperBoundOf(int index);

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ns_ = 0;
};

}  // namespace ttlogin::tools::loadgen
