// Limits of docs/RELIABILITY.md: connection caps per listener, the registration cap, slowloris,
// JSON logs, and many simultaneous client connections.
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "test/support/fake_peers.h"
#include "test/support/sanitizer_build.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

using nlohmann::json;

std::string Metrics(const ServerProcess& s) {
  const auto r =
      HttpRequest(s.ports().admin, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  return r ? r->body : "";
}

bool HasSample(const std::string& metrics, const std::string& sample) {
  return metrics.find("\n" + sample + "\n") != std::string::npos;
}

void RaiseFdLimit() {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
}

TEST(LimitsTest, ConnectionsBeyondTheListenerCapAreRefusedAndCounted) {
  ServerProcess server("AdminPort=0\nMaxHttpConnections=5\n");
  ASSERT_TRUE(server.started()) << server.log();
  std::vector<TcpClient> held;
  for (int i = 0; i < 5; ++i) {
    held.emplace_back(server.ports().http);
    ASSERT_TRUE(held.back().Send("GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(ReadHttpResponse(held.back())) << i;  // accepted and served
  }
  // The kernel completes the handshake and the server resets the connection at once: the reset
  // can already be there when the (non-blocking) connect is checked, or come right after it.
  // Either way the refusal is counted below, which a connect to nothing would not be.
  TcpClient extra(server.ports().http);
  EXPECT_TRUE(!extra.connected() || extra.WaitClosed());
  EXPECT_TRUE(Eventually([&] {
    return HasSample(Metrics(server), "ttlogin_connections_refused_total{listener=\"http\"} 1");
  }));
  EXPECT_NE(server.log().find("refusing new ones"), std::string::npos);
  held.clear();  // room again
  EXPECT_TRUE(Eventually([&] { return HttpGetMsgServer(server.ports().http).has_value(); }));
}

TEST(LimitsTest, RegistrationsBeyondMaxMsgServersAreRefused) {
  ServerProcess server("AdminPort=0\nMaxMsgServers=2\n");
  ASSERT_TRUE(server.started()) << server.log();
  FakeMsgServer a(server.ports().msg_server), b(server.ports().msg_server),
      c(server.ports().msg_server);
  MsgServerFields f;
  for (FakeMsgServer* ms : {&a, &b}) {
    f.port++;
    ASSERT_TRUE(ms->Register(f));
  }
  ASSERT_TRUE(Eventually(
      [&] { return HasSample(Metrics(server), "ttlogin_msg_servers{state=\"registered\"} 2"); }));
  f.port++;
  ASSERT_TRUE(c.Register(f));
  EXPECT_TRUE(c.conn().WaitClosed());
  EXPECT_TRUE(HasSample(Metrics(server), "ttlogin_msg_server_events_total{event=\"refused\"} 1"));
  EXPECT_NE(server.log().find("registry is full"), std::string::npos);
}

TEST(LimitsTest, SlowlorisGets408AfterHttpRequestTimeoutWhateverItsPace) {
  ServerProcess server("HttpRequestTimeout=1\nHttpTimeout=60\n");
  ASSERT_TRUE(server.started()) << server.log();
  TcpClient slow(server.ports().http);
  const std::string request = "GET /msg_server HTTP/1.1\r\nHost: x\r\nX-A: aaaaaaaaaaaaaaaa\r\n";
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  std::string got;
  // One byte every 100 ms keeps the connection far from idle, but never finishes the head.
  for (std::size_t i = 0; i < request.size() && !closed; ++i) {
    if (!slow.Send(request.substr(i, 1))) break;
    got += slow.ReadUntilClose(std::chrono::milliseconds(100), &closed);
  }
  if (!closed) got += slow.ReadUntilClose(std::chrono::seconds(3), &closed);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(closed);
  EXPECT_NE(got.find(" 408 "), std::string::npos) << got;
  EXPECT_LT(elapsed, std::chrono::seconds(4));
}

TEST(LimitsTest, TenThousandSimultaneousClientConnections) {
  RaiseFdLimit();
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  ASSERT_GE(lim.rlim_cur, 10100u) << "this test needs an open-files limit above 10,100";
  ServerProcess server("AdminPort=0\n");
  ASSERT_TRUE(server.started()) << server.log();
  std::vector<TcpClient> clients;
  clients.reserve(10000);
  for (int i = 0; i < 10000; ++i) {
    clients.emplace_back(server.ports().client);
    ASSERT_TRUE(clients.back().connected()) << i;
  }
  EXPECT_TRUE(Eventually(
      [&] {
        return HasSample(Metrics(server), "ttlogin_connections_open{listener=\"client\"} 10000");
      },
      std::chrono::seconds(20)));
  // Every one of them still gets its answer.
  for (int i = 0; i < 10000; i += 97) {
    ASSERT_TRUE(clients[i].Send(MsgServReqPdu(static_cast<std::uint16_t>(i))));
    const auto pdu = ReadPdu(clients[i]);
    ASSERT_TRUE(pdu) << i;
    EXPECT_EQ(pdu->header.seq_num, static_cast<std::uint16_t>(i));
  }
  EXPECT_NE(server.log().find("open-files limit"), std::string::npos);
}

long RssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

TEST(LimitsTest, APeerThatNeverReadsItsRepliesCannotGrowServerMemory) {
  ServerProcess server("AdminPort=0\nHttpTimeout=60\n");
  ASSERT_TRUE(server.started()) << server.log();
  [[maybe_unused]] const long rss_before = RssKib(server.pid());
  TcpClient hog(server.ports().http);
  ASSERT_TRUE(hog.connected());
  fcntl(hog.fd(), F_SETFL, fcntl(hog.fd(), F_GETFL) | O_NONBLOCK);
  // Pipeline requests without ever reading: each asks for a ~300-byte reply. The server queues
  // at most MaxQueuedOutput of replies, then stops reading; the kernel buffers fill and our sends
  // fail with EAGAIN. Done once they have failed for a whole second on end (the server has
  // stopped reading); the deadline only bounds a server that never stops, and is long because a
  // loaded machine fills the buffers slowly.
  std::string batch;
  for (int i = 0; i < 100; ++i)
    batch += "GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n";
  std::size_t sent = 0;
  using SteadyClock = std::chrono::steady_clock;
  bool blocked = false;  // every send since blocked_since has failed
  SteadyClock::time_point blocked_since{};
  bool stopped_reading = false;
  const auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (!stopped_reading && SteadyClock::now() < deadline) {
    const ssize_t n = send(hog.fd(), batch.data(), batch.size(), MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      blocked = false;
      continue;
    }
    ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << "send failed: " << errno;
    if (!blocked) {
      blocked = true;
      blocked_since = SteadyClock::now();
    }
    stopped_reading = SteadyClock::now() - blocked_since >= std::chrono::seconds(1);
    // Poll for writability: wakes at once if the server reads again.
    pollfd p{hog.fd(), POLLOUT, 0};
    poll(&p, 1, 50);
  }
  EXPECT_GT(sent, 1024u * 1024) << "the hog should have sent more than the server queues";
  EXPECT_TRUE(stopped_reading) << "the server never stopped reading";
  // Others are still served, and the server's memory stayed bounded.
  const auto r = HttpGetMsgServer(server.ports().http);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const long rss_after = RssKib(server.pid());
  if (!kSanitizerBuild) {
    EXPECT_LT(rss_after - rss_before, 16 * 1024) << rss_before << " -> " << rss_after << " KiB";
  }
  RecordProperty("bytes_sent_unread", static_cast<int>(sent));
}

TEST(LogFormatTest, JsonLogsAreOneObjectPerLineWithEscapedPeerText) {
  const std::string dir = MakeTempDir();
  ServerProcess server("LogFormat=json\nLogFile=" + dir + "/server.json.log\nLogLevel=info\n");
  ASSERT_TRUE(server.started()) << server.log();
  FakeMsgServer ms(server.ports().msg_server);
  MsgServerFields f;
  f.host_name = "evil\"\n{\"level\":\"fake\"}";
  ASSERT_TRUE(ms.Register(f));
  std::vector<json> lines;
  ASSERT_TRUE(Eventually([&] {
    lines.clear();
    std::ifstream in(dir + "/server.json.log");
    std::string line;
    while (std::getline(in, line)) {
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded()) ADD_FAILURE() << "not JSON: " << line;
      lines.push_back(std::move(j));
    }
    for (const auto& j : lines) {
      if (j.value("msg", "").find("registered") != std::string::npos) return true;
    }
    return false;
  }));
  for (const auto& j : lines) {
    EXPECT_TRUE(j.contains("ts") && j.contains("level") && j.contains("msg") &&
                j.contains("thread"));
    EXPECT_NE(j.value("level", ""), "fake");
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ttlogin::test
