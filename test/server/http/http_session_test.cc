// HttpSession's output budget: pipelined requests are parsed only while their replies fit, and
// the unparsed rest, fed again, gives the same answers as one unbounded feed.
#include "server/http/http_session.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ttlogin::server::http {
namespace {

// Answers every request with a body of `reply_size` bytes, numbered by order.
class SizedHandler final : public HttpHandler {
 public:
  explicit SizedHandler(std::size_t reply_size) : reply_size_(reply_size) {}
  void Handle(const HttpRequest& request, bool keep_alive, std::string& out) override {
    std::string body = request.url + "#" + std::to_string(handled_++);
    body.resize(reply_size_, '.');
    AppendHttpResponse(out, 200, body, keep_alive);
  }
  int handled() const { return handled_; }

 private:
  std::size_t reply_size_;
  int handled_ = 0;
};

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string Pipelined(int n) {
  std::string s;
  for (int i = 0; i < n; ++i)
    s += "GET /r" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  return s;
}

TEST(HttpSessionTest, StopsParsingOnceTheRepliesFillTheBudget) {
  SizedHandler handler(1000);
  HttpSession session(handler, 8192, 16384);
  const std::string input = Pipelined(100);
  std::string out;
  const auto p = session.OnBytesUpTo(Bytes(input), out, {}, 5000);
  EXPECT_FALSE(p.verdict.closes());
  // The reply that crosses the budget is the last one built: 5 or 6 replies, not 100.
  EXPECT_GE(handler.handled(), 5);
  EXPECT_LE(handler.handled(), 6);
  EXPECT_LT(out.size(), 5000u + 1200u);
  EXPECT_GT(p.consumed, 0u);
  EXPECT_LT(p.consumed, input.size());
  EXPECT_EQ(input.compare(p.consumed, 7, "GET /r" + std::to_string(handler.handled())), 0)
      << "the rest starts at the next request";
}

TEST(HttpSessionTest, NoRoomParsesNothing) {
  SizedHandler handler(100);
  HttpSession session(handler, 8192, 16384);
  std::string out;
  const auto p = session.OnBytesUpTo(Bytes(Pipelined(3)), out, {}, 0);
  EXPECT_EQ(p.consumed, 0u);
  EXPECT_EQ(handler.handled(), 0);
  EXPECT_TRUE(out.empty());
}

TEST(HttpSessionTest, FeedingTheRestAgainGivesTheSameRepliesAsOneFeed) {
  const std::string input = Pipelined(50) + "GET /half HTTP/1.1\r\nHo";
  SizedHandler whole_handler(300);
  HttpSession whole(whole_handler, 8192, 16384);
  std::string expected;
  ASSERT_FALSE(whole.OnBytes(Bytes(input), expected).closes());

  SizedHandler handler(300);
  HttpSession session(handler, 8192, 16384);
  std::string got;
  std::string_view rest = input;
  int rounds = 0;
  while (!rest.empty()) {
    std::string out;
    const auto p = session.OnBytesUpTo(Bytes(rest), out, {}, 1000);
    ASSERT_FALSE(p.verdict.closes());
    ASSERT_GT(p.consumed, 0u);
    got += out;
    rest.remove_prefix(p.consumed);
    ++rounds;
  }
  EXPECT_EQ(got, expected);
  EXPECT_GT(rounds, 10);
  EXPECT_TRUE(session.in_request());  // the half request is held by the parser
}

TEST(HttpSessionTest, AnErrorOrAFinalRequestConsumesEverything) {
  SizedHandler handler(10);
  HttpSession session(handler, 8192, 16384);
  const std::string input = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + Pipelined(5);
  std::string out;
  const auto p = session.OnBytesUpTo(Bytes(input), out, {}, 1);
  EXPECT_EQ(p.verdict.action, common::SessionVerdict::Action::kReplyThenClose);
  EXPECT_EQ(p.verdict.reason, common::CloseReason::kAnswered);
  EXPECT_TRUE(p.verdict.detail.empty());
  EXPECT_EQ(p.consumed, input.size());
  EXPECT_EQ(handler.handled(), 1);
}

// Defers every request whose URL starts with /later through the request's deferral; answers
// the rest in place.
class DeferringHandler final : public HttpHandler {
 public:
  void Handle(const HttpRequest& request, bool keep_alive, std::string& out) override {
    ++handled_;
    if (request.url.rfind("/later", 0) == 0 && request.deferral != nullptr) {
      delivers_.push_back(request.deferral->Defer());
      return;
    }
    AppendHttpResponse(out, 200, request.url, keep_alive);
  }
  int handled() const { return handled_; }
  std::vector<ReplyDeferral::Deliver> delivers_;

 private:
  int handled_ = 0;
};

// Stands in for the connection: counts deferrals and hands out a callable that records the answer.
class RecordingDeferral final : public ReplyDeferral {
 public:
  Deliver Defer() override {
    ++deferred;
    return [this](std::string response) { answers.push_back(std::move(response)); };
  }
  int deferred = 0;
  std::vector<std::string> answers;
};

TEST(HttpSessionTest, ADeferredRequestStopsParsingUntilItIsAnswered) {
  DeferringHandler handler;
  RecordingDeferral deferral;
  HttpSession session(handler, 8192, 16384);
  session.set_deferral(&deferral);
  const std::string first = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string later = "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
  const std::string rest = "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string input = first + later + rest;
  std::string out;
  auto p = session.OnBytesUpTo(Bytes(input), out, {}, 1 << 20);
  EXPECT_TRUE(p.deferred);
  EXPECT_FALSE(p.verdict.closes());
  EXPECT_EQ(p.consumed, first.size() + later.size()) << "the rest waits for the deferred answer";
  EXPECT_EQ(handler.handled(), 2);
  EXPECT_EQ(deferral.deferred, 1);
  EXPECT_NE(out.find("/a"), std::string::npos);
  EXPECT_EQ(out.find("/b"), std::string::npos);
  // The connection feeds the rest once the answer is out: it is parsed as usual.
  out.clear();
  p = session.OnBytesUpTo(Bytes(std::string_view(input).substr(p.consumed)), out, {}, 1 << 20);
  EXPECT_FALSE(p.deferred);
  EXPECT_TRUE(p.verdict.closes());
  EXPECT_NE(out.find("/b"), std::string::npos);
  EXPECT_EQ(handler.handled(), 3);
}

TEST(HttpSessionTest, WithoutADeferralHandlersAnswerInPlace) {
  DeferringHandler handler;
  HttpSession session(handler, 8192, 16384);
  std::string out;
  const std::string input = "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
  const auto p = session.OnBytesUpTo(Bytes(input), out, {}, 1 << 20);
  EXPECT_FALSE(p.deferred);
  EXPECT_EQ(p.consumed, input.size());
  EXPECT_TRUE(handler.delivers_.empty());
  EXPECT_NE(out.find("/later"), std::string::npos) << "answered in place";
}

// Each refusal of the parser reaches the verdict with its own reason, its status on the wire, and
// the text for the log line as detail.
TEST(HttpSessionTest, EachParseErrorIsAnsweredAndClosesWithItsReason) {
  struct Case {
    std::string bytes;
    common::CloseReason reason;
    int status;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", common::CloseReason::kHttpMalformed, 400,
       "HPE_INVALID_HEADER_TOKEN"},
      {"GET /" + std::string(300, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n",
       common::CloseReason::kHttpHeadTooLarge, 431, "request head larger than 256 bytes"},
      {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n",
       common::CloseReason::kHttpBodyTooLarge, 413, "request body larger than 64 bytes"},
      {"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", common::CloseReason::kHttpObsFold,
       400, "obs-fold (folded header line)"},
      {"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", common::CloseReason::kHttpDuplicateHost, 400,
       "more than one Host header"},
      {"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n",
       common::CloseReason::kHttpDuplicateAuthorization, 400, "more than one Authorization header"},
      {"GET / HTTP/1.1\r\n\r\n", common::CloseReason::kHttpMissingHost, 400,
       "HTTP/1.1 request without Host"},
      {"GET /a/../b HTTP/1.1\r\nHost: x\r\n\r\n", common::CloseReason::kHttpBadPath, 400,
       "dot segment in the path"},
  };
  for (const Case& c : cases) {
    SizedHandler handler(10);
    HttpSession session(handler, 256, 64);
    std::string out;
    const common::SessionVerdict v = session.OnBytes(Bytes(c.bytes), out);
    EXPECT_EQ(v.action, common::SessionVerdict::Action::kReplyThenClose) << c.detail;
    EXPECT_EQ(v.reason, c.reason) << c.detail;
    EXPECT_EQ(v.detail, c.detail);
    EXPECT_EQ(out.rfind("HTTP/1.1 " + std::to_string(c.status) + " ", 0), 0u) << out;
    EXPECT_EQ(handler.handled(), 0) << c.detail;
    EXPECT_TRUE(session.done()) << c.detail;
  }
}

// A process that handed its connections over answers the request it kept as its last: with
// "Connection: close", and nothing pipelined after it is parsed.
TEST(HttpSessionTest, TheLastAnswerSaysCloseAndEndsTheSession) {
  SizedHandler handler(10);
  HttpSession session(handler, 8192, 16384);
  const std::string two = Pipelined(2);
  const std::string first = two.substr(0, two.size() / 2);
  std::string out;
  // Half of the first request arrived before the handover.
  auto p = session.OnBytesUpTo(Bytes(first.substr(0, 10)), out, {}, 1 << 20);
  EXPECT_FALSE(p.verdict.closes());
  EXPECT_TRUE(session.in_request());
  session.AnswerLastRequest();
  p = session.OnBytesUpTo(Bytes(two.substr(10)), out, {}, 1 << 20);
  EXPECT_TRUE(p.verdict.closes());
  EXPECT_EQ(p.verdict.reason, common::CloseReason::kAnswered);
  EXPECT_TRUE(session.done());
  EXPECT_EQ(handler.handled(), 1) << "the request after the last answer is not parsed";
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace ttlogin::server::http
