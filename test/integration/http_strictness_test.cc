// HTTP strictness on both listeners (public and admin): requests that two servers on one path
// could read differently are a 400 and close the connection. Each case is sent to the real
// binary; the server must keep serving the well-formed request next to it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

constexpr char kToken[] = "s3cret";

class HttpStrictnessTest : public testing::Test {
 protected:
  ServerProcess server_{std::string("AdminPort=0\nAdminToken=") + kToken + "\n"};
  void SetUp() override { ASSERT_TRUE(server_.started()) << server_.log(); }

  // `request` gets `status`; a 400 says why in JSON and closes.
  void Expect(std::uint16_t port, const std::string& request, int status) {
    auto r = HttpRequest(port, request);
    ASSERT_TRUE(r) << request;
    EXPECT_EQ(r->status, status) << request << "\n" << r->body;
    if (status == 400) {
      EXPECT_EQ(r->headers["connection"], "close") << request;
      EXPECT_EQ(r->body, "{\"code\":400,\"msg\":\"malformed HTTP request\"}") << request;
    }
  }
  // Each listener with a path it serves (with the admin token) and a Host line.
  struct Listener {
    std::uint16_t port;
    std::string path;
  };
  std::vector<Listener> Listeners() const {
    return {{server_.ports().http, "/msg_server"}, {server_.ports().admin, "/servers"}};
  }
};

const std::string kAuth = std::string("Authorization: Bearer ") + kToken + "\r\n";

TEST_F(HttpStrictnessTest, ASecondAuthorizationHeaderIsA400) {
  for (const auto& [port, path] : Listeners()) {
    const std::string line = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    Expect(port, line + kAuth + "\r\n", 200);
    // Two right tokens, a wrong and a right one, an empty one first: never joined into one.
    Expect(port, line + kAuth + kAuth + "\r\n", 400);
    Expect(port, line + "Authorization: Bearer nope\r\n" + kAuth + "\r\n", 400);
    Expect(port, line + "Authorization:\r\n" + kAuth + "\r\n", 400);
  }
}

TEST_F(HttpStrictnessTest, ObsFoldIsA400IncludingAFoldedTransferEncoding) {
  for (const auto& [port, path] : Listeners()) {
    const std::string line = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    Expect(port, line + kAuth + "X-A: a\r\n b\r\n\r\n", 400);
    Expect(port, line + kAuth + "X-A: a\r\n\tb\r\n\r\n", 400);
    Expect(port, line + "Authorization: Bearer\r\n " + kToken + "\r\n\r\n", 400);
    const std::string post = "POST " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    Expect(port, post + kAuth + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400);
  }
  // Blanks inside a value are not a fold.
  Expect(server_.ports().http,
         "GET /msg_server HTTP/1.1\r\nHost: x\r\nX-A: a \t b\r\nConnection: close\r\n\r\n", 200);
}

TEST_F(HttpStrictnessTest, Http11WithoutHostIsA400) {
  for (const auto& [port, path] : Listeners()) {
    Expect(port, "GET " + path + " HTTP/1.1\r\nConnection: close\r\n" + kAuth + "\r\n", 400);
    Expect(port, "GET " + path + " HTTP/1.1\r\nHost: a\r\nHost: a\r\n" + kAuth + "\r\n", 400);
    // HTTP/1.0 has no Host requirement.
    Expect(port, "GET " + path + " HTTP/1.0\r\n" + kAuth + "\r\n", 200);
  }
  Expect(server_.ports().admin, "GET /healthz HTTP/1.1\r\n\r\n", 400);
}

std::string Get(const std::string& target) {
  return "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + kAuth + "\r\n";
}

// Paths are matched as sent, and only paths in normal form are accepted: "/msg_server/../x" was
// served as /msg_server; it is now a 400, as are encoded dots and other spellings of a path.
TEST_F(HttpStrictnessTest, PathsOutOfNormalFormAreA400OnBothListeners) {
  const std::uint16_t http = server_.ports().http;
  for (const std::string target :
       {"/msg_server/../x", "/msg_server/..", "/msg_server/%2e%2e/x", "/msg_server/%2E%2E/x",
        "/x/../msg_server", "/./msg_server", "//msg_server", "/msg_server//x", "/msg%5Fserver",
        "/msg_server%2F..%2Fx", "/msg_server\\..\\x", "/msg_server#x"}) {
    Expect(http, Get(target), 400);
  }
  Expect(http, Get("/msg_server"), 200);
  Expect(http, Get("/msg_server/"), 200);
  Expect(http, Get("/msg_server?next=/../x&y=%2e%2e"), 200);  // the query is not a path

  const std::uint16_t admin = server_.ports().admin;
  for (const std::string target : {"/healthz/../servers", "/servers/../healthz", "/x/../metrics",
                                   "/%68ealthz", "//healthz", "/servers/.", "/metrics/%2e%2e"}) {
    Expect(admin, Get(target), 400);
  }
  Expect(admin,
         "POST /servers/msg-a%3A8000/../../reload HTTP/1.1\r\nHost: x\r\n" + kAuth +
             "Content-Length: 0\r\nConnection: close\r\n\r\n",
         400);
  Expect(admin, Get("/healthz?x=/../servers"), 200);
  Expect(admin, Get("/servers"), 200);
  // An encoded reserved character in a drain key is still decoded: no such msg_server.
  Expect(admin,
         "POST /servers/msg-a%3A8000/drain HTTP/1.1\r\nHost: x\r\n" + kAuth +
             "Content-Length: 0\r\nConnection: close\r\n\r\n",
         404);
}

// A refused request on a keep-alive connection ends it after the requests before it were
// answered; the next connection is served.
TEST_F(HttpStrictnessTest, ARefusedRequestEndsAPipelineAfterTheAnsweredOnes) {
  TcpClient c(server_.ports().http);
  ASSERT_TRUE(
      c.Send("GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /msg_server/../x HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto first = ReadHttpResponse(c);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  const auto second = ReadHttpResponse(c);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 400);
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_TRUE(HttpGetMsgServer(server_.ports().http).has_value());
}

}  // namespace
}  // namespace ttlogin::test
