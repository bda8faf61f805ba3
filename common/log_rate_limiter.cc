#include "common/log_rate_limiter.h"

#include <fmt/format.h>

#include <algorithm>

namespace ttlogin::common {
namespace {

// One counter for the whole process; touched only when a line is refused, which is the flood
// case, where an atomic add is much cheaper than the formatting it saves.
std::atomic<std::uint64_t> g_total_suppressed{0};

std::int64_t Nanos(LogRateLimiter::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

LogRateLimiter::Admission LogRateLimiter::Admit(Clock::time_point now) {
  const std::int64_t t = Nanos(now);
  std::int64_t tat = theoretical_arrival_ns_.load(std::memory_order_relaxed);
  while (true) {
    const std::int64_t start = std::max(tat, t);
    if (start - t > tolerance_ns_) {
      // Out of tokens: count the line so the next admitted one can say what was dropped.
      if (suppressed_.fetch_add(1, std::memory_order_relaxed) == 0) {
        first_suppressed_ns_.store(t, std::memory_order_relaxed);
      }
      g_total_suppressed.fetch_add(1, std::memory_order_relaxed);
      return {};
    }
    if (theoretical_arrival_ns_.compare_exchange_weak(tat, start + interval_ns_,
                                                      std::memory_order_relaxed)) {
      break;
    }
  }
  Admission out;
  out.admitted = true;
  out.suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
  if (out.suppressed != 0) {
    out.suppressed_for = std::chrono::nanoseconds(
        std::max<std::int64_t>(0, t - first_suppressed_ns_.load(std::memory_order_relaxed)));
  }
  return out;
}

std::uint64_t LogRateLimiter::TotalSuppressed() {
  return g_total_suppressed.load(std::memory_order_relaxed);
}

std::string SuppressedSuffix(const LogRateLimiter::Admission& admission) {
  if (admission.suppressed == 0) return {};
  // Whole seconds, rounded up, so a burst dropped a moment ago does not read "in the last 0 s".
  const auto seconds =
      std::max<std::int64_t>(1, (admission.suppressed_for.count() + 999'999'999) / 1'000'000'000);
  return fmt::format(" ({} similar line{} suppressed in the last {} s)", admission.suppressed,
                     admission.suppressed == 1 ? "" : "s", seconds);
}

}  // namespace ttlogin::common
