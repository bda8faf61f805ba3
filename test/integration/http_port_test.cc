// The HTTP port: GET /msg_server and every way a request can be odd, slow, or hostile.
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

using nlohmann::json;

class HttpPortTest : public testing::Test {
 protected:
  ServerProcess server_{"HttpTimeout=2\n"};
  void SetUp() override { ASSERT_TRUE(server_.started()) << server_.log(); }
  std::uint16_t port() const { return server_.ports().http; }

  void RegisterOne() {
    ms_ = std::make_unique<FakeMsgServer>(server_.ports().msg_server);
    MsgServerFields f;
    f.ip1 = "192.168.1.150";
    f.ip2 = "192.168.1.151";
    f.port = 8000;
    ASSERT_TRUE(ms_->Register(f));
    ASSERT_TRUE(Eventually([&] {
      const auto r = HttpGetMsgServer(port());
      return r && r->body.find("\"code\":0") != std::string::npos;
    }));
  }
  std::unique_ptr<FakeMsgServer> ms_;
};

TEST_F(HttpPortTest, GetMsgServerAnswersTheClassicJson) {
  RegisterOne();
  const auto r = HttpGetMsgServer(port());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.at("content-type"), "application/json; charset=utf-8");
  EXPECT_EQ(r->headers.at("connection"), "close");
  const json j = json::parse(r->body);
  EXPECT_EQ(j["code"], 0);
  EXPECT_EQ(j["msg"], "");
  EXPECT_EQ(j["priorIP"], "192.168.1.150");
  EXPECT_EQ(j["backupIP"], "192.168.1.151");
  EXPECT_EQ(j["port"], "8000");
  EXPECT_EQ(j["msfsPrior"], "http://127.0.0.1:8700/");
  EXPECT_EQ(j["msfsBackup"], "http://127.0.0.1:8700/");
  EXPECT_EQ(j["discovery"], "http://127.0.0.1/api/discovery");
}

TEST_F(HttpPortTest, NoMsgServerIsCodeOne) {
  const auto r = HttpGetMsgServer(port());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["code"], 1);
  // The classic server's text, in raw UTF-8 on the wire (docs/PROTOCOL.md, "The HTTP JSON reply").
  EXPECT_EQ(r->body, R"({"code":1,"msg":"没有msg_server"})");
}

TEST_F(HttpPortTest, QueryStringAndPostAndHeadAreServed) {
  RegisterOne();
  auto r = HttpRequest(
      port(), "GET /msg_server?uid=5&v=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body)["code"], 0);
  r = HttpRequest(
      port(),
      "POST /msg_server HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nConnection: close\r\n\r\n"
      "uid=123");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["code"], 0);
  TcpClient c(port());
  ASSERT_TRUE(c.Send("HEAD /msg_server HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const std::string raw = c.ReadUntilClose(std::chrono::seconds(3));
  EXPECT_NE(raw.find("200 OK"), std::string::npos);
  EXPECT_EQ(raw.find("{"), std::string::npos);  // no body for HEAD
}

TEST_F(HttpPortTest, OtherPathIs404WithJson) {
  const auto r = HttpRequest(port(), "GET /admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(json::parse(r->body)["code"], 404);
}

TEST_F(HttpPortTest, OtherMethodIs405WithAllow) {
  const auto r =
      HttpRequest(port(), "DELETE /msg_server HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->headers.at("allow"), "GET, HEAD, POST");
  EXPECT_EQ(json::parse(r->body)["code"], 405);
}

TEST_F(HttpPortTest, MalformedRequestIs400AndClosed) {
  TcpClient c(port());
  ASSERT_TRUE(c.Send("THIS IS NOT HTTP\r\n\r\n"));
  bool closed = false;
  const std::string raw = c.ReadUntilClose(std::chrono::seconds(3), &closed);
  EXPECT_TRUE(closed);
  const auto r = ParseHttpResponse(raw, nullptr);
  ASSERT_TRUE(r) << raw;
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body.find("THIS"), std::string::npos);  // request bytes are never echoed
}

TEST_F(HttpPortTest, HundredKibHeaderIs431AndClosed) {
  TcpClient c(port());
  const std::string big =
      "GET /msg_server HTTP/1.1\r\nHost: x\r\nX-Fill: " + std::string(100 * 1024, 'a') + "\r\n\r\n";
  c.Send(big);  // the server may close before taking it all
  bool closed = false;
  const std::string raw = c.ReadUntilClose(std::chrono::seconds(3), &closed);
  EXPECT_TRUE(closed);
  const auto r = ParseHttpResponse(raw, nullptr);
  ASSERT_TRUE(r) << raw.substr(0, 200);
  EXPECT_EQ(r->status, 431);
}

TEST_F(HttpPortTest, KeepAliveServesManyRequestsOnOneConnection) {
  RegisterOne();
  TcpClient c(port());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.Send("GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n"));
    const auto r = ReadHttpResponse(c);
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->headers.at("connection"), "keep-alive");
    EXPECT_EQ(json::parse(r->body)["code"], 0);
  }
}

TEST_F(HttpPortTest, PipelinedRequestsGetTheirRepliesInOrder) {
  TcpClient c(port());
  ASSERT_TRUE(
      c.Send("GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /msg_server HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  bool closed = false;
  const std::string raw = c.ReadUntilClose(std::chrono::seconds(3), &closed);
  EXPECT_TRUE(closed);
  std::size_t used = 0, at = 0;
  std::vector<int> statuses;
  while (at < raw.size()) {
    const auto r = ParseHttpResponse(std::string_view(raw).substr(at), &used);
    ASSERT_TRUE(r);
    statuses.push_back(r->status);
    at += used;
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 404, 200}));
}

TEST_F(HttpPortTest, Http10IsAnsweredAndClosed) {
  TcpClient c(port());
  ASSERT_TRUE(c.Send("GET /msg_server HTTP/1.0\r\n\r\n"));
  bool closed = false;
  const std::string raw = c.ReadUntilClose(std::chrono::seconds(3), &closed);
  EXPECT_TRUE(closed);
  const auto r = ParseHttpResponse(raw, nullptr);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.at("connection"), "close");
}

TEST_F(HttpPortTest, Http10KeepAliveIsHonoured) {
  TcpClient c(port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.Send("GET /msg_server HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    const auto r = ReadHttpResponse(c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->headers.at("connection"), "keep-alive");
  }
}

TEST_F(HttpPortTest, IdleKeepAliveConnectionTimesOut) {
  TcpClient c(port());
  ASSERT_TRUE(c.Send("GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(ReadHttpResponse(c));
  EXPECT_TRUE(c.WaitClosed(std::chrono::seconds(5)));
}

TEST_F(HttpPortTest, AThousandHalfSentRequestsDoNotBlockOthersAndAreTimedOut) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  RegisterOne();
  std::vector<TcpClient> half;
  for (int i = 0; i < 1000; ++i) {
    half.emplace_back(port());
    ASSERT_TRUE(half.back().connected()) << i;
    ASSERT_TRUE(half.back().Send("GET /msg_ser"));
  }
  const auto r = HttpGetMsgServer(port());
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body)["code"], 0);
  // HttpTimeout=2: each gets a 408 and is closed.
  int closed = 0;
  for (auto& c : half) {
    bool was_closed = false;
    const std::string raw = c.ReadUntilClose(std::chrono::seconds(6), &was_closed);
    if (was_closed && raw.find(" 408 ") != std::string::npos) ++closed;
  }
  EXPECT_EQ(closed, 1000);
}

}  // namespace
}  // namespace ttlogin::test
