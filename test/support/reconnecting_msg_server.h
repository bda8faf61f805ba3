// ReconnectingMsgServer: a fake msg_server that lives like a real one. Like the classic
// msg_server, whose config lists every login server, it holds one connection to each login server
// it is given, reports the same user count to every one, heartbeats, and when a connection drops
// it reconnects after a backoff: the first attempt `backoff` after the drop (4 s in the classic
// msg_server), each failed attempt doubling the wait up to `backoff_cap_factor` times the first
// (64 s), a registration resetting it. Tests may shorten the backoff to stay bounded; they say
// which. While updating is on, users come and go in steps (UpdateStep) that every linked login
// server hears of.
//
// All socket work happens on the object's own thread through peer::MsgServerClient, whose every
// wait is bounded, so a stopped or restarting login server never hangs a test.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
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

// One step of users coming and going: appends the step's update PDUs to `batch`, numbering the
// users from `next_user` (advanced past them), and returns the count after the step.
using UpdateStep =
    std::function<std::uint32_t(std::uint32_t count, std::string& batch, std::uint32_t& next_user)>;

// One user comes or goes, alternating, so the count stays near where it started.
UpdateStep AlternatingUsers();
// 1 to 32 users come or go at random (from `seed`), drifting neither to zero nor above `ceiling`.
UpdateStep RandomUsers(std::uint32_t seed, std::uint32_t ceiling);

class ReconnectingMsgServer {
 public:
  struct Options {
    std::chrono::milliseconds backoff = kClassicReconnectBackoff;
    int backoff_cap_factor = kClassicBackoffCapFactor;
    // One step every `update_every` while updating is on (0: never).
    std::chrono::milliseconds update_every{50};
    UpdateStep step = AlternatingUsers();
  };

  // One connection per port in `login_ports`.
  ReconnectingMsgServer(std::vector<std::uint16_t> login_ports, MsgServerFields fields,
                        Options options);
  ~ReconnectingMsgServer();
  ReconnectingMsgServer(const ReconnectingMsgServer&) = delete;
  ReconnectingMsgServer& operator=(const ReconnectingMsgServer&) = delete;

  void Start();
  void Stop();
  // Updates off: the thread finishes its current step, then the count stays put (links,
  // heartbeats and reconnects go on) and quiet() turns true, so a test can compare the count with
  // what the login servers show.
  void SetUpdating(bool on) {
    quiet_.store(false);  // until the thread has seen the change
    updating_.store(on);
  }
  bool quiet() const { return quiet_.load(); }

  // The msg_server's own count of users: what a login server must show once it heard every step.
  std::uint32_t count() const { return count_.load(); }
  // "host_name:port", the key the admin port's /servers uses.
  std::string key() const { return fields_.host_name + ":" + std::to_string(fields_.port); }
  // Connections currently registered, out of login_ports.size().
  std::size_t linked() const { return linked_.load(); }
  // Connections lost (EOF, reset, failed send) since Start, over all login servers.
  std::uint64_t drops() const { return drops_.load(); }
  // Registrations sent, over all login servers (one per connect).
  std::uint64_t registrations() const { return registrations_.load(); }
  // Users that came or went since Start, whether or not a login server heard of them.
  std::uint64_t updates_sent() const { return updates_sent_.load(); }

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
  const Options options_;
  std::vector<Link> links_;  // used by the thread only
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> updating_{true};
  std::atomic<bool> quiet_{false};
  std::atomic<std::uint32_t> count_;
  std::atomic<std::size_t> linked_{0};
  std::atomic<std::uint64_t> drops_{0};
  std::atomic<std::uint64_t> registrations_{0};
  std::atomic<std::uint64_t> updates_sent_{0};
  std::uint32_t next_user_ = 1;
};

}  // namespace ttlogin::test
