#include "tools/common/socket_io.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ttlogin::peer {
namespace {

// Rounded up: poll() must not give up before the deadline has really passed.
int RemainingMs(Deadline deadline) {
  const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

bool IsClosedErrno(int e) {
  return e == ECONNREFUSED || e == ECONNRESET || e == EPIPE || e == ENOTCONN;
}

IoResult FromErrno(int e) {
  return {IsClosedErrno(e) ? IoStatus::kClosed : IoStatus::kError, e};
}

// Waits until `fd` is ready for `events`; kTimeout when the deadline passes first.
IoResult WaitFor(int fd, short events, Deadline deadline) {
  while (true) {
    pollfd p{fd, events, 0};
    const int r = poll(&p, 1, RemainingMs(deadline));
    if (r > 0) return {};
    if (r == 0) return {IoStatus::kTimeout, 0};
    if (errno != EINTR) return {IoStatus::kError, errno};
  }
}

}  // namespace

std::string IoResult::Describe() const {
  switch (status) {
    case IoStatus::kOk:
      return "ok";
    case IoStatus::kTimeout:
      return "no progress before the deadline";
    case IoStatus::kClosed:
      return error_number == 0 ? "the peer closed the connection"
                               : std::string("the peer closed the connection (") +
                                     std::strerror(error_number) + ")";
    case IoStatus::kError:
      return std::strerror(error_number);
  }
  return "unknown";
}

IoResult ConnectLoopback(std::uint16_t port, milliseconds timeout, int& fd,
                         std::string_view source) {
  fd = -1;
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return {IoStatus::kError, errno};
  auto fail = [s](IoResult r) {
    close(s);
    return r;
  };
  if (!source.empty()) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    const std::string text(source);
    if (inet_pton(AF_INET, text.c_str(), &from.sin_addr) != 1) {
      return fail({IoStatus::kError, EINVAL});
    }
    if (bind(s, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      return fail({IoStatus::kError, errno});
    }
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    if (errno != EINPROGRESS) return fail(FromErrno(errno));
    if (IoResult r = WaitFor(s, POLLOUT, DeadlineIn(timeout)); !r.ok()) return fail(r);
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
      return fail({IoStatus::kError, errno});
    if (err != 0) return fail(FromErrno(err));
  }
  // Blocking from here on: the functions below never block in the kernel anyway (MSG_DONTWAIT), and
  // callers that read on their own expect an ordinary socket.
  fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
  const int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fd = s;
  return {};
}

IoResult SendSome(int fd, std::string_view bytes, std::size_t& sent) {
  sent = 0;
  while (true) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      sent = static_cast<std::size_t>(n);
      return {};
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
    return FromErrno(errno);
  }
}

IoResult SendAll(int fd, std::string_view bytes, Deadline deadline) {
  while (!bytes.empty()) {
    std::size_t sent = 0;
    if (IoResult r = SendSome(fd, bytes, sent); !r.ok()) return r;
    if (sent == 0) {
      if (IoResult r = WaitFor(fd, POLLOUT, deadline); !r.ok()) return r;
      continue;
    }
    bytes.remove_prefix(sent);
  }
  return {};
}

IoResult ReadSome(int fd, char* out, std::size_t size, Deadline deadline, std::size_t& got) {
  got = 0;
  while (true) {
    const ssize_t n = recv(fd, out, size, MSG_DONTWAIT);
    if (n > 0) {
      got = static_cast<std::size_t>(n);
      return {};
    }
    if (n == 0) return {IoStatus::kClosed, 0};
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return FromErrno(errno);
    if (IoResult r = WaitFor(fd, POLLIN, deadline); !r.ok()) return r;
  }
}

IoResult ReadExact(int fd, char* out, std::size_t size, Deadline deadline) {
  std::size_t done = 0;
  while (done < size) {
    std::size_t got = 0;
    if (IoResult r = ReadSome(fd, out + done, size - done, deadline, got); !r.ok()) return r;
    done += got;
  }
  return {};
}

IoResult ReadPdu(int fd, Pdu& out, Deadline deadline, std::uint32_t max_pdu_size) {
  std::uint8_t head[common::kPduHeaderSize];
  if (IoResult r = ReadExact(fd, reinterpret_cast<char*>(head), sizeof head, deadline); !r.ok()) {
    return r;
  }
  out.header = common::DecodePduHeader(head);
  if (out.header.length < common::kPduHeaderSize || out.header.length > max_pdu_size) {
    return {IoStatus::kError, EBADMSG};
  }
  out.body.resize(out.header.length - common::kPduHeaderSize);
  return ReadExact(fd, out.body.data(), out.body.size(), deadline);
}

IoResult DiscardInput(int fd) {
  char buf[4096];
  while (true) {
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0) return {IoStatus::kClosed, 0};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
    return FromErrno(errno);
  }
}

}  // namespace ttlogin::peer
