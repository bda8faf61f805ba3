#include "tools/load_replay/network_driver.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "IM.Login.pb.h"
#include "common/frame_decoder.h"
#include "common/protocol.h"
#include "tools/common/peer_pdu.h"
#include "tools/common/socket_io.h"

namespace ttlogin::tools::replay {
namespace {

using Clock = std::chrono::steady_clock;

// A msg_server connection's buffer is written once it holds this much, even between queries:
// big enough to batch thousands of updates per write, small enough to stay in the socket buffer.
constexpr std::size_t kWriteBatch = 64 * 1024;
// How often idle msg_server connections are read: the server's heartbeats must not pile up, and a
// connection the server dropped should be reported near the event that caused it.
constexpr std::chrono::milliseconds kDrainInterval{200};
// Bound on an HTTP reply's head and body: the login server's replies are a few hundred bytes.
constexpr std::size_t kMaxHttpReply = 64 * 1024;

std::string Errno(const char* what) {
  return fmt::format("{}: {}", what, std::strerror(errno));
}

// Connects within kIoTimeout. Returns the fd, or -1 with `error` set.
int Connect(const Endpoint& ep, std::string& error) {
  const int fd = socket(ep.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error = Errno("socket");
    return -1;
  }
  if (connect(fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.addr_len) != 0) {
    if (errno != EINPROGRESS) {
      error = fmt::format("cannot connect to {}: {}", ep.text, std::strerror(errno));
      close(fd);
      return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    const int r = poll(&p, 1, static_cast<int>(kIoTimeout.count()));
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (r <= 0) {
      error =
          fmt::format("cannot connect to {}: no answer within {} ms", ep.text, kIoTimeout.count());
      close(fd);
      return -1;
    }
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
      error = fmt::format("cannot connect to {}: {}", ep.text, std::strerror(so_error));
      close(fd);
      return -1;
    }
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Writes everything within kIoTimeout.
std::string WriteAll(int fd, std::string_view bytes) {
  const peer::IoResult r = peer::SendAll(fd, bytes, peer::DeadlineIn(kIoTimeout));
  if (r.ok()) return {};
  if (r.status == peer::IoStatus::kTimeout) {
    return fmt::format("the server took no data for {} ms", kIoTimeout.count());
  }
  return "send: " + r.Describe();
}

// Reads what is available within the deadline. 0 = the peer closed; -1 = error or timeout.
ssize_t ReadSome(int fd, char* buf, std::size_t size, Clock::time_point deadline,
                 std::string& error) {
  std::size_t got = 0;
  const peer::IoResult r = peer::ReadSome(fd, buf, size, deadline, got);
  if (r.ok()) return static_cast<ssize_t>(got);
  if (r.status == peer::IoStatus::kClosed && r.error_number == 0) return 0;
  error = r.status == peer::IoStatus::kTimeout
              ? fmt::format("no reply within {} ms", kIoTimeout.count())
              : "recv: " + r.Describe();
  return -1;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Fills `answer` from the JSON body of GET /msg_server (docs/PROTOCOL.md, "The HTTP JSON reply").
void ParseHttpAnswer(std::string_view body, ServerAnswer& answer) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    answer.problem = "the HTTP body is not a JSON object";
    return;
  }
  const auto code = j.find("code");
  if (code == j.end() || !code->is_number_unsigned()) {
    answer.problem = "the HTTP reply has no numeric \"code\"";
    return;
  }
  answer.code = code->get<std::uint32_t>();
  if (answer.code != kCodeOk) return;
  const auto prior = j.find("priorIP");
  const auto backup = j.find("backupIP");
  const auto port = j.find("port");
  if (prior == j.end() || !prior->is_string() || backup == j.end() || !backup->is_string()) {
    answer.problem = "the HTTP reply lacks priorIP/backupIP strings";
    return;
  }
  answer.ip1 = prior->get<std::string>();
  answer.ip2 = backup->get<std::string>();
  // Clients parse "port" as a string; a number would break them, so it is a contract violation.
  if (port == j.end() || !port->is_string()) {
    answer.problem = "the HTTP reply's \"port\" is not a JSON string";
    return;
  }
  const std::string& p = port->get_ref<const std::string&>();
  char* end = nullptr;
  const unsigned long value = std::strtoul(p.c_str(), &end, 10);
  if (p.empty() || end == nullptr || *end != '\0' || value > 0xffffffffUL) {
    answer.problem = "the HTTP reply's \"port\" is not a number: " + p.substr(0, 20);
    return;
  }
  answer.port = static_cast<std::uint32_t>(value);
  // Further candidates: [{"ip":...,"backupIP":...,"port":"..."}]; no key = none listed.
  answer.has_candidates = true;
  const auto list = j.find("candidates");
  if (list == j.end()) return;
  if (!list->is_array()) {
    answer.problem = "the HTTP reply's \"candidates\" is not a list";
    return;
  }
  for (const auto& c : *list) {
    const auto ip = c.find("ip");
    const auto bip = c.find("backupIP");
    const auto cport = c.find("port");
    if (!c.is_object() || ip == c.end() || !ip->is_string() || bip == c.end() ||
        !bip->is_string() || cport == c.end() || !cport->is_string()) {
      answer.problem = "a candidate lacks \"ip\"/\"backupIP\"/\"port\" strings";
      return;
    }
    const std::string& cp = cport->get_ref<const std::string&>();
    char* cend = nullptr;
    const unsigned long cvalue = std::strtoul(cp.c_str(), &cend, 10);
    if (cp.empty() || cend == nullptr || *cend != '\0' || cvalue > 0xffffffffUL) {
      answer.problem = "a candidate's \"port\" is not a number: " + cp.substr(0, 20);
      return;
    }
    answer.candidates.push_back(AnswerAddress{ip->get<std::string>(), bip->get<std::string>(),
                                              static_cast<std::uint32_t>(cvalue)});
  }
}

// One GET on a fresh connection that the request asks to close. Returns an empty string and the
// body, or why it failed.
std::string HttpGet(const Endpoint& ep, const std::string& path, std::string& body) {
  std::string error;
  const int fd = Connect(ep, error);
  if (fd < 0) return "cannot reach " + ep.text + ": " + error;
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + ep.host +
                              "\r\nUser-Agent: load_replay\r\nConnection: close\r\n\r\n";
  if (std::string err = WriteAll(fd, request); !err.empty()) return err;
  const auto deadline = Clock::now() + kIoTimeout;
  std::string in;
  char buf[16384];
  while (true) {
    const ssize_t n = ReadSome(fd, buf, sizeof buf, deadline, error);
    if (n == 0) break;
    if (n < 0) return error;
    in.append(buf, static_cast<std::size_t>(n));
    if (in.size() > 64 * kMaxHttpReply) return "the reply is too large";
  }
  const auto head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos) return "not an HTTP reply";
  int status = 0;
  if (std::sscanf(in.c_str(), "HTTP/1.%*d %d", &status) != 1 || status != 200) {
    return fmt::format("GET {} answered status {}", path, status);
  }
  body = in.substr(head_end + 4);
  return {};
}

}  // namespace

std::string ResolveEndpoint(const std::string& text, Endpoint& out) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return "expected [HOST]:PORT, not " + text;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) return "expected HOST:PORT, not " + text;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) == 0 ||
      std::stoul(port) > 65535) {
    return "bad port in " + text;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return fmt::format("cannot resolve {}: {}", text, gai_strerror(rc));
  }
  std::memcpy(&out.addr, res->ai_addr, res->ai_addrlen);
  out.addr_len = res->ai_addrlen;
  freeaddrinfo(res);
  out.text = text;
  out.host = host;
  return {};
}

NetworkDriver::NetworkDriver(const Trace& trace, NetworkTargets targets)
    : trace_(trace),
      targets_(std::move(targets)),
      conns_(trace.names.size()),
      next_drain_(Clock::now() + kDrainInterval) {}

NetworkDriver::~NetworkDriver() {
  for (MsConnection& c : conns_) {
    if (c.fd >= 0) close(c.fd);
  }
  if (http_fd_ >= 0) close(http_fd_);
}

std::string NetworkDriver::Describe() const {
  std::string out = "login server";
  if (targets_.has_msg_server) out += " msg-server " + targets_.msg_server.text;
  if (targets_.has_http) out += " http " + targets_.http.text;
  if (targets_.has_client) out += " client " + targets_.client.text;
  if (targets_.has_admin) out += " admin " + targets_.admin.text;
  return out;
}

std::string NetworkDriver::Probe(bool need_msg_server, bool need_http, bool need_client) {
  auto probe = [](const Endpoint& ep, const char* what) -> std::string {
    std::string error;
    const int fd = Connect(ep, error);
    if (fd < 0) return fmt::format("the {} port is unreachable: {}", what, error);
    close(fd);
    return {};
  };
  // The MsgServer port is probed by the first real connection: a probe there would show up in the
  // server's log as a msg_server that never registered.
  if (need_msg_server && !targets_.has_msg_server) return "the trace needs --msg-server";
  if (need_http) {
    if (!targets_.has_http) return "the trace has queries via http: it needs --http";
    if (std::string e = probe(targets_.http, "HTTP"); !e.empty()) return e;
  }
  if (need_client) {
    if (!targets_.has_client) return "the trace has queries via pdu: it needs --client";
    if (std::string e = probe(targets_.client, "Client"); !e.empty()) return e;
  }
  return {};
}

std::string NetworkDriver::Send(const Event& event, const ServerInfo* info) {
  if (event.ms >= conns_.size()) conns_.resize(event.ms + 1);
  MsConnection& c = conns_[event.ms];
  if (event.kind == EventKind::kClose) {
    if (c.fd < 0) return {};
    std::string err = WritePending(event.ms);
    close(c.fd);
    c.fd = -1;
    c.out.clear();
    return err;
  }
  if (c.fd < 0) {
    std::string error;
    c.fd = Connect(targets_.msg_server, error);
    if (c.fd < 0) return "the MsgServer port is unreachable: " + error;
  }
  switch (event.kind) {
    case EventKind::kRegister:
      peer::AppendServInfoPdu(c.out, peer::MsgServerInfo{info->ip1, info->ip2, info->port,
                                                         info->max, info->cur, info->host});
      break;
    case EventKind::kInc:
    case EventKind::kDec: {
      const std::uint32_t action =
          event.kind == EventKind::kInc ? common::kUserActionInc : common::kUserActionDec;
      for (std::uint32_t i = 0; i < event.n; ++i)
        peer::AppendUserCntUpdatePdu(c.out, action, c.next_user++);
      updates_sent_ += event.n;
      break;
    }
    case EventKind::kHeartbeat:
      peer::AppendHeartbeatPdu(c.out);
      break;
    case EventKind::kClose:
    case EventKind::kQuery:
      break;
  }
  if (c.out.size() >= kWriteBatch) return WritePending(event.ms);
  if (!c.dirty) {
    c.dirty = true;
    dirty_.push_back(event.ms);
  }
  return {};
}

std::string NetworkDriver::WritePending(MsId ms) {
  MsConnection& c = conns_[ms];
  c.dirty = false;
  if (c.out.empty() || c.fd < 0) {
    c.out.clear();
    return {};
  }
  std::string err = WriteAll(c.fd, c.out);
  c.out.clear();
  if (!err.empty()) return fmt::format("msg_server \"{}\": {}", trace_.names[ms], err);
  return {};
}

std::string NetworkDriver::Flush() {
  for (MsId ms : dirty_) {
    if (!conns_[ms].dirty) continue;  // written (or closed) since it was queued
    if (std::string err = WritePending(ms); !err.empty()) {
      dirty_.clear();
      return err;
    }
  }
  dirty_.clear();
  if (Clock::now() >= next_drain_) {
    DrainIncoming();
    next_drain_ = Clock::now() + kDrainInterval;
  }
  return {};
}

void NetworkDriver::DrainIncoming() {
  for (MsId ms = 0; ms < conns_.size(); ++ms) {
    MsConnection& c = conns_[ms];
    if (c.fd < 0) continue;
    // What arrives is the server's heartbeats: nothing to act on.
    if (!peer::DiscardInput(c.fd).ok()) {
      // The model keeps this msg_server; the queries that follow will show the difference.
      warnings_.push_back(
          fmt::format("the server closed the connection of msg_server \"{}\"", trace_.names[ms]));
      close(c.fd);
      c.fd = -1;
      c.out.clear();
    }
  }
}

std::string NetworkDriver::Query(QueryVia via, ServerAnswer& answer) {
  return via == QueryVia::kHttp ? QueryHttp(answer) : QueryPdu(answer);
}

std::string NetworkDriver::QueryHttp(ServerAnswer& answer) {
  if (!targets_.has_http) return "a query via http needs --http";
  // A kept-alive connection may have been closed by the server (idle timeout) since the last
  // query; then ask once more on a fresh one.
  bool retry_on_fresh = http_fd_ >= 0;
  std::string err = HttpExchange(answer, retry_on_fresh);
  if (!err.empty() && retry_on_fresh) {
    answer = ServerAnswer{};
    bool no_more = false;
    err = HttpExchange(answer, no_more);
  }
  return err;
}

std::string NetworkDriver::HttpExchange(ServerAnswer& answer, bool& retry_on_fresh) {
  if (http_fd_ < 0) {
    retry_on_fresh = false;
    std::string error;
    http_fd_ = Connect(targets_.http, error);
    if (http_fd_ < 0) return "the HTTP port is unreachable: " + error;
  }
  auto fail = [&](std::string why) {
    close(http_fd_);
    http_fd_ = -1;
    return "HTTP query to " + targets_.http.text + ": " + why;
  };
  const std::string request = "GET /msg_server HTTP/1.1\r\nHost: " + targets_.http.host +
                              "\r\nUser-Agent: load_replay\r\n\r\n";
  if (std::string err = WriteAll(http_fd_, request); !err.empty()) return fail(err);

  const auto deadline = Clock::now() + kIoTimeout;
  std::string in;
  std::size_t head_end = std::string::npos;
  std::size_t body_len = 0;
  bool close_after = false;
  char buf[4096];
  while (true) {
    if (head_end == std::string::npos) {
      head_end = in.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const std::string head = Lower(std::string_view(in).substr(0, head_end));
        int status = 0;
        if (std::sscanf(head.c_str(), "http/1.%*d %d", &status) != 1) {
          return fail("not an HTTP reply");
        }
        const auto cl = head.find("\r\ncontent-length:");
        if (cl == std::string::npos) return fail("the reply has no Content-Length");
        body_len = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
        close_after = head.find("\r\nconnection: close") != std::string::npos;
        if (status != 200) answer.problem = fmt::format("HTTP status {}", status);
        if (body_len > kMaxHttpReply) return fail("the reply body is too large");
      }
    }
    if (head_end != std::string::npos && in.size() >= head_end + 4 + body_len) break;
    if (in.size() > kMaxHttpReply) return fail("the reply is too large");
    std::string error;
    const ssize_t n = ReadSome(http_fd_, buf, sizeof buf, deadline, error);
    if (n == 0) return fail("the server closed the connection before replying in full");
    if (n < 0) return fail(error);
    in.append(buf, static_cast<std::size_t>(n));
  }
  retry_on_fresh = false;  // a reply arrived: whatever it says, it is the answer
  if (answer.problem.empty()) {
    ParseHttpAnswer(std::string_view(in).substr(head_end + 4, body_len), answer);
  }
  if (close_after) {
    close(http_fd_);
    http_fd_ = -1;
  }
  return {};
}

std::string NetworkDriver::QueryPdu(ServerAnswer& answer) {
  if (!targets_.has_client) return "a query via pdu needs --client";
  std::string error;
  const int fd = Connect(targets_.client, error);
  if (fd < 0) return "the Client port is unreachable: " + error;
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};

  const std::uint16_t seq = next_seq_;
  next_seq_ = static_cast<std::uint16_t>(next_seq_ == 0xffff ? 1 : next_seq_ + 1);
  const std::string request = peer::MsgServReqPdu(seq);
  if (std::string err = WriteAll(fd, request); !err.empty()) return "PDU query: " + err;

  const auto deadline = Clock::now() + kIoTimeout;
  std::string in;
  char buf[4096];
  while (true) {
    const auto r =
        common::DecodeFrame(std::span(reinterpret_cast<const std::uint8_t*>(in.data()), in.size()),
                            common::kDefaultMaxPduSize);
    if (r.status == common::DecodeStatus::kError) return "PDU query: bad reply: " + r.error_text();
    if (r.status == common::DecodeStatus::kFrame) {
      const auto& h = r.frame.header;
      if (h.service_id != common::kSidLogin || h.command_id != common::kCidLoginResMsgServer) {
        answer.problem =
            fmt::format("the reply is service {} command {:#06x}", h.service_id, h.command_id);
        return {};
      }
      if (h.seq_num != seq) {
        answer.problem =
            fmt::format("the reply carries seq {} for a request with seq {}", h.seq_num, seq);
        return {};
      }
      IM::Login::IMMsgServRsp rsp;
      if (!rsp.ParseFromArray(r.frame.body.data(), static_cast<int>(r.frame.body.size()))) {
        answer.problem = "the IMMsgServRsp body does not parse";
        return {};
      }
      answer.code = static_cast<std::uint32_t>(rsp.result_code());
      answer.ip1 = rsp.prior_ip();
      answer.ip2 = rsp.backip_ip();
      answer.port = rsp.port();
      return {};
    }
    const ssize_t n = ReadSome(fd, buf, sizeof buf, deadline, error);
    if (n == 0) return "PDU query: the server closed the connection without replying";
    if (n < 0) return "PDU query: " + error;
    in.append(buf, static_cast<std::size_t>(n));
  }
}

// The server's count of user-count update PDUs it has read and applied (it counts a read's
// updates after applying them), from the admin port's /metrics; nullopt if it cannot be read.
std::optional<std::uint64_t> NetworkDriver::UpdatesApplied(std::string& error) {
  std::string body;
  error = HttpGet(targets_.admin, "/metrics", body);
  if (!error.empty()) return std::nullopt;
  constexpr std::string_view kSeries =
      "ttlogin_pdus_received_total{command=\"CID_OTHER_USER_CNT_UPDATE\"} ";
  const std::size_t at = body.find(kSeries);
  if (at == std::string::npos) {
    error = "GET /metrics has no count of received user count updates";
    return std::nullopt;
  }
  return std::strtoull(body.c_str() + at + kSeries.size(), nullptr, 10);
}

std::string NetworkDriver::Sync(const ChoiceModel& model) {
  if (!targets_.has_admin) return "exact replays (assignment holds) need --admin";
  const auto deadline = Clock::now() + kSyncBound;
  auto backoff = std::chrono::microseconds(200);
  std::string last;
  // With holds the counts alone are no barrier: an increment and a decrement that follow each
  // other leave the count as it was, but the increment settles a hold, and a query answered
  // before the server reads them would place a hold the late increment then settles. So first
  // wait until the server has read every update sent, then compare the counts.
  const bool holds = model.routing().assignment_hold_ms > 0;
  bool all_read = !holds;
  while (true) {
    if (!all_read) {
      const auto applied = UpdatesApplied(last);
      all_read = applied && *applied >= updates_sent_;
      if (applied && !all_read) {
        last = fmt::format("the server has read {} of the {} user count updates sent", *applied,
                           updates_sent_);
      }
    }
    std::string body;
    if (all_read) last = HttpGet(targets_.admin, "/servers", body);
    if (all_read && last.empty()) {
      const auto j = nlohmann::json::parse(body, nullptr, false);
      if (!j.is_array()) {
        last = "GET /servers did not answer a JSON list";
      } else {
        // Every registered msg_server of the model, with the model's count, and nothing else.
        std::size_t registered = 0;
        bool same = true;
        const auto& servers = model.servers();
        for (MsId id = 0; id < servers.size(); ++id) {
          const ModelServer& s = servers[id];
          if (!s.registered) continue;
          ++registered;
          bool found = false;
          for (const auto& e : j) {
            if (e.value("ip1", "") == s.info.ip1 && e.value("ip2", "") == s.info.ip2 &&
                e.value("port", 0u) == s.info.port) {
              const auto cur = e.value("cur", 0u);
              found = cur == s.info.cur;
              if (!found) {
                last = fmt::format("msg_server \"{}\": the server has {} users, the model {}",
                                   trace_.names[id], cur, s.info.cur);
              }
              break;
            }
          }
          same = same && found;
        }
        if (same && registered == j.size()) return {};
        if (same) last = "the server lists msg_servers the model does not";
      }
    }
    if (Clock::now() + backoff >= deadline) {
      return fmt::format("the server did not catch up within {} ms ({})", kSyncBound.count(), last);
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::microseconds(20'000));
  }
}

DriverNotes NetworkDriver::Finish(const ChoiceModel&, const Trace&) {
  DrainIncoming();
  for (MsConnection& c : conns_) {
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
  }
  if (http_fd_ >= 0) close(http_fd_);
  http_fd_ = -1;
  DriverNotes notes;
  notes.warnings = std::move(warnings_);
  return notes;
}

}  // namespace ttlogin::tools::replay
