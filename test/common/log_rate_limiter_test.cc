#include "common/log_rate_limiter.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace ttlogin::common {
namespace {

using Clock = LogRateLimiter::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A fixed starting point well away from the clock's epoch, so tests do not depend on uptime.
const Clock::time_point kT0 = Clock::time_point(std::chrono::hours(1));

TEST(LogRateLimiterTest, AdmitsTheBurstAtOnceThenRefuses) {
  LogRateLimiter limiter(5, 1);
  int admitted = 0;
  for (int i = 0; i < 100; ++i)
    admitted += limiter.Admit(kT0).admitted ? 1 : 0;
  EXPECT_EQ(admitted, 5);
}

TEST(LogRateLimiterTest, RefillsAtTheRateAndReportsWhatItDropped) {
  LogRateLimiter limiter(3, 2);  // one token every 500 ms
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(limiter.Admit(kT0).admitted);
  for (int i = 0; i < 7; ++i)
    EXPECT_FALSE(limiter.Admit(kT0 + milliseconds(100)).admitted);
  EXPECT_FALSE(limiter.Admit(kT0 + milliseconds(499)).admitted);  // 8 refused so far
  const auto next = limiter.Admit(kT0 + milliseconds(500));
  ASSERT_TRUE(next.admitted);
  EXPECT_EQ(next.suppressed, 8u);
  EXPECT_EQ(next.suppressed_for, milliseconds(400));  // since the first refusal at +100 ms
  EXPECT_EQ(SuppressedSuffix(next), " (8 similar lines suppressed in the last 1 s)");
  // The count was handed over once: the next admitted line reports nothing.
  const auto later = limiter.Admit(kT0 + seconds(10));
  ASSERT_TRUE(later.admitted);
  EXPECT_EQ(later.suppressed, 0u);
  EXPECT_EQ(SuppressedSuffix(later), "");
}

TEST(LogRateLimiterTest, AnIdleLimiterRefillsOnlyUpToTheBurst) {
  LogRateLimiter limiter(4, 10);
  int admitted = 0;
  for (int i = 0; i < 50; ++i)
    admitted += limiter.Admit(kT0 + std::chrono::hours(1)).admitted ? 1 : 0;
  EXPECT_EQ(admitted, 4);
}

TEST(LogRateLimiterTest, LongRunIsBoundedByBurstPlusRateTimesTime) {
  LogRateLimiter limiter(20, 2);
  int admitted = 0;
  std::uint64_t reported = 0;
  const int calls = 100'000;  // one a millisecond for 100 s
  for (int i = 0; i < calls; ++i) {
    const auto a = limiter.Admit(kT0 + milliseconds(i));
    if (a.admitted) {
      ++admitted;
      reported += a.suppressed;
    }
  }
  EXPECT_LE(admitted, 20 + 2 * 100);
  EXPECT_GE(admitted, 2 * 100);
  // Every refused line is reported by a later admitted one, except those after the last.
  EXPECT_LE(reported, static_cast<std::uint64_t>(calls - admitted));
  EXPECT_GE(reported, static_cast<std::uint64_t>(calls - admitted) - 1000);
}

TEST(LogRateLimiterTest, SuffixRoundsUpToWholeSeconds) {
  LogRateLimiter::Admission a;
  a.admitted = true;
  a.suppressed = 1;
  a.suppressed_for = std::chrono::nanoseconds(0);
  EXPECT_EQ(SuppressedSuffix(a), " (1 similar line suppressed in the last 1 s)");
  a.suppressed = 1234;
  a.suppressed_for = milliseconds(9'001);
  EXPECT_EQ(SuppressedSuffix(a), " (1234 similar lines suppressed in the last 10 s)");
}

TEST(LogRateLimiterTest, ThreadsSharingOneLimiterStayWithinTheBound) {
  LogRateLimiter limiter(50, 10);
  const std::uint64_t total_before = LogRateLimiter::TotalSuppressed();
  std::atomic<int> admitted{0};
  std::atomic<int> refused{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200'000; ++i) {
        if (limiter.Admit().admitted) {
          ++admitted;
        } else {
          ++refused;
        }
      }
    });
  }
  for (auto& t : threads)
    t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(admitted + refused, 4 * 200'000);
  EXPECT_GE(admitted, 50);
  EXPECT_LE(admitted, 50 + static_cast<int>(10 * elapsed) + 1) << elapsed << " s";
  EXPECT_GE(LogRateLimiter::TotalSuppressed() - total_before,
            static_cast<std::uint64_t>(refused.load()));
}

class LogLimitedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = spdlog::default_logger();
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out_);
    auto logger = std::make_shared<spdlog::logger>("test", sink);
    logger->set_pattern("%l %v");
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  void TearDown() override { spdlog::set_default_logger(previous_); }

  std::vector<std::string> Lines() const {
    std::vector<std::string> lines;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);)
      lines.push_back(line);
    return lines;
  }

  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(LogLimitedTest, WritesTheBurstThenTheSuppressedCountWhenItResumes) {
  LogRateLimiter limiter(3, 1000);  // a token every millisecond
  for (int i = 0; i < 1000; ++i)
    LogLimited(limiter, spdlog::level::warn, "peer {} did {}", "10.0.0.1:5", i);
  // Wait (bounded) for a token, then log once more: the count of dropped lines comes with it.
  const auto deadline = Clock::now() + seconds(5);
  std::size_t before = Lines().size();
  while (Lines().size() == before && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(2));
    LogLimited(limiter, spdlog::level::warn, "peer {} did {}", "10.0.0.1:5", -1);
  }
  const auto lines = Lines();
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines[0], "warning peer 10.0.0.1:5 did 0");
  EXPECT_EQ(lines[2], "warning peer 10.0.0.1:5 did 2");
  EXPECT_NE(lines[3].find("similar lines suppressed in the last"), std::string::npos) << lines[3];
  EXPECT_LT(lines.size(), 100u);
}

TEST_F(LogLimitedTest, ALevelThatIsOffSpendsNoToken) {
  LogRateLimiter limiter(2, 1);
  for (int i = 0; i < 100; ++i)
    LogLimited(limiter, spdlog::level::debug, "hidden {}", i);
  EXPECT_TRUE(Lines().empty());
  LogLimited(limiter, spdlog::level::info, "shown {}", 1);
  LogLimited(limiter, spdlog::level::info, "shown {}", 2);
  EXPECT_EQ(Lines(), (std::vector<std::string>{"info shown 1", "info shown 2"}));
}

TEST_F(LogLimitedTest, EachCallSiteOfTheMacroHasItsOwnBudget) {
  for (std::uint32_t i = 0; i < 10 * kPeerLogBurst; ++i) {
    TTLOGIN_LOG_PER_PEER(spdlog::level::info, "site a {}", i);
    TTLOGIN_LOG_PER_PEER(spdlog::level::info, "site b {}", i);
  }
  std::size_t a = 0;
  std::size_t b = 0;
  for (const auto& line : Lines()) {
    a += line.rfind("info site a", 0) == 0 ? 1 : 0;
    b += line.rfind("info site b", 0) == 0 ? 1 : 0;
  }
  // The loop runs far faster than one refill, but a slow machine may earn a token or two.
  EXPECT_LE(a, kPeerLogBurst + 2);
  EXPECT_LE(b, kPeerLogBurst + 2);
  // The macro's limiters live as long as the process, so only the first run in a process (not a
  // --gtest_repeat) starts with full buckets; then each site writes its own whole burst.
  static bool first_run = true;
  if (first_run) {
    first_run = false;
    EXPECT_GE(a, kPeerLogBurst);
    EXPECT_GE(b, kPeerLogBurst);
  }
}

// Every n in [1, up_to] that `sampling` logs, counted through one LogSampledCount.
template <LogSampling kSampling>
std::vector<std::uint64_t> LoggedOccurrences(std::uint64_t up_to) {
  LogSampledCount<kSampling> count;
  std::vector<std::uint64_t> logged;
  for (std::uint64_t i = 1; i <= up_to; ++i) {
    if (const std::uint64_t n = count.Count()) {
      EXPECT_EQ(n, i) << "the returned number is the count so far";
      logged.push_back(n);
    }
  }
  return logged;
}

TEST(LogSampledCountTest, LogsTheFirstFewThenEveryNth) {
  EXPECT_EQ((LoggedOccurrences<LogSampling{3, 1000}>(5'000)),
            (std::vector<std::uint64_t>{1, 2, 3, 1000, 2000, 3000, 4000, 5000}));
  // Multiples of `every` within the first few are logged once, not twice.
  EXPECT_EQ((LoggedOccurrences<LogSampling{4, 2}>(9)),
            (std::vector<std::uint64_t>{1, 2, 3, 4, 6, 8}));
}

TEST(LogSampledCountTest, EveryZeroLogsOnlyTheFirstFew) {
  EXPECT_EQ((LoggedOccurrences<LogSampling{2, 0}>(10'000)), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_TRUE((LoggedOccurrences<LogSampling{0, 0}>(100)).empty());
}

TEST(LogSampledCountTest, ASharedCountIsExactAcrossThreads) {
  constexpr LogSampling kSampling{5, 1000};
  constexpr int kThreads = 4;
  constexpr std::uint64_t kPerThread = 50'000;
  SharedLogSampledCount<kSampling> count;
  std::vector<std::vector<std::uint64_t>> logged(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (std::uint64_t i = 0; i < kPerThread; ++i) {
        if (const std::uint64_t n = count.Count()) logged[t].push_back(n);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  // Each occurrence got its own number, so the logged ones are exactly those a single thread
  // counting to the same total would log, none twice.
  std::vector<std::uint64_t> all;
  for (const auto& l : logged)
    all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  std::vector<std::uint64_t> expected;
  for (std::uint64_t n = 1; n <= kThreads * kPerThread; ++n) {
    if (kSampling.Logs(n)) expected.push_back(n);
  }
  EXPECT_EQ(all, expected);
  EXPECT_EQ(expected.size(), 5u + kThreads * kPerThread / 1000);
}

}  // namespace
}  // namespace ttlogin::common
