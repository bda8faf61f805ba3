// HttpSession's output budget: pipelined requests are parsed only while their replies fit, and
// the unparsed rest, fed again, gives the same answers as one unbounded feed.
#include "server/http/http_session.h"

#include <gtest/gtest.h>

#include <string>

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
  EXPECT_FALSE(p.close);
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
  ASSERT_FALSE(whole.OnBytes(Bytes(input), expected));

  SizedHandler handler(300);
  HttpSession session(handler, 8192, 16384);
  std::string got;
  std::string_view rest = input;
  int rounds = 0;
  while (!rest.empty()) {
    std::string out;
    const auto p = session.OnBytesUpTo(Bytes(rest), out, {}, 1000);
    ASSERT_FALSE(p.close);
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
  EXPECT_TRUE(p.close);
  EXPECT_EQ(p.consumed, input.size());
  EXPECT_EQ(handler.handled(), 1);
}

}  // namespace
}  // namespace ttlogin::server::http
