#include "tools/common/socket_io.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

#include "common/protocol.h"
#include "tools/common/peer_pdu.h"

namespace ttlogin::peer {
namespace {

using namespace std::chrono_literals;

struct SocketPair {
  int a = -1;
  int b = -1;
  SocketPair() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    a = fds[0];
    b = fds[1];
  }
  ~SocketPair() {
    CloseA();
    CloseB();
  }
  void CloseA() {
    if (a >= 0) close(a);
    a = -1;
  }
  void CloseB() {
    if (b >= 0) close(b);
    b = -1;
  }
};

void ShrinkSendBuffer(int fd) {
  const int small = 4096;  // the kernel doubles it and rounds up to its minimum
  ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
}

std::string Pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

TEST(SocketIoTest, SendAllWritesEverythingThroughPartialWrites) {
  SocketPair p;
  ShrinkSendBuffer(p.a);
  // Far more than the buffer holds, so send() returns short counts and EAGAIN many times.
  const std::string payload = Pattern(1 << 20);
  std::string received;
  std::thread reader([&] {
    char buf[1000];  // small reads keep the writer's buffer full
    while (received.size() < payload.size()) {
      std::size_t got = 0;
      if (!ReadSome(p.b, buf, sizeof buf, DeadlineIn(5s), got).ok()) return;
      received.append(buf, got);
    }
  });
  const IoResult r = SendAll(p.a, payload, DeadlineIn(10s));
  reader.join();
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(received.size(), payload.size());
  EXPECT_TRUE(received == payload) << "bytes lost, repeated or reordered";
}

TEST(SocketIoTest, SendSomeTakesWhatFitsAndNeverWaits) {
  SocketPair p;
  ShrinkSendBuffer(p.a);
  const std::string payload = Pattern(1 << 20);
  std::size_t total = 0;
  std::size_t sent = 0;
  // Fills the buffer without a reader: short counts, then 0 once it is full, at once each time.
  const auto start = Clock::now();
  do {
    ASSERT_TRUE(SendSome(p.a, std::string_view(payload).substr(total), sent).ok());
    total += sent;
  } while (sent > 0);
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_GT(total, 0u);
  EXPECT_LT(total, payload.size()) << "the small buffer took everything";
  p.CloseB();
  const IoResult r = SendSome(p.a, "more", sent);
  EXPECT_EQ(r.status, IoStatus::kClosed);
}

TEST(SocketIoTest, SendAllGivesUpAtTheDeadlineWhenNobodyReads) {
  SocketPair p;
  ShrinkSendBuffer(p.a);
  const auto start = Clock::now();
  const IoResult r = SendAll(p.a, Pattern(1 << 20), DeadlineIn(200ms));
  const auto took = Clock::now() - start;
  EXPECT_EQ(r.status, IoStatus::kTimeout);
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 2s) << "the deadline did not bound the wait";
}

TEST(SocketIoTest, SendAllReportsAClosedPeer) {
  SocketPair p;
  p.CloseB();
  const IoResult r = SendAll(p.a, "hello", DeadlineIn(1s));
  EXPECT_EQ(r.status, IoStatus::kClosed) << r.Describe();
  EXPECT_EQ(r.error_number, EPIPE);
}

TEST(SocketIoTest, ReadExactWaitsForTheWholeCount) {
  SocketPair p;
  std::thread writer([&] {
    for (const char* part : {"ab", "cde", "fgh"}) {
      ASSERT_TRUE(SendAll(p.a, part, DeadlineIn(1s)).ok());
      std::this_thread::yield();
    }
  });
  char out[8];
  const IoResult r = ReadExact(p.b, out, sizeof out, DeadlineIn(5s));
  writer.join();
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(std::string(out, sizeof out), "abcdefgh");
}

TEST(SocketIoTest, ReadExactTimesOutAndSeesClose) {
  SocketPair p;
  char out[4];
  ASSERT_TRUE(SendAll(p.a, "ab", DeadlineIn(1s)).ok());
  EXPECT_EQ(ReadExact(p.b, out, sizeof out, DeadlineIn(100ms)).status, IoStatus::kTimeout);
  p.CloseA();
  EXPECT_EQ(ReadExact(p.b, out, sizeof out, DeadlineIn(1s)).status, IoStatus::kClosed);
}

TEST(SocketIoTest, ReadPduReadsOneFrameAndRefusesABadLength) {
  SocketPair p;
  const std::string pdu = ServInfoPdu(MsgServerInfo{}, 12);
  ASSERT_TRUE(SendAll(p.a, pdu + HeartbeatPdu(13), DeadlineIn(1s)).ok());
  Pdu first;
  ASSERT_TRUE(ReadPdu(p.b, first, DeadlineIn(1s)).ok());
  EXPECT_EQ(first.header.command_id, common::kCidOtherMsgServInfo);
  EXPECT_EQ(first.header.seq_num, 12);
  EXPECT_EQ(first.body, pdu.substr(common::kPduHeaderSize));
  Pdu second;
  ASSERT_TRUE(ReadPdu(p.b, second, DeadlineIn(1s)).ok());
  EXPECT_EQ(second.header.command_id, common::kCidOtherHeartbeat);
  EXPECT_TRUE(second.body.empty());

  std::string bad = HeartbeatPdu();
  common::StoreBe32(reinterpret_cast<std::uint8_t*>(bad.data()), 3);  // shorter than a header
  ASSERT_TRUE(SendAll(p.a, bad, DeadlineIn(1s)).ok());
  Pdu broken;
  const IoResult r = ReadPdu(p.b, broken, DeadlineIn(1s));
  EXPECT_EQ(r.status, IoStatus::kError);
  EXPECT_EQ(r.error_number, EBADMSG);
}

TEST(SocketIoTest, DiscardInputDropsWhatWaitsAndSeesClose) {
  SocketPair p;
  ASSERT_TRUE(SendAll(p.a, Pattern(10000), DeadlineIn(1s)).ok());
  EXPECT_TRUE(DiscardInput(p.b).ok());
  pollfd pf{p.b, POLLIN, 0};
  EXPECT_EQ(poll(&pf, 1, 0), 0) << "bytes left unread";
  EXPECT_TRUE(DiscardInput(p.b).ok()) << "nothing waiting is not a close";
  p.CloseA();
  EXPECT_EQ(DiscardInput(p.b).status, IoStatus::kClosed);
}

TEST(SocketIoTest, ConnectLoopbackReportsARefusal) {
  // A port that was just free: bind, read the port, close.
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(s);
  int fd = 0;
  const IoResult r = ConnectLoopback(ntohs(addr.sin_port), 1s, fd);
  EXPECT_EQ(r.status, IoStatus::kClosed) << r.Describe();
  EXPECT_EQ(r.error_number, ECONNREFUSED);
  EXPECT_EQ(fd, -1);
}

}  // namespace
}  // namespace ttlogin::peer
