// ReconnectingMsgServer: a fake msg_server that behaves as a real one does when its login server
// fails. It owns the truth about its users (a count that moves by one per login or logout, never
// below zero), sends one IMUserCntUpdate per change, and when the link drops (EOF, reset, failed
// send) it reconnects with a bounded backoff and re-sends IMMsgServInfo carrying its current
// count. So after any fault, the login server's registry must converge to exactly these counts.
//
// All socket work happens on the object's own thread through peer::MsgServerClient, whose every
// wait is bounded, so a dead or paused server never hangs a test.
#pragma once

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <thread>

#include "test/support/fake_peers.h"
#include "tools/common/msg_server_client.h"

namespace ttlogin::test {

class ReconnectingMsgServer {
 public:
  ReconnectingMsgServer(std::uint16_t port, MsgServerFields fields, std::uint32_t seed);
  ~ReconnectingMsgServer();
  ReconnectingMsgServer(const ReconnectingMsgServer&) = delete;
  ReconnectingMsgServer& operator=(const ReconnectingMsgServer&) = delete;

  // Starts the thread: connect, register, then stream updates while streaming is on.
  void Start();
  void Stop();
  // Streaming off: the thread finishes its current batch and only keeps the link alive
  // (heartbeats, reconnects); quiet() turns true once it has stopped sending updates.
  void SetStreaming(bool on) { streaming_.store(on); }
  bool quiet() const { return quiet_.load(); }

  // The msg_server's own count of users: what the registry must show once updates are delivered.
  std::uint32_t count() const { return count_.load(); }
  // Registrations sent (1 after the first connect, +1 per reconnect).
  std::uint64_t registrations() const { return registrations_.load(); }
  std::uint64_t updates_sent() const { return updates_sent_.load(); }
  bool linked() const { return linked_.load(); }
  // "host_name:port", the key AdminProbe uses.
  std::string key() const { return fields_.host_name + ":" + std::to_string(fields_.port); }

 private:
  void Run();
  bool Link();
  // Sends `bytes`; false (and the link is dropped) on failure.
  bool Send(const std::string& bytes);
  void Drop();
  void NextBatch(std::string& batch);

  const std::uint16_t port_;
  MsgServerFields fields_;
  std::mt19937 rng_;
  std::thread thread_;
  peer::MsgServerClient client_;  // used by the thread only
  std::atomic<bool> stop_{false};
  std::atomic<bool> streaming_{true};
  std::atomic<bool> quiet_{false};
  std::atomic<bool> linked_{false};
  std::atomic<std::uint32_t> count_;
  std::atomic<std::uint64_t> registrations_{0};
  std::atomic<std::uint64_t> updates_sent_{0};
  std::uint32_t next_user_ = 1;
};

}  // namespace ttlogin::test
