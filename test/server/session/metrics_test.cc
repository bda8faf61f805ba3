// Metrics: per-thread blocks and the shared overflow block sum to exact totals, and latencies
// land in the bucket whose upper bound ("le") they do not exceed.
#include "server/session/metrics.h"

#include <gtest/gtest.h>

#include <latch>
#include <optional>
#include <thread>
#include <vector>

namespace ttlogin::server {
namespace {

using std::chrono::microseconds;
using std::chrono::nanoseconds;

constexpr std::size_t kBuckets = kLatencyBucketsUs.size() + 1;

// Runs `body(thread_index)` on `threads` threads that all start together, so the threads beyond
// the per-thread blocks write the overflow block at the same time.
template <typename Body>
void RunTogether(std::size_t threads, Body body) {
  std::latch start(static_cast<std::ptrdiff_t>(threads));
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      start.arrive_and_wait();
      body(t);
    });
  }
  for (std::thread& th : pool)
    th.join();
}

TEST(MetricsTest, CountersAreExactWithMoreThreadsThanBlocks) {
  Metrics metrics;
  // Twice the blocks and some: most threads share the overflow block.
  const std::size_t threads = 2 * Metrics::kBlocks + 3;
  constexpr std::uint64_t kAdds = 200'000;
  RunTogether(threads, [&](std::size_t t) {
    for (std::uint64_t i = 0; i < kAdds; ++i) {
      metrics.Add(Counter::kPduHeartbeat);
      metrics.Add(Counter::kRegistryUpdates, t + 1);
    }
  });
  EXPECT_EQ(metrics.Get(Counter::kPduHeartbeat), threads * kAdds);
  // Sum over t of (t + 1) * kAdds.
  EXPECT_EQ(metrics.Get(Counter::kRegistryUpdates), threads * (threads + 1) / 2 * kAdds);
  EXPECT_EQ(metrics.Get(Counter::kPduLoginReq), 0u);
}

TEST(MetricsTest, HistogramsAreExactWithMoreThreadsThanBlocks) {
  Metrics metrics;
  const std::size_t threads = Metrics::kBlocks + 5;
  constexpr std::uint64_t kRounds = 20'000;
  // Each round observes one latency inside each bucket: 0 us, then each bound.
  RunTogether(threads, [&](std::size_t) {
    for (std::uint64_t i = 0; i < kRounds; ++i) {
      metrics.Observe(Histogram::kPduAnswer, microseconds(0));
      for (std::uint32_t bound : kLatencyBucketsUs) {
        metrics.Observe(Histogram::kPduAnswer, microseconds(bound));
      }
    }
  });
  std::uint64_t bound_sum = 0;
  for (std::uint32_t bound : kLatencyBucketsUs)
    bound_sum += bound;
  const std::uint64_t rounds = threads * kRounds;
  const Metrics::HistogramSnapshot s = metrics.Get(Histogram::kPduAnswer);
  // Bucket 0 holds the 0 us and the first bound; bucket i (i >= 1) holds bound i; +Inf none.
  for (std::size_t i = 0; i + 1 < kBuckets; ++i) {
    EXPECT_EQ(s.cumulative[i], (i + 2) * rounds) << "bucket " << i;
  }
  EXPECT_EQ(s.cumulative[kBuckets - 1], s.cumulative[kBuckets - 2]);
  EXPECT_EQ(s.count, (kLatencyBucketsUs.size() + 1) * rounds);
  EXPECT_EQ(s.sum_us, bound_sum * rounds);
  EXPECT_EQ(metrics.Get(Histogram::kHttpAnswer).count, 0u);
}

// Which bucket (by index) one observation of `latency` landed in, read from a fresh Metrics.
std::optional<std::size_t> BucketOf(nanoseconds latency) {
  Metrics metrics;
  metrics.Observe(Histogram::kHttpAnswer, latency);
  const Metrics::HistogramSnapshot s = metrics.Get(Histogram::kHttpAnswer);
  if (s.count != 1) return std::nullopt;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    if (s.cumulative[i] == 1) return i;
  }
  return std::nullopt;
}

TEST(MetricsTest, ABucketHoldsItsUpperBoundAndTheNextStartsOneMicrosecondAbove) {
  for (std::size_t i = 0; i < kLatencyBucketsUs.size(); ++i) {
    const microseconds bound(kLatencyBucketsUs[i]);
    EXPECT_EQ(BucketOf(bound), i) << "le=" << bound.count();
    EXPECT_EQ(BucketOf(bound + microseconds(1)), i + 1) << "just above le=" << bound.count();
  }
  // Latencies count in whole microseconds: 999 ns past the bound is still the bound.
  EXPECT_EQ(BucketOf(microseconds(kLatencyBucketsUs[0]) + nanoseconds(999)), 0u);
  EXPECT_EQ(BucketOf(nanoseconds(0)), 0u);
  EXPECT_EQ(BucketOf(std::chrono::seconds(3600)), kBuckets - 1);  // +Inf
}

TEST(MetricsTest, ANegativeLatencyCountsAsZero) {
  // The clock is steady, but a latency computed from two reads of different clocks must not
  // wrap to an enormous sum.
  Metrics metrics;
  metrics.Observe(Histogram::kHttpAnswer, microseconds(-5));
  metrics.Observe(Histogram::kHttpAnswer, microseconds(30));
  const Metrics::HistogramSnapshot s = metrics.Get(Histogram::kHttpAnswer);
  EXPECT_EQ(s.count, 2u);
  EXPECT_EQ(s.sum_us, 30u);
  EXPECT_EQ(s.cumulative[0], 1u);
}

TEST(MetricsTest, OneThreadAlternatingBetweenTwoMetricsCountsExactly) {
  // Each switch claims a fresh block of the other Metrics (the thread cache holds one), so the
  // blocks run out and the rest of the counts go to the overflow blocks.
  Metrics a;
  Metrics b;
  const std::uint64_t switches = 3 * Metrics::kBlocks;
  for (std::uint64_t i = 0; i < switches; ++i) {
    a.Add(Counter::kReloads);
    b.Add(Counter::kReloads, 2);
    b.Observe(Histogram::kHttpAnswer, microseconds(100));
  }
  EXPECT_EQ(a.Get(Counter::kReloads), switches);
  EXPECT_EQ(b.Get(Counter::kReloads), 2 * switches);
  EXPECT_EQ(b.Get(Histogram::kHttpAnswer).count, switches);
  EXPECT_EQ(b.Get(Histogram::kHttpAnswer).sum_us, 100 * switches);
}

TEST(MetricsTest, AMetricsBuiltWhereAnotherLivedStartsFromZero) {
  // The thread cache is keyed by an id, not the address: a Metrics placed where a destroyed one
  // lived must not write into its predecessor's (freed) block.
  std::optional<Metrics> m;
  for (int round = 1; round <= 3; ++round) {
    m.emplace();
    EXPECT_EQ(m->Get(Counter::kHttp404), 0u) << "round " << round;
    for (int i = 0; i < round; ++i)
      m->Add(Counter::kHttp404);
    EXPECT_EQ(m->Get(Counter::kHttp404), static_cast<std::uint64_t>(round));
  }
}

TEST(MetricsTest, ConnectionCountsComeFromTheWiringsReaderAtScrapeTime) {
  Metrics metrics;
  // No reader lent (session tests, fuzzers): every listener reads as zero.
  EXPECT_EQ(metrics.Connections(ListenerKind::kHttp).opened, 0u);
  // The reader is asked at each read, per listener, so the figures are always the current ones.
  std::uint64_t http_opened = 5;
  metrics.set_connection_counts([&](ListenerKind l) {
    ConnectionCounts c;
    if (l == ListenerKind::kHttp) {
      c.opened = http_opened;
      c.closed = 2;
    }
    return c;
  });
  EXPECT_EQ(metrics.Connections(ListenerKind::kHttp).opened, 5u);
  EXPECT_EQ(metrics.Connections(ListenerKind::kHttp).closed, 2u);
  EXPECT_EQ(metrics.Connections(ListenerKind::kClient).opened, 0u);
  http_opened = 9;
  EXPECT_EQ(metrics.Connections(ListenerKind::kHttp).opened, 9u);
}

TEST(MetricsTest, ListenerNamesAreTheMetricLabels) {
  EXPECT_EQ(ListenerName(ListenerKind::kMsgServer), "msg_server");
  EXPECT_EQ(ListenerName(ListenerKind::kClient), "client");
  EXPECT_EQ(ListenerName(ListenerKind::kHttp), "http");
  EXPECT_EQ(ListenerName(ListenerKind::kAdmin), "admin");
  EXPECT_EQ(ListenerName(ListenerKind::kHttps), "https");
}

}  // namespace
}  // namespace ttlogin::server
