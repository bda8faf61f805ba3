// LiveConfig: a swap is seen by every thread at its next read, snapshots and the reference of a
// thread's last read outlive a swap, and readers racing swaps always see one whole config.
#include "server/session/live_config.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ttlogin::server {
namespace {

using namespace std::chrono_literals;

// A config whose fields all derive from `version`, so a reader can tell one whole config from a
// mix of two.
common::LoginServerConfig Version(std::uint32_t version) {
  common::LoginServerConfig c;
  c.max_msg_servers = version;
  c.admin_token = "token-" + std::to_string(version) + std::string(64, 'x');
  c.heartbeat_interval = std::chrono::seconds(version);
  return c;
}

bool IsWhole(const common::LoginServerConfig& c) {
  const auto v = static_cast<std::uint32_t>(c.max_msg_servers);
  return c.admin_token == Version(v).admin_token && c.heartbeat_interval.count() == v;
}

// A step-by-step handshake between the test and one other thread.
class Steps {
 public:
  void Reach(int step) {
    {
      std::lock_guard lock(mu_);
      step_ = step;
    }
    cv_.notify_all();
  }
  // False when `step` is not reached within the deadline.
  [[nodiscard]] bool Await(int step) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return step_ >= step; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int step_ = 0;
};

TEST(LiveConfigTest, ASetIsSeenAtTheNextGetOfTheSameThread) {
  LiveConfig live(Version(1));
  EXPECT_EQ(live.Get().max_msg_servers, 1u);
  EXPECT_EQ(live.Get().max_msg_servers, 1u);  // now from this thread's cache
  live.Set(Version(2));
  EXPECT_EQ(live.Get().max_msg_servers, 2u);
  EXPECT_EQ(live.Snapshot()->max_msg_servers, 2u);
  live.Set(Version(3));
  EXPECT_EQ(live.Snapshot()->max_msg_servers, 3u);
  EXPECT_EQ(live.Get().max_msg_servers, 3u);
}

TEST(LiveConfigTest, AReaderThreadSeesASwapAtItsNextRead) {
  LiveConfig live(Version(1));
  Steps steps;
  std::size_t first = 0;
  std::size_t second = 0;
  bool ok = true;
  std::thread reader([&] {
    first = live.Get().max_msg_servers;  // caches version 1 in this thread
    steps.Reach(1);
    ok = steps.Await(2);
    second = live.Get().max_msg_servers;
    steps.Reach(3);
  });
  ASSERT_TRUE(steps.Await(1));
  live.Set(Version(2));
  steps.Reach(2);
  EXPECT_TRUE(steps.Await(3));
  reader.join();
  EXPECT_TRUE(ok);
  EXPECT_EQ(first, 1u);
  EXPECT_EQ(second, 2u);
}

TEST(LiveConfigTest, ASnapshotStaysValidAcrossSwaps) {
  LiveConfig live(Version(1));
  const auto held = live.Snapshot();
  for (std::uint32_t v = 2; v <= 10; ++v)
    live.Set(Version(v));
  EXPECT_EQ(live.Get().max_msg_servers, 10u);
  // The held config is the one it was, untouched by the swaps (ASan sees a use after free).
  EXPECT_EQ(held->max_msg_servers, 1u);
  EXPECT_TRUE(IsWhole(*held));
  EXPECT_EQ(held.use_count(), 1) << "the LiveConfig no longer holds the old snapshot";
}

TEST(LiveConfigTest, TheLastGetStaysValidUntilThisThreadsNextGet) {
  LiveConfig live(Version(1));
  const common::LoginServerConfig& mine = live.Get();
  // Another thread swaps twice (and reads), so nothing else holds version 1 any more.
  std::thread other([&] {
    live.Set(Version(2));
    EXPECT_EQ(live.Get().max_msg_servers, 2u);
    live.Set(Version(3));
  });
  other.join();
  EXPECT_EQ(mine.max_msg_servers, 1u);
  EXPECT_TRUE(IsWhole(mine));
  EXPECT_EQ(live.Get().max_msg_servers, 3u);
}

TEST(LiveConfigTest, TwoLiveConfigsOnOneThreadDoNotShareTheCache) {
  LiveConfig a(Version(1));
  LiveConfig b(Version(7));
  EXPECT_EQ(a.Get().max_msg_servers, 1u);
  EXPECT_EQ(b.Get().max_msg_servers, 7u);
  EXPECT_EQ(a.Get().max_msg_servers, 1u);
  // Both are at their second generation now: only the owner id tells the caches apart.
  a.Set(Version(2));
  b.Set(Version(8));
  EXPECT_EQ(a.Get().max_msg_servers, 2u);
  EXPECT_EQ(b.Get().max_msg_servers, 8u);
  EXPECT_EQ(a.Get().max_msg_servers, 2u);
}

TEST(LiveConfigTest, ReadersRacingSwapsSeeWholeConfigsInOrder) {
  constexpr std::uint32_t kLast = 2'000;
  constexpr int kReaders = 3;
  LiveConfig live(Version(1));
  std::atomic<int> torn{0};
  std::atomic<int> backwards{0};
  std::atomic<int> finished{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      // Reads until the last version shows up; the deadline only guards a broken build.
      const auto deadline = std::chrono::steady_clock::now() + 30s;
      std::size_t seen = 0;
      while (seen != kLast && std::chrono::steady_clock::now() < deadline) {
        const common::LoginServerConfig& c = live.Get();
        if (!IsWhole(c)) torn.fetch_add(1);
        if (c.max_msg_servers < seen) backwards.fetch_add(1);
        seen = c.max_msg_servers;
        const auto snapshot = live.Snapshot();
        if (!IsWhole(*snapshot)) torn.fetch_add(1);
      }
      if (seen == kLast) finished.fetch_add(1);
    });
  }
  for (std::uint32_t v = 2; v <= kLast; ++v)
    live.Set(Version(v));
  for (std::thread& t : readers)
    t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(backwards.load(), 0);
  EXPECT_EQ(finished.load(), kReaders) << "every reader saw the last swap";
}

}  // namespace
}  // namespace ttlogin::server
