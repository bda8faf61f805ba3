// Load that keeps running while a login server is upgraded live, and counts what every peer saw:
// HTTP keep-alive clients asking GET /msg_server, Client-port clients asking once per connection,
// and a fleet of fake msg_servers streaming user count updates. A peer that sees a refusal, a
// reset, an end of stream it was not told about, a timeout or a wrong answer counts a failure
// with a note saying what happened.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test/support/fake_peers.h"
#include "test/support/live_upgrade.h"

namespace ttlogin::test {

// GET /msg_server without Connection: close, for keep-alive connections.
inline constexpr std::string_view kGetMsgServerKeepAlive =
    "GET /msg_server HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

// True when `resp` is GET /msg_server's answer naming a msg_server: 200 with code 0.
bool AnswersCodeZero(const HttpResponse& resp);

// host_name -> cur of every entry of the admin port's GET /servers; nullopt when it fails.
std::optional<std::map<std::string, std::int64_t>> ServerCounts(std::uint16_t admin_port,
                                                                const std::string& token);

// Counters and the first few failure notes, shared by the threads of one kind of load.
class LoadTally {
 public:
  void Served() { served_.fetch_add(1, std::memory_order_relaxed); }
  void Failed(const std::string& note);
  std::uint64_t served() const { return served_.load(std::memory_order_relaxed); }
  std::uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }
  // The first notes (bounded), one per line.
  std::string notes() const;

 private:
  static constexpr std::size_t kMaxNotes = 20;
  std::atomic<std::uint64_t> served_{0};
  std::atomic<std::uint64_t> failed_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> notes_;
};

// `connections` HTTP/1.1 keep-alive connections, each sending GET /msg_server and reading the
// answer in a loop. An answer must be 200 with code 0. A connection is reopened only when the
// server said "Connection: close" on an answer (counted in closes_announced()); any other loss of
// the connection is a failure.
class HttpKeepAliveLoad {
 public:
  HttpKeepAliveLoad(std::uint16_t port, int connections);
  ~HttpKeepAliveLoad() { Stop(); }
  void Stop();
  const LoadTally& tally() const { return tally_; }
  std::uint64_t closes_announced() const { return closes_announced_.load(); }

 private:
  void Run(std::uint16_t port);

  std::atomic<bool> stop_{false};
  LoadTally tally_;
  std::atomic<std::uint64_t> closes_announced_{0};
  std::vector<std::thread> threads_;
};

// `workers` threads, each connecting to the Client port, asking for a msg_server, reading the
// answer (result code 0 required) and closing, in a loop.
class ClientPortLoad {
 public:
  ClientPortLoad(std::uint16_t port, int workers);
  ~ClientPortLoad() { Stop(); }
  void Stop();
  const LoadTally& tally() const { return tally_; }

 private:
  void Run(std::uint16_t port, int worker);

  std::atomic<bool> stop_{false};
  LoadTally tally_;
  std::vector<std::thread> threads_;
};

// `count` fake msg_servers, registered as msg-000, msg-001, ... (ports 9000 + i), streaming
// IMUserCntUpdate increments and decrements from one thread, answering the server's heartbeats and
// watching every connection for an end of stream or a reset.
class MsgServerFleet {
 public:
  MsgServerFleet(std::uint16_t port, int count);
  ~MsgServerFleet() { Stop(); }
  // False (with a note in tally()) when a registration failed.
  bool registered() const { return registered_; }
  void Start();
  // Stops streaming; the connections stay open.
  void Stop();
  static std::string HostName(int i);
  // What each fake has reported since registering: its count.
  const std::vector<std::int64_t>& expected() const { return expected_; }
  // Updates sent (tally().served()) and disconnects seen (tally().failed()).
  const LoadTally& tally() const { return tally_; }
  // Reads every connection now: counts any that the server closed or reset. Call when stopped.
  void CheckConnections();

 private:
  void Run();
  void Check(std::size_t i);

  std::vector<std::unique_ptr<peer::MsgServerClient>> servers_;
  std::vector<std::int64_t> expected_;
  std::vector<bool> lost_;
  bool registered_ = true;
  std::atomic<bool> stop_{false};
  LoadTally tally_;
  std::thread thread_;
};

}  // namespace ttlogin::test
