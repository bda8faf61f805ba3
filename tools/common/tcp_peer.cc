#include "tools/common/tcp_peer.h"

#include <sys/socket.h>
#include <unistd.h>

namespace ttlogin::peer {

TcpPeer& TcpPeer::operator=(TcpPeer&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = other.fd_;
    last_ = other.last_;
    other.fd_ = -1;
  }
  return *this;
}

bool TcpPeer::Connect(std::uint16_t port, std::string_view source, milliseconds timeout) {
  Close();
  return Record(ConnectLoopback(port, timeout, fd_, source));
}

bool TcpPeer::Send(std::string_view bytes, milliseconds timeout) {
  if (fd_ < 0) return Record({IoStatus::kClosed, 0});
  return Record(SendAll(fd_, bytes, DeadlineIn(timeout)));
}

std::optional<std::string> TcpPeer::ReadExact(std::size_t n, milliseconds timeout) {
  if (fd_ < 0) return std::nullopt;
  std::string out(n, '\0');
  if (!Record(peer::ReadExact(fd_, out.data(), n, DeadlineIn(timeout)))) return std::nullopt;
  return out;
}

std::optional<Pdu> TcpPeer::ReadPdu(milliseconds timeout) {
  if (fd_ < 0) return std::nullopt;
  Pdu pdu;
  if (!Record(peer::ReadPdu(fd_, pdu, DeadlineIn(timeout)))) return std::nullopt;
  return pdu;
}

std::string TcpPeer::ReadUntilClose(milliseconds timeout, bool* closed) {
  std::string out;
  if (closed != nullptr) *closed = false;
  if (fd_ < 0) return out;
  const Deadline deadline = DeadlineIn(timeout);
  char buf[16384];
  while (true) {
    std::size_t got = 0;
    const IoResult r = ReadSome(fd_, buf, sizeof buf, deadline, got);
    if (!r.ok()) {
      // EOF and reset both mean the peer is gone; only the deadline leaves the question open.
      if (closed != nullptr) *closed = r.status != IoStatus::kTimeout;
      return out;
    }
    out.append(buf, got);
  }
}

bool TcpPeer::WaitClosed(milliseconds timeout) {
  bool closed = false;
  ReadUntilClose(timeout, &closed);
  return closed;
}

void TcpPeer::Reset() {
  if (fd_ < 0) return;
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  Close();
}

void TcpPeer::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace ttlogin::peer
