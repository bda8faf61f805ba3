// Listener and IoThreadPool: accepting on 127.0.0.1 port 0, connections started on the pool's
// loops, the connection cap, and the counts the listener keeps.
#include "server/net/listener.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "server/net/io_thread_pool.h"
#include "test/server/net/net_test_util.h"

namespace ttlogin::server::testing {
namespace {

// Records the thread each connection starts on.
struct Started {
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::atomic<int> count{0};
};

class ListenerTest : public ::testing::Test {
 protected:
  ListenerTest()
      : listener_("test", accept_io_, pool_, stats_, [this](asio::ip::tcp::socket socket) {
          auto c = std::make_shared<TestConnection>(std::move(socket));
          c->on_start = [this](TestConnection&) {
            std::lock_guard lock(started_.mu);
            started_.threads.insert(std::this_thread::get_id());
            started_.count.fetch_add(1);
          };
          return c;
        }) {}

  ~ListenerTest() override {
    // As the server does: run the aborted accept (its socket belongs to a pool loop) before the
    // loops go, then stop them; connections still on them are destroyed with them.
    listener_.Stop();
    accept_io_.restart();
    accept_io_.poll();
    pool_.Stop();
  }

  void Start(std::size_t max_connections) {
    common::ListenerConfig config;
    config.addresses = {"127.0.0.1"};
    config.port = 0;
    listener_.set_max_connections(max_connections);
    ASSERT_EQ(listener_.Bind(config), "");
    ASSERT_EQ(listener_.endpoints().size(), 1u);
    endpoint_ = listener_.endpoints()[0];
    ASSERT_NE(endpoint_.port(), 0);
    pool_.Start();
    listener_.StartAccepting();
  }

  std::unique_ptr<Client> Dial() {
    auto c = std::make_unique<Client>(client_io_);
    c->socket.connect(endpoint_);
    return c;
  }

  // The accept loop runs on this thread, as the server's runs on its main thread.
  template <typename Pred>
  bool Run(Pred done) {
    return RunUntil(accept_io_, done);
  }

  ListenerStats stats_;  // outlives the pool: connections count their closing in it
  IoThreadPool pool_{2};
  asio::io_context accept_io_;
  Started started_;
  Listener listener_;
  asio::ip::tcp::endpoint endpoint_;
  asio::io_context client_io_;
};

TEST_F(ListenerTest, AcceptsOnAPickedPortAndStartsConnectionsRoundRobin) {
  Start(0);
  EXPECT_EQ(listener_.name(), "test");
  auto first = Dial();
  auto second = Dial();
  ASSERT_TRUE(Run([&] { return started_.count.load() == 2; }));
  {
    std::lock_guard lock(started_.mu);
    EXPECT_EQ(started_.threads.size(), 2u);  // one per loop of the pool
    EXPECT_EQ(started_.threads.count(std::this_thread::get_id()), 0u);
  }
  EXPECT_EQ(stats_.accepted.load(), 2u);
  EXPECT_EQ(stats_.opened.load(), 2u);
  EXPECT_EQ(stats_.open(), 2);
  EXPECT_EQ(stats_.refused.load(), 0u);

  first->socket.close();
  ASSERT_TRUE(WaitFor([&] { return stats_.closed.load() == 1; }));
  EXPECT_EQ(stats_.open(), 1);
}

TEST_F(ListenerTest, RefusesConnectionsOverTheCapUntilOneCloses) {
  Start(1);
  auto kept = Dial();
  ASSERT_TRUE(Run([&] { return started_.count.load() == 1; }));

  auto refused = Dial();
  ASSERT_TRUE(Run([&] { return stats_.refused.load() == 1; }));
  // Reset at once (no TIME_WAIT), never handed to the factory.
  ASSERT_TRUE(WaitFor([&] { return !refused->Poll(); }));
  EXPECT_TRUE(refused->end == asio::error::connection_reset || refused->end == asio::error::eof)
      << refused->end.message();
  EXPECT_EQ(stats_.accepted.load(), 1u);
  EXPECT_EQ(stats_.open(), 1);
  EXPECT_EQ(started_.count.load(), 1);

  kept->socket.close();
  ASSERT_TRUE(WaitFor([&] { return stats_.open() == 0; }));
  auto next = Dial();
  ASSERT_TRUE(Run([&] { return started_.count.load() == 2; }));
  EXPECT_EQ(stats_.accepted.load(), 2u);
  EXPECT_EQ(stats_.refused.load(), 1u);
  EXPECT_EQ(stats_.open(), 1);
}

TEST_F(ListenerTest, BindReportsABadAddress) {
  common::ListenerConfig config;
  config.addresses = {"not-an-address"};
  const std::string error = listener_.Bind(config);
  EXPECT_NE(error.find("bad address 'not-an-address'"), std::string::npos) << error;
}

}  // namespace
}  // namespace ttlogin::server::testing
