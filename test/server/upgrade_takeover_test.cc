// UpgradeCoordinator::TakeOver, the new process's side of a live upgrade, against a fake old
// process on the other end of a handover channel: a state of another version, a missing
// descriptor, garbage and an abort are refused with a clear reason (and the old process told
// why); a good state is adopted and committed without a byte read or a connection accepted.
#include "server/upgrade_coordinator.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <asio.hpp>

#include "server/login_server.h"
#include "server/upgrade/handover_channel.h"
#include "ttlogin_handover.pb.h"

namespace ttlogin::server {
namespace {

using upgrade::HandoverChannel;
using upgrade::HandoverMessage;
constexpr auto kWait = std::chrono::seconds(10);

common::LoginServerConfig Config() {
  const std::string dir = testing::TempDir() + "/takeover" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/loginserver.conf";
  std::ofstream(path, std::ios::trunc)
      << "ClientListenIP=127.0.0.1\nClientPort=0\nHttpListenIP=127.0.0.1\nHttpPort=0\n"
         "MsgServerListenIP=127.0.0.1\nMsgServerPort=0\nmsfs=http://x/\ndiscovery=http://y/\n"
         "UpgradeTimeout=5\n";
  common::ConfigLoadResult r = common::LoadLoginServerConfig(path);
  EXPECT_TRUE(r.ok());
  std::filesystem::remove_all(dir);
  return r.config;
}

std::string Encode(const handover::Envelope& e) {
  std::string bytes;
  EXPECT_TRUE(e.SerializeToString(&bytes));
  return bytes;
}

class TakeOverTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(HandoverChannel::Pair(old_side_, new_side_), ""); }

  // Runs TakeOver on a thread; the test plays the old process on old_side_.
  std::future<std::string> Start() {
    return std::async(std::launch::async, [this] {
      return UpgradeCoordinator::TakeOver(server_, std::move(new_side_), command_, taken_);
    });
  }
  handover::Envelope Next(std::vector<upgrade::UniqueFd>* fds = nullptr) {
    HandoverMessage m;
    const std::string e = old_side_.Receive(m, std::chrono::steady_clock::now() + kWait);
    EXPECT_EQ(e, "");
    handover::Envelope envelope;
    EXPECT_TRUE(envelope.ParseFromString(m.bytes));
    if (fds != nullptr) *fds = std::move(m.fds);
    return envelope;
  }
  void Say(const handover::Envelope& e, std::span<const int> fds = {}) {
    ASSERT_EQ(old_side_.Send(Encode(e), fds, std::chrono::steady_clock::now() + kWait), "");
  }
  handover::Envelope GoodHelloThenState(handover::State state) {
    const handover::Envelope hello = Next();
    EXPECT_TRUE(hello.has_hello());
    EXPECT_EQ(hello.hello().protocol_version(), kHandoverProtocolVersion);
    EXPECT_EQ(hello.hello().pid(), ::getpid());
    EXPECT_EQ(hello.hello().binary_version(), "test-version");
    handover::Envelope e;
    *e.mutable_state() = std::move(state);
    return e;
  }

  LoginServer server_{Config(), ""};
  UpgradeCommand command_{"", {}, kHandoverProtocolVersion, "test-version"};
  UpgradeCoordinator::TakenOver taken_;
  HandoverChannel old_side_;
  HandoverChannel new_side_;
};

TEST_F(TakeOverTest, AStateOfAnotherVersionIsRefusedAndTheOldProcessToldWhy) {
  auto result = Start();
  handover::State state;
  state.set_protocol_version(kHandoverProtocolVersion + 1);
  Say(GoodHelloThenState(state));
  const handover::Envelope answer = Next();
  ASSERT_TRUE(answer.has_abort());
  EXPECT_NE(answer.abort().reason().find("protocol version " +
                                         std::to_string(kHandoverProtocolVersion + 1)),
            std::string::npos)
      << answer.abort().reason();
  const std::string error = result.get();
  EXPECT_EQ(error, answer.abort().reason());
}

TEST_F(TakeOverTest, AMissingDescriptorIsRefused) {
  auto result = Start();
  handover::State state;
  state.set_protocol_version(kHandoverProtocolVersion);
  handover::ListenerSocket& l = *state.add_listeners();
  l.set_listener("http");
  l.set_fd_index(3);  // no descriptors sent at all
  Say(GoodHelloThenState(state));
  EXPECT_TRUE(Next().has_abort());
  EXPECT_EQ(result.get(), "a listening socket is missing");
}

TEST_F(TakeOverTest, GarbageOrAnAbortFromTheOldProcessEndsTheTakeOver) {
  auto result = Start();
  (void)Next();
  ASSERT_EQ(old_side_.Send("\x08\x01 not a handover message", {},
                           std::chrono::steady_clock::now() + kWait),
            "");
  EXPECT_NE(result.get().find("not a handover message"), std::string::npos);

  HandoverChannel old_again;
  HandoverChannel new_again;
  ASSERT_EQ(HandoverChannel::Pair(old_again, new_again), "");
  old_side_ = std::move(old_again);
  new_side_ = std::move(new_again);
  auto second = Start();
  (void)Next();
  handover::Envelope abort;
  abort.mutable_abort()->set_reason("the old process is stopping");
  Say(abort);
  EXPECT_EQ(second.get(), "the old process refused: the old process is stopping");
}

TEST_F(TakeOverTest, AGoodStateIsAdoptedAndCommitted) {
  // The old process's HTTP listener, with a connection waiting in its queue, and an idle HTTP
  // connection it carries.
  asio::io_context io;
  asio::ip::tcp::acceptor listening(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto endpoint = listening.local_endpoint();
  asio::ip::tcp::socket client(io);
  client.connect(endpoint);
  asio::ip::tcp::socket carried(io);
  listening.accept(carried);
  asio::ip::tcp::socket queued(io);
  queued.connect(endpoint);

  auto result = Start();
  handover::State state;
  state.set_protocol_version(kHandoverProtocolVersion);
  state.set_pid(4242);
  state.set_max_link(77);
  handover::ListenerSocket& l = *state.add_listeners();
  l.set_listener("http");
  l.set_fd_index(0);
  handover::ConnectionState& c = *state.add_connections();
  c.set_kind(handover::ConnectionState::HTTP);
  c.set_fd_index(1);
  c.set_queued_output("HTTP/1.1 200 OK\r\n");
  const int fds[] = {listening.native_handle(), carried.native_handle()};
  Say(GoodHelloThenState(state), fds);
  const handover::Envelope adopted = Next();
  ASSERT_TRUE(adopted.has_adopted()) << adopted.DebugString();
  EXPECT_EQ(adopted.adopted().listeners(), 1u);
  EXPECT_EQ(adopted.adopted().connections(), 1u);
  handover::Envelope commit;
  commit.mutable_commit();
  Say(commit);
  ASSERT_EQ(result.get(), "");
  EXPECT_EQ(taken_.old_pid, 4242);
  EXPECT_EQ(taken_.listeners, 1u);
  EXPECT_EQ(taken_.connections, 1u);
  EXPECT_EQ(server_.metrics().Get(Counter::kUpgrades), 1u);
  bool http_carried = false;
  for (const auto& [name, endpoints] : server_.Endpoints()) {
    ASSERT_EQ(endpoints.size(), 1u) << name;
    if (name == "http") http_carried = endpoints[0].port() == endpoint.port();
    EXPECT_NE(endpoints[0].port(), 0) << name;  // the others were bound afresh
  }
  EXPECT_TRUE(http_carried);
  // Nothing was accepted or sent before Run(): the queued connection is still in the kernel's
  // queue, and the carried connection's client has nothing to read.
  listening.non_blocking(true);
  asio::error_code ec;
  asio::ip::tcp::socket next(io);
  listening.accept(next, ec);
  EXPECT_FALSE(ec) << "the queued connection is still there for whoever accepts: " << ec.message();
  EXPECT_EQ(client.available(), 0u);
  UpgradeCoordinator::Serving(taken_);
  EXPECT_TRUE(Next().has_serving());
}

}  // namespace
}  // namespace ttlogin::server
