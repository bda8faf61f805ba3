// Blocking socket work with a deadline, shared by every tool and test that talks to a login
// server: connect to a loopback port, write all of a buffer, read an exact count or one PDU, and
// discard what a peer sent meanwhile. Every wait is bounded, so a paused or dead server makes the
// caller fail with a reason instead of hanging. Works on blocking and non-blocking descriptors
// alike: each call uses MSG_DONTWAIT and poll() for the waiting.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/pdu_header.h"

namespace ttlogin::peer {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
using std::chrono::milliseconds;

inline Deadline DeadlineIn(milliseconds timeout) {
  return Clock::now() + timeout;
}

enum class IoStatus {
  kOk,
  kTimeout,  // the deadline passed first
  kClosed,   // the peer closed (EOF), or refused or reset the connection
  kError,    // any other system error; IoResult::error_number says which
};

struct IoResult {
  IoStatus status = IoStatus::kOk;
  int error_number = 0;  // errno of kClosed (ECONNREFUSED, ECONNRESET, EPIPE) and kError

  bool ok() const { return status == IoStatus::kOk; }
  // "the peer closed the connection", "no progress before the deadline", "connect: <strerror>".
  std::string Describe() const;
};

// Connects to 127.0.0.1:`port` (from `source`, another loopback address such as "127.0.0.2", when
// given) within `timeout`. On success `fd` holds a blocking socket with TCP_NODELAY that the
// caller closes; on failure `fd` is -1.
[[nodiscard]] IoResult ConnectLoopback(std::uint16_t port, milliseconds timeout, int& fd,
                                       std::string_view source = {});

// Writes what the socket takes now, without waiting (for event loops): kOk with `sent` set, which
// is 0 when the socket buffer is full; kClosed or kError when the connection is gone.
[[nodiscard]] IoResult SendSome(int fd, std::string_view bytes, std::size_t& sent);

// Writes all of `bytes`, through EINTR, partial writes and a full socket buffer (waiting for room
// with poll), unless the deadline passes or the peer goes away first.
[[nodiscard]] IoResult SendAll(int fd, std::string_view bytes, Deadline deadline);

// Reads exactly `size` bytes into `out`.
[[nodiscard]] IoResult ReadExact(int fd, char* out, std::size_t size, Deadline deadline);

// Reads whatever arrives before the deadline, up to `size` bytes, at least one: kOk with `got` set,
// kClosed at EOF.
[[nodiscard]] IoResult ReadSome(int fd, char* out, std::size_t size, Deadline deadline,
                                std::size_t& got);

struct Pdu {
  common::PduHeader header;
  std::string body;
};

// Reads one whole PDU. A length below the header size or above `max_pdu_size` is kError with
// EBADMSG: the stream cannot be trusted after it.
[[nodiscard]] IoResult ReadPdu(int fd, Pdu& out, Deadline deadline,
                               std::uint32_t max_pdu_size = common::kDefaultMaxPduSize);

// Reads and drops what is already waiting (a login server's heartbeats) without blocking: kOk while
// the connection is open, kClosed once the peer has closed it.
[[nodiscard]] IoResult DiscardInput(int fd);

}  // namespace ttlogin::peer
