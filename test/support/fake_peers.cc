#include "test/support/fake_peers.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "IM.Login.pb.h"
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
