// TcpPeer: one blocking loopback TCP connection to a login server, owned for its lifetime, with
// every operation bounded by a timeout. The base of the fake peers in tests and of the blocking
// tools; event-loop tools keep their own sockets and use socket_io.h directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tools/common/socket_io.h"

namespace ttlogin::peer {

// Long enough for a loaded machine, short enough that a stuck server fails the caller quickly.
inline constexpr milliseconds kDefaultConnectWait{3000};
inline constexpr milliseconds kDefaultReadWait{3000};
// Writes wait longer: a flood of PDUs may outrun a busy server for a while before it catches up.
inline constexpr milliseconds kDefaultSendWait{10000};

class TcpPeer {
 public:
  TcpPeer() = default;
  explicit TcpPeer(std::uint16_t port) { (void)Connect(port); }
  ~TcpPeer() { Close(); }
  TcpPeer(TcpPeer&& other) noexcept : fd_(other.fd_), last_(other.last_) { other.fd_ = -1; }
  TcpPeer& operator=(TcpPeer&& other) noexcept;
  TcpPeer(const TcpPeer&) = delete;
  TcpPeer& operator=(const TcpPeer&) = delete;

  // Connects to 127.0.0.1:port, from `source` (another loopback address such as "127.0.0.2":
  // Linux routes all of 127.0.0.0/8 to lo) to play a peer on a different host.
  bool Connect(std::uint16_t port, std::string_view source = {},
               milliseconds timeout = kDefaultConnectWait);
  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // Why the last operation that failed did (connect, send, read).
  const IoResult& last_result() const { return last_; }

  bool Send(std::string_view bytes, milliseconds timeout = kDefaultSendWait);
  // Exactly n bytes; nullopt on timeout or close.
  std::optional<std::string> ReadExact(std::size_t n, milliseconds timeout = kDefaultReadWait);
  // One whole PDU; nullopt on timeout, close or a bad length.
  std::optional<Pdu> ReadPdu(milliseconds timeout = kDefaultReadWait);
  // Whatever arrives until the peer closes (or the timeout); `closed` tells which.
  std::string ReadUntilClose(milliseconds timeout, bool* closed = nullptr);
  // True when the peer closes (EOF or reset) within `timeout`; data arriving meanwhile is dropped.
  bool WaitClosed(milliseconds timeout = kDefaultReadWait);
  // Closes with RST instead of FIN.
  void Reset();
  void Close();

 private:
  bool Record(IoResult r) {
    last_ = r;
    return r.ok();
  }

  int fd_ = -1;
  IoResult last_;
};

}  // namespace ttlogin::peer
