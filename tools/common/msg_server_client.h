// MsgServerClient: a msg_server as a login server sees one, over one blocking connection.
// Connect, register (IMMsgServInfo), report users coming and going (IMUserCntUpdate), heartbeat,
// and read what the login server sends back (its heartbeats). The fake msg_servers of the tests
// and the blocking load tools are built on it; each keeps only its own policy (when to send what).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/frame_decoder.h"
#include "tools/common/peer_pdu.h"
#include "tools/common/tcp_peer.h"

namespace ttlogin::peer {

class MsgServerClient {
 public:
  MsgServerClient() = default;
  explicit MsgServerClient(std::uint16_t port, std::string_view source = {}) {
    (void)Connect(port, source);
  }

  [[nodiscard]] IoResult Connect(std::uint16_t port, std::string_view source = {},
                                 milliseconds timeout = kDefaultConnectWait);
  bool connected() const { return socket_.connected(); }
  // Bound on each write (a registration, a batch); a server that takes nothing for this long
  // fails the write with kTimeout.
  void set_send_timeout(milliseconds timeout) { send_timeout_ = timeout; }

  [[nodiscard]] IoResult Register(const MsgServerInfo& info);
  // `n` updates for users first_user, first_user + 1, ... in one write.
  [[nodiscard]] IoResult Inc(int n = 1, std::uint32_t first_user = 1);
  [[nodiscard]] IoResult Dec(int n = 1, std::uint32_t first_user = 1);
  [[nodiscard]] IoResult Heartbeat();
  // Any prepared bytes (a batch of PDUs built with peer_pdu.h).
  [[nodiscard]] IoResult Send(std::string_view bytes);

  enum class OnHeartbeat { kIgnore, kAnswer };
  // Reads what the login server has sent so far without waiting, counting its heartbeats and,
  // with kAnswer, answering each with one. kClosed once the server has closed the connection;
  // kError with EBADMSG if it sent something that is not a PDU stream.
  [[nodiscard]] IoResult ReadInput(OnHeartbeat on_heartbeat = OnHeartbeat::kIgnore);
  std::uint64_t heartbeats_received() const { return heartbeats_received_; }

  void Close() { socket_.Close(); }
  TcpPeer& socket() { return socket_; }

 private:
  [[nodiscard]] IoResult SendUpdates(std::uint32_t action, int n, std::uint32_t first_user);

  TcpPeer socket_;
  common::FrameDecoder decoder_;
  std::uint64_t heartbeats_received_ = 0;
  std::string batch_;  // reused for update batches
  milliseconds send_timeout_ = kDefaultSendWait;
};

}  // namespace ttlogin::peer
