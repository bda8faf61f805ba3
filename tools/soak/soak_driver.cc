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
#include "common/protocol.h"
#include "tools/common/msg_server_client.h"
#include "tools/common/peer_pdu.h"
#include "tools/common/tcp_peer.h"

namespace {

namespace common = ttlogin::common;
namespace peer = ttlogin::peer;
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

// Every read and write of the soak gives up after this long.
constexpr auto kIoWait = 1s;

// Connects to 127.0.0.1:port; an unconnected peer on failure.
peer::TcpPeer Connect(std::uint16_t port) {
  peer::TcpPeer s;
  s.Connect(port, {}, kIoWait);
  return s;
}

// One HTTP response: head, then Content-Length bytes of body.
std::optional<std::string> ReadHttpResponse(peer::TcpPeer& s) {
  const peer::Deadline deadline = peer::DeadlineIn(kIoWait);
  std::string data;
  char buf[4096];
  auto read_more = [&] {
    std::size_t got = 0;
    if (!peer::ReadSome(s.fd(), buf, sizeof buf, deadline, got).ok()) return false;
    data.append(buf, got);
    return true;
  };
  std::size_t head_end = std::string::npos;
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
    if (!read_more()) return std::nullopt;
  }
  const std::size_t cl = data.find("Content-Length: ");
  if (cl == std::string::npos || cl > head_end) return std::nullopt;
  const std::size_t length = std::stoul(data.substr(cl + 16));
  while (data.size() < head_end + 4 + length) {
    if (!read_more()) return std::nullopt;
  }
  return data.substr(head_end + 4, length);
}

struct Stats {
  std::atomic<std::uint64_t> updates{0}, registrations{0}, http_ok{0}, pdu_ok{0};
  // Failures by kind of load, so a report says which part of the load saw them.
  std::atomic<std::uint64_t> msg_errors{0}, http_errors{0}, pdu_errors{0}, idle_errors{0};
  std::atomic<int> held{0};
  std::uint64_t errors() const {
    return msg_errors.load() + http_errors.load() + pdu_errors.load() + idle_errors.load();
  }
};

peer::MsgServerInfo Info(int index, std::uint32_t cur) {
  peer::MsgServerInfo info;
  info.ip1 = "10.0.0." + std::to_string(index % 250 + 1);
  info.ip2 = "10.0.1." + std::to_string(index % 250 + 1);
  info.port = 8000 + static_cast<std::uint32_t>(index);
  info.max_conn_cnt = 100000;
  info.cur_conn_cnt = cur;
  info.host_name = "soak-" + std::to_string(index);
  return info;
}

struct FakeMsgServer {
  int index = 0;
  peer::MsgServerClient client;
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
  std::string batch;
  auto link = [&](FakeMsgServer& s) {
    s.client.set_send_timeout(kIoWait);
    if (s.client.Connect(o.msg_port, {}, kIoWait).ok() &&
        s.client.Register(Info(s.index, s.count)).ok()) {
      stats.registrations.fetch_add(1);
      return;
    }
    s.client.Close();
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
      if (!s.client.connected() || !s.client.ReadInput().ok()) {
        link(s);
        continue;
      }
      batch.clear();
      for (int k = 0; k < n; ++k) {
        const bool come = s.count == 0 || (s.count < 5000 && (rng() & 1) != 0);
        s.count += come ? 1 : -1;
        peer::AppendUserCntUpdatePdu(batch, come ? common::kUserActionInc : common::kUserActionDec,
                                     user++);
      }
      if (n == 0) peer::AppendHeartbeatPdu(batch);
      if (!s.client.Send(batch).ok()) {
        stats.msg_errors.fetch_add(1);
        s.client.Close();
        continue;
      }
      stats.updates.fetch_add(static_cast<std::uint64_t>(n));
    }
    std::this_thread::sleep_until(next);
  }
  // A link that failed on the last tick has not told the server its count: re-register it, as
  // the final check compares the registry with these counts.
  for (auto& s : servers)
    if (!s.client.connected() || !s.client.ReadInput().ok()) link(s);
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
    peer::TcpPeer s = Connect(o.http_port);
    for (int i = 0; i < batch && !stop.load(); ++i) {
      const bool last = i + 1 == batch;
      const auto body = s.connected() && s.Send(last ? close_req : keep_req, kIoWait)
                            ? ReadHttpResponse(s)
                            : std::nullopt;
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
  const std::string req = peer::MsgServReqPdu(5);
  const auto gap = std::chrono::microseconds(1000000 / std::max(1, o.pdu_rate));
  auto next = Clock::now();
  while (!stop.load()) {
    peer::TcpPeer s = Connect(o.client_port);
    std::optional<peer::Pdu> reply;
    if (s.connected() && s.Send(req, kIoWait) && (reply = s.ReadPdu(kIoWait))) {
      IM::Login::IMMsgServRsp rsp;
      if (rsp.ParseFromString(reply->body) && rsp.result_code() == 0) {
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
  std::vector<peer::TcpPeer> held(static_cast<std::size_t>(o.idle));
  std::vector<Clock::time_point> opened(held.size(), Clock::now());
  for (auto& s : held)
    s = Connect(o.client_port);
  const std::string hb = peer::HeartbeatPdu();
  auto next_beat = Clock::now() + 30s;
  while (!stop.load()) {
    int open = 0;
    const auto now = Clock::now();
    const bool beat = now >= next_beat;
    for (std::size_t i = 0; i < held.size(); ++i) {
      peer::TcpPeer& s = held[i];
      if (s.connected() && (!peer::DiscardInput(s.fd()).ok() || (beat && !s.Send(hb, kIoWait)))) {
        if (now - opened[i] < kClientTimeout) stats.idle_errors.fetch_add(1);
        s.Close();
      }
      if (!s.connected()) {
        s = Connect(o.client_port);
        opened[i] = Clock::now();
      }
      open += s.connected() ? 1 : 0;
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
  peer::TcpPeer s = Connect(admin_port);
  if (!s.connected() ||
      !s.Send("GET /servers HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n", kIoWait)) {
    return std::nullopt;
  }
  const auto body = ReadHttpResponse(s);
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
