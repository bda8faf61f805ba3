// Bounded time: a peer that keeps sending bytes that never complete a request is cut at the
// request's deadline, whatever it sends and however slowly. The HTTP head deadline
// (HttpRequestTimeout) covers blank lines before a request; a Client-port connection lives at
// most ClientTimeout, heartbeats or not.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Scheduling slack on a loaded machine: a deadline is met when the close comes within it.
constexpr auto kSlack = seconds(3);
constexpr auto kPace = milliseconds(250);

// `count` connections to `port`, each sent `prefix` once, then `piece` every kPace by a
// background thread until the server closes it (or `give_up` passes). Records when each one
// closed and what it received.
class Dribblers {
 public:
  Dribblers(std::uint16_t port, int count, std::string piece, Clock::duration give_up,
            std::string_view prefix = {})
      : piece_(std::move(piece)), start_(Clock::now()), give_up_(start_ + give_up) {
    for (int i = 0; i < count; ++i) {
      conns_.emplace_back(port);
      if (!prefix.empty()) conns_.back().Send(prefix);
      received_.emplace_back();
      closed_at_.push_back(Clock::time_point::max());
    }
    thread_ = std::thread([this] { Run(); });
  }
  ~Dribblers() {
    stop_ = true;
    thread_.join();
  }
  Dribblers(const Dribblers&) = delete;
  Dribblers& operator=(const Dribblers&) = delete;

  // Waits (bounded by give_up) until every connection is closed; true when they all are.
  bool WaitAllClosed() {
    while (Clock::now() < give_up_) {
      if (open() == 0) return true;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return open() == 0;
  }
  int open() const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& at : closed_at_)
      n += at == Clock::time_point::max() ? 1 : 0;
    return n;
  }
  // Longest time from the start to a close (max() while one is still open).
  Clock::duration latest_close() const {
    std::lock_guard lock(mu_);
    Clock::duration latest{};
    for (const auto& at : closed_at_) {
      if (at == Clock::time_point::max()) return Clock::duration::max();
      latest = std::max(latest, at - start_);
    }
    return latest;
  }
  Clock::duration earliest_close() const {
    std::lock_guard lock(mu_);
    Clock::duration earliest = Clock::duration::max();
    for (const auto& at : closed_at_)
      if (at != Clock::time_point::max()) earliest = std::min(earliest, at - start_);
    return earliest;
  }
  std::string received(std::size_t i) const {
    std::lock_guard lock(mu_);
    return received_[i];
  }
  std::size_t size() const { return conns_.size(); }
  bool all_connected() const {
    for (const auto& c : conns_)
      if (!c.connected()) return false;
    return true;
  }

 private:
  void Run() {
    while (!stop_ && Clock::now() < give_up_) {
      for (std::size_t i = 0; i < conns_.size(); ++i) {
        {
          std::lock_guard lock(mu_);
          if (closed_at_[i] != Clock::time_point::max()) continue;
        }
        // A send into a socket the server closed may still succeed once; the read sees the FIN.
        conns_[i].Send(piece_);
        bool closed = false;
        const std::string got = conns_[i].ReadUntilClose(milliseconds(1), &closed);
        std::lock_guard lock(mu_);
        received_[i] += got;
        if (closed) closed_at_[i] = Clock::now();
      }
      std::this_thread::sleep_for(kPace);
    }
  }

  std::string piece_;
  Clock::time_point start_;
  Clock::time_point give_up_;
  std::vector<TcpClient> conns_;
  mutable std::mutex mu_;
  std::vector<std::string> received_;
  std::vector<Clock::time_point> closed_at_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// HttpRequestTimeout=2 and HttpTimeout=3: a blank line every 250 ms keeps a connection far from
// idle, so only the head deadline can close it. It used to be open for as long as the blank
// lines came.
constexpr auto kRequestTimeout = seconds(2);
constexpr char kHttpLimits[] = "AdminPort=0\nHttpRequestTimeout=2\nHttpTimeout=3\n";

void ExpectBlankLinesAreCutAtTheHeadDeadline(std::uint16_t port) {
  Dribblers d(port, 20, "\r\n", kRequestTimeout + kSlack + seconds(3));
  ASSERT_TRUE(d.all_connected());
  EXPECT_TRUE(d.WaitAllClosed()) << d.open() << " of " << d.size() << " still open";
  EXPECT_LE(d.latest_close(), kRequestTimeout + kSlack);
  // Not an idle close: the bytes kept coming, and the deadline was not cut short either.
  EXPECT_GE(d.earliest_close(), kRequestTimeout - milliseconds(500));
  for (std::size_t i = 0; i < d.size(); ++i) {
    // The blank lines are the start of a request head, so the answer is the slow request's.
    EXPECT_NE(d.received(i).find("HTTP/1.1 408 "), std::string::npos) << i << d.received(i);
  }
}

TEST(DeadlineTest, BlankLinesBeforeARequestAreCutAtHttpRequestTimeoutOnThePublicPort) {
  ServerProcess server(kHttpLimits);
  ASSERT_TRUE(server.started()) << server.log();
  ExpectBlankLinesAreCutAtTheHeadDeadline(server.ports().http);
  EXPECT_TRUE(HttpGetMsgServer(server.ports().http).has_value());
}

TEST(DeadlineTest, BlankLinesBeforeARequestAreCutAtHttpRequestTimeoutOnTheAdminPort) {
  ServerProcess server(kHttpLimits);
  ASSERT_TRUE(server.started()) << server.log();
  ExpectBlankLinesAreCutAtTheHeadDeadline(server.ports().admin);
}

bool Healthy(std::uint16_t admin_port) {
  const auto r =
      HttpRequest(admin_port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", milliseconds(500));
  return r && r->status == 200;
}

// 64 peers sending blank lines fill the admin listener (64 connections): /healthz is refused
// while they hold it, and served again once the head deadline has cut them.
TEST(DeadlineTest, BlankLinesCannotHoldTheAdminPortFull) {
  ServerProcess server(kHttpLimits);
  ASSERT_TRUE(server.started()) << server.log();
  ASSERT_TRUE(Healthy(server.ports().admin));
  const auto start = Clock::now();
  Dribblers d(server.ports().admin, 64, "\r\n", kRequestTimeout + kSlack + seconds(3));
  ASSERT_TRUE(d.all_connected());
  EXPECT_TRUE(Eventually([&] { return Healthy(server.ports().admin); },
                         std::chrono::duration_cast<milliseconds>(kRequestTimeout + kSlack)));
  EXPECT_LE(Clock::now() - start, kRequestTimeout + kSlack);
  EXPECT_TRUE(d.WaitAllClosed());
}

// HttpTimeout=1 shorter than HttpRequestTimeout=3: bytes of a head that never completes keep
// the connection from being idle, but cannot take it past the head deadline.
TEST(DeadlineTest, ADribbledHeadIsCutAtTheHeadDeadlineWhateverTheIdleTimeout) {
  ServerProcess server("HttpRequestTimeout=3\nHttpTimeout=1\n");
  ASSERT_TRUE(server.started()) << server.log();
  const std::string head = "GET /msg_server HTTP/1.1\r\nHost: x\r\nX-A: ";
  TcpClient stopped(server.ports().http);
  ASSERT_TRUE(stopped.Send(head));
  // "X-A: aaa..." forever: a header line that never ends, one byte per 250 ms.
  Dribblers d(server.ports().http, 10, "a", seconds(3) + kSlack + seconds(3), head);
  ASSERT_TRUE(d.all_connected());
  EXPECT_TRUE(d.WaitAllClosed());
  EXPECT_LE(d.latest_close(), seconds(3) + kSlack);
  EXPECT_GE(d.earliest_close(), seconds(3) - milliseconds(500));
  EXPECT_NE(d.received(0).find("HTTP/1.1 408 "), std::string::npos) << d.received(0);
  // The connection that stopped sending was cut by the idle timeout, before the head deadline.
  bool closed = false;
  const std::string got = stopped.ReadUntilClose(milliseconds(10), &closed);
  EXPECT_TRUE(closed);
  EXPECT_NE(got.find("HTTP/1.1 408 "), std::string::npos) << got;
}

constexpr auto kClientTimeout = seconds(2);

// A heartbeat every 250 ms used to keep a Client-port connection open forever: ClientTimeout
// now runs from the accept, as for classic clients.
TEST(DeadlineTest, HeartbeatsDoNotKeepAClientPortConnectionPastClientTimeout) {
  ServerProcess server("ClientTimeout=2\n");
  ASSERT_TRUE(server.started()) << server.log();
  Dribblers d(server.ports().client, 20, HeartbeatPdu(), kClientTimeout + kSlack + seconds(3));
  ASSERT_TRUE(d.all_connected());
  EXPECT_TRUE(d.WaitAllClosed()) << d.open() << " of " << d.size() << " still open";
  EXPECT_LE(d.latest_close(), kClientTimeout + kSlack);
  EXPECT_GE(d.earliest_close(), kClientTimeout - milliseconds(500));
  // A client that asks at once is still answered.
  EXPECT_TRUE(AskClientPort(server.ports().client).has_value());
}

// A request PDU dribbled a byte every 250 ms (its 16-byte header alone takes 4 s) is cut at
// ClientTimeout, unanswered.
TEST(DeadlineTest, ARequestDribbledIntoTheClientPortIsCutAtClientTimeout) {
  ServerProcess server("ClientTimeout=2\n");
  ASSERT_TRUE(server.started()) << server.log();
  const std::string request = MsgServReqPdu(3);
  std::vector<TcpClient> conns;
  for (int i = 0; i < 10; ++i) {
    conns.emplace_back(server.ports().client);
    ASSERT_TRUE(conns.back().connected());
  }
  const auto start = Clock::now();
  std::vector<bool> closed(conns.size(), false);
  std::string received;
  for (std::size_t at = 0; at < request.size(); ++at) {
    bool all = true;
    for (std::size_t i = 0; i < conns.size(); ++i) {
      if (closed[i]) continue;
      conns[i].Send(request.substr(at, 1));
      bool now_closed = false;
      received += conns[i].ReadUntilClose(milliseconds(1), &now_closed);
      closed[i] = now_closed;
      all = all && now_closed;
    }
    if (all || Clock::now() - start > kClientTimeout + kSlack) break;
    std::this_thread::sleep_for(kPace);
  }
  for (std::size_t i = 0; i < conns.size(); ++i) {
    if (!closed[i]) {
      const auto left = kClientTimeout + kSlack - (Clock::now() - start);
      bool now_closed = false;
      received += conns[i].ReadUntilClose(
          std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(left)), &now_closed);
      closed[i] = now_closed;
    }
    EXPECT_TRUE(closed[i]) << i;
  }
  EXPECT_LE(Clock::now() - start, kClientTimeout + kSlack + seconds(1));
  EXPECT_EQ(received, "");  // no reply to a request that never arrived whole
}

}  // namespace
}  // namespace ttlogin::test
