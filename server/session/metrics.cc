#include "server/session/metrics.h"

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
    case ListenerKind::kHttps:
      return "https";
    case ListenerKind::kCount:
      break;
  }
  return "unknown";
}

namespace {
std::atomic<std::uint64_t> g_next_metrics_id{1};
}  // namespace

Metrics::Metrics() : id_(g_next_metrics_id.fetch_add(1, std::memory_order_relaxed)) {}

Metrics::Slot Metrics::Claim() {
  // Blocks are claimed per (thread, Metrics) pair and never given back, so a block has one writer
  // for the life of the Metrics. A thread that alternates between two Metrics claims a fresh block
  // at each switch; once the blocks run out it uses the shared overflow block.
  const std::size_t index = next_block_.fetch_add(1, std::memory_order_relaxed);
  const Slot slot = index < kBlocks ? Slot{&blocks_[index], true} : Slot{&overflow_, false};
  cache_.id = id_;
  cache_.block = slot.block;
  cache_.exclusive = slot.exclusive;
  return slot;
}

void Metrics::Observe(Histogram h, std::chrono::nanoseconds latency) {
  const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::microseconds>(latency).count()));
  const auto it = std::lower_bound(kLatencyBucketsUs.begin(), kLatencyBucketsUs.end(), us);
  const std::size_t bucket = static_cast<std::size_t>(it - kLatencyBucketsUs.begin());
  const Slot slot = Mine();
  const auto hi = static_cast<std::size_t>(h);
  Bump(slot, slot.block->buckets[hi][bucket], 1);
  Bump(slot, slot.block->sum_us[hi], us);
}

std::uint64_t Metrics::Get(Counter c) const {
  std::uint64_t total =
      overflow_.counters[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
  for (const Block& b : blocks_) {
    total += b.counters[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
  }
  return total;
}

std::uint64_t Metrics::Closes(ListenerKind l, common::CloseReason r) const {
  const std::size_t i = CloseIndex(l, r);
  std::uint64_t total = overflow_.closes[i].load(std::memory_order_relaxed);
  for (const Block& b : blocks_)
    total += b.closes[i].load(std::memory_order_relaxed);
  return total;
}

Metrics::HistogramSnapshot Metrics::Get(Histogram h) const {
  HistogramSnapshot s;
  const auto hi = static_cast<std::size_t>(h);
  std::array<std::uint64_t, kBuckets> per_bucket{};
  auto add = [&](const Block& b) {
    for (std::size_t i = 0; i < kBuckets; ++i) {
      per_bucket[i] += b.buckets[hi][i].load(std::memory_order_relaxed);
    }
    s.sum_us += b.sum_us[hi].load(std::memory_order_relaxed);
  };
  for (const Block& b : blocks_)
    add(b);
  add(overflow_);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    running += per_bucket[i];
    s.cumulative[i] = running;
  }
  s.count = running;
  return s;
}

}  // namespace ttlogin::server
