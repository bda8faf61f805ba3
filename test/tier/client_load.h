// ClientLoad: clients asking for a msg_server (HTTP GET /msg_server) in several loops, each
// either one request per connection or all its requests on one kept-alive connection (opened
// again only when the other side closes it), counting per phase what a user would see: a request
// that failed (no answer, or not a 200 with the classic JSON), or an answer with code 1 ("no
// msg_server"). The test moves the phase as it goes (warm-up, a roll, after it), so each figure
// belongs to one step.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test/support/fake_peers.h"

namespace ttlogin::test {

struct LoadFigures {
  std::uint64_t sent = 0;
  std::uint64_t failed = 0;  // no answer, or not a well-formed classic reply
  std::uint64_t code1 = 0;   // answered "no msg_server"
  // From the start of the first bad request (failed or code 1) to the end of the last one; 0
  // when every request went well.
  std::chrono::milliseconds bad_window{0};
  std::uint64_t bad() const { return failed + code1; }
};

class ClientLoad {
 public:
  static constexpr int kMaxPhases = 8;

  // `loops` with a connection per request, plus `keep_alive_loops` on kept-alive connections.
  // `pause` between two requests of one loop keeps the load from taking the machine.
  ClientLoad(std::uint16_t port, int loops, int keep_alive_loops = 0,
             std::chrono::milliseconds pause = std::chrono::milliseconds(2));
  ~ClientLoad();
  ClientLoad(const ClientLoad&) = delete;
  ClientLoad& operator=(const ClientLoad&) = delete;

  void Start();
  // Waits for every request in flight; figures are final afterwards.
  void Stop();
  // Requests started from now on count in `phase`.
  void SetPhase(int phase) { phase_.store(phase); }
  LoadFigures figures(int phase) const;
  // What the first bad request got, for a failure message.
  std::string first_bad() const;

 private:
  struct Counters {
    std::atomic<std::uint64_t> sent{0};
    std::atomic<std::uint64_t> failed{0};
    std::atomic<std::uint64_t> code1{0};
    std::atomic<std::int64_t> first_bad_ns{INT64_MAX};
    std::atomic<std::int64_t> last_bad_ns{0};
  };

  void Loop(bool keep_alive);
  void Count(const std::optional<HttpResponse>& r, int phase, std::int64_t start);

  const std::uint16_t port_;
  const int loops_;
  const int keep_alive_loops_;
  const std::chrono::milliseconds pause_;
  std::atomic<bool> stop_{false};
  std::atomic<int> phase_{0};
  std::array<Counters, kMaxPhases> counters_;
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::string first_bad_;
};

}  // namespace ttlogin::test
