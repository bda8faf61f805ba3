// Connection over a loopback socket pair, on an io_context this test runs itself.
#include "server/net/connection.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "test/server/net/net_test_util.h"

namespace ttlogin::server::testing {
namespace {

class ConnectionTest : public ::testing::Test {
 protected:
  struct Pair {
    std::unique_ptr<Client> client;
    std::shared_ptr<TestConnection> conn;
  };

  // A connected pair. Small buffers (`small_buffers`) make the kernel take little output, so a
  // peer that does not read puts the connection over its output budget quickly.
  Pair Connect(bool small_buffers = false) {
    asio::ip::tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    Pair p;
    p.client = std::make_unique<Client>(io_);
    p.client->socket.open(asio::ip::tcp::v4());
    if (small_buffers) p.client->socket.set_option(asio::socket_base::receive_buffer_size(4096));
    p.client->socket.connect(acceptor.local_endpoint());
    asio::ip::tcp::socket server(io_);
    acceptor.accept(server);
    if (small_buffers) server.set_option(asio::socket_base::send_buffer_size(4096));
    p.conn = std::make_shared<TestConnection>(std::move(server));
    return p;
  }

  template <typename Pred>
  bool Run(Pred done, milliseconds timeout = kWait) {
    return RunUntil(io_, done, timeout);
  }
  // Runs every handler that is ready now, without waiting for anything new.
  void RunReady() {
    io_.restart();
    io_.poll();
  }

  asio::io_context io_;
};

TEST_F(ConnectionTest, ConsumedInputIsNotDeliveredAgainAndRepliesReachThePeer) {
  Pair p = Connect();
  p.conn->on_data = [](TestConnection& c, std::span<const std::uint8_t> data) {
    c.Send("<" + std::string(reinterpret_cast<const char*>(data.data()), data.size()) + ">");
    return data.size();
  };
  p.conn->Start();
  p.client->Write("hello");
  ASSERT_TRUE(Run([&] { return p.client->Poll() && p.client->received == "<hello>"; }))
      << p.client->received;
  p.client->Write("again");
  ASSERT_TRUE(Run([&] { return p.client->Poll() && p.client->received == "<hello><again>"; }))
      << p.client->received;
  EXPECT_EQ(p.conn->deliveries, (std::vector<std::string>{"hello", "again"}));
  EXPECT_EQ(p.conn->queued_output(), 0u);
  EXPECT_FALSE(p.conn->closed());
}

// The protocol answers each input byte with a reply far larger than the output budget and stops
// consuming while over budget: the rest of the read is held and handed out again, from the first
// unconsumed byte, each time the peer has read the queued output.
TEST_F(ConnectionTest, PartialConsumptionPausesAndResumesWithTheRest) {
  constexpr std::size_t kReply = 256 * 1024;
  constexpr std::size_t kBudget = 16 * 1024;
  Pair p = Connect(/*small_buffers=*/true);
  p.conn->set_output_budget(kBudget);
  std::string consumed;
  p.conn->on_data = [&](TestConnection& c, std::span<const std::uint8_t> data) {
    std::size_t used = 0;
    while (used < data.size() && c.output_room() > 0) {
      c.Send(std::string(kReply, static_cast<char>(data[used])));
      consumed += static_cast<char>(data[used]);
      ++used;
    }
    return used;
  };
  p.conn->Start();
  const std::string input = "0123456789";
  p.client->Write(input);
  ASSERT_TRUE(Run([&] { return !p.conn->deliveries.empty(); }));
  // The peer reads nothing yet: the connection stays paused with the rest held.
  RunReady();
  EXPECT_EQ(consumed, "0");
  EXPECT_GT(p.conn->queued_output(), kBudget);
  EXPECT_EQ(p.conn->deliveries.size(), 1u);

  ASSERT_TRUE(Run(
      [&] {
        p.client->Poll();
        return p.client->received.size() == input.size() * kReply;
      },
      milliseconds(20000)))
      << p.client->received.size();
  EXPECT_EQ(consumed, input);
  ASSERT_EQ(p.conn->deliveries.size(), input.size());
  for (std::size_t i = 0; i < input.size(); ++i) {
    EXPECT_EQ(p.conn->deliveries[i], input.substr(i)) << i;
    const std::string_view reply(p.client->received.data() + i * kReply, kReply);
    EXPECT_EQ(reply.find_first_not_of(input[i]), std::string_view::npos) << "reply " << i;
  }
  EXPECT_FALSE(p.conn->closed());
}

TEST_F(ConnectionTest, HeldInputWaitsForReleaseAndKeepsItsOrder) {
  Pair p = Connect();
  p.conn->on_data = [](TestConnection& c, std::span<const std::uint8_t> data) -> std::size_t {
    if (c.deliveries.size() == 1) {
      c.HoldInput();  // an answer is produced elsewhere; the rest must wait for it
      return 1;
    }
    return data.size();
  };
  p.conn->Start();
  p.client->Write("abc");
  ASSERT_TRUE(Run([&] { return !p.conn->deliveries.empty(); }));
  p.client->Write("def");
  RunReady();
  EXPECT_EQ(p.conn->deliveries, (std::vector<std::string>{"abc"}));

  p.conn->ReleaseInput();
  ASSERT_TRUE(Run([&] { return p.conn->deliveries.size() == 3; }));
  EXPECT_EQ(p.conn->deliveries, (std::vector<std::string>{"abc", "bc", "def"}));
}

TEST_F(ConnectionTest, InputArrivingWhileHeldIsReadOnlyAfterRelease) {
  Pair p = Connect();
  p.conn->on_data = [](TestConnection& c, std::span<const std::uint8_t> data) {
    if (c.deliveries.size() == 1) c.HoldInput();  // consumed everything, then holds
    return data.size();
  };
  p.conn->Start();
  p.client->Write("first");
  ASSERT_TRUE(Run([&] { return !p.conn->deliveries.empty(); }));
  p.client->Write("second");
  RunReady();
  EXPECT_EQ(p.conn->deliveries, (std::vector<std::string>{"first"}));

  p.conn->ReleaseInput();
  ASSERT_TRUE(Run([&] { return p.conn->deliveries.size() == 2; }));
  EXPECT_EQ(p.conn->deliveries[1], "second");
}

TEST_F(ConnectionTest, SendAndCloseSendsEverythingThenClosesAndIgnoresLaterSends) {
  Pair p = Connect();
  p.conn->on_data = [](TestConnection& c, std::span<const std::uint8_t> data) {
    c.Send("queued ");
    c.SendAndClose("last");
    c.Send(" ignored");
    return data.size();
  };
  p.conn->Start();
  p.client->Write("x");
  ASSERT_TRUE(Run([&] { return !p.client->Poll(); }));
  EXPECT_EQ(p.client->end, asio::error::eof);
  EXPECT_EQ(p.client->received, "queued last");
  EXPECT_TRUE(p.conn->closed());
  EXPECT_EQ(p.conn->closes, 1);
  EXPECT_EQ(p.conn->close_reason, "reply sent");
}

TEST_F(ConnectionTest, SendAndCloseFromStartDeliversNoInput) {
  Pair p = Connect();
  p.client->Write("unread");
  p.conn->on_start = [](TestConnection& c) { c.SendAndClose("go away"); };
  p.conn->Start();
  ASSERT_TRUE(Run([&] { return !p.client->Poll(); }));
  EXPECT_EQ(p.client->received, "go away");
  EXPECT_TRUE(p.conn->deliveries.empty());
  EXPECT_EQ(p.conn->closes, 1);
}

TEST_F(ConnectionTest, StopReadingDeliversNothingMoreButStillSends) {
  Pair p = Connect();
  p.conn->on_data = [](TestConnection& c, std::span<const std::uint8_t> data) {
    c.StopReading();
    return data.size();
  };
  p.conn->Start();
  p.client->Write("one");
  ASSERT_TRUE(Run([&] { return !p.conn->deliveries.empty(); }));
  p.client->Write("two");
  RunReady();
  EXPECT_EQ(p.conn->deliveries, (std::vector<std::string>{"one"}));
  p.conn->Send("still here");
  ASSERT_TRUE(Run([&] { return p.client->Poll() && p.client->received == "still here"; }));
  EXPECT_FALSE(p.conn->closed());
}

TEST_F(ConnectionTest, CloseIsIdempotentAndDropsLaterOutput) {
  Pair p = Connect();
  p.conn->Start();
  p.conn->Close("first reason");
  p.conn->Close("second reason");
  p.conn->Send("dropped");
  p.conn->ArmTimer(Clock::now());
  EXPECT_TRUE(p.conn->closed());
  EXPECT_EQ(p.conn->closes, 1);
  EXPECT_EQ(p.conn->close_reason, "first reason");
  ASSERT_TRUE(Run([&] { return !p.client->Poll(); }));
  EXPECT_EQ(p.client->received, "");
  RunReady();
  EXPECT_TRUE(p.conn->timer_fired_at.empty());
}

TEST_F(ConnectionTest, PeerCloseClosesOnce) {
  Pair p = Connect();
  p.conn->Start();
  p.client->socket.close();
  ASSERT_TRUE(Run([&] { return p.conn->closes != 0; }));
  EXPECT_EQ(p.conn->close_reason, "peer closed");
  RunReady();
  EXPECT_EQ(p.conn->closes, 1);
}

TEST_F(ConnectionTest, OnTimerFiresAtTheDeadline) {
  Pair p = Connect();
  p.conn->Start();
  const Clock::time_point deadline = Clock::now() + milliseconds(50);
  p.conn->ArmTimer(deadline);
  ASSERT_TRUE(Run([&] { return !p.conn->timer_fired_at.empty(); }));
  EXPECT_GE(p.conn->timer_fired_at[0], deadline);
  RunReady();
  EXPECT_EQ(p.conn->timer_fired_at.size(), 1u);  // once per ArmTimer
}

TEST_F(ConnectionTest, ReArmingReplacesTheDeadline) {
  Pair early = Connect();
  Pair late = Connect();
  early.conn->Start();
  late.conn->Start();
  const Clock::time_point now = Clock::now();
  // Brought forward: fires at the new, earlier deadline.
  early.conn->ArmTimer(now + std::chrono::hours(1));
  early.conn->ArmTimer(now + milliseconds(20));
  // Pushed back: the loop's timer still wakes at the old deadline, but the connection waits.
  late.conn->ArmTimer(now + milliseconds(10));
  late.conn->ArmTimer(now + milliseconds(80));
  ASSERT_TRUE(Run([&] { return !late.conn->timer_fired_at.empty(); }));
  ASSERT_EQ(early.conn->timer_fired_at.size(), 1u);
  EXPECT_GE(early.conn->timer_fired_at[0], now + milliseconds(20));
  EXPECT_LT(early.conn->timer_fired_at[0], now + std::chrono::hours(1));
  EXPECT_GE(late.conn->timer_fired_at[0], now + milliseconds(80));
  EXPECT_EQ(late.conn->timer_fired_at.size(), 1u);
}

TEST_F(ConnectionTest, TimersFireInDeadlineOrderAndNotAfterClose) {
  Pair a = Connect();
  Pair b = Connect();
  Pair closed = Connect();
  for (Pair* p : {&a, &b, &closed})
    p->conn->Start();
  const Clock::time_point now = Clock::now();
  a.conn->ArmTimer(now + milliseconds(60));
  b.conn->ArmTimer(now + milliseconds(30));
  closed.conn->ArmTimer(now + milliseconds(10));
  closed.conn->Close("closed before its deadline");
  ASSERT_TRUE(Run([&] { return !a.conn->timer_fired_at.empty(); }));
  ASSERT_EQ(b.conn->timer_fired_at.size(), 1u);
  EXPECT_LE(b.conn->timer_fired_at[0], a.conn->timer_fired_at[0]);
  EXPECT_TRUE(closed.conn->timer_fired_at.empty());
}

TEST_F(ConnectionTest, ADestroyedConnectionLeavesTheHeap) {
  Pair gone = Connect();
  Pair stays = Connect();
  const Clock::time_point now = Clock::now();
  gone.conn->ArmTimer(now + milliseconds(10));
  stays.conn->ArmTimer(now + milliseconds(30));
  std::weak_ptr<TestConnection> weak = gone.conn;
  gone.conn.reset();  // never started: nothing else holds it
  ASSERT_TRUE(weak.expired());
  ASSERT_TRUE(Run([&] { return !stays.conn->timer_fired_at.empty(); }));
  EXPECT_GE(stays.conn->timer_fired_at[0], now + milliseconds(30));
}

TEST_F(ConnectionTest, CountInCountsOpenedOnceAndClosedAtDestruction) {
  ListenerStats stats;
  {
    Pair p = Connect();
    p.conn->CountIn(stats);
    p.conn->CountIn(stats);  // at most once
    EXPECT_EQ(stats.opened.load(), 1u);
    EXPECT_EQ(stats.open(), 1);
    p.conn->Start();
    p.conn->Close("done");
    EXPECT_EQ(stats.closed.load(), 0u);  // closed, but the object lives until its handlers end
    p.conn.reset();
    RunReady();  // the aborted read wait drops the last reference
  }
  EXPECT_EQ(stats.closed.load(), 1u);
  EXPECT_EQ(stats.open(), 0);
}

}  // namespace
}  // namespace ttlogin::server::testing
