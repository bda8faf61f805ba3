// soak_driver: holds a mixed load on a running login_server for a bounded time and watches its
// memory. Run by scripts/soak.sh; see docs/RELIABILITY.md for the figures it produced.
//
// The load, all over loopback:
//  - msg_servers streaming user-count updates at a set total rate; each keeps its own count (it
//    owns the truth, as a real msg_server does), and now and then one reconnects and re-registers
//    with its current count, so registrations churn too;
//  - HTTP clients asking GET /msg_server, half on fresh connections, half on keep-alive ones;
//  - Client-port clients asking by PDU, one connection per question (the server closes it);
//  - idle Client-port connections sending a heartbeat now and then, replaced when the server
//    closes them at ClientTimeout.
// Every interval it prints the server's RSS (from /proc/<pid>/status) and the rates achieved. At
// the end it stops the load, checks that the registry (admin GET /servers) holds exactly the
// msg_servers' own counts, and says whether RSS stayed flat after the warm-up. Exit 0 only if
// both hold.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "IM.Login.pb.h"
#include "IM.Other.pb.h"
#include "IM.Server.pb.h"
#include "common/pdu_header.h"
#include "common/protocol.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Options {
  std::uint16_t msg_port = 0, client_port = 0, http_port = 0, admin_port = 0;
  int pid = 0;
  int seconds = 600;
  int interval = 60;
  int warmup_samples = 1;  // samples (after the start one) that count as warm-up
  int msg_servers = 50;
  int update_rate = 20000;  // updates per second, all msg_servers together
  int http_rate = 300;      // requests per second
  int pdu_rate = 300;       // requests per second
  int idle = 1000;          // idle Client-port connections held
};

// A blocking loopback socket whose every read and write gives up after a second.
class Socket {
 public:
  Socket() = default;
  explicit Socket(std::uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    timeval tv{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) Close();
  }
  ~Socket() { Close(); }
  Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Socket& operator=(Socket&& o) noexcept {
    if (this != &o) {
      Close();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  bool ok() const { return fd_ >= 0; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  bool SendAll(const std::string& s) {
    std::size_t done = 0;
    while (done < s.size()) {
      const ssize_t n = send(fd_, s.data() + done, s.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }
  bool ReadExact(std::size_t n, std::string& out) {
    out.resize(n);
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = recv(fd_, out.data() + got, n - got, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      got += static_cast<std::size_t>(r);
    }
    return true;
  }
  // Discards whatever is waiting (heartbeats); false when the peer has closed.
  bool Drain() {
    char buf[2048];
    while (true) {
      const ssize_t r = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      if (r < 0 && errno == EINTR) continue;
      return false;
    }
  }
  // One HTTP response: head, then Content-Length bytes of body.
  std::optional<std::string> ReadHttpResponse() {
    std::string data;
    char buf[4096];
    std::size_t head_end = std::string::npos;
    while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
      const ssize_t r = recv(fd_, buf, sizeof buf, 0);
      if (r <= 0) return std::nullopt;
      data.append(buf, static_cast<std::size_t>(r));
    }
    const std::size_t cl = data.find("Content-Length: ");
    if (cl == std::string::npos || cl > head_end) return std::nullopt;
    const std::size_t length = std::stoul(data.substr(cl + 16));
    while (data.size() < head_end + 4 + length) {
      const ssize_t r = recv(fd_, buf, sizeof buf, 0);
      if (r <= 0) return std::nullopt;
      data.append(buf, static_cast<std::size_t>(r));
    }
    return data.substr(head_end + 4, length);
  }

 private:
  int fd_ = -1;
};

struct Stats {
  std::atomic<std::uint64_t> updates{0}, registrations{0}, http_ok{0}, pdu_ok{0};
  // Failures by kind of load, so a report says which part of the load saw them.
  std::atomic<std::uint64_t> msg_errors{0}, http_errors{0}, pdu_errors{0}, idle_errors{0};
  std::atomic<int> held{0};
  std::uint64_t errors() const {
    return msg_errors.load() + http_errors.load() + pdu_errors.load() + idle_errors.load();
  }
};

std::string UpdatePdu(std::uint32_t action, std::uint32_t user) {
  IM::Server::IMUserCntUpdate m;
  m.set_user_action(action);
  m.set_user_id(user);
  return ttlogin::common::MakePdu(ttlogin::common::kSidOther,
                                  ttlogin::common::kCidOtherUserCntUpdate, 0, m);
}

std::string ServInfoPdu(int index, std::uint32_t cur) {
  IM::Server::IMMsgServInfo m;
  m.set_ip1("10.0.0." + std::to_string(index % 250 + 1));
  m.set_ip2("10.0.1." + std::to_string(index % 250 + 1));
  m.set_port(8000 + static_cast<std::uint32_t>(index));
  m.set_max_conn_cnt(100000);
  m.set_cur_conn_cnt(cur);
  m.set_host_name("soak-" + std::to_string(index));
  return ttlogin::common::MakePdu(ttlogin::common::kSidOther, ttlogin::common::kCidOtherMsgServInfo,
                                  0, m);
}

std::string Heartbeat() {
  return ttlogin::common::MakePdu(ttlogin::common::kSidOther, ttlogin::common::kCidOtherHeartbeat,
                                  0, IM::Other::IMHeartBeat{});
}

struct FakeMsgServer {
  int index = 0;
  Socket sock;
  std::uint32_t count = 0;  // its own truth
};

// One thread drives a share of the msg_servers: every 10 ms each sends its share of the rate.
void RunMsgServers(const Options& o, std::vector<FakeMsgServer>& servers,
                   const std::atomic<bool>& stop, Stats& stats, std::uint32_t seed) {
  std::mt19937 rng(seed);
  const double per_tick = o.update_rate / 100.0 / o.msg_servers;
  double carry = 0;
  auto next = Clock::now();
  auto next_churn = Clock::now() + 30s;
  std::uint32_t user = 1;
  auto link = [&](FakeMsgServer& s) {
    s.sock = Socket(o.msg_port);
    if (s.sock.ok() && s.sock.SendAll(ServInfoPdu(s.index, s.count))) {
      stats.registrations.fetch_add(1);
      return;
    }
    s.sock.Close();
    stats.msg_errors.fetch_add(1);
  };
  for (auto& s : servers)
    link(s);
  while (!stop.load()) {
    next += 10ms;
    carry += per_tick;
    const int n = static_cast<int>(carry);
    carry -= n;
    if (Clock::now() >= next_churn && !servers.empty()) {
      // A msg_server restarts its link: reconnect, re-register with the current count.
      link(servers[rng() % servers.size()]);
      next_churn += 30s;
    }
    for (auto& s : servers) {
      if (!s.sock.ok() || !s.sock.Drain()) {
        link(s);
        continue;
      }
      std::string batch;
      for (int k = 0; k < n; ++k) {
        const bool come = s.count == 0 || (s.count < 5000 && (rng() & 1) != 0);
        s.count += come ? 1 : -1;
        batch += UpdatePdu(come ? 1 : 2, user++);
      }
      if (n == 0) batch = Heartbeat();
      if (!s.sock.SendAll(batch)) {
        stats.msg_errors.fetch_add(1);
        s.sock.Close();
        continue;
      }
      stats.updates.fetch_add(static_cast<std::uint64_t>(n));
    }
    std::this_thread::sleep_until(next);
  }
  // A link that failed on the last tick has not told the server its count: re-register it, as
  // the final check compares the registry with these counts.
  for (auto& s : servers)
    if (!s.sock.ok() || !s.sock.Drain()) link(s);
}

void RunHttp(const Options& o, const std::atomic<bool>& stop, Stats& stats) {
  const std::string close_req =
      "GET /msg_server HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n";
  const std::string keep_req = "GET /msg_server HTTP/1.1\r\nHost: soak\r\n\r\n";
  const auto gap = std::chrono::microseconds(1000000 / std::max(1, o.http_rate));
  auto next = Clock::now();
  int turn = 0;
  while (!stop.load()) {
    const int batch = (turn++ % 2 == 0) ? 1 : 10;  // a fresh connection, or 10 kept-alive asks
    Socket s(o.http_port);
    for (int i = 0; i < batch && !stop.load(); ++i) {
      const bool last = i + 1 == batch;
      const auto body =
          s.ok() && s.SendAll(last ? close_req : keep_req) ? s.ReadHttpResponse() : std::nullopt;
      if (body && nlohmann::json::parse(*body, nullptr, false).value("code", -1) == 0) {
        stats.http_ok.fetch_add(1);
      } else {
        stats.http_errors.fetch_add(1);
        break;
      }
      next += gap;
      std::this_thread::sleep_until(next);
    }
  }
}

void RunPdu(const Options& o, const std::atomic<bool>& stop, Stats& stats) {
  const std::string req =
      ttlogin::common::MakePdu(ttlogin::common::kSidLogin, ttlogin::common::kCidLoginReqMsgServer,
                               5, IM::Login::IMMsgServReq{});
  const auto gap = std::chrono::microseconds(1000000 / std::max(1, o.pdu_rate));
  auto next = Clock::now();
  while (!stop.load()) {
    Socket s(o.client_port);
    std::string head, body;
    if (s.ok() && s.SendAll(req) && s.ReadExact(ttlogin::common::kPduHeaderSize, head) &&
        s.ReadExact(ttlogin::common::LoadBe32(reinterpret_cast<const std::uint8_t*>(head.data())) -
                        ttlogin::common::kPduHeaderSize,
                    body)) {
      IM::Login::IMMsgServRsp rsp;
      if (rsp.ParseFromString(body) && rsp.result_code() == 0) {
        stats.pdu_ok.fetch_add(1);
      } else {
        stats.pdu_errors.fetch_add(1);
      }
    } else {
      stats.pdu_errors.fetch_add(1);
    }
    next += gap;
    std::this_thread::sleep_until(next);
  }
}

// Holds idle Client-port connections, each sending a heartbeat every 30 s. The server closes
// each at ClientTimeout after its accept (120 s by default, as soak.sh runs it) whatever it
// sends; that close is expected and the connection replaced. A close before it is an error.
void RunIdle(const Options& o, const std::atomic<bool>& stop, Stats& stats) {
  constexpr auto kClientTimeout = 120s;
  std::vector<Socket> held(static_cast<std::size_t>(o.idle));
  std::vector<Clock::time_point> opened(held.size(), Clock::now());
  for (auto& s : held)
    s = Socket(o.client_port);
  const std::string hb = Heartbeat();
  auto next_beat = Clock::now() + 30s;
  while (!stop.load()) {
    int open = 0;
    const auto now = Clock::now();
    const bool beat = now >= next_beat;
    for (std::size_t i = 0; i < held.size(); ++i) {
      Socket& s = held[i];
      if (s.ok() && (!s.Drain() || (beat && !s.SendAll(hb)))) {
        if (now - opened[i] < kClientTimeout) stats.idle_errors.fetch_add(1);
        s.Close();
      }
      if (!s.ok()) {
        s = Socket(o.client_port);
        opened[i] = Clock::now();
      }
      open += s.ok() ? 1 : 0;
    }
    if (beat) next_beat += 30s;
    stats.held.store(open);
    std::this_thread::sleep_for(1s);
  }
}

long RssKiB(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

std::optional<std::map<std::string, std::uint64_t>> ReadRegistry(std::uint16_t admin_port) {
  Socket s(admin_port);
  if (!s.ok() || !s.SendAll("GET /servers HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")) {
    return std::nullopt;
  }
  const auto body = s.ReadHttpResponse();
  if (!body) return std::nullopt;
  const auto j = nlohmann::json::parse(*body, nullptr, false);
  if (!j.is_array()) return std::nullopt;
  std::map<std::string, std::uint64_t> out;
  for (const auto& e : j)
    out[e.value("host_name", "")] = e.value("cur", std::uint64_t{0});
  return out;
}

bool ParseArgs(int argc, char** argv, Options& o) {
  const std::map<std::string, int*> ints = {{"--pid", &o.pid},
                                            {"--seconds", &o.seconds},
                                            {"--interval", &o.interval},
                                            {"--warmup-samples", &o.warmup_samples},
                                            {"--msg-servers", &o.msg_servers},
                                            {"--update-rate", &o.update_rate},
                                            {"--http-rate", &o.http_rate},
                                            {"--pdu-rate", &o.pdu_rate},
                                            {"--idle", &o.idle}};
  const std::map<std::string, std::uint16_t*> ports = {{"--msg-port", &o.msg_port},
                                                       {"--client-port", &o.client_port},
                                                       {"--http-port", &o.http_port},
                                                       {"--admin-port", &o.admin_port}};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (auto it = ints.find(key); it != ints.end()) {
      *it->second = v;
    } else if (auto p = ports.find(key); p != ports.end()) {
      *p->second = static_cast<std::uint16_t>(v);
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && o.msg_port && o.client_port && o.http_port && o.admin_port && o.pid &&
         o.seconds > 0 && o.interval > 0 && o.msg_servers > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: soak_driver --pid P --msg-port N --client-port N --http-port N "
                 "--admin-port N [--seconds 600] [--interval 60] [--warmup-samples 1] "
                 "[--msg-servers 50] [--update-rate 20000] [--http-rate 300] [--pdu-rate 300] "
                 "[--idle 1000]\n");
    return 2;
  }
  Stats stats;
  std::atomic<bool> stop{false};
  constexpr int kUpdaterThreads = 2;
  std::vector<std::vector<FakeMsgServer>> shares(kUpdaterThreads);
  for (int i = 0; i < o.msg_servers; ++i) {
    FakeMsgServer s;
    s.index = i;
    s.count = static_cast<std::uint32_t>(i);
    shares[static_cast<std::size_t>(i % kUpdaterThreads)].push_back(std::move(s));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kUpdaterThreads; ++t)
    threads.emplace_back(RunMsgServers, std::cref(o), std::ref(shares[static_cast<std::size_t>(t)]),
                         std::cref(stop), std::ref(stats), 77u + static_cast<unsigned>(t));
  threads.emplace_back(RunHttp, std::cref(o), std::cref(stop), std::ref(stats));
  threads.emplace_back(RunPdu, std::cref(o), std::cref(stop), std::ref(stats));
  threads.emplace_back(RunIdle, std::cref(o), std::cref(stop), std::ref(stats));

  std::printf("%8s %10s %12s %10s %10s %8s %8s %8s\n", "time_s", "rss_kib", "updates/s", "http/s",
              "pdu/s", "held", "regs", "errors");
  std::vector<long> rss;
  const auto start = Clock::now();
  std::uint64_t last_updates = 0, last_http = 0, last_pdu = 0;
  auto report = [&](int t, double dt) {
    const long r = RssKiB(o.pid);
    rss.push_back(r);
    const auto u = stats.updates.load(), h = stats.http_ok.load(), p = stats.pdu_ok.load();
    std::printf("%8d %10ld %12.0f %10.0f %10.0f %8d %8llu %8llu\n", t, r,
                dt > 0 ? (u - last_updates) / dt : 0.0, dt > 0 ? (h - last_http) / dt : 0.0,
                dt > 0 ? (p - last_pdu) / dt : 0.0, stats.held.load(),
                static_cast<unsigned long long>(stats.registrations.load()),
                static_cast<unsigned long long>(stats.errors()));
    std::fflush(stdout);
    last_updates = u;
    last_http = h;
    last_pdu = p;
  };
  report(0, 0);
  for (int t = o.interval; t <= o.seconds; t += o.interval) {
    std::this_thread::sleep_until(start + std::chrono::seconds(t));
    report(t, o.interval);
  }
  stop.store(true);
  for (auto& th : threads)
    th.join();

  const double total_s = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("errors: msg_server links %llu, HTTP %llu, Client port %llu, idle connections %llu\n",
              static_cast<unsigned long long>(stats.msg_errors.load()),
              static_cast<unsigned long long>(stats.http_errors.load()),
              static_cast<unsigned long long>(stats.pdu_errors.load()),
              static_cast<unsigned long long>(stats.idle_errors.load()));
  std::printf(
      "total: %llu updates (%.0f/s), %llu HTTP answers, %llu PDU answers, %llu "
      "registrations, %llu errors in %.0f s\n",
      static_cast<unsigned long long>(stats.updates.load()), stats.updates.load() / total_s,
      static_cast<unsigned long long>(stats.http_ok.load()),
      static_cast<unsigned long long>(stats.pdu_ok.load()),
      static_cast<unsigned long long>(stats.registrations.load()),
      static_cast<unsigned long long>(stats.errors()), total_s);

  // The registry must hold exactly what the msg_servers say (updates are in flight for a moment).
  std::map<std::string, std::uint64_t> expected;
  for (const auto& share : shares)
    for (const auto& s : share)
      expected["soak-" + std::to_string(s.index)] = s.count;
  bool exact = false;
  std::optional<std::map<std::string, std::uint64_t>> seen;
  for (int i = 0; i < 100 && !exact; ++i) {
    seen = ReadRegistry(o.admin_port);
    exact = seen && *seen == expected;
    if (!exact) std::this_thread::sleep_for(100ms);
  }
  std::uint64_t want = 0, got = 0;
  for (const auto& [k, v] : expected)
    want += v;
  if (seen)
    for (const auto& [k, v] : *seen)
      got += v;
  std::printf("registry: %zu msg_servers, %llu users; the msg_servers say %zu and %llu: %s\n",
              seen ? seen->size() : 0, static_cast<unsigned long long>(got), expected.size(),
              static_cast<unsigned long long>(want), exact ? "exact" : "MISMATCH");

  // Flat: after the warm-up, the last sample is within 5% (or 2 MiB) of the first one.
  const std::size_t base = static_cast<std::size_t>(std::max(0, o.warmup_samples));
  bool flat = false;
  if (rss.size() >= base + 2) {
    const long first = rss[base], last = rss.back();
    long peak = first;
    for (std::size_t i = base; i < rss.size(); ++i)
      peak = std::max(peak, rss[i]);
    const long allowed = std::max(2048L, first / 20);
    flat = last - first <= allowed;
    std::printf(
        "rss after warm-up: first %ld KiB, peak %ld KiB, last %ld KiB (%+ld KiB, allowed "
        "%ld): %s\n",
        first, peak, last, last - first, allowed, flat ? "flat" : "GROWING");
  } else {
    std::printf("rss: too few samples after the warm-up to judge (need %zu)\n", base + 2);
  }
  return exact && flat ? 0 : 1;
}
