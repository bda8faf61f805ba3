// What a hostile peer can make the server write: /metrics stays a valid scrape whatever bytes a
// msg_server puts in host_name, and log lines a peer can trigger at will are rate-limited.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/log_rate_limiter.h"
#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

using Clock = std::chrono::steady_clock;

std::optional<HttpResponse> GetMetrics(const ServerProcess& s) {
  return HttpRequest(s.ports().admin,
                     "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

// The value of the sample line that starts with `series` (name and labels, as written), or -1.
double Sample(const std::string& body, const std::string& series) {
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
    }
  }
  return -1;
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

std::size_t CountContaining(const std::vector<std::string>& lines, const std::string& text,
                            const std::string& also = "") {
  std::size_t n = 0;
  for (const auto& l : lines)
    n += l.find(text) != std::string::npos && l.find(also) != std::string::npos ? 1 : 0;
  return n;
}

// The most lines one rate-limited call site may write in `elapsed`, plus one for a token earned
// while the last line was being checked.
std::size_t PerSiteBound(Clock::duration elapsed) {
  const auto whole_seconds = std::chrono::duration_cast<std::chrono::seconds>(elapsed).count() + 1;
  return common::kPeerLogBurst + common::kPeerLogPerSecond * whole_seconds + 1;
}

TEST(HostileMetricsTest, HostNamesOfAnyBytesGiveAScrapePromtoolAccepts) {
  ServerProcess server("AdminPort=0\n");
  ASSERT_TRUE(server.started()) << server.log();
  const std::vector<std::string> hostile = {
      "bad-utf8-\xFF\xFE",        "cr-\r-lf-\n-end",
      std::string("nul-\0-x", 7), "esc-\x1B[31mred\x1B[0m",
      "overlong-\xC0\xAF",        "surrogate-\xED\xA0\x80",
      "truncated-\xE2\x82",       "above-max-\xF4\x90\x80\x80",
      "c1-\xC2\x85-del-\x7F",     "quote-\"-backslash-\\-brace-}",
      "tab-\t-bell-\a",           "北京-1",
  };
  std::vector<FakeMsgServer> peers;
  peers.reserve(hostile.size());
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    peers.emplace_back(server.ports().msg_server);
    MsgServerFields f;
    f.host_name = hostile[i];
    f.port = static_cast<std::uint32_t>(9000 + i);
    f.ip1 = "192.0.2.1";
    f.ip2 = "192.0.2.2";
    ASSERT_TRUE(peers.back().Register(f)) << i;
  }
  std::string body;
  ASSERT_TRUE(Eventually([&] {
    const auto r = GetMetrics(server);
    if (!r || r->status != 200) return false;
    body = r->body;
    return Sample(body, "ttlogin_msg_servers{state=\"registered\"}") ==
           static_cast<double>(hostile.size());
  })) << body;
  // The shapes an operator reads: control bytes and bad UTF-8 as \xNN (backslash doubled on the
  // wire), good UTF-8 kept.
  EXPECT_GE(
      Sample(body, "ttlogin_msg_server_users{host=\"cr-\\\\x0d-lf-\\\\x0a-end\",port=\"9001\"}"),
      0);
  EXPECT_GE(
      Sample(body, "ttlogin_msg_server_users{host=\"bad-utf8-\\\\xff\\\\xfe\",port=\"9000\"}"), 0);
  EXPECT_GE(Sample(body, "ttlogin_msg_server_users{host=\"北京-1\",port=\"9011\"}"), 0);
  // No raw control byte anywhere but the line ends.
  for (const char c : body) {
    const auto u = static_cast<unsigned char>(c);
    ASSERT_TRUE(u >= 0x20 || c == '\n') << "raw byte " << static_cast<int>(u);
    ASSERT_NE(u, 0x7F);
  }
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not installed (scripts/bootstrap.sh installs it)";
  }
  const std::string path = server.dir() + "/hostile-metrics.txt";
  WriteFile(path, body);
  const int rc =
      std::system(("promtool check metrics < " + path + " > " + path + ".out 2>&1").c_str());
  std::ifstream out(path + ".out");
  std::stringstream promtool_says;
  promtool_says << out.rdbuf();
  EXPECT_EQ(rc, 0) << promtool_says.str();
}

TEST(PeerLogRateTest, ReRegistrationInATightLoopWritesABoundedLog) {
  const std::string dir = MakeTempDir();
  const std::string log_path = dir + "/server.log";
  ServerProcess server("AdminPort=0\nLogLevel=info\nLogFile=" + log_path + "\n");
  ASSERT_TRUE(server.started()) << server.log();
  const auto start = Clock::now();
  FakeMsgServer ms(server.ports().msg_server);
  MsgServerFields f;
  f.ip1 = "192.0.2.1";
  f.ip2 = "192.0.2.2";
  std::string batch;
  for (int i = 0; i < 50; ++i)
    batch += ServInfoPdu(f);
  std::size_t sent = 0;
  while (Clock::now() - start < std::chrono::seconds(2)) {
    ASSERT_TRUE(ms.conn().Send(batch)) << "the server closed a well-behaved msg_server";
    sent += 50;
  }
  ASSERT_GE(sent, 1000u) << "too few registrations to show a flood";
  // Wait (bounded) until the server has read every one of them.
  std::string body;
  ASSERT_TRUE(Eventually(
      [&] {
        const auto r = GetMetrics(server);
        if (!r || r->status != 200) return false;
        body = r->body;
        return Sample(body, "ttlogin_pdus_received_total{command=\"CID_OTHER_MSG_SERV_INFO\"}") ==
               static_cast<double>(sent);
      },
      std::chrono::seconds(20)))
      << body;
  const auto elapsed = Clock::now() - start;
  const auto lines = ReadLines(log_path);
  // "registered: host_name=..." the first time, "re-registered (entry replaced): ..." after.
  const std::size_t registrations = CountContaining(lines, "registered: host_name=") +
                                    CountContaining(lines, "(entry replaced): host_name=");
  const std::size_t bound = PerSiteBound(elapsed);
  EXPECT_GE(registrations, common::kPeerLogBurst);
  EXPECT_LE(registrations, bound) << sent << " registrations sent";
  // Everything else in the file is start-up and the odd admin line: a handful.
  EXPECT_LE(lines.size(), bound + 30);
  EXPECT_GE(CountContaining(lines, "similar lines suppressed in the last"), 1u);
  EXPECT_GE(Sample(body, "ttlogin_log_lines_suppressed_total"),
            static_cast<double>(sent - registrations));
  RecordProperty("registrations_sent", static_cast<int>(sent));
  RecordProperty("log_lines", static_cast<int>(lines.size()));
  std::filesystem::remove_all(dir);
}

TEST(PeerLogRateTest, ManyPeersEachLoggingOnceShareOneBudget) {
  const std::string dir = MakeTempDir();
  const std::string log_path = dir + "/server.log";
  ServerProcess server("AdminPort=0\nLogLevel=info\nLogFile=" + log_path + "\n");
  ASSERT_TRUE(server.started()) << server.log();
  const auto start = Clock::now();
  constexpr int kPeers = 300;
  // Each connection sends a frame whose length field is impossible and is closed for it: one
  // warning per connection, from many different peers (ports).
  for (int i = 0; i < kPeers; ++i) {
    TcpClient c(i % 2 == 0 ? server.ports().msg_server : server.ports().client);
    ASSERT_TRUE(c.connected()) << i;
    c.Send(std::string(16, '\0'));
    ASSERT_TRUE(c.WaitClosed()) << i;
  }
  const auto elapsed = Clock::now() - start;
  const auto lines = ReadLines(log_path);
  const std::size_t msg_server_errors =
      CountContaining(lines, "msg_server 127.0.0.1", ": protocol error:");
  const std::size_t client_errors = CountContaining(lines, "client 127.0.0.1", ": protocol error:");
  EXPECT_GE(msg_server_errors, 1u);
  EXPECT_GE(client_errors, 1u);
  EXPECT_LE(msg_server_errors, PerSiteBound(elapsed)) << kPeers / 2 << " peers";
  EXPECT_LE(client_errors, PerSiteBound(elapsed)) << kPeers / 2 << " peers";
  std::filesystem::remove_all(dir);
}

TEST(PeerLogRateTest, DebugLinesPeersTriggerAreBoundedToo) {
  // At debug the server logs every msg_server connection and every bad HTTP request; an operator
  // turning debug on during an attack must not lose the log to it.
  const std::string dir = MakeTempDir();
  const std::string log_path = dir + "/server.log";
  ServerProcess server("LogLevel=debug\nLogFile=" + log_path + "\n");
  ASSERT_TRUE(server.started()) << server.log();
  const auto start = Clock::now();
  constexpr int kPeers = 200;
  for (int i = 0; i < kPeers; ++i) {
    TcpClient http(server.ports().http);
    ASSERT_TRUE(http.connected()) << i;
    http.Send("NOT HTTP AT ALL\r\n\r\n");
    ASSERT_TRUE(http.WaitClosed()) << i;
    TcpClient ms(server.ports().msg_server);
    ASSERT_TRUE(ms.connected()) << i;
    ms.Close();
  }
  // The last msg_server connection's debug line may still be on its way: wait for one at least.
  std::vector<std::string> lines;
  ASSERT_TRUE(Eventually([&] {
    lines = ReadLines(log_path);
    return CountContaining(lines, "msg_server connection from") >= 1;
  }));
  const auto elapsed = Clock::now() - start;
  const std::size_t bad_requests = CountContaining(lines, "http 127.0.0.1", ": bad request:");
  const std::size_t connections = CountContaining(lines, "msg_server connection from");
  EXPECT_GE(bad_requests, 1u);
  EXPECT_LE(bad_requests, PerSiteBound(elapsed)) << kPeers << " bad requests";
  EXPECT_LE(connections, PerSiteBound(elapsed)) << kPeers << " connections";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ttlogin::test
