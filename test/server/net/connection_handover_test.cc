// What a live upgrade needs of the connection layer: each loop's list of started connections,
// letting a socket go without shutdown() while another process holds it, a connection rebuilt
// around a carried socket with its unsent output, and listeners that pause while another takes
// over their listening socket.
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "server/net/connection_timers.h"
#include "server/net/io_thread_pool.h"
#include "server/net/listener.h"
#include "test/server/net/net_test_util.h"

namespace ttlogin::server::testing {
namespace {

class ConnectionHandoverTest : public ::testing::Test {
 protected:
  struct Pair {
    std::unique_ptr<Client> client;
    std::shared_ptr<TestConnection> conn;
  };
  Pair Connect() {
    asio::ip::tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    Pair p;
    p.client = std::make_unique<Client>(io_);
    p.client->socket.connect(acceptor.local_endpoint());
    asio::ip::tcp::socket server(io_);
    acceptor.accept(server);
    p.conn = std::make_shared<TestConnection>(std::move(server));
    return p;
  }
  template <typename Pred>
  bool Run(Pred done) {
    return RunUntil(io_, done);
  }
  std::size_t Listed() {
    std::size_t n = 0;
    asio::use_service<ConnectionTimers>(io_).ForEachConnection([&](Connection&) { ++n; });
    return n;
  }

  asio::io_context io_;
};

TEST_F(ConnectionHandoverTest, ALoopListsItsStartedConnectionsUntilTheyClose) {
  Pair a = Connect();
  Pair b = Connect();
  EXPECT_EQ(Listed(), 0u);  // built, not started
  a.conn->Start();
  b.conn->Start();
  EXPECT_EQ(Listed(), 2u);
  EXPECT_EQ(asio::use_service<ConnectionTimers>(io_).tracked(), 2u);
  EXPECT_TRUE(a.conn->Quiescent());
  a.conn->Close("test");
  EXPECT_EQ(Listed(), 1u);
  b.client->socket.close();  // the peer leaves: the connection closes on its own
  ASSERT_TRUE(Run([&] { return b.conn->closed(); }));
  EXPECT_EQ(Listed(), 0u);
}

TEST_F(ConnectionHandoverTest, HandOverLetsTheSocketGoWithoutEndingItForTheOtherHolder) {
  Pair p = Connect();
  p.conn->Start();
  p.client->Write("one");
  ASSERT_TRUE(Run([&] { return p.conn->deliveries.size() == 1; }));
  // The new process's copy of the socket.
  const int copy = ::dup(p.conn->native_handle());
  ASSERT_GE(copy, 0);
  p.conn->HandOver();
  EXPECT_TRUE(p.conn->closed());
  EXPECT_EQ(p.conn->closes, 0);  // the protocol's close did not run
  EXPECT_EQ(Listed(), 0u);

  // No FIN reached the peer: what the copy writes arrives, and the peer has not seen an end.
  asio::ip::tcp::socket other(io_);
  other.assign(asio::ip::tcp::v4(), copy);
  asio::write(other, asio::buffer(std::string_view("from the copy")));
  ASSERT_TRUE(Run([&] { return !p.client->Poll() || p.client->received == "from the copy"; }));
  EXPECT_FALSE(p.client->ended) << p.client->end.message();
  // What the peer sends now reaches the copy only.
  p.client->Write("two");
  std::array<char, 8> buffer{};
  EXPECT_EQ(asio::read(other, asio::buffer(buffer.data(), 3)), 3u);
  EXPECT_EQ(std::string_view(buffer.data(), 3), "two");
  io_.restart();
  io_.poll();
  EXPECT_EQ(p.conn->deliveries.size(), 1u);
}

TEST_F(ConnectionHandoverTest, ACarriedConnectionSendsItsUnsentOutputFirstAndKeepsItsTimes) {
  Pair p = Connect();
  const int copy = ::dup(p.conn->native_handle());
  ASSERT_GE(copy, 0);
  p.conn.reset();  // the old process's object goes; the copy stays open
  asio::ip::tcp::socket socket(io_);
  socket.assign(asio::ip::tcp::v4(), copy);
  auto carried = std::make_shared<TestConnection>(std::move(socket));
  const Clock::time_point received = Clock::now() - std::chrono::seconds(7);
  const Clock::time_point sent = received - std::chrono::seconds(3);
  carried->RestoreCarried("queued before the handover", {}, received, sent);
  EXPECT_EQ(carried->unsent_output(), "queued before the handover");
  EXPECT_EQ(carried->last_received(), received);
  EXPECT_EQ(carried->last_sent(), sent);
  carried->on_data = [](TestConnection& c, std::span<const std::uint8_t> data) {
    c.Send("|ok");
    return data.size();
  };
  carried->Start();
  p.client->Write("x");
  ASSERT_TRUE(Run([&] {
    return p.client->Poll() && p.client->received == "queued before the handover|ok";
  })) << p.client->received;
  EXPECT_TRUE(carried->unsent_output().empty());
}

// A peer that pipelines requests and does not read its answers pauses the connection with the
// unparsed rest of a read held. Such a connection is carried with that input: the new process
// sends the unsent output first, then hands the held input to the protocol, then reads on. (Kept
// in the old process instead, it could answer nothing before the peer reads, and the peer may not
// read before the old process exits.)
TEST_F(ConnectionHandoverTest, APausedConnectionGoesAcrossWithItsUnparsedInputFirst) {
  constexpr std::size_t kReply = 256 * 1024;
  asio::ip::tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
  Client client(io_);
  client.socket.open(asio::ip::tcp::v4());
  client.socket.set_option(asio::socket_base::receive_buffer_size(4096));
  client.socket.connect(acceptor.local_endpoint());
  asio::ip::tcp::socket server(io_);
  acceptor.accept(server);
  server.set_option(asio::socket_base::send_buffer_size(4096));
  auto old = std::make_shared<TestConnection>(std::move(server));
  old->set_output_budget(1024);
  // One large answer per input byte, and nothing more while it is queued.
  old->on_data = [&](TestConnection& c, std::span<const std::uint8_t> data) -> std::size_t {
    if (c.output_room() == 0) return 0;
    c.Send(std::string(kReply, static_cast<char>(data[0])));
    return 1;
  };
  old->Start();
  client.Write("abc");
  ASSERT_TRUE(Run([&] { return !old->deliveries.empty(); }));
  io_.restart();
  io_.poll();
  ASSERT_GT(old->queued_output(), 0u) << "the peer took the whole answer: nothing paused";
  const std::string held(reinterpret_cast<const char*>(old->held_input().data()),
                         old->held_input().size());
  EXPECT_EQ(held, "bc");
  EXPECT_TRUE(old->Quiescent());

  const std::string output(old->unsent_output());
  const int copy = ::dup(old->native_handle());
  ASSERT_GE(copy, 0);
  old->HandOver();
  asio::ip::tcp::socket socket(io_);
  socket.assign(asio::ip::tcp::v4(), copy);
  auto carried = std::make_shared<TestConnection>(std::move(socket));
  carried->RestoreCarried(
      output, std::span(reinterpret_cast<const std::uint8_t*>(held.data()), held.size()),
      Clock::now(), Clock::now());
  carried->on_data = [](TestConnection& c, std::span<const std::uint8_t> data) {
    c.Send("|" + std::string(reinterpret_cast<const char*>(data.data()), data.size()));
    return data.size();
  };
  carried->Start();
  client.Write("d");
  ASSERT_TRUE(Run([&] { return !client.Poll() || client.received.size() >= kReply + 5; }))
      << client.received.size();
  ASSERT_EQ(client.received.size(), kReply + 5);
  EXPECT_EQ(client.received.find_first_not_of('a'), kReply) << "the first answer is incomplete";
  EXPECT_EQ(client.received.substr(kReply), "|bc|d");
  EXPECT_EQ(carried->deliveries, (std::vector<std::string>{"bc", "d"}));
  EXPECT_EQ(old->deliveries.size(), 1u);
}

// Records how many connections each listener started.
struct Counting {
  std::atomic<int> started{0};
  Listener::Factory Factory() {
    return [this](asio::ip::tcp::socket socket) {
      auto c = std::make_shared<TestConnection>(std::move(socket));
      c->on_start = [this](TestConnection&) { started.fetch_add(1); };
      return c;
    };
  }
};

TEST(ListenerHandoverTest, APausedListenerLeavesArrivalsToTheOneThatAdoptedItsSocket) {
  ListenerStats old_stats;
  ListenerStats new_stats;
  IoThreadPool pool(1);
  asio::io_context accept_io;
  Counting old_count;
  Counting new_count;
  Listener old_listener("old", accept_io, pool, old_stats, old_count.Factory());
  Listener new_listener("new", accept_io, pool, new_stats, new_count.Factory());
  common::ListenerConfig config;
  config.addresses = {"127.0.0.1"};
  config.port = 0;
  ASSERT_EQ(old_listener.Bind(config), "");
  pool.Start();
  old_listener.StartAccepting();
  asio::io_context client_io;
  const auto endpoint = old_listener.endpoints().at(0);
  Client first(client_io);
  first.socket.connect(endpoint);
  ASSERT_TRUE(RunUntil(accept_io, [&] { return old_count.started.load() == 1; }));

  old_listener.PauseAccepting();
  const auto sockets = old_listener.bound_sockets();
  ASSERT_EQ(sockets.size(), 1u);
  EXPECT_EQ(sockets[0].endpoint, endpoint);
  // Arrivals while paused wait in the kernel's queue.
  Client queued(client_io);
  queued.socket.connect(endpoint);
  ASSERT_EQ(new_listener.Adopt(::dup(sockets[0].fd)), "");
  EXPECT_EQ(new_listener.endpoints(), old_listener.endpoints());
  new_listener.StartAccepting();
  Client later(client_io);
  later.socket.connect(endpoint);
  ASSERT_TRUE(RunUntil(accept_io, [&] { return new_count.started.load() == 2; }));
  EXPECT_EQ(old_count.started.load(), 1);

  // A failed upgrade: the new one goes, the old one accepts again on the same socket.
  new_listener.Stop();
  old_listener.ResumeAccepting();
  Client after(client_io);
  after.socket.connect(endpoint);
  ASSERT_TRUE(RunUntil(accept_io, [&] { return old_count.started.load() == 2; }));
  EXPECT_EQ(new_count.started.load(), 2);

  EXPECT_NE(new_listener.Adopt(::dup(STDIN_FILENO)), "");  // not a TCP socket: refused

  old_listener.Stop();
  accept_io.restart();
  accept_io.poll();
  pool.Stop();
}

}  // namespace
}  // namespace ttlogin::server::testing
