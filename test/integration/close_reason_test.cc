// ttlogin_connections_closed_total: every close the server decides reaches the metrics with its
// listener and reason code, through the real connections of the real binary.
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <optional>
#include <string>

#include "common/pdu_header.h"
#include "common/protocol.h"
#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

// A PDU header declaring `length`, with nothing after it.
std::string LengthOnly(std::uint32_t length) {
  std::string h(common::kPduHeaderSize, '\0');
  common::StoreBe32(reinterpret_cast<std::uint8_t*>(h.data()), length);
  return h;
}

// A whole PDU of `service`/`command` whose body is a varint that never ends: no protobuf parses it.
std::string UnparsableBody(std::uint16_t service, std::uint16_t command) {
  const std::string body("\x08\xff", 2);
  common::PduHeader h;
  h.length = static_cast<std::uint32_t>(common::kPduHeaderSize + body.size());
  h.service_id = service;
  h.command_id = command;
  std::array<std::uint8_t, common::kPduHeaderSize> header{};
  common::EncodePduHeader(h, header);
  return std::string(header.begin(), header.end()) + body;
}

// Sends `bytes` on a fresh connection and waits for the server to close it.
bool SendAndSeeClosed(std::uint16_t port, const std::string& bytes) {
  TcpClient conn(port);
  return conn.Send(bytes) && conn.WaitClosed();
}

std::string Series(const std::string& listener, const std::string& reason) {
  return "ttlogin_connections_closed_total{listener=\"" + listener + "\",reason=\"" + reason +
         "\"}";
}

// Each sample line's value by series, from a /metrics scrape.
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    const std::string line = text.substr(at, end - at);
    at = end + 1;
    const std::size_t space = line.rfind(' ');
    if (line.empty() || line[0] == '#' || space == std::string::npos) continue;
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

class CloseReasonTest : public testing::Test {
 protected:
  ServerProcess server_{"AdminPort=0\nMaxHttpHeadSize=1024\nMaxHttpBodySize=1024\n"};
  void SetUp() override {
    ASSERT_TRUE(server_.started()) << server_.log();
    ASSERT_NE(server_.ports().admin, 0);
  }
  // Scrapes until every expected series has its value (the counts are written just before each
  // close, so they are there by the time the peer sees it; the wait only bounds a slow machine).
  void ExpectCounts(const std::map<std::string, double>& expected) {
    std::map<std::string, double> got;
    const bool all = Eventually([&] {
      const auto r = HttpRequest(server_.ports().admin,
                                 "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      if (!r || r->status != 200) return false;
      got = Samples(r->body);
      for (const auto& [series, value] : expected) {
        const auto it = got.find(series);
        if (it == got.end() || it->second != value) return false;
      }
      return true;
    });
    for (const auto& [series, value] : expected) {
      const auto it = got.find(series);
      ASSERT_NE(it, got.end()) << series;
      EXPECT_EQ(it->second, value) << series;
    }
    EXPECT_TRUE(all);
  }
};

TEST_F(CloseReasonTest, EveryPduDecodeErrorIsCountedWithItsCodeOnBothPorts) {
  const auto client = server_.ports().client;
  const auto msg_server = server_.ports().msg_server;
  ASSERT_TRUE(SendAndSeeClosed(client, LengthOnly(5)));
  ASSERT_TRUE(SendAndSeeClosed(client, LengthOnly(0)));
  ASSERT_TRUE(SendAndSeeClosed(client, LengthOnly(0x7fffffff)));
  ASSERT_TRUE(
      SendAndSeeClosed(client, UnparsableBody(common::kSidLogin, common::kCidLoginReqMsgServer)));
  ASSERT_TRUE(AskClientPort(client));
  ASSERT_TRUE(SendAndSeeClosed(msg_server, LengthOnly(15)));
  ASSERT_TRUE(SendAndSeeClosed(msg_server, LengthOnly(0x00100000)));
  ASSERT_TRUE(SendAndSeeClosed(msg_server,
                               UnparsableBody(common::kSidOther, common::kCidOtherUserCntUpdate)));
  ASSERT_TRUE(SendAndSeeClosed(msg_server,
                               UnparsableBody(common::kSidOther, common::kCidOtherMsgServInfo)));
  ExpectCounts({
      {Series("client", "pdu_length_below_header"), 2},
      {Series("client", "pdu_length_above_max"), 1},
      {Series("client", "bad_login_request"), 1},
      {Series("client", "answered"), 1},
      {Series("msg_server", "pdu_length_below_header"), 1},
      {Series("msg_server", "pdu_length_above_max"), 1},
      {Series("msg_server", "bad_user_cnt_update"), 1},
      {Series("msg_server", "bad_msg_serv_info"), 1},
      {"ttlogin_protocol_errors_total{kind=\"bad_length\"}", 5},
      {"ttlogin_protocol_errors_total{kind=\"bad_body\"}", 3},
  });
}

TEST_F(CloseReasonTest, EveryHttpParseErrorIsCountedWithItsCode) {
  const auto http = server_.ports().http;
  const std::map<std::string, std::string> requests = {
      {"http_malformed", "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"},
      {"http_head_too_large", "GET /" + std::string(2000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"http_body_too_large",
       "POST /msg_server HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n"},
      {"http_obs_fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n"},
      {"http_duplicate_host", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"},
      {"http_duplicate_authorization",
       "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n"},
      {"http_missing_host", "GET /msg_server HTTP/1.1\r\n\r\n"},
      {"http_bad_path", "GET /msg_server/../x HTTP/1.1\r\nHost: x\r\n\r\n"},
  };
  std::map<std::string, double> expected;
  for (const auto& [reason, request] : requests) {
    TcpClient conn(http);
    ASSERT_TRUE(conn.Send(request)) << reason;
    const auto response = ReadHttpResponse(conn);
    ASSERT_TRUE(response) << reason;
    EXPECT_GE(response->status, 400) << reason;
    EXPECT_TRUE(conn.WaitClosed()) << reason;
    expected[Series("http", reason)] = 1;
  }
  ASSERT_TRUE(HttpGetMsgServer(http));  // Connection: close, answered
  expected[Series("http", "answered")] = 1;
  expected[Series("http", "http_request_timeout")] = 0;
  ExpectCounts(expected);
}

}  // namespace
}  // namespace ttlogin::test
