#include "server/http/http_request_parser.h"

#include <gtest/gtest.h>

#include <vector>

#include "server/http/http_handler.h"
#include "server/http/http_session.h"
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

TEST(HttpRequestParserTest, XForwardedForJoinsEveryHeaderInOrder) {
  HttpRequestParser p(8192, 1024);
  const std::string two =
      "GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.7\r\nHost: x\r\n"
      "x-forwarded-for: 10.0.0.1, 10.0.0.2\r\nX-FORWARDED-FOR: 192.0.2.1\r\n\r\n"
      "GET / HTTP/1.1\r\n\r\n";
  // Split at every 5 bytes too: a value arriving in pieces is still one value.
  std::vector<HttpRequest> all;
  for (std::size_t i = 0; i < two.size(); i += 5) {
    const Outcome o = Parse(p, std::string_view(two).substr(i, 5));
    ASSERT_FALSE(o.error) << o.error.reason;
    all.insert(all.end(), o.requests.begin(), o.requests.end());
  }
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].x_forwarded_for, "203.0.113.7, 10.0.0.1, 10.0.0.2, 192.0.2.1");
  EXPECT_EQ(all[1].x_forwarded_for, "");  // per request, not per connection

  HttpRequestParser q(8192, 1024);
  const Outcome none = Parse(q, "GET / HTTP/1.1\r\nX-Forwarded-Forx: 1.2.3.4\r\n\r\n");
  ASSERT_EQ(none.requests.size(), 1u);
  EXPECT_EQ(none.requests[0].x_forwarded_for, "");
}

TEST(HttpRequestParserTest, XForwardedForIsBoundedByTheHeadLimit) {
  HttpRequestParser p(1024, 1024);
  std::string head = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 100; ++i)
    head += "X-Forwarded-For: 198.51.100.1\r\n";
  const Outcome o = Parse(p, head + "\r\n");
  EXPECT_EQ(o.error.status, 431);
  EXPECT_TRUE(o.requests.empty());
}

// A chunked body's trailer section comes after the head and its limit: it is read past and
// stored nowhere, so it neither sets request fields nor holds memory, however long it runs.
TEST(HttpRequestParserTest, TrailersAreReadPastAndNotStored) {
  HttpRequestParser p(1024, 1024);
  const Outcome o =
      Parse(p,
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabc\r\n0\r\nX-Forwarded-For: 192.0.2.9\r\nAuthorization: t\r\n\r\n");
  ASSERT_FALSE(o.error) << o.error.reason;
  ASSERT_EQ(o.requests.size(), 1U);
  EXPECT_EQ(o.requests[0].x_forwarded_for, "");
  EXPECT_EQ(o.requests[0].authorization, "");
  EXPECT_EQ(o.requests[0].body_size, 3U);

  HttpRequestParser q(1024, 1024);
  ASSERT_FALSE(Parse(q, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Long").error);
  const std::string piece(64 * 1024, 'n');
  for (int i = 0; i < 64; ++i)
    ASSERT_FALSE(Parse(q, piece).error);
  EXPECT_LT(q.held_bytes(), 1024U);
  const Outcome v = Parse(q, ": " + piece + "\r\n\r\n");
  ASSERT_FALSE(v.error) << v.error.reason;
  EXPECT_EQ(v.requests.size(), 1U);
}

TEST(HttpRequestParserTest, ResetGivesAFreshParserWithNewLimits) {
  HttpRequestParser p(8192, 1024);
  ASSERT_FALSE(
      Parse(p, "GET /a HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nAuthorization: t\r\n").error);
  EXPECT_TRUE(p.in_request());
  p.Reset(64, 1024);
  EXPECT_FALSE(p.in_request());
  const Outcome o = Parse(p, "GET /b HTTP/1.1\r\n\r\n");
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].url, "/b");
  EXPECT_EQ(o.requests[0].x_forwarded_for, "");
  EXPECT_EQ(o.requests[0].authorization, "");
  EXPECT_EQ(Parse(p, "GET /" + std::string(100, 'c') + " HTTP/1.1\r\n\r\n").error.status, 431);
}

// Records what the session hands to its handler.
class RecordingHandler : public HttpHandler {
 public:
  void Handle(const HttpRequest& request, bool keep_alive, std::string& out) override {
    urls.push_back(request.url);
    AppendHttpResponse(out, 200, "{}", keep_alive);
  }
  void CountError(int status) override { errors.push_back(status); }
  std::vector<std::string> urls;
  std::vector<int> errors;
};

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(HttpSessionTest, SessionsSharePooledParsersWithoutMixingRequests) {
  RecordingHandler handler;
  HttpSession a(handler, 8192, 1024);
  HttpSession b(handler, 8192, 1024);
  std::string out;
  // a holds a parser mid-request while b completes requests with pooled ones.
  EXPECT_FALSE(a.OnBytes(Bytes("GET /a1 HTTP/1.1\r\nHo"), out));
  EXPECT_TRUE(a.in_request());
  EXPECT_FALSE(b.OnBytes(Bytes("GET /b1 HTTP/1.1\r\n\r\nGET /b2 HTTP/1.1\r\n\r\n"), out));
  EXPECT_FALSE(b.in_request());
  EXPECT_FALSE(b.OnBytes(Bytes("GET /b3 HTTP/1.1\r\nX: "), out));
  EXPECT_FALSE(a.OnBytes(Bytes("st: x\r\n\r\n"), out));
  EXPECT_FALSE(a.in_request());
  EXPECT_FALSE(b.OnBytes(Bytes("y\r\n\r\n"), out));
  EXPECT_EQ(handler.urls, (std::vector<std::string>{"/b1", "/b2", "/a1", "/b3"}));
  EXPECT_TRUE(handler.errors.empty());

  // An idle session times out without a 408; a half-received request gets one.
  std::string timeout_out;
  a.OnTimeout(timeout_out);
  EXPECT_TRUE(timeout_out.empty());
  HttpSession c(handler, 8192, 1024);
  EXPECT_FALSE(c.OnBytes(Bytes("GET /c HTTP/1.1\r\n"), out));
  c.OnTimeout(timeout_out);
  EXPECT_NE(timeout_out.find("408"), std::string::npos);
}

TEST(HttpSessionTest, APooledParserKeepsTheLimitsOfItsSession) {
  RecordingHandler handler;
  std::string out;
  {
    HttpSession roomy(handler, 8192, 1024);
    EXPECT_FALSE(roomy.OnBytes(Bytes("GET /" + std::string(500, 'r') + " HTTP/1.1\r\n\r\n"), out));
  }
  HttpSession tight(handler, 128, 1024);
  out.clear();
  EXPECT_TRUE(tight.OnBytes(Bytes("GET /" + std::string(500, 't') + " HTTP/1.1\r\n\r\n"), out));
  EXPECT_EQ(handler.errors, std::vector<int>{431});
}

// llhttp stops at a request asking for a protocol switch (Upgrade, CONNECT): what follows is not
// HTTP. The session answers that request, closes, and never parses the rest, whether the bytes
// come in one read or the read ends exactly after the request (a pooled parser must not make the
// rest look like a new request).
TEST(HttpSessionTest, AnUpgradeRequestIsAnsweredAndClosesWhateverTheSplit) {
  const std::string upgrade = "GET /u HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n";
  const std::string connect = "CONNECT host:1 HTTP/1.1\r\nHost: host:1\r\n\r\n";
  const std::string next = "GET /next HTTP/1.1\r\n\r\n";
  for (const std::string& first : {upgrade, connect}) {
    RecordingHandler whole_handler;
    HttpSession whole(whole_handler, 8192, 1024);
    std::string whole_out;
    EXPECT_TRUE(whole.OnBytes(Bytes(first + next), whole_out));

    RecordingHandler split_handler;
    HttpSession split(split_handler, 8192, 1024);
    std::string split_out;
    EXPECT_TRUE(split.OnBytes(Bytes(first), split_out)) << first;
    EXPECT_TRUE(split.OnBytes(Bytes(next), split_out)) << first;

    EXPECT_EQ(split_out, whole_out) << first;
    EXPECT_EQ(split_handler.urls, whole_handler.urls) << first;
    EXPECT_EQ(whole_handler.urls.size(), 1U) << first;
    EXPECT_NE(whole_out.find("Connection: close"), std::string::npos) << first;
    EXPECT_TRUE(whole_handler.errors.empty()) << first;
  }
}

// The head limit counts the bytes of the stream up to the end of the head, so a head that ends
// exactly at the limit is accepted and one byte more is a 431, blank lines before it included.
TEST(HttpRequestParserTest, TheHeadLimitIsExactAndCountsBlankLinesBeforeTheRequest) {
  const std::string head = "GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n";
  HttpRequestParser fits(head.size(), 0);
  const Outcome ok = Parse(fits, head + head);
  ASSERT_FALSE(ok.error) << ok.error.reason;
  EXPECT_EQ(ok.requests.size(), 2U);  // the limit is per request

  HttpRequestParser one_more(head.size() - 1, 0);
  EXPECT_EQ(Parse(one_more, head).error.status, 431);

  HttpRequestParser blank_lines(head.size() + 1, 0);
  EXPECT_EQ(Parse(blank_lines, "\r\n" + head).error.status, 431);
  HttpRequestParser one_blank(head.size() + 1, 0);
  EXPECT_EQ(Parse(one_blank, "\n" + head).requests.size(), 1U);
}

// Whether a head breaks the limit (431) or the grammar (400) first must not depend on how the
// reads split it: a syntax error past the limit is a 431, one within it a 400, in every split.
TEST(HttpSessionTest, TheAnswerToABadHeadDoesNotDependOnTheSplit) {
  const std::string long_url = "GET /" + std::string(300, 'u') + "\x01 HTTP/1.1\r\n\r\n";
  const std::string bad_token = "GET /msg_server HTTP/1.1\r\nX: " + std::string(200, 'a') +
                                "\r\nConnection: clo\x8d" + std::string(100, 'a') + "\r\n\r\n";
  const std::string early_error = "GET /\x01" + std::string(300, 'u') + " HTTP/1.1\r\n\r\n";
  const std::vector<std::pair<std::string, int>> cases = {
      {long_url, 431}, {bad_token, 431}, {early_error, 400}};
  for (const auto& [bytes, status] : cases) {
    for (std::size_t chunk = 1; chunk <= bytes.size(); chunk += (chunk < 20 ? 1 : 37)) {
      RecordingHandler handler;
      HttpSession session(handler, 256, 0);
      std::string out;
      bool closed = false;
      for (std::size_t at = 0; at < bytes.size() && !closed; at += chunk)
        closed = session.OnBytes(Bytes(std::string_view(bytes).substr(at, chunk)), out);
      EXPECT_TRUE(closed) << "chunk " << chunk;
      EXPECT_EQ(handler.errors, std::vector<int>{status}) << "chunk " << chunk;
      EXPECT_TRUE(handler.urls.empty()) << "chunk " << chunk;
    }
  }
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
