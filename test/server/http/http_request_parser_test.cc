#include "server/http/http_request_parser.h"

#include <gtest/gtest.h>

#include <vector>

#include "server/http/http_handler.h"
#include "server/http/msg_server_handler.h"

namespace ttlogin::server::http {
namespace {

struct Outcome {
  std::vector<HttpRequest> requests;
  HttpParseError error;
};

Outcome Parse(HttpRequestParser& p, std::string_view bytes) {
  Outcome o;
  o.error = p.Feed(std::span<const char>(bytes.data(), bytes.size()), [&](const HttpRequest& r) {
    o.requests.push_back(r);
    return true;
  });
  return o;
}

TEST(HttpRequestParserTest, SimpleGet) {
  HttpRequestParser p(8192, 1024);
  const Outcome o = Parse(p, "GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_FALSE(o.error);
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].url, "/msg_server");
  EXPECT_EQ(o.requests[0].method, HTTP_GET);
  EXPECT_TRUE(o.requests[0].keep_alive);
  EXPECT_FALSE(p.in_request());
}

TEST(HttpRequestParserTest, KeepAliveFollowsTheVersionAndConnectionHeader) {
  HttpRequestParser a(8192, 1024);
  EXPECT_FALSE(Parse(a, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n").requests[0].keep_alive);
  HttpRequestParser b(8192, 1024);
  EXPECT_FALSE(Parse(b, "GET / HTTP/1.0\r\n\r\n").requests[0].keep_alive);
  HttpRequestParser c(8192, 1024);
  EXPECT_TRUE(Parse(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").requests[0].keep_alive);
}

TEST(HttpRequestParserTest, PipelinedRequestsInOneReadAndSplitAcrossReads) {
  HttpRequestParser p(8192, 1024);
  const std::string three =
      "GET /msg_server?a=1 HTTP/1.1\r\n\r\n"
      "POST /msg_server HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
      "GET /other HTTP/1.1\r\n\r\n";
  std::vector<HttpRequest> all;
  for (std::size_t i = 0; i < three.size(); i += 7) {
    const Outcome o = Parse(p, std::string_view(three).substr(i, 7));
    ASSERT_FALSE(o.error) << o.error.reason;
    all.insert(all.end(), o.requests.begin(), o.requests.end());
  }
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].url, "/msg_server?a=1");
  EXPECT_EQ(all[1].method, HTTP_POST);
  EXPECT_EQ(all[1].body_size, 5u);
  EXPECT_EQ(all[2].url, "/other");
}

TEST(HttpRequestParserTest, GarbageIsA400) {
  HttpRequestParser p(8192, 1024);
  const Outcome o = Parse(p, "\x01\x02garbage\r\n\r\n");
  EXPECT_EQ(o.error.status, 400);
}

TEST(HttpRequestParserTest, OversizedHeadIsA431EvenWhenItArrivesInPieces) {
  HttpRequestParser p(1024, 1024);
  Outcome o = Parse(p, "GET /msg_server HTTP/1.1\r\nX-Big: ");
  ASSERT_FALSE(o.error);
  EXPECT_TRUE(p.in_request());
  const std::string chunk(300, 'a');
  for (int i = 0; i < 10 && !o.error; ++i)
    o = Parse(p, chunk);
  EXPECT_EQ(o.error.status, 431);
}

TEST(HttpRequestParserTest, OversizedUrlIsA431) {
  HttpRequestParser p(1024, 1024);
  const Outcome o = Parse(p, "GET /" + std::string(2000, 'u') + " HTTP/1.1\r\n\r\n");
  EXPECT_EQ(o.error.status, 431);
}

TEST(HttpRequestParserTest, OversizedBodyIsA413ByLengthOrByChunks) {
  HttpRequestParser a(8192, 10);
  EXPECT_EQ(Parse(a, "POST /msg_server HTTP/1.1\r\nContent-Length: 11\r\n\r\n").error.status, 413);
  HttpRequestParser b(8192, 10);
  EXPECT_EQ(Parse(b,
                  "POST /msg_server HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n")
                .error.status,
            413);
}

TEST(HttpRequestParserTest, StopsWhenTheCallbackSaysSo) {
  HttpRequestParser p(8192, 1024);
  int seen = 0;
  const std::string two = "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n";
  p.Feed(std::span<const char>(two.data(), two.size()), [&](const HttpRequest&) {
    ++seen;
    return false;
  });
  EXPECT_EQ(seen, 1);
}

TEST(HttpPathTest, MsgServerPathRules) {
  EXPECT_TRUE(IsMsgServerPath("/msg_server"));
  EXPECT_TRUE(IsMsgServerPath("/msg_server?x=1"));
  EXPECT_TRUE(IsMsgServerPath("/msg_server/"));
  EXPECT_FALSE(IsMsgServerPath("/msg_serverx"));
  EXPECT_FALSE(IsMsgServerPath("/"));
  EXPECT_FALSE(IsMsgServerPath("/msg"));
  EXPECT_FALSE(IsMsgServerPath(""));
}

TEST(HttpResponseTest, BuildsHeadersAndBody) {
  std::string out;
  AppendHttpResponse(out, 200, "{}", true);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
            "Content-Length: 2\r\nConnection: keep-alive\r\n\r\n{}");
  out.clear();
  AppendHttpResponse(out, 404, "{}", false, /*head_only=*/true);
  EXPECT_EQ(out.find("{}"), std::string::npos);
  EXPECT_NE(out.find("Connection: close"), std::string::npos);
}

}  // namespace
}  // namespace ttlogin::server::http
