#include "tools/common/msg_server_client.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "IM.Server.pb.h"
#include "common/protocol.h"

namespace ttlogin::peer {
namespace {

using namespace std::chrono_literals;

// The login server's side, played by the test: a listening loopback socket and one accepted
// connection, read with the same bounded functions.
class FakeLoginServer {
 public:
  FakeLoginServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listen_fd_, 4), 0);
    EXPECT_EQ(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
  }
  ~FakeLoginServer() {
    CloseConnection();
    close(listen_fd_);
  }
  std::uint16_t port() const { return port_; }
  bool Accept() {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 3000) != 1) return false;
    conn_ = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    return conn_ >= 0;
  }
  Pdu Read() {
    Pdu pdu;
    const IoResult r = ReadPdu(conn_, pdu, DeadlineIn(3s));
    EXPECT_TRUE(r.ok()) << r.Describe();
    return pdu;
  }
  bool Send(const std::string& bytes) { return SendAll(conn_, bytes, DeadlineIn(3s)).ok(); }
  void CloseConnection() {
    if (conn_ >= 0) close(conn_);
    conn_ = -1;
  }

 private:
  int listen_fd_ = -1;
  int conn_ = -1;
  std::uint16_t port_ = 0;
};

// Calls client.ReadInput until it reports something other than "nothing yet", within 3 s.
IoResult ReadInputUntil(MsgServerClient& client, MsgServerClient::OnHeartbeat on_heartbeat,
                        std::uint64_t heartbeats) {
  const Deadline deadline = DeadlineIn(3s);
  while (true) {
    const IoResult r = client.ReadInput(on_heartbeat);
    if (!r.ok() || client.heartbeats_received() >= heartbeats || Clock::now() >= deadline) {
      return r;
    }
    pollfd p{client.socket().fd(), POLLIN, 0};
    poll(&p, 1, 50);
  }
}

TEST(MsgServerClientTest, RegistersAndReportsUsers) {
  FakeLoginServer server;
  MsgServerClient client;
  ASSERT_TRUE(client.Connect(server.port()).ok());
  ASSERT_TRUE(server.Accept());

  MsgServerInfo info;
  info.host_name = "msg-under-test";
  info.cur_conn_cnt = 4;
  ASSERT_TRUE(client.Register(info).ok());
  ASSERT_TRUE(client.Inc(3, 100).ok());
  ASSERT_TRUE(client.Dec(1, 101).ok());
  ASSERT_TRUE(client.Heartbeat().ok());

  const Pdu reg = server.Read();
  EXPECT_EQ(reg.header.service_id, common::kSidOther);
  ASSERT_EQ(reg.header.command_id, common::kCidOtherMsgServInfo);
  IM::Server::IMMsgServInfo m;
  ASSERT_TRUE(m.ParseFromString(reg.body));
  EXPECT_EQ(m.host_name(), "msg-under-test");
  EXPECT_EQ(m.cur_conn_cnt(), 4u);

  const std::vector<std::pair<std::uint32_t, std::uint32_t>> want = {{common::kUserActionInc, 100},
                                                                     {common::kUserActionInc, 101},
                                                                     {common::kUserActionInc, 102},
                                                                     {common::kUserActionDec, 101}};
  for (const auto& [action, user] : want) {
    const Pdu u = server.Read();
    ASSERT_EQ(u.header.command_id, common::kCidOtherUserCntUpdate);
    IM::Server::IMUserCntUpdate update;
    ASSERT_TRUE(update.ParseFromString(u.body));
    EXPECT_EQ(update.user_action(), action);
    EXPECT_EQ(update.user_id(), user);
  }
  EXPECT_EQ(server.Read().header.command_id, common::kCidOtherHeartbeat);
}

TEST(MsgServerClientTest, AnswersHeartbeatsOnlyWhenAsked) {
  FakeLoginServer server;
  MsgServerClient client;
  ASSERT_TRUE(client.Connect(server.port()).ok());
  ASSERT_TRUE(server.Accept());

  ASSERT_TRUE(server.Send(HeartbeatPdu()));
  ASSERT_TRUE(ReadInputUntil(client, MsgServerClient::OnHeartbeat::kIgnore, 1).ok());
  EXPECT_EQ(client.heartbeats_received(), 1u);

  // Two heartbeats, the second split across writes: both counted, both answered.
  const std::string two = HeartbeatPdu() + HeartbeatPdu();
  ASSERT_TRUE(server.Send(two.substr(0, 20)));
  ASSERT_TRUE(server.Send(two.substr(20)));
  ASSERT_TRUE(ReadInputUntil(client, MsgServerClient::OnHeartbeat::kAnswer, 3).ok());
  EXPECT_EQ(client.heartbeats_received(), 3u);
  EXPECT_EQ(server.Read().header.command_id, common::kCidOtherHeartbeat);
  EXPECT_EQ(server.Read().header.command_id, common::kCidOtherHeartbeat);
  // Nothing more: the ignored one was not answered.
  ASSERT_TRUE(client.Inc().ok());
  EXPECT_EQ(server.Read().header.command_id, common::kCidOtherUserCntUpdate);
}

TEST(MsgServerClientTest, SeesTheServerClose) {
  FakeLoginServer server;
  MsgServerClient client;
  ASSERT_TRUE(client.Connect(server.port()).ok());
  ASSERT_TRUE(server.Accept());
  EXPECT_TRUE(client.ReadInput().ok()) << "an open, quiet connection";
  server.CloseConnection();
  const IoResult r = ReadInputUntil(client, MsgServerClient::OnHeartbeat::kIgnore, 1);
  EXPECT_EQ(r.status, IoStatus::kClosed) << r.Describe();
}

TEST(MsgServerClientTest, ReportsAStreamThatIsNotPdus) {
  FakeLoginServer server;
  MsgServerClient client;
  ASSERT_TRUE(client.Connect(server.port()).ok());
  ASSERT_TRUE(server.Accept());
  ASSERT_TRUE(server.Send("HTTP/1.1 400 Bad Request\r\n\r\n"));
  const IoResult r = ReadInputUntil(client, MsgServerClient::OnHeartbeat::kIgnore, 1);
  EXPECT_EQ(r.status, IoStatus::kError);
  EXPECT_EQ(r.error_number, EBADMSG);
}

}  // namespace
}  // namespace ttlogin::peer
