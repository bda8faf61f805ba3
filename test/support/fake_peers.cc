#include "test/support/fake_peers.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "IM.Login.pb.h"
#include "IM.Other.pb.h"
#include "IM.Server.pb.h"
#include "common/protocol.h"

namespace ttlogin::test {
namespace {

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

}  // namespace

LoopbackListener::LoopbackListener() {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd_, 8) != 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "cannot listen on a loopback port: " << std::strerror(errno);
    return;
  }
  port_ = ntohs(addr.sin_port);
}

LoopbackListener::~LoopbackListener() {
  if (fd_ >= 0) close(fd_);
}

int LoopbackListener::Accept(milliseconds timeout) {
  if (fd_ < 0) return -1;
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return -1;
  return accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
}

TcpClient::~TcpClient() {
  Close();
}

TcpClient& TcpClient::operator=(TcpClient&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

bool TcpClient::Connect(std::uint16_t port) {
  return Connect(port, std::string());
}

bool TcpClient::Connect(std::uint16_t port, const std::string& source) {
  Close();
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return false;
  if (!source.empty()) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (inet_pton(AF_INET, source.c_str(), &from.sin_addr) != 1 ||
        bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      Close();
      return false;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    Close();
    return false;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return true;
}

bool TcpClient::Send(std::string_view bytes) {
  if (fd_ < 0) return false;
  while (!bytes.empty()) {
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::optional<std::string> TcpClient::ReadExact(std::size_t n, milliseconds timeout) {
  if (fd_ < 0) return std::nullopt;
  const auto deadline = Clock::now() + timeout;
  std::string out;
  out.resize(n);
  std::size_t got = 0;
  while (got < n) {
    pollfd p{fd_, POLLIN, 0};
    const int r = poll(&p, 1, RemainingMs(deadline));
    if (r <= 0) return std::nullopt;
    const ssize_t k = recv(fd_, out.data() + got, n - got, 0);
    if (k <= 0) return std::nullopt;
    got += static_cast<std::size_t>(k);
  }
  return out;
}

std::string TcpClient::ReadUntilClose(milliseconds timeout, bool* closed) {
  std::string out;
  if (closed != nullptr) *closed = false;
  if (fd_ < 0) return out;
  const auto deadline = Clock::now() + timeout;
  char buf[16384];
  while (true) {
    pollfd p{fd_, POLLIN, 0};
    const int r = poll(&p, 1, RemainingMs(deadline));
    if (r <= 0) return out;
    const ssize_t k = recv(fd_, buf, sizeof buf, 0);
    if (k <= 0) {
      if (closed != nullptr) *closed = true;
      return out;
    }
    out.append(buf, static_cast<std::size_t>(k));
  }
}

bool TcpClient::WaitClosed(milliseconds timeout) {
  bool closed = false;
  ReadUntilClose(timeout, &closed);
  return closed;
}

void TcpClient::Reset() {
  if (fd_ < 0) return;
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  Close();
}

void TcpClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::optional<Pdu> ReadPdu(TcpClient& conn, milliseconds timeout) {
  const auto head = conn.ReadExact(common::kPduHeaderSize, timeout);
  if (!head) return std::nullopt;
  Pdu pdu;
  pdu.header = common::DecodePduHeader(std::span<const std::uint8_t, common::kPduHeaderSize>(
      reinterpret_cast<const std::uint8_t*>(head->data()), common::kPduHeaderSize));
  if (pdu.header.length < common::kPduHeaderSize) return std::nullopt;
  const std::size_t body_size = pdu.header.length - common::kPduHeaderSize;
  if (body_size > 0) {
    auto body = conn.ReadExact(body_size, timeout);
    if (!body) return std::nullopt;
    pdu.body = std::move(*body);
  }
  return pdu;
}

std::string ServInfoPdu(const MsgServerFields& f) {
  IM::Server::IMMsgServInfo msg;
  msg.set_ip1(f.ip1);
  msg.set_ip2(f.ip2);
  msg.set_port(f.port);
  msg.set_max_conn_cnt(f.max_conn_cnt);
  msg.set_cur_conn_cnt(f.cur_conn_cnt);
  msg.set_host_name(f.host_name);
  return common::MakePdu(common::kSidOther, common::kCidOtherMsgServInfo, 0, msg);
}

std::string UserCntUpdatePdu(std::uint32_t action, std::uint32_t user_id) {
  IM::Server::IMUserCntUpdate msg;
  msg.set_user_action(action);
  msg.set_user_id(user_id);
  return common::MakePdu(common::kSidOther, common::kCidOtherUserCntUpdate, 0, msg);
}

std::string HeartbeatPdu() {
  return common::MakePdu(common::kSidOther, common::kCidOtherHeartbeat, 0,
                         IM::Other::IMHeartBeat{});
}

std::string MsgServReqPdu(std::uint16_t seq) {
  return common::MakePdu(common::kSidLogin, common::kCidLoginReqMsgServer, seq,
                         IM::Login::IMMsgServReq{});
}

bool FakeMsgServer::Inc(int n, std::uint32_t first_user) {
  std::string bytes;
  for (int i = 0; i < n; ++i) {
    bytes += UserCntUpdatePdu(common::kUserActionInc, first_user + static_cast<std::uint32_t>(i));
  }
  return conn_.Send(bytes);
}

bool FakeMsgServer::Dec(int n, std::uint32_t first_user) {
  std::string bytes;
  for (int i = 0; i < n; ++i) {
    bytes += UserCntUpdatePdu(common::kUserActionDec, first_user + static_cast<std::uint32_t>(i));
  }
  return conn_.Send(bytes);
}

std::optional<MsgServChoice> AskClientPort(std::uint16_t port, std::uint16_t seq,
                                           bool* closed_after) {
  TcpClient conn(port);
  if (!conn.connected() || !conn.Send(MsgServReqPdu(seq))) return std::nullopt;
  const auto pdu = ReadPdu(conn);
  if (!pdu) return std::nullopt;
  IM::Login::IMMsgServRsp rsp;
  if (!rsp.ParseFromString(pdu->body)) return std::nullopt;
  MsgServChoice c;
  c.header = pdu->header;
  c.result_code = static_cast<std::uint32_t>(rsp.result_code());
  c.prior_ip = rsp.prior_ip();
  c.backip_ip = rsp.backip_ip();
  c.port = rsp.port();
  if (closed_after != nullptr) *closed_after = conn.WaitClosed();
  return c;
}

std::optional<HttpResponse> ParseHttpResponse(std::string_view raw, std::size_t* consumed) {
  const std::size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return std::nullopt;
  HttpResponse r;
  std::string_view head = raw.substr(0, head_end);
  const std::size_t first_eol = head.find("\r\n");
  const std::string_view status_line = head.substr(0, first_eol);
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/") return std::nullopt;
  r.status = std::stoi(std::string(status_line.substr(9, 3)));
  std::string_view rest =
      first_eol == std::string_view::npos ? std::string_view{} : head.substr(first_eol + 2);
  while (!rest.empty()) {
    const std::size_t eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string name(line.substr(0, colon));
      for (char& ch : name)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
      r.headers[name] = std::string(value);
    }
    if (eol == std::string_view::npos) break;
    rest = rest.substr(eol + 2);
  }
  std::size_t length = 0;
  if (auto it = r.headers.find("content-length"); it != r.headers.end()) {
    length = std::stoul(it->second);
  }
  const std::size_t body_start = head_end + 4;
  if (raw.size() < body_start + length) return std::nullopt;
  r.body = std::string(raw.substr(body_start, length));
  if (consumed != nullptr) *consumed = body_start + length;
  return r;
}

std::optional<HttpResponse> ReadHttpResponse(TcpClient& conn, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string raw;
  while (Clock::now() < deadline) {
    std::size_t consumed = 0;
    if (auto r = ParseHttpResponse(raw, &consumed)) return r;
    pollfd p{conn.fd(), POLLIN, 0};
    if (poll(&p, 1, RemainingMs(deadline)) <= 0) return std::nullopt;
    // Read one byte at a time so that bytes of a following pipelined response stay queued.
    char c;
    if (recv(conn.fd(), &c, 1, 0) <= 0) {
      std::size_t used = 0;
      return ParseHttpResponse(raw, &used);
    }
    raw += c;
  }
  return std::nullopt;
}

std::optional<HttpResponse> HttpRequest(std::uint16_t port, std::string_view request,
                                        milliseconds timeout) {
  TcpClient conn(port);
  if (!conn.connected() || !conn.Send(request)) return std::nullopt;
  return ReadHttpResponse(conn, timeout);
}

std::optional<HttpResponse> HttpGetMsgServer(std::uint16_t port) {
  return HttpRequest(port,
                     "GET /msg_server HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

bool Eventually(const std::function<bool()>& predicate, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (predicate()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
}

}  // namespace ttlogin::test
