#include "server/metrics.h"

#include <algorithm>

namespace ttlogin::server {

std::string_view ListenerName(ListenerKind l) {
  switch (l) {
    case ListenerKind::kMsgServer:
      return "msg_server";
    case ListenerKind::kClient:
      return "client";
    case ListenerKind::kHttp:
      return "http";
    case ListenerKind::kAdmin:
      return "admin";
    case ListenerKind::kCount:
      break;
  }
  return "unknown";
}

Metrics::Block& Metrics::Mine() {
  // Blocks are handed out per (thread, Metrics) pair; one cached pair covers the usual case of a
  // single Metrics per process.
  thread_local const Metrics* owner = nullptr;
  thread_local std::size_t index = 0;
  if (owner != this) {
    owner = this;
    index = next_block_.fetch_add(1, std::memory_order_relaxed) % kBlocks;
  }
  return blocks_[index];
}

void Metrics::Observe(Histogram h, std::chrono::nanoseconds latency) {
  const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::microseconds>(latency).count()));
  const auto it = std::lower_bound(kLatencyBucketsUs.begin(), kLatencyBucketsUs.end(), us);
  const std::size_t bucket = static_cast<std::size_t>(it - kLatencyBucketsUs.begin());
  Block& b = Mine();
  const auto hi = static_cast<std::size_t>(h);
  b.buckets[hi][bucket].fetch_add(1, std::memory_order_relaxed);
  b.sum_us[hi].fetch_add(us, std::memory_order_relaxed);
}

std::uint64_t Metrics::Get(Counter c) const {
  std::uint64_t total = 0;
  for (const Block& b : blocks_) {
    total += b.counters[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
  }
  return total;
}

Metrics::HistogramSnapshot Metrics::Get(Histogram h) const {
  HistogramSnapshot s;
  const auto hi = static_cast<std::size_t>(h);
  std::array<std::uint64_t, kBuckets> per_bucket{};
  for (const Block& b : blocks_) {
    for (std::size_t i = 0; i < kBuckets; ++i) {
      per_bucket[i] += b.buckets[hi][i].load(std::memory_order_relaxed);
    }
    s.sum_us += b.sum_us[hi].load(std::memory_order_relaxed);
  }
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    running += per_bucket[i];
    s.cumulative[i] = running;
  }
  s.count = running;
  return s;
}

}  // namespace ttlogin::server
