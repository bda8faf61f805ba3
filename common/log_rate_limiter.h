// Bounds the log lines whose rate a remote peer controls (registrations, bad PDUs, refused or
// malformed requests...), so a hostile or broken peer cannot flush the log (and the start-up
// lines with it) through rotation.
//
// Each call site owns one LogRateLimiter shared by every connection and io thread, so the bound
// is global: 10,000 peers each logging a little are held to the same budget as one peer logging
// a lot. The limiter is a token bucket kept as GCRA (the "generic cell rate algorithm" of ATM
// traffic policing): one atomic "theoretical arrival time" updated by compare-and-swap, so
// admitting a line costs one load and one CAS, with no lock and no per-thread state. Lines it
// refuses are counted, and the next line admitted carries that count ("(N similar lines
// suppressed in the last S s)"); a process-wide total feeds the metric
// ttlogin_log_lines_suppressed_total.
//
// LogSampledCount is the other throttle, for events counted as they happen (refusals, a link's
// repeated faults): it logs the first few and then every Nth, each line carrying the count.
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

namespace ttlogin::common {

// Per call site: a burst of kPeerLogBurst lines, then kPeerLogPerSecond lines a second. About
// 200 bytes a line, so one flooded call site writes at most ~0.4 KB/s (~35 MB a day), far below
// the default rotation budget (LogMaxSizeMB x LogMaxFiles = 500 MB), while a cluster start of 20
// msg_servers still logs every registration.
inline constexpr std::uint32_t kPeerLogBurst = 20;
inline constexpr std::uint32_t kPeerLogPerSecond = 2;

class LogRateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  struct Admission {
    bool admitted = false;
    // When admitted: lines refused since the previous admitted line, and how long ago the first
    // of them was refused.
    std::uint64_t suppressed = 0;
    std::chrono::nanoseconds suppressed_for{0};
  };

  constexpr explicit LogRateLimiter(std::uint32_t burst = kPeerLogBurst,
                                    std::uint32_t per_second = kPeerLogPerSecond)
      : interval_ns_(kNanosPerSecond / (per_second == 0 ? 1 : per_second)),
        tolerance_ns_(interval_ns_ * static_cast<std::int64_t>(burst == 0 ? 0 : burst - 1)) {}
  LogRateLimiter(const LogRateLimiter&) = delete;
  LogRateLimiter& operator=(const LogRateLimiter&) = delete;

  // Decides whether one more line may be written at `now`. Thread-safe and lock-free.
  Admission Admit(Clock::time_point now = Clock::now());

  // Lines refused by every limiter of the process since it started.
  static std::uint64_t TotalSuppressed();

 private:
  static constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

  const std::int64_t interval_ns_;   // one token's worth of time
  const std::int64_t tolerance_ns_;  // how far ahead of now the bucket may run: burst - 1 tokens
  std::atomic<std::int64_t> theoretical_arrival_ns_{0};
  std::atomic<std::uint64_t> suppressed_{0};
  std::atomic<std::int64_t> first_suppressed_ns_{0};
};

// The text appended to the first line written after some were suppressed, e.g.
// " (1234 similar lines suppressed in the last 10 s)"; empty when none were.
std::string SuppressedSuffix(const LogRateLimiter::Admission& admission);

// Writes one line through `limiter`: nothing when the level is off (no token is spent) or the
// limiter refuses it; with the suppressed count appended when lines were dropped before it.
template <typename... Args>
void LogLimited(LogRateLimiter& limiter, spdlog::level::level_enum level,
                fmt::format_string<Args...> format, Args&&... args) {
  if (!spdlog::should_log(level)) return;
  const LogRateLimiter::Admission admission = limiter.Admit();
  if (!admission.admitted) return;
  if (admission.suppressed == 0) {
    spdlog::log(level, format, std::forward<Args>(args)...);
    return;
  }
  spdlog::log(level, "{}{}", fmt::format(format, std::forward<Args>(args)...),
              SuppressedSuffix(admission));
}

// Which occurrences of a counted event get a log line: the first `first`, then one in `every`
// (none more when `every` is 0). For events whose running count is worth reading in the log
// ("(N refused so far)"): the count stays exact while the lines thin out, so a peer repeating one
// fault forever costs a line per thousand faults, not a line per fault.
struct LogSampling {
  std::uint64_t first = 0;
  std::uint64_t every = 0;
  constexpr bool Logs(std::uint64_t n) const {
    return n <= first || (every != 0 && n % every == 0);
  }
};

// The running count of one kind of event, sampled for the log by kSampling. `Word` is
// std::uint64_t for a count one thread keeps (one link's warnings: no atomic on its path), or
// std::atomic<std::uint64_t> for a count threads share (SharedLogSampledCount).
template <LogSampling kSampling, typename Word = std::uint64_t>
class LogSampledCount {
 public:
  // Counts one occurrence. Returns the count so far when this occurrence is to be logged, 0 when
  // it is not.
  [[nodiscard]] std::uint64_t Count() {
    std::uint64_t n;
    if constexpr (std::is_integral_v<Word>) {
      n = ++count_;
    } else {
      n = count_.fetch_add(1, std::memory_order_relaxed) + 1;
    }
    return kSampling.Logs(n) ? n : 0;
  }

 private:
  Word count_{0};
};

template <LogSampling kSampling>
using SharedLogSampledCount = LogSampledCount<kSampling, std::atomic<std::uint64_t>>;

}  // namespace ttlogin::common

// A log line whose rate a remote peer controls: rate-limited per call site, for the whole
// process. Use it for every line a peer can trigger at will; spdlog::... directly for lines the
// operator or the server's own lifecycle triggers.
#define TTLOGIN_LOG_PER_PEER(level, ...)                                           \
  do {                                                                             \
    static ::ttlogin::common::LogRateLimiter ttlogin_peer_log_limiter;             \
    ::ttlogin::common::LogLimited(ttlogin_peer_log_limiter, (level), __VA_ARGS__); \
  } while (false)
