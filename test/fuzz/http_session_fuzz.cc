// Fuzz target: the HTTP port's request path, bytes -> HttpSession (llhttp + limits) ->
// MsgServerHandler -> response bytes.
//
// Input: [limits][msg_servers to register][n][n chunk sizes][request bytes]. The bytes are fed in
// the chosen chunks; after every feed the output so far must be a sequence of whole, well-formed
// HTTP/1.1 responses with JSON bodies (no partial response, whatever the split), one per request
// the session counted plus at most one closing error. Once the session says close, it stays closed
// and writes nothing more; its last response says "Connection: close". Feeding the same bytes in
// one piece must give byte-identical output, and so must feeding it under an output budget
// (OnBytesUpTo), re-feeding the unparsed rest as a connection does. A timeout at the end answers
// 408 exactly when a request was half-received (blank lines before a request included).
//
// Strictness: no request reaches the handler with a target out of normal form
// (RequestTargetError), and an independent reading of the first request's head predicts a 400
// before any answer when it holds an obs-fold line, two Authorization or Host headers, or no Host
// in HTTP/1.1.
#include <array>
#include <charconv>
#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/pdu_header.h"
#include "server/http/http_session.h"
#include "server/session/msg_server_handler.h"
#include "test/fuzz/fuzz_support.h"

namespace ttlogin::fuzz {
namespace {

constexpr std::array<std::size_t, 3> kHeadSizes = {256, 1024, 8 * 1024};
constexpr std::array<std::size_t, 3> kBodySizes = {0, 16, 16 * 1024};

struct Response {
  int status = 0;
  bool close = false;
  bool has_body = false;
};

bool IsErrorStatus(int s) {
  return s == 400 || s == 413 || s == 431 || s == 408;
}

// Parses `out` as back-to-back responses; aborts on anything malformed or incomplete.
std::vector<Response> ParseResponses(std::string_view out) {
  std::vector<Response> all;
  while (!out.empty()) {
    Response r;
    const std::size_t head_end = out.find("\r\n\r\n");
    FUZZ_CHECK(head_end != std::string_view::npos);
    std::string_view head = out.substr(0, head_end + 2);
    out.remove_prefix(head_end + 4);
    FUZZ_CHECK(head.substr(0, 9) == "HTTP/1.1 ");
    FUZZ_CHECK(std::from_chars(head.data() + 9, head.data() + 12, r.status).ec == std::errc{});
    FUZZ_CHECK(r.status == 200 || r.status == 404 || r.status == 405 || IsErrorStatus(r.status));
    std::optional<std::size_t> length;
    bool json_type = false;
    std::optional<bool> close;
    head.remove_prefix(head.find("\r\n") + 2);
    while (!head.empty()) {
      const std::size_t eol = head.find("\r\n");
      const std::string_view line = head.substr(0, eol);
      head.remove_prefix(eol + 2);
      // Only fixed header values: nothing from the request may reach a header.
      if (line == "Content-Type: application/json; charset=utf-8") {
        json_type = true;
      } else if (line == "Connection: close") {
        close = true;
      } else if (line == "Connection: keep-alive") {
        close = false;
      } else if (line.substr(0, 16) == "Content-Length: ") {
        std::size_t n = 0;
        const auto [end, ec] = std::from_chars(line.data() + 16, line.data() + line.size(), n);
        FUZZ_CHECK(ec == std::errc{} && end == line.data() + line.size());
        length = n;
      } else {
        FUZZ_CHECK(line == "Allow: GET, HEAD, POST" && r.status == 405);
      }
    }
    FUZZ_CHECK(json_type && length.has_value() && close.has_value());
    r.close = *close;
    // A body is JSON, so it starts with '{'; only a HEAD answer (a 200) carries none.
    r.has_body = !out.empty() && out.front() == '{';
    if (r.has_body) {
      FUZZ_CHECK(out.size() >= *length);
      const auto body = nlohmann::json::parse(out.substr(0, *length), nullptr, false);
      out.remove_prefix(*length);
      FUZZ_CHECK(body.is_object() && body.contains("code") && body["code"].is_number());
      const int code = body["code"].get<int>();
      if (r.status == 200) {
        FUZZ_CHECK(code == 0 || code == 1 || code == 2);
        if (code == 0) FUZZ_CHECK(body["port"].is_string());
      } else {
        FUZZ_CHECK(code == r.status);
      }
    } else {
      FUZZ_CHECK(r.status == 200);
    }
    all.push_back(r);
  }
  return all;
}

// The public port's handler, checking what reaches it: only targets in normal form.
class CheckingHandler final : public server::http::HttpHandler {
 public:
  explicit CheckingHandler(server::ServerContext& context) : inner_(context) {}
  void Handle(const server::http::HttpRequest& request, bool keep_alive,
              std::string& out) override {
    FUZZ_CHECK(server::http::RequestTargetError(request.url).empty());
    inner_.Handle(request, keep_alive, out);
  }
  void CountError(int status) override { inner_.CountError(status); }

 private:
  server::http::MsgServerHandler inner_;
};

bool StartsWithLowercase(std::string_view line, std::string_view lowercase) {
  if (line.size() < lowercase.size()) return false;
  for (std::size_t i = 0; i < lowercase.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != lowercase[i]) return false;
  }
  return true;
}

// True when the first request's head, read independently of llhttp, must be refused before it is
// answered. Only streams that start with a request line, end their first head with CRLF CRLF and
// use CRLF throughout it are judged; anything else is left to the other invariants.
bool FirstHeadMustBeRefused(std::string_view stream, std::size_t max_head) {
  const std::size_t end = stream.find("\r\n\r\n");
  if (end == std::string_view::npos || end + 4 > max_head) return false;
  const std::string_view head = stream.substr(0, end + 2);
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) return false;
    if (head[i] == '\r' && (i + 1 >= head.size() || head[i + 1] != '\n')) return false;
  }
  const std::size_t first_eol = head.find("\r\n");
  const std::string_view request_line = head.substr(0, first_eol);
  if (request_line.empty() || request_line.front() == ' ') return false;
  const bool http11 = request_line.ends_with(" HTTP/1.1");
  int authorization = 0;
  int host = 0;
  std::string_view rest = head.substr(first_eol + 2);
  while (!rest.empty()) {
    const std::size_t eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) return true;  // obs-fold
    if (StartsWithLowercase(line, "authorization:")) ++authorization;
    if (StartsWithLowercase(line, "host:")) ++host;
  }
  return authorization > 1 || host > 1 || (http11 && host == 0);
}

// The responses are one per counted request, plus at most one closing error; only the last may
// close, and a closed session's last response closes.
void CheckSequence(const std::vector<Response>& rs, std::uint64_t answered, bool closed) {
  std::size_t errors = 0;
  for (std::size_t k = 0; k < rs.size(); ++k) {
    if (k + 1 < rs.size()) FUZZ_CHECK(!rs[k].close);
    if (IsErrorStatus(rs[k].status)) {
      ++errors;
      FUZZ_CHECK(k + 1 == rs.size() && rs[k].close);
    }
  }
  FUZZ_CHECK(rs.size() == answered + errors);
  if (closed) FUZZ_CHECK(!rs.empty() && rs.back().close);
  if (!closed && !rs.empty()) FUZZ_CHECK(!rs.back().close);
}

}  // namespace
}  // namespace ttlogin::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ttlogin;
  using namespace ttlogin::fuzz;
  UseSilentLogger();
  FuzzInput in(data, size);
  const std::uint8_t limits = in.U8();
  const std::size_t max_head = kHeadSizes[limits % 3];
  const std::size_t max_body = kBodySizes[(limits / 3) % 3];
  Harness h(common::kDefaultMaxPduSize);
  RegisterFromInput(in, h.registry);
  std::vector<std::size_t> chunks(in.U8() % 8);
  for (auto& c : chunks)
    c = in.U8() + 1;
  const std::span<const std::uint8_t> stream = in.Rest();

  CheckingHandler handler(h.context);
  server::http::HttpSession session(handler, max_head, max_body);
  std::string out;
  bool closed = false;
  common::CloseReason reason = common::CloseReason::kNone;
  std::size_t pos = 0;
  std::size_t turn = 0;
  while (pos < stream.size()) {
    std::size_t n = chunks.empty() ? stream.size() : chunks[turn++ % chunks.size()];
    if (n > stream.size() - pos) n = stream.size() - pos;
    const std::size_t before = out.size();
    const common::SessionVerdict verdict = session.OnBytes(stream.subspan(pos, n), out);
    pos += n;
    if (closed) FUZZ_CHECK(verdict.closes() && out.size() == before && verdict.reason == reason);
    // An HTTP session always answers before it closes: a request without keep-alive, or an error.
    FUZZ_CHECK(verdict.action != common::SessionVerdict::Action::kClose);
    FUZZ_CHECK(verdict.closes() == (verdict.reason != common::CloseReason::kNone));
    closed = verdict.closes();
    reason = verdict.reason;
    CheckSequence(ParseResponses(out), session.answered(), closed);
  }

  if (FirstHeadMustBeRefused(
          std::string_view(reinterpret_cast<const char*>(stream.data()), stream.size()),
          max_head)) {
    FUZZ_CHECK(closed && session.answered() == 0);
  }

  // The split must not matter.
  server::http::HttpSession whole(handler, max_head, max_body);
  std::string whole_out;
  const common::SessionVerdict whole_verdict = whole.OnBytes(stream, whole_out);
  FUZZ_CHECK(whole_verdict.closes() == closed);
  FUZZ_CHECK(whole_verdict.reason == reason);
  FUZZ_CHECK(whole_out == out);

  // Under an output budget, as a connection feeds it: each feed parses until its replies reach
  // the budget, and the unparsed rest is fed again first. Every feed makes progress, and the
  // replies are byte-identical to the unbudgeted ones.
  constexpr std::array<std::size_t, 3> kBudgets = {1, 300, 4096};
  const std::size_t budget = kBudgets[(limits / 9) % 3];
  server::http::HttpSession budgeted(handler, max_head, max_body);
  std::string budgeted_out;
  bool budgeted_closed = false;
  std::span<const std::uint8_t> rest = stream;
  while (!rest.empty() && !budgeted_closed) {
    std::string replies;
    const auto progress = budgeted.OnBytesUpTo(rest, replies, {}, budget);
    FUZZ_CHECK(progress.consumed > 0 && progress.consumed <= rest.size());
    budgeted_out += replies;
    budgeted_closed = progress.verdict.closes();
    if (budgeted_closed) FUZZ_CHECK(progress.verdict.reason == reason);
    rest = rest.subspan(progress.consumed);
  }
  FUZZ_CHECK(budgeted_closed == closed);
  FUZZ_CHECK(budgeted_out == out);

  if (!closed) {
    const bool half = session.in_request();
    const std::size_t before = out.size();
    const common::SessionVerdict timeout = session.OnTimeout(out);
    const auto rs = ParseResponses(out);
    FUZZ_CHECK((out.size() > before) == half);
    FUZZ_CHECK(timeout.reason ==
               (half ? common::CloseReason::kHttpRequestTimeout : common::CloseReason::kTimeout));
    FUZZ_CHECK((timeout.action == common::SessionVerdict::Action::kReplyThenClose) == half);
    if (half) FUZZ_CHECK(rs.back().status == 408 && rs.back().close);
  }
  return 0;
}
