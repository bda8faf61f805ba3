// TierMsgServer: a fake msg_server of a login tier. Like the classic msg_server, whose config
// lists several login servers, it holds one connection to each login server it is given, reports
// the same user count to every one, and when a connection drops it reconnects on the classic
// backoff: the first attempt `base_backoff` after the drop (4 s in the classic msg_server), each
// failed attempt doubling the wait up to 16 times the base (64 s), a registration resetting it.
// Tests may run it with a shorter base to stay bounded; they say which.
//
// All socket work happens on the object's own thread through peer::MsgServerClient, whose every
// wait is bounded, so a stopped or restarting login server never hangs a test.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test/support/fake_peers.h"
#include "tools/common/msg_server_client.h"

namespace ttlogin::test {

// The classic msg_server's first reconnect wait after losing its login server.
inline constexpr std::chrono::milliseconds kClassicReconnectBackoff{4000};
// The classic wait stops doubling at 64 s, 16 times the first.
inline constexpr int kClassicBackoffCapFactor = 16;

class TierMsgServer {
 public:
  // One connection per port in `login_ports`. The count moves by one user every `update_every`
  // (0: never), and every linked login server hears of each move.
  TierMsgServer(std::vector<std::uint16_t> login_ports, MsgServerFields fields,
                std::chrono::milliseconds base_backoff,
                std::chrono::milliseconds update_every = std::chrono::milliseconds(50));
  ~TierMsgServer();
  TierMsgServer(const TierMsgServer&) = delete;
  TierMsgServer& operator=(const TierMsgServer&) = delete;

  void Start();
  void Stop();
  // Updates off: the count stays put (links, heartbeats and reconnects go on), so a test can
  // compare it with what the login servers show.
  void SetUpdating(bool on) { updating_.store(on); }

  std::uint32_t count() const { return count_.load(); }
  std::string key() const { return fields_.host_name + ":" + std::to_string(fields_.port); }
  // Connections currently registered, out of login_ports.size().
  std::size_t linked() const { return linked_.load(); }
  // Connections lost (EOF, reset, failed send) since Start, over all login servers.
  std::uint64_t drops() const { return drops_.load(); }
  std::uint64_t registrations() const { return registrations_.load(); }

 private:
  struct Link {
    std::uint16_t port = 0;
    peer::MsgServerClient client;
    bool up = false;
    std::chrono::steady_clock::time_point next_attempt{};
    std::chrono::milliseconds backoff{0};
    std::chrono::steady_clock::time_point last_heartbeat{};
  };

  void Run();
  void TryLink(Link& link, std::chrono::steady_clock::time_point now);
  void Drop(Link& link, std::chrono::steady_clock::time_point now);

  MsgServerFields fields_;
  const std::chrono::milliseconds base_backoff_;
  const std::chrono::milliseconds update_every_;
  std::vector<Link> links_;  // used by the thread only
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> updating_{true};
  std::atomic<std::uint32_t> count_;
  std::atomic<std::size_t> linked_{0};
  std::atomic<std::uint64_t> drops_{0};
  std::atomic<std::uint64_t> registrations_{0};
  std::uint32_t next_user_ = 1;
};

}  // namespace ttlogin::test
