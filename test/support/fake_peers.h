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
#include "tools/common/msg_server_client.h"
#include "tools/common/peer_pdu.h"
#include "tools/common/tcp_peer.h"

namespace ttlogin::test {

using std::chrono::milliseconds;
inline constexpr milliseconds kDefaultWait{3000};

// A blocking loopback connection whose every wait is bounded (tools/common/tcp_peer.h).
using TcpClient = peer::TcpPeer;

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

using peer::Pdu;

// Reads one whole PDU.
inline std::optional<Pdu> ReadPdu(TcpClient& conn, milliseconds timeout = kDefaultWait) {
  return conn.ReadPdu(timeout);
}

using MsgServerFields = peer::MsgServerInfo;
using peer::HeartbeatPdu;
using peer::MsgServReqPdu;
using peer::ServInfoPdu;
using peer::UserCntUpdatePdu;

// A msg_server for tests (tools/common/msg_server_client.h), answering in bools for ASSERT_TRUE.
class FakeMsgServer {
 public:
  explicit FakeMsgServer(std::uint16_t port) : client_(port) {}
  // From another loopback address (see TcpClient::Connect).
  FakeMsgServer(std::uint16_t port, const std::string& source) : client_(port, source) {}
  bool connected() const { return client_.connected(); }
  bool Register(const MsgServerFields& fields) { return client_.Register(fields).ok(); }
  bool Inc(int n = 1, std::uint32_t first_user = 1) { return client_.Inc(n, first_user).ok(); }
  bool Dec(int n = 1, std::uint32_t first_user = 1) { return client_.Dec(n, first_user).ok(); }
  bool Heartbeat() { return client_.Heartbeat().ok(); }
  TcpClient& conn() { return client_.socket(); }
  peer::MsgServerClient& client() { return client_; }

 private:
  peer::MsgServerClient client_;
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
