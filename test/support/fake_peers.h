// Fake peers for integration tests: a msg_server, a PDU client and an HTTP client, over loopback
// with blocking POSIX sockets. Every wait is bounded by a timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/pdu_header.h"

namespace ttlogin::test {

using std::chrono::milliseconds;
inline constexpr milliseconds kDefaultWait{3000};

class TcpClient {
 public:
  TcpClient() = default;
  explicit TcpClient(std::uint16_t port) { Connect(port); }
  ~TcpClient();
  TcpClient(TcpClient&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  TcpClient& operator=(TcpClient&& other) noexcept;
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  bool Connect(std::uint16_t port);
  // Connects from `source`, another loopback address such as "127.0.0.2" (Linux routes all of
  // 127.0.0.0/8 to lo), to play a peer on a different host.
  bool Connect(std::uint16_t port, const std::string& source);
  bool connected() const { return fd_ >= 0; }
  bool Send(std::string_view bytes);
  // Reads exactly n bytes; nullopt on timeout or close.
  std::optional<std::string> ReadExact(std::size_t n, milliseconds timeout = kDefaultWait);
  // Reads whatever arrives until the peer closes (or timeout); `closed` tells which.
  std::string ReadUntilClose(milliseconds timeout, bool* closed = nullptr);
  // True when the peer closes (EOF or reset) within `timeout`; data arriving meanwhile is dropped.
  bool WaitClosed(milliseconds timeout = kDefaultWait);
  // Closes with RST instead of FIN.
  void Reset();
  void Close();
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// A listening socket on an ephemeral loopback port, held for its lifetime: a fake upstream, or a
// port known to be busy. A socket that cannot be set up fails the test that made it (port() 0).
class LoopbackListener {
 public:
  LoopbackListener();
  ~LoopbackListener();
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;

  std::uint16_t port() const { return port_; }
  // One connection, or -1 when none arrives within `timeout`. The caller closes it.
  int Accept(milliseconds timeout = kDefaultWait);

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

struct Pdu {
  common::PduHeader header;
  std::string body;
};

// Reads one whole PDU.
std::optional<Pdu> ReadPdu(TcpClient& conn, milliseconds timeout = kDefaultWait);

struct MsgServerFields {
  std::string ip1 = "10.0.0.1";
  std::string ip2 = "10.0.1.1";
  std::uint32_t port = 8000;
  std::uint32_t max_conn_cnt = 1000;
  std::uint32_t cur_conn_cnt = 0;
  std::string host_name = "msg-a";
};

std::string ServInfoPdu(const MsgServerFields& fields);
std::string UserCntUpdatePdu(std::uint32_t action, std::uint32_t user_id);
std::string HeartbeatPdu();
std::string MsgServReqPdu(std::uint16_t seq);

class FakeMsgServer {
 public:
  explicit FakeMsgServer(std::uint16_t port) : conn_(port) {}
  // From another loopback address (see TcpClient::Connect).
  FakeMsgServer(std::uint16_t port, const std::string& source) { conn_.Connect(port, source); }
  bool connected() const { return conn_.connected(); }
  bool Register(const MsgServerFields& fields) { return conn_.Send(ServInfoPdu(fields)); }
  bool Inc(int n = 1, std::uint32_t first_user = 1);
  bool Dec(int n = 1, std::uint32_t first_user = 1);
  bool Heartbeat() { return conn_.Send(HeartbeatPdu()); }
  TcpClient& conn() { return conn_; }

 private:
  TcpClient conn_;
};

struct MsgServChoice {
  common::PduHeader header;
  std::uint32_t result_code = 99;
  std::string prior_ip;
  std::string backip_ip;
  std::uint32_t port = 0;
};

// Asks over the Client port: sends a request with `seq`, reads the reply, and reports whether the
// server closed the connection afterwards.
std::optional<MsgServChoice> AskClientPort(std::uint16_t port, std::uint16_t seq = 7,
                                           bool* closed_after = nullptr);

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// Parses one response from the start of `raw`; `consumed` is set to its length.
std::optional<HttpResponse> ParseHttpResponse(std::string_view raw, std::size_t* consumed);

// Sends `request` on a fresh connection and reads one response.
std::optional<HttpResponse> HttpRequest(std::uint16_t port, std::string_view request,
                                        milliseconds timeout = kDefaultWait);
// GET /msg_server with Connection: close.
std::optional<HttpResponse> HttpGetMsgServer(std::uint16_t port);
// Reads one response from an open connection (keep-alive tests).
std::optional<HttpResponse> ReadHttpResponse(TcpClient& conn, milliseconds timeout = kDefaultWait);

// Polls `predicate` until it holds or `timeout` passes.
bool Eventually(const std::function<bool()>& predicate, milliseconds timeout = kDefaultWait);

}  // namespace ttlogin::test
