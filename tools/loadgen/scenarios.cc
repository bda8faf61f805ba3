#include "tools/loadgen/scenarios.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/pdu_header.h"
#include "common/protocol.h"
#include "tools/common/peer_pdu.h"
#include "tools/common/socket_io.h"
#include "tools/loadgen/histogram.h"
#include "tools/loadgen/net.h"
#include "tools/loadgen/tls_client.h"

namespace ttlogin::tools::loadgen {
namespace {

constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
// The loop wakes at least this often to look at the clock (epoll timeout, ms).
constexpr int kTickMs = 1;
// Update-completion queries go out at most this often, so they cost the server next to nothing.
constexpr std::uint64_t kQueryIntervalNs = 1'000'000;
// Connects in flight at once while opening many idle connections (stays below the listen backlog).
constexpr int kMaxConnectsInFlight = 256;
// Every this many seconds the hold scenario sends a heartbeat (the server drops a msg_server
// after MsgServerTimeout of silence; the classic interval is 5 s).
constexpr std::uint64_t kHeartbeatIntervalNs = 5 * kNsPerSecond;
// The sentinel msg_server of the update scenarios: registered with a count no subject reaches and
// room to spare, so it is the answer exactly when every subject is full.
constexpr std::uint32_t kSentinelPort = 1;
constexpr std::uint32_t kSentinelCount = 1'000'000'000;
constexpr std::uint32_t kSentinelMax = 2'000'000'000;
// Subjects are registered with ports kSubjectPortBase + i.
constexpr std::uint32_t kSubjectPortBase = 10000;
// User ids in [2^14, 2^21) encode as 3-byte varints, so every update PDU has the same size and a
// chunk of them can be written over and over on PDU boundaries.
constexpr std::uint32_t kFirstUserId = 1u << 14;
constexpr std::uint32_t kUserIdSpan = (1u << 21) - kFirstUserId;
// The repeated chunk of update PDUs: about one 64 KiB write.
constexpr std::size_t kChunkTargetBytes = 64 * 1024;

volatile std::sig_atomic_t g_stop_signal = 0;
void OnStopSignal(int) {
  g_stop_signal = 1;
}

thread_local std::array<char, 64 * 1024> t_read_buffer;

double Seconds(std::uint64_t ns) {
  return static_cast<double>(ns) / static_cast<double>(kNsPerSecond);
}
std::uint64_t ToNs(double seconds) {
  return static_cast<std::uint64_t>(seconds * static_cast<double>(kNsPerSecond));
}

// One "RESULT key=value ..." line.
class ResultLine {
 public:
  explicit ResultLine(const Options& options, std::string_view scenario) {
    out_ << "RESULT scenario=" << scenario;
    if (!options.label.empty()) out_ << " label=" << options.label;
  }
  template <typename T>
  ResultLine& Add(std::string_view key, const T& value) {
    out_ << ' ' << key << '=' << value;
    return *this;
  }
  ResultLine& AddFixed(std::string_view key, double value, int decimals) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    out_ << ' ' << key << '=' << text;
    return *this;
  }
  void Print() {
    std::printf("%s\n", out_.str().c_str());
    std::fflush(stdout);
  }

 private:
  std::ostringstream out_;
};

// CPU used by the server and by us over a window, as a share of one core.
class CpuMeter {
 public:
  explicit CpuMeter(int server_pid) : server_pid_(server_pid) { Start(); }
  void Start() {
    wall_ = NowNs();
    self_ = SelfCpuSeconds();
    server_ = server_pid_ > 0 ? ProcessCpuSeconds(server_pid_) : -1;
  }
  void AddTo(ResultLine& line) const {
    const double wall = Seconds(NowNs() - wall_);
    if (wall <= 0) return;
    line.AddFixed("client_cpu", (SelfCpuSeconds() - self_) / wall, 2);
    if (server_pid_ > 0 && server_ >= 0) {
      line.AddFixed("server_cpu", (ProcessCpuSeconds(server_pid_) - server_) / wall, 2);
    }
  }

 private:
  int server_pid_;
  std::uint64_t wall_ = 0;
  double self_ = 0;
  double server_ = 0;
};

bool ContainsNoCase(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    bool match = true;
    for (std::size_t j = 0; j < needle.size() && match; ++j) {
      match = std::tolower(static_cast<unsigned char>(haystack[i + j])) ==
              std::tolower(static_cast<unsigned char>(needle[j]));
    }
    if (match) return true;
  }
  return false;
}

// Content-Length of a response head, or nullopt when there is none.
std::optional<std::size_t> ContentLength(std::string_view head) {
  constexpr std::string_view kName = "\r\ncontent-length:";
  for (std::size_t i = 0; i + kName.size() <= head.size(); ++i) {
    if (!ContainsNoCase(head.substr(i, kName.size()), kName)) continue;
    std::size_t p = i + kName.size();
    while (p < head.size() && head[p] == ' ')
      ++p;
    std::size_t value = 0;
    bool any = false;
    while (p < head.size() && head[p] >= '0' && head[p] <= '9') {
      value = value * 10 + static_cast<std::size_t>(head[p] - '0');
      ++p;
      any = true;
    }
    if (any) return value;
  }
  return std::nullopt;
}

// The msg_server port of a JSON reply ("port":"8000"), or 0.
std::uint32_t JsonPort(std::string_view body) {
  const std::size_t key = body.find("\"port\"");
  if (key == std::string_view::npos) return 0;
  std::size_t p = key + 6;
  while (p < body.size() && (body[p] == ' ' || body[p] == ':' || body[p] == '"'))
    ++p;
  std::uint32_t port = 0;
  while (p < body.size() && body[p] >= '0' && body[p] <= '9') {
    port = port * 10 + static_cast<std::uint32_t>(body[p] - '0');
    ++p;
  }
  return port;
}

// TLS handshakes of a set of connections (TLS runs only).
struct TlsCounts {
  std::uint64_t full = 0;        // full handshakes inside the measured window
  std::uint64_t reused = 0;      // resumed ones inside the measured window
  std::uint64_t full_total = 0;  // the same over the whole run, warm-up included
  std::uint64_t reused_total = 0;
  LatencyHistogram handshake;    // TCP connect started -> handshake done, measured window
  std::string version = "none";  // of the last handshake
  std::string alpn = "none";
  // Why a handshake failed. A failed handshake ends the run: a wrong CA, a name mismatch or a
  // server without TLS gives no meaningful figure, and must not pass for a slow server.
  std::string failure;
};

// Figures a set of load connections share.
struct LoadStats {
  bool measuring = false;
  std::uint64_t completed = 0;   // replies inside the measured window
  std::uint64_t errors = 0;      // failed connects, resets, non-200 replies (whole run)
  std::uint64_t reconnects = 0;  // keep-alive connections the server closed
  LatencyHistogram latency;      // request written -> reply complete, measured window only
  TlsCounts tls;
  // Connections whose connect failed, restarted from the loop rather than from inside the failure
  // (a refused loopback connect can fail synchronously, and retrying there would recurse).
  std::vector<std::function<void()>> retries;
  void RunRetries() {
    auto due = std::move(retries);
    retries.clear();
    for (auto& retry : due)
      retry();
  }
  void CountHandshake(const TlsSession& session, std::uint64_t ns) {
    const bool reused = session.reused();
    ++(reused ? tls.reused_total : tls.full_total);
    if (measuring) {
      ++(reused ? tls.reused : tls.full);
      tls.handshake.Record(ns);
    }
    tls.version = session.version();
    tls.alpn = session.alpn();
  }
};

// An HTTP/1.1 client connection with at most one request in flight, over TCP or TLS. In close
// mode every request opens a fresh connection (the server closes after the reply, as
// "Connection: close" asks); over TLS each of those is a new handshake, resumed from this
// connection's previous session when the context says so.
class HttpClientConn : public Pollable {
 public:
  using OnReply = std::function<void(HttpClientConn&, int status, std::string_view body,
                                     std::uint64_t latency_ns)>;
  using OnFailure = std::function<void(HttpClientConn&)>;
  using OnHandshake =
      std::function<void(HttpClientConn&, const TlsSession&, std::uint64_t handshake_ns)>;

  // `tls` null: plain HTTP.
  HttpClientConn(EventLoop& loop, const sockaddr_in& address, std::string request, bool close_mode,
                 OnReply on_reply, OnFailure on_failure, const TlsClientContext* tls = nullptr,
                 OnHandshake on_handshake = {})
      : loop_(loop),
        address_(address),
        request_(std::move(request)),
        close_mode_(close_mode),
        on_reply_(std::move(on_reply)),
        on_failure_(std::move(on_failure)),
        tls_(tls),
        on_handshake_(std::move(on_handshake)) {}
  ~HttpClientConn() override { CloseSocket(); }

  // Sends one request, connecting (and handshaking) first if needed.
  void Request() {
    want_request_ = true;
    if (fd_ < 0) {
      Open();
    } else if (ready()) {
      SendNow();
    }
  }
  bool busy() const { return want_request_ || in_flight_; }
  // Why the last TLS handshake failed; empty when it did not.
  const std::string& tls_failure() const { return tls_failure_; }
  void CloseSocket() {
    if (fd_ < 0) return;
    if (session_) {
      session_->Shutdown();
      session_.reset();
    }
    loop_.Remove(fd_);
    close(fd_);
    fd_ = -1;
    events_ = 0;
    connected_ = false;
    handshake_done_ = false;
    write_pending_ = false;
    in_flight_ = false;
    in_.clear();
  }

  void OnEvent(std::uint32_t events) override {
    if (!connected_) {
      if ((events & (EPOLLERR | EPOLLHUP)) || ConnectResult(fd_) != 0) {
        Fail();
        return;
      }
      connected_ = true;
      if (tls_ != nullptr) {
        session_ = std::make_unique<TlsSession>(*tls_, fd_, &session_slot_);
        Handshake();
        return;
      }
      SetEvents(EPOLLIN);
      if (want_request_) SendNow();
      return;
    }
    if (session_ && !handshake_done_) {
      Handshake();
      return;
    }
    if (write_pending_) {
      WriteTls();
      if (fd_ < 0) return;
    }
    if (!(session_ ? ReadTls() : ReadPlain())) return;
    ParseReplies();
  }

 private:
  bool ready() const { return connected_ && (tls_ == nullptr || handshake_done_); }

  void SetEvents(std::uint32_t events) {
    if (events == events_) return;
    loop_.Modify(fd_, events, this);
    events_ = events;
  }

  void Open() {
    ++generation_;
    connect_started_ = NowNs();
    fd_ = StartConnect(address_);
    if (fd_ < 0) {
      Fail();
      return;
    }
    connected_ = false;
    loop_.Add(fd_, EPOLLOUT, this);
    events_ = EPOLLOUT;
  }

  void Handshake() {
    switch (session_->Handshake()) {
      case TlsSession::Io::kDone:
        handshake_done_ = true;
        if (on_handshake_) on_handshake_(*this, *session_, NowNs() - connect_started_);
        SetEvents(EPOLLIN);
        if (want_request_) SendNow();
        return;
      case TlsSession::Io::kWantRead:
        SetEvents(EPOLLIN);
        return;
      case TlsSession::Io::kWantWrite:
        SetEvents(EPOLLOUT);
        return;
      case TlsSession::Io::kClosed:
      case TlsSession::Io::kFailed:
        tls_failure_ = session_->error();
        Fail();
        return;
    }
  }

  void SendNow() {
    want_request_ = false;
    in_flight_ = true;
    sent_at_ = NowNs();
    if (session_) {
      WriteTls();
      return;
    }
    const ssize_t n = send(fd_, request_.data(), request_.size(), MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(request_.size())) {
      // A request of a few dozen bytes on an empty socket goes at once, or the socket is dead.
      Fail();
    }
  }

  // Writes the request over TLS, or waits for the socket to let it (write_pending_).
  void WriteTls() {
    switch (session_->Write(request_.data(), request_.size())) {
      case TlsSession::Io::kDone:
        write_pending_ = false;
        SetEvents(EPOLLIN);
        return;
      case TlsSession::Io::kWantRead:
      case TlsSession::Io::kWantWrite:
        write_pending_ = true;
        SetEvents(EPOLLIN | EPOLLOUT);
        return;
      case TlsSession::Io::kClosed:
      case TlsSession::Io::kFailed:
        Fail();
        return;
    }
  }

  // Reads what the socket has; false when the connection ended (and was handled).
  bool ReadPlain() {
    for (;;) {
      const ssize_t n = read(fd_, t_read_buffer.data(), t_read_buffer.size());
      if (n > 0) {
        in_.append(t_read_buffer.data(), static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < t_read_buffer.size()) return true;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      PeerClosed();
      return false;
    }
  }

  bool ReadTls() {
    for (;;) {
      std::size_t n = 0;
      switch (session_->Read(t_read_buffer.data(), t_read_buffer.size(), &n)) {
        case TlsSession::Io::kDone:
          in_.append(t_read_buffer.data(), n);
          continue;  // OpenSSL may hold more decrypted bytes than one read returned
        case TlsSession::Io::kWantRead:
        case TlsSession::Io::kWantWrite:
          return true;
        case TlsSession::Io::kClosed:
        case TlsSession::Io::kFailed: {
          // Replies that arrived before the close still count (a close-mode server may send its
          // reply, close_notify and FIN in one go); a reply may already have opened the next
          // connection, which must be left alone.
          const std::uint64_t generation = generation_;
          ParseReplies();
          if (generation_ == generation && fd_ >= 0) PeerClosed();
          return false;
        }
      }
    }
  }

  // EOF or error: a kept-alive connection the server closed. A request in flight is lost.
  void PeerClosed() {
    const bool lost = in_flight_;
    CloseSocket();
    if (lost) {
      Fail();
    } else if (want_request_) {
      Open();
    }
  }

  void Fail() {
    CloseSocket();
    want_request_ = false;
    on_failure_(*this);
  }

  void ParseReplies() {
    while (in_flight_) {
      const std::size_t head_end = in_.find("\r\n\r\n");
      if (head_end == std::string::npos) return;
      const std::string_view head(in_.data(), head_end + 2);
      const std::size_t body_len = ContentLength(head).value_or(0);
      const std::size_t total = head_end + 4 + body_len;
      if (in_.size() < total) return;
      int status = 0;
      if (head.size() > 12 && head.substr(0, 5) == "HTTP/") {
        status = std::atoi(std::string(head.substr(9, 3)).c_str());
      }
      const bool server_closes = ContainsNoCase(head, "\r\nconnection: close");
      const std::uint64_t latency = NowNs() - sent_at_;
      std::string body = in_.substr(head_end + 4, body_len);
      in_.erase(0, total);
      in_flight_ = false;
      if (close_mode_ || server_closes) CloseSocket();
      on_reply_(*this, status, body, latency);  // may call Request() again
    }
  }

  EventLoop& loop_;
  sockaddr_in address_;
  std::string request_;
  bool close_mode_;
  OnReply on_reply_;
  OnFailure on_failure_;
  const TlsClientContext* tls_;
  OnHandshake on_handshake_;
  std::unique_ptr<TlsSession> session_;  // the current connection's TLS state
  TlsSessionSlot session_slot_;          // outlives connections: what the next one resumes
  std::string tls_failure_;
  int fd_ = -1;
  std::uint32_t events_ = 0;      // what epoll waits for on fd_
  std::uint64_t generation_ = 0;  // connections opened so far
  bool connected_ = false;
  bool handshake_done_ = false;
  bool write_pending_ = false;
  bool want_request_ = false;
  bool in_flight_ = false;
  std::uint64_t connect_started_ = 0;
  std::uint64_t sent_at_ = 0;
  std::string in_;
};

std::string HttpRequestText(const Options& options, bool close) {
  std::string r = "GET " + options.path + " HTTP/1.1\r\nHost: " + options.host + "\r\n";
  if (close) r += "Connection: close\r\n";
  r += "\r\n";
  return r;
}

// Keeps `count` HTTP connections busy: each sends its next request as soon as a reply arrives.
// The TLS context of a run with --tls, else null. Null with `error` set when it cannot be made.
std::unique_ptr<TlsClientContext> MakeTlsContext(const Options& options, bool release_buffers,
                                                 std::string* error) {
  if (!options.tls) return nullptr;
  TlsOptions tls;
  tls.cafile = options.cafile;
  tls.servername = options.servername;
  tls.host = options.host;
  tls.version = options.tls_version;
  tls.resume = options.tls_resume;
  tls.release_buffers = release_buffers;
  return TlsClientContext::Create(tls, error);
}

// Keeps `count` HTTP connections busy: each sends its next request as soon as a reply arrives.
// With `tls`, a failed handshake stops its connection and sets stats.tls.failure.
std::vector<std::unique_ptr<HttpClientConn>> StartHttpLoad(EventLoop& loop, const Options& options,
                                                           int count, bool close, LoadStats& stats,
                                                           const TlsClientContext* tls = nullptr) {
  const sockaddr_in address = MakeAddress(options.host, options.http_port);
  std::vector<std::unique_ptr<HttpClientConn>> conns;
  for (int i = 0; i < count; ++i) {
    conns.push_back(std::make_unique<HttpClientConn>(
        loop, address, HttpRequestText(options, close), close,
        [&stats](HttpClientConn& c, int status, std::string_view, std::uint64_t latency) {
          if (status != 200) ++stats.errors;
          if (stats.measuring) {
            ++stats.completed;
            stats.latency.Record(latency);
          }
          c.Request();
        },
        [&stats](HttpClientConn& c) {
          ++stats.errors;
          if (!c.tls_failure().empty()) {
            if (stats.tls.failure.empty()) stats.tls.failure = c.tls_failure();
            return;
          }
          stats.retries.push_back([&c] { c.Request(); });  // bounded by the scenario's duration
        },
        tls,
        [&stats](HttpClientConn&, const TlsSession& session, std::uint64_t ns) {
          stats.CountHandshake(session, ns);
        }));
  }
  for (auto& c : conns)
    c->Request();
  return conns;
}

// The TLS figures of a RESULT line.
void AddTlsFigures(ResultLine& line, const TlsCounts& tls, double seconds) {
  const std::uint64_t handshakes = tls.full + tls.reused;
  line.Add("tls_version", tls.version)
      .Add("alpn", tls.alpn)
      .Add("handshakes", handshakes)
      .AddFixed("handshakes_per_s", static_cast<double>(handshakes) / seconds, 1)
      .Add("full", tls.full)
      .Add("reused", tls.reused)
      .Add("full_total", tls.full_total)
      .Add("reused_total", tls.reused_total)
      .AddFixed("handshake_p50_us", tls.handshake.PercentileUs(0.50), 1)
      .AddFixed("handshake_p99_us", tls.handshake.PercentileUs(0.99), 1);
}

// Client-port exchange: connect, one request PDU, one reply PDU, close.
class PduClientConn : public Pollable {
 public:
  using OnDone = std::function<void(PduClientConn&, bool ok, std::uint64_t latency_ns)>;
  PduClientConn(EventLoop& loop, const sockaddr_in& address, const std::string* request,
                OnDone on_done)
      : loop_(loop), address_(address), request_(request), on_done_(std::move(on_done)) {}
  ~PduClientConn() override { CloseSocket(); }

  // Connects; sends the request when connected unless `idle` (then it just holds the socket).
  void Open(bool idle = false) {
    idle_ = idle;
    established_ = false;
    fd_ = StartConnect(address_);
    if (fd_ < 0) {
      on_done_(*this, false, 0);
      return;
    }
    connected_ = false;
    in_.clear();
    loop_.Add(fd_, EPOLLOUT, this);
  }
  bool connected() const { return connected_; }
  // Whether the last Open() got as far as a connection (stays true after it closes).
  bool established() const { return established_; }

  void OnEvent(std::uint32_t events) override {
    if (!connected_) {
      if ((events & (EPOLLERR | EPOLLHUP)) || ConnectResult(fd_) != 0) {
        Finish(false);
        return;
      }
      connected_ = true;
      established_ = true;
      loop_.Modify(fd_, EPOLLIN, this);
      if (idle_) {
        on_done_(*this, true, 0);
        return;
      }
      sent_at_ = NowNs();
      if (send(fd_, request_->data(), request_->size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request_->size())) {
        Finish(false);
      }
      return;
    }
    const ssize_t n = read(fd_, t_read_buffer.data(), t_read_buffer.size());
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      Finish(false);  // closed before a whole reply (or an idle connection was dropped)
      return;
    }
    in_.append(t_read_buffer.data(), static_cast<std::size_t>(n));
    if (in_.size() < common::kPduHeaderSize) return;
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(in_.data());
    const std::uint32_t length = common::LoadBe32(bytes);
    if (in_.size() < length) return;
    const bool ok = common::LoadBe16(bytes + 8) == common::kSidLogin &&
                    common::LoadBe16(bytes + 10) == common::kCidLoginResMsgServer;
    Finish(ok);
  }

 private:
  void CloseSocket() {
    if (fd_ < 0) return;
    loop_.Remove(fd_);
    close(fd_);
    fd_ = -1;
    connected_ = false;
  }
  void Finish(bool ok) {
    const std::uint64_t latency = NowNs() - sent_at_;
    CloseSocket();
    on_done_(*this, ok, latency);
  }

  EventLoop& loop_;
  sockaddr_in address_;
  const std::string* request_;
  OnDone on_done_;
  int fd_ = -1;
  bool connected_ = false;
  bool established_ = false;
  bool idle_ = false;
  std::uint64_t sent_at_ = 0;
  std::string in_;
};

// A msg_server connection: registration and heartbeats as small messages, then a stream of update
// PDUs taken over and over from one shared chunk. Incoming bytes (heartbeats) are read and
// dropped, so the server never queues output for us. A refused or closed connection is recorded
// with its reason (error()), so the scenario can stop at once instead of waiting out its timeout.
class MsgServerConn : public Pollable {
 public:
  MsgServerConn(EventLoop& loop, const sockaddr_in& address, const std::string* chunk,
                std::string name)
      : loop_(loop), address_(address), chunk_(chunk), name_(std::move(name)) {}
  ~MsgServerConn() override {
    if (fd_ >= 0) {
      loop_.Remove(fd_);
      close(fd_);
    }
  }

  bool Open() {
    fd_ = StartConnect(address_);
    if (fd_ < 0) {
      failed_ = true;
      error_ = name_ + ": cannot connect to the MsgServer port: " + std::strerror(errno);
      return false;
    }
    loop_.Add(fd_, EPOLLIN | EPOLLOUT, this);
    return true;
  }
  void Queue(std::string_view bytes) {
    small_.append(bytes);
    Flush();
  }
  void Stream(std::uint64_t bytes) {
    stream_left_ += bytes;
    Flush();
  }
  bool drained() const { return small_.empty() && stream_left_ == 0; }
  bool failed() const { return failed_; }
  // Why it failed: "subject 3: the server closed the connection", empty while it has not.
  const std::string& error() const { return error_; }
  std::uint64_t streamed() const { return stream_sent_; }

  void OnEvent(std::uint32_t events) override {
    if (failed_) return;
    if (!connected_) {
      // A failed connect leaves its error in SO_ERROR; a connection the server accepted and
      // closed at once is established, and the read below tells how it ended.
      if (const int error = ConnectResult(fd_); error != 0) {
        return Fail(std::string("cannot connect to the MsgServer port: ") + std::strerror(error));
      }
      connected_ = true;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      const peer::IoResult r = peer::DiscardInput(fd_);
      if (r.status == peer::IoStatus::kClosed) {
        // A connection cap (MaxMsgServerConnectionsPerAddress, MaxMsgServers) refuses this way.
        return Fail(
            "the server closed the connection (refused by a connection limit, or "
            "dropped: see the server's log)");
      }
      if (!r.ok()) return Fail(r.Describe());
    }
    Flush();
  }

 private:
  void Fail(const std::string& why) {
    failed_ = true;
    error_ = name_ + ": " + why;
    loop_.Remove(fd_);
    close(fd_);
    fd_ = -1;
  }

  // Writes what the socket takes now; false when it is full (then EPOLLOUT brings us back).
  bool Write(std::string_view bytes, std::size_t& sent) {
    const peer::IoResult r = peer::SendSome(fd_, bytes, sent);
    if (!r.ok()) {
      Fail(r.Describe());
      return false;
    }
    if (sent == 0) {
      WantWrite(true);
      return false;
    }
    return true;
  }

  void Flush() {
    if (!connected_ || failed_) return;
    std::size_t sent = 0;
    while (!small_.empty()) {
      if (!Write(small_, sent)) return;
      small_.erase(0, sent);
    }
    while (stream_left_ > 0) {
      const std::size_t offset = static_cast<std::size_t>(stream_sent_ % chunk_->size());
      const std::size_t len =
          static_cast<std::size_t>(std::min<std::uint64_t>(stream_left_, chunk_->size() - offset));
      if (!Write(std::string_view(chunk_->data() + offset, len), sent)) return;
      stream_sent_ += sent;
      stream_left_ -= sent;
    }
    WantWrite(false);
  }

  void WantWrite(bool want) {
    if (want == want_write_) return;
    want_write_ = want;
    loop_.Modify(fd_, EPOLLIN | (want ? EPOLLOUT : 0u), this);
  }

  EventLoop& loop_;
  sockaddr_in address_;
  const std::string* chunk_;
  int fd_ = -1;
  bool connected_ = false;
  bool failed_ = false;
  bool want_write_ = true;
  std::string name_;
  std::string error_;
  std::string small_;
  std::uint64_t stream_left_ = 0;
  std::uint64_t stream_sent_ = 0;
};

std::string ServInfoPdu(const std::string& ip, std::uint32_t port, std::uint32_t cur,
                        std::uint32_t max, const std::string& host_name) {
  peer::MsgServerInfo info;
  info.ip1 = ip;
  info.ip2 = ip;
  info.port = port;
  info.max_conn_cnt = max;
  info.cur_conn_cnt = cur;
  info.host_name = host_name;
  return peer::ServInfoPdu(info);
}

// About 64 KiB of whole increment PDUs, all of one size. Returns the chunk and the PDU size.
std::pair<std::string, std::size_t> MakeUpdateChunk() {
  std::string chunk;
  std::size_t pdu_size = 0;
  for (std::uint32_t i = 0; chunk.size() + pdu_size <= kChunkTargetBytes; ++i) {
    const std::size_t before = chunk.size();
    peer::AppendUserCntUpdatePdu(chunk, common::kUserActionInc, kFirstUserId + i % kUserIdSpan,
                                 static_cast<std::uint16_t>(i));
    pdu_size = chunk.size() - before;
  }
  return {chunk, pdu_size};
}

// Polls GET /msg_server on one keep-alive connection and remembers the port of the last answer.
class Prober {
 public:
  Prober(EventLoop& loop, const Options& options)
      : conn_(
            loop, MakeAddress(options.host, options.http_port), HttpRequestText(options, false),
            false,
            [this](HttpClientConn&, int status, std::string_view body, std::uint64_t) {
              last_port_ = status == 200 ? JsonPort(body) : 0;
              ++answers_;
            },
            [this](HttpClientConn&) { ++failures_; }) {}

  // Sends a query if none is in flight and the last one is at least kQueryIntervalNs old.
  void Tick() {
    const std::uint64_t now = NowNs();
    if (conn_.busy() || now - last_sent_ < kQueryIntervalNs) return;
    last_sent_ = now;
    conn_.Request();
  }
  std::uint32_t last_port() const { return last_port_; }
  std::uint64_t answers() const { return answers_; }
  std::uint64_t failures() const { return failures_; }

 private:
  HttpClientConn conn_;
  std::uint64_t last_sent_ = 0;
  std::uint32_t last_port_ = 0;
  std::uint64_t answers_ = 0;
  std::uint64_t failures_ = 0;
};

// Runs the loop until `done()` or the deadline; returns true if `done()` became true.
template <typename Done, typename Tick>
bool RunUntil(EventLoop& loop, std::uint64_t deadline, Done&& done, Tick&& tick) {
  while (!done()) {
    if (NowNs() >= deadline || g_stop_signal) return false;
    tick();
    loop.RunOnce(kTickMs);
  }
  return true;
}

// The sentinel and `count` subject msg_servers of the update scenarios, registered one by one
// and each confirmed by a query before the next, so every one of them is in the registry before
// the clock starts. Subject i starts at count (count - i) with room for exactly `updates` more.
struct UpdateFleet {
  std::unique_ptr<MsgServerConn> sentinel;
  std::vector<std::unique_ptr<MsgServerConn>> subjects;

  // Why the fleet cannot go on (a connection the server refused or closed), or empty. Without
  // the sentinel and every subject the answer the scenario waits for never comes.
  std::string Failure() const {
    if (sentinel && sentinel->failed()) return sentinel->error();
    for (const auto& s : subjects)
      if (s->failed()) return s->error();
    return {};
  }
};

enum class WaitOutcome { kAnswered, kFailed, kTimedOut };

// Waits until the prober's answer names `port`, asking again after each answer; stops early when
// a msg_server connection of the fleet or the prober's HTTP connection fails (`error` says how).
// `also` runs on every tick too (the retries of a load running alongside).
WaitOutcome WaitForAnswer(EventLoop& loop, Prober& prober, const UpdateFleet& fleet,
                          std::uint32_t port, std::uint64_t deadline, std::string& error,
                          const std::function<void()>& also = {}) {
  const std::uint64_t first = prober.answers();
  const std::uint64_t failures = prober.failures();
  const bool answered = RunUntil(
      loop, deadline,
      [&] {
        if (prober.failures() > failures) {
          error = "the HTTP port refused or dropped the completion query";
          return true;
        }
        error = fleet.Failure();
        return !error.empty() || (prober.answers() > first && prober.last_port() == port);
      },
      [&] {
        prober.Tick();
        if (also) also();
      });
  if (!answered) return WaitOutcome::kTimedOut;
  return error.empty() ? WaitOutcome::kAnswered : WaitOutcome::kFailed;
}

std::string RegisterFleet(EventLoop& loop, Prober& prober, const Options& options, int count,
                          const std::string* chunk, UpdateFleet& fleet) {
  const sockaddr_in address = MakeAddress(options.host, options.ms_port);
  const std::uint64_t deadline = NowNs() + ToNs(options.timeout_s);
  std::string error;
  fleet.sentinel = std::make_unique<MsgServerConn>(loop, address, chunk, "the sentinel msg_server");
  if (!fleet.sentinel->Open()) return fleet.sentinel->error();
  fleet.sentinel->Queue(
      ServInfoPdu("127.0.0.9", kSentinelPort, kSentinelCount, kSentinelMax, "sentinel"));
  switch (WaitForAnswer(loop, prober, fleet, kSentinelPort, deadline, error)) {
    case WaitOutcome::kAnswered:
      break;
    case WaitOutcome::kFailed:
      return error;
    case WaitOutcome::kTimedOut:
      return "the sentinel msg_server never became the answer (another msg_server registered?)";
  }
  for (int i = 0; i < count; ++i) {
    const std::string name = "subject " + std::to_string(i);
    auto subject = std::make_unique<MsgServerConn>(loop, address, chunk, name);
    if (!subject->Open()) return subject->error();
    const auto start = static_cast<std::uint32_t>(count - i);
    const auto max = static_cast<std::uint32_t>(start + options.updates);
    const std::uint32_t port = kSubjectPortBase + static_cast<std::uint32_t>(i);
    subject->Queue(ServInfoPdu("127.0.0.8", port, start, max, "subject" + std::to_string(i)));
    fleet.subjects.push_back(std::move(subject));
    switch (WaitForAnswer(loop, prober, fleet, port, deadline, error)) {
      case WaitOutcome::kAnswered:
        break;
      case WaitOutcome::kFailed:
        return error;
      case WaitOutcome::kTimedOut:
        return name + " never became the answer";
    }
  }
  return {};
}

void PrintError(std::string_view scenario, const std::string& error) {
  std::printf("RESULT scenario=%.*s error=1\n", static_cast<int>(scenario.size()), scenario.data());
  std::fflush(stdout);
  std::fprintf(stderr, "loadgen %.*s: %s\n", static_cast<int>(scenario.size()), scenario.data(),
               error.c_str());
}

// Streams every subject's updates and waits for the sentinel answer. Returns the elapsed time
// from the first update byte to the answer proving the last one was applied, or 0 with `error`
// set when a connection failed or the timeout passed.
std::uint64_t StreamAndWait(EventLoop& loop, Prober& prober, UpdateFleet& fleet,
                            std::uint64_t bytes_each, double timeout_s, std::string& error,
                            const std::function<void()>& also = {}) {
  const std::uint64_t t0 = NowNs();
  for (auto& s : fleet.subjects)
    s->Stream(bytes_each);
  switch (WaitForAnswer(loop, prober, fleet, kSentinelPort, t0 + ToNs(timeout_s), error, also)) {
    case WaitOutcome::kAnswered:
      return NowNs() - t0;
    case WaitOutcome::kFailed:
      return 0;
    case WaitOutcome::kTimedOut:
      break;
  }
  error = "the last update was not seen applied within --timeout";
  return 0;
}

}  // namespace

int RunHttp(const Options& options) {
  const std::string scenario = "http";
  std::string error;
  const auto tls = MakeTlsContext(options, false, &error);
  if (!error.empty()) {
    PrintError(scenario, error);
    return 1;
  }
  EventLoop loop;
  LoadStats stats;
  auto conns = StartHttpLoad(loop, options, options.conns, options.close, stats, tls.get());
  const auto retry = [&stats] { stats.RunRetries(); };
  const auto failed = [&stats] { return !stats.tls.failure.empty(); };
  RunUntil(loop, NowNs() + ToNs(options.warmup_s), failed, retry);
  stats.measuring = true;
  CpuMeter cpu(options.server_pid);
  const std::uint64_t t0 = NowNs();
  RunUntil(loop, t0 + ToNs(options.duration_s), failed, retry);
  const double seconds = Seconds(NowNs() - t0);
  stats.measuring = false;
  if (failed()) {
    PrintError(scenario, stats.tls.failure);
    return 1;
  }
  ResultLine line(options, scenario);
  line.Add("mode", options.close ? "close" : "keepalive")
      .Add("conns", options.conns)
      .AddFixed("seconds", seconds, 3)
      .Add("requests", stats.completed)
      .AddFixed("rps", static_cast<double>(stats.completed) / seconds, 1)
      .AddFixed("p50_us", stats.latency.PercentileUs(0.50), 1)
      .AddFixed("p99_us", stats.latency.PercentileUs(0.99), 1)
      .AddFixed("max_us", stats.latency.MaxUs(), 1)
      .Add("errors", stats.errors);
  if (tls) AddTlsFigures(line, stats.tls, seconds);
  cpu.AddTo(line);
  line.Print();
  std::fprintf(stderr, "http%s %s x%d: %.0f requests/s, p50 %.1f us, p99 %.1f us, %llu errors\n",
               tls ? "s" : "", options.close ? "close" : "keep-alive", options.conns,
               static_cast<double>(stats.completed) / seconds, stats.latency.PercentileUs(0.5),
               stats.latency.PercentileUs(0.99), static_cast<unsigned long long>(stats.errors));
  if (tls) {
    std::fprintf(
        stderr,
        "  %s (%s): %.0f handshakes/s, %llu full and %llu resumed (whole run: %llu and %llu)\n",
        stats.tls.version.c_str(), stats.tls.alpn.c_str(),
        static_cast<double>(stats.tls.full + stats.tls.reused) / seconds,
        static_cast<unsigned long long>(stats.tls.full),
        static_cast<unsigned long long>(stats.tls.reused),
        static_cast<unsigned long long>(stats.tls.full_total),
        static_cast<unsigned long long>(stats.tls.reused_total));
  }
  return stats.completed > 0 ? 0 : 1;
}

int RunPdu(const Options& options) {
  EventLoop loop;
  LoadStats stats;
  const std::string request = peer::MsgServReqPdu(1);
  const sockaddr_in address = MakeAddress(options.host, options.client_port);
  std::vector<std::unique_ptr<PduClientConn>> conns;
  for (int i = 0; i < options.conns; ++i) {
    conns.push_back(std::make_unique<PduClientConn>(
        loop, address, &request, [&stats](PduClientConn& c, bool ok, std::uint64_t latency) {
          if (!ok) {
            ++stats.errors;
            stats.retries.push_back([&c] { c.Open(); });
            return;
          }
          if (stats.measuring) {
            ++stats.completed;
            stats.latency.Record(latency);
          }
          c.Open();  // the next exchange, on a fresh connection
        }));
  }
  for (auto& c : conns)
    c->Open();
  const auto retry = [&stats] { stats.RunRetries(); };
  RunUntil(
      loop, NowNs() + ToNs(options.warmup_s), [] { return false; }, retry);
  stats.measuring = true;
  CpuMeter cpu(options.server_pid);
  const std::uint64_t t0 = NowNs();
  RunUntil(
      loop, t0 + ToNs(options.duration_s), [] { return false; }, retry);
  const double seconds = Seconds(NowNs() - t0);
  stats.measuring = false;
  ResultLine line(options, "pdu");
  line.Add("conns", options.conns)
      .AddFixed("seconds", seconds, 3)
      .Add("requests", stats.completed)
      .AddFixed("rps", static_cast<double>(stats.completed) / seconds, 1)
      .AddFixed("p50_us", stats.latency.PercentileUs(0.50), 1)
      .AddFixed("p99_us", stats.latency.PercentileUs(0.99), 1)
      .AddFixed("max_us", stats.latency.MaxUs(), 1)
      .Add("errors", stats.errors);
  cpu.AddTo(line);
  line.Print();
  std::fprintf(stderr, "pdu x%d: %.0f exchanges/s, p50 %.1f us, p99 %.1f us, %llu errors\n",
               options.conns, static_cast<double>(stats.completed) / seconds,
               stats.latency.PercentileUs(0.5), stats.latency.PercentileUs(0.99),
               static_cast<unsigned long long>(stats.errors));
  return stats.completed > 0 ? 0 : 1;
}

int RunUpdates(const Options& options) {
  EventLoop loop;
  const auto [chunk, pdu_size] = MakeUpdateChunk();
  Prober prober(loop, options);
  UpdateFleet fleet;
  if (const std::string error = RegisterFleet(loop, prober, options, options.conns, &chunk, fleet);
      !error.empty()) {
    PrintError("updates", error);
    return 1;
  }
  CpuMeter cpu(options.server_pid);
  std::string error;
  const std::uint64_t elapsed =
      StreamAndWait(loop, prober, fleet, options.updates * pdu_size, options.timeout_s, error);
  if (elapsed == 0) {
    PrintError("updates", error);
    return 1;
  }
  const std::uint64_t total = options.updates * static_cast<std::uint64_t>(options.conns);
  const double seconds = Seconds(elapsed);
  ResultLine line(options, "updates");
  line.Add("conns", options.conns)
      .Add("updates_per_conn", options.updates)
      .Add("updates", total)
      .AddFixed("seconds", seconds, 4)
      .AddFixed("updates_per_s", static_cast<double>(total) / seconds, 0)
      .AddFixed("ns_per_update", static_cast<double>(elapsed) / static_cast<double>(total), 2)
      .Add("queries", prober.answers());
  cpu.AddTo(line);
  line.Print();
  std::fprintf(stderr, "updates %d x %llu: %.3f s, %.0f updates/s (%.1f ns each)\n", options.conns,
               static_cast<unsigned long long>(options.updates), seconds,
               static_cast<double>(total) / seconds,
               static_cast<double>(elapsed) / static_cast<double>(total));
  return 0;
}

int RunMixed(const Options& options) {
  EventLoop loop;
  const auto [chunk, pdu_size] = MakeUpdateChunk();
  Prober prober(loop, options);
  UpdateFleet fleet;
  if (const std::string error =
          RegisterFleet(loop, prober, options, options.ms_conns, &chunk, fleet);
      !error.empty()) {
    PrintError("mixed", error);
    return 1;
  }
  LoadStats stats;
  auto http = StartHttpLoad(loop, options, options.conns, false, stats);
  const std::function<void()> retry = [&stats] { stats.RunRetries(); };
  RunUntil(
      loop, NowNs() + ToNs(options.warmup_s), [] { return false; }, retry);
  stats.measuring = true;
  CpuMeter cpu(options.server_pid);
  std::string error;
  const std::uint64_t elapsed = StreamAndWait(loop, prober, fleet, options.updates * pdu_size,
                                              options.timeout_s, error, retry);
  stats.measuring = false;
  if (elapsed == 0) {
    PrintError("mixed", error);
    return 1;
  }
  const std::uint64_t total = options.updates * static_cast<std::uint64_t>(options.ms_conns);
  const double seconds = Seconds(elapsed);
  ResultLine line(options, "mixed");
  line.Add("conns", options.conns)
      .Add("ms_conns", options.ms_conns)
      .Add("updates", total)
      .AddFixed("seconds", seconds, 4)
      .AddFixed("updates_per_s", static_cast<double>(total) / seconds, 0)
      .Add("requests", stats.completed)
      .AddFixed("rps", static_cast<double>(stats.completed) / seconds, 1)
      .AddFixed("p50_us", stats.latency.PercentileUs(0.50), 1)
      .AddFixed("p99_us", stats.latency.PercentileUs(0.99), 1)
      .AddFixed("max_us", stats.latency.MaxUs(), 1)
      .Add("errors", stats.errors);
  cpu.AddTo(line);
  line.Print();
  std::fprintf(stderr,
               "mixed: %.0f updates/s with %.0f HTTP requests/s alongside (p99 %.1f us) over "
               "%.3f s\n",
               static_cast<double>(total) / seconds, static_cast<double>(stats.completed) / seconds,
               stats.latency.PercentileUs(0.99), seconds);
  return 0;
}

int RunIdle(const Options& options) {
  if (options.server_pid <= 0) {
    PrintError("idle", "--server-pid is required (the RSS is read from /proc/PID/status)");
    return 1;
  }
  const bool http = options.kind == "http";
  if (!http && options.kind != "client") {
    PrintError("idle", "--kind must be client or http");
    return 1;
  }
  std::string error;
  // Our side keeps no OpenSSL buffers per idle connection either: thousands of them would
  // cost this process hundreds of megabytes.
  const auto tls = MakeTlsContext(options, /*release_buffers=*/true, &error);
  if (!error.empty()) {
    PrintError("idle", error);
    return 1;
  }
  EventLoop loop;
  LoadStats stats;  // TLS handshake counts
  const long rss_before = ReadStatusKb(options.server_pid, "VmRSS:");
  const long fds_before = CountOpenFds(options.server_pid);
  int opened = 0;     // connects started
  int in_flight = 0;  // connects (or first requests) not finished yet
  int ready = 0;      // idle connections established (and, for HTTP, answered once)
  std::uint64_t errors = 0;
  std::vector<std::unique_ptr<HttpClientConn>> http_conns;
  std::vector<std::unique_ptr<PduClientConn>> pdu_conns;
  const std::string no_request;
  auto open_more = [&] {
    while (opened < options.conns && in_flight < kMaxConnectsInFlight) {
      ++opened;
      ++in_flight;
      if (http) {
        http_conns.push_back(std::make_unique<HttpClientConn>(
            loop, MakeAddress(options.host, options.http_port), HttpRequestText(options, false),
            false,
            [&](HttpClientConn&, int status, std::string_view, std::uint64_t) {
              --in_flight;
              if (status == 200) {
                ++ready;
              } else {
                ++errors;
              }
            },
            [&](HttpClientConn& c) {
              --in_flight;
              ++errors;
              if (!c.tls_failure().empty() && stats.tls.failure.empty()) {
                stats.tls.failure = c.tls_failure();
              }
            },
            tls.get(),
            [&](HttpClientConn&, const TlsSession& session, std::uint64_t ns) {
              stats.CountHandshake(session, ns);
            }));
        http_conns.back()->Request();
      } else {
        pdu_conns.push_back(std::make_unique<PduClientConn>(
            loop, MakeAddress(options.host, options.client_port), &no_request,
            [&](PduClientConn& c, bool ok, std::uint64_t) {
              if (ok && c.connected()) {
                --in_flight;
                ++ready;
              } else if (!c.established()) {
                --in_flight;
                ++errors;  // the connect failed
              } else {
                --ready;
                ++errors;  // an idle connection was dropped
              }
            }));
        pdu_conns.back()->Open(/*idle=*/true);
      }
    }
  };
  const std::uint64_t deadline = NowNs() + ToNs(options.timeout_s);
  const bool all = RunUntil(
      loop, deadline,
      [&] {
        return (ready + static_cast<int>(errors) >= options.conns && in_flight <= 0) ||
               !stats.tls.failure.empty();
      },
      open_more);
  if (!stats.tls.failure.empty()) {
    PrintError("idle", stats.tls.failure);
    return 1;
  }
  // Let the server finish accepting and settle, then read its memory.
  RunUntil(
      loop, NowNs() + ToNs(options.settle_s), [] { return false; }, [] {});
  const long rss_after = ReadStatusKb(options.server_pid, "VmRSS:");
  const long fds_after = CountOpenFds(options.server_pid);
  const double per_conn =
      ready > 0 ? static_cast<double>(rss_after - rss_before) * 1024.0 / ready : 0;
  ResultLine line(options, "idle");
  line.Add("kind", options.kind)
      .Add("conns", ready)
      .Add("errors", errors)
      .Add("rss_before_kb", rss_before)
      .Add("rss_after_kb", rss_after)
      .Add("server_fds_added", fds_after - fds_before)
      .AddFixed("bytes_per_conn", per_conn, 0);
  if (tls) {
    line.Add("tls_version", stats.tls.version)
        .Add("full_total", stats.tls.full_total)
        .Add("reused_total", stats.tls.reused_total);
  }
  RunUntil(
      loop, NowNs() + ToNs(options.hold_s), [] { return false; }, [] {});
  http_conns.clear();
  pdu_conns.clear();
  RunUntil(
      loop, NowNs() + ToNs(options.settle_s), [] { return false; }, [] {});
  line.Add("rss_after_close_kb", ReadStatusKb(options.server_pid, "VmRSS:"));
  line.Print();
  std::fprintf(stderr,
               "idle %s%s: %d connections held (%llu errors); server RSS %ld -> %ld kB: %.0f bytes "
               "per connection; %ld descriptors added\n",
               options.kind.c_str(), tls ? " over TLS" : "", ready,
               static_cast<unsigned long long>(errors), rss_before, rss_after, per_conn,
               fds_after - fds_before);
  return all && errors == 0 ? 0 : 1;
}

int RunHold(const Options& options) {
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  EventLoop loop;
  const std::string empty_chunk(1, '\0');
  MsgServerConn conn(loop, MakeAddress(options.host, options.ms_port), &empty_chunk,
                     "the msg_server");
  if (!conn.Open()) {
    PrintError("hold", conn.error());
    return 1;
  }
  conn.Queue(ServInfoPdu("10.0.0.1", 8000, 0, 100000, "msg_server_1"));
  const std::string heartbeat_pdu = peer::HeartbeatPdu();
  const std::uint64_t end = NowNs() + ToNs(options.max_seconds);
  std::uint64_t next_heartbeat = NowNs() + kHeartbeatIntervalNs;
  std::printf("RESULT scenario=hold status=registered\n");
  std::fflush(stdout);
  RunUntil(
      loop, end, [&] { return conn.failed(); },
      [&] {
        if (NowNs() >= next_heartbeat) {
          conn.Queue(heartbeat_pdu);
          next_heartbeat += kHeartbeatIntervalNs;
        }
      });
  if (conn.failed()) {
    PrintError("hold", conn.error());
    return 1;
  }
  return 0;
}

}  // namespace ttlogin::tools::loadgen
