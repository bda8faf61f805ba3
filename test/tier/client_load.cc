#include "test/tier/client_load.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace ttlogin::test {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

}  // namespace

ClientLoad::ClientLoad(std::uint16_t port, int loops, int keep_alive_loops,
                       std::chrono::milliseconds pause)
    : port_(port), loops_(loops), keep_alive_loops_(keep_alive_loops), pause_(pause) {}

ClientLoad::~ClientLoad() {
  Stop();
}

void ClientLoad::Start() {
  for (int i = 0; i < loops_; ++i)
    threads_.emplace_back([this] { Loop(false); });
  for (int i = 0; i < keep_alive_loops_; ++i)
    threads_.emplace_back([this] { Loop(true); });
}

void ClientLoad::Stop() {
  stop_.store(true);
  for (auto& t : threads_)
    t.join();
  threads_.clear();
}

void ClientLoad::Loop(bool keep_alive) {
  constexpr std::string_view kKeptAlive = "GET /msg_server HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  TcpClient conn;
  while (!stop_.load()) {
    // A request counts in the phase it started in.
    const int phase = phase_.load();
    const std::int64_t start = NowNs();
    std::optional<HttpResponse> r;
    if (!keep_alive) {
      r = HttpGetMsgServer(port_);
    } else {
      if (!conn.connected()) (void)conn.Connect(port_);
      if (conn.connected() && conn.Send(kKeptAlive)) r = ReadHttpResponse(conn);
      // A connection the other side closes, or that failed, is opened again for the next one.
      bool closed = !r;
      if (r) {
        const auto it = r->headers.find("connection");
        closed = it != r->headers.end() && it->second == "close";
      }
      if (closed) conn.Close();
    }
    Count(r, phase, start);
    std::this_thread::sleep_for(pause_);
  }
}

void ClientLoad::Count(const std::optional<HttpResponse>& r, int phase, std::int64_t start) {
  Counters& c = counters_[static_cast<std::size_t>(std::clamp(phase, 0, kMaxPhases - 1))];
  c.sent.fetch_add(1);
  int code = -1;
  if (r && r->status == 200) {
    const auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_object() && j.contains("code") && j["code"].is_number_integer()) {
      code = j["code"].get<int>();
    }
  }
  if (code == 0) return;
  (code == 1 ? c.code1 : c.failed).fetch_add(1);
  std::int64_t first = c.first_bad_ns.load();
  while (start < first && !c.first_bad_ns.compare_exchange_weak(first, start)) {
  }
  const std::int64_t end = NowNs();
  std::int64_t last = c.last_bad_ns.load();
  while (end > last && !c.last_bad_ns.compare_exchange_weak(last, end)) {
  }
  std::lock_guard lock(mu_);
  if (first_bad_.empty()) {
    first_bad_ =
        !r ? std::string("no answer") : "HTTP " + std::to_string(r->status) + ": " + r->body;
  }
}

LoadFigures ClientLoad::figures(int phase) const {
  const Counters& c = counters_[static_cast<std::size_t>(std::clamp(phase, 0, kMaxPhases - 1))];
  LoadFigures f;
  f.sent = c.sent.load();
  f.failed = c.failed.load();
  f.code1 = c.code1.load();
  if (f.bad() > 0) {
    f.bad_window = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::nanoseconds(c.last_bad_ns.load() - c.first_bad_ns.load()));
  }
  return f;
}

std::string ClientLoad::first_bad() const {
  std::lock_guard lock(mu_);
  return first_bad_;
}

}  // namespace ttlogin::test
