// HandoverChannel: one end of the Unix socket over which a running login_server hands its
// listeners and connections to the binary replacing it.
//
// A message is any number of bytes plus any number of file descriptors. The kernel bounds one
// sendmsg() to SCM_MAX_FD (253) descriptors and the socket buffer bounds its bytes, so a message
// travels as a sequence of records on an AF_UNIX SOCK_SEQPACKET socket (which keeps record
// boundaries and never reorders). Each record opens with a fixed header (docs/ARCHITECTURE.md,
// "The handover channel") naming its message, its place in it, what it carries and what the
// whole message holds, so the receiver can tell a whole message from garbage, a truncated record,
// a record out of order or a peer that sends more than the receiver's limits, and say which,
// instead of trusting lengths; and so it can refuse an oversized message at its first record and
// size its buffers once.
//
// Blocking calls take a deadline: the peer is another process that may hang or die at any time,
// and the old process must then keep serving. One thread at a time uses a channel; the two
// directions keep separate message numbers, so each process may both send and receive.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/upgrade/unique_fd.h"

namespace ttlogin::server::upgrade {

// Per record. 250 stays under Linux's SCM_MAX_FD (253); 64 KiB of payload fits a default
// AF_UNIX send buffer (208 KiB) three times over, so a sender is rarely stalled by one record.
inline constexpr std::size_t kMaxFdsPerRecord = 250;
inline constexpr std::size_t kMaxRecordBytes = 64 * 1024;
inline constexpr std::size_t kRecordHeaderBytes = 32;
// "TTHO" read as a little-endian number, and the record format's version.
inline constexpr std::uint32_t kRecordMagic = 0x4f485454;
inline constexpr std::uint16_t kRecordFormatVersion = 1;
inline constexpr std::uint16_t kRecordFlagLast = 1;

// What a receiver accepts in one message; a peer that claims or sends more is an error, and the
// receiver never holds more than these (plus one record's buffer).
struct HandoverLimits {
  std::size_t max_bytes = std::size_t{64} << 20;
  std::size_t max_fds = std::size_t{1} << 20;
};

struct HandoverMessage {
  std::string bytes;
  std::vector<UniqueFd> fds;  // in the order the sender listed them
};

class HandoverChannel {
 public:
  // Receive()'s answer, word for word, when the peer closed its end between messages: a caller
  // reports it as "the new process exited" rather than as a protocol error.
  static constexpr std::string_view kPeerClosed = "the peer closed the handover channel";

  // A connected pair (socketpair, CLOEXEC on both ends). "" or the reason.
  [[nodiscard]] static std::string Pair(HandoverChannel& a, HandoverChannel& b);

  explicit HandoverChannel(UniqueFd fd = {});
  HandoverChannel(HandoverChannel&&) noexcept = default;
  HandoverChannel& operator=(HandoverChannel&&) noexcept = default;

  // Sends one message; each descriptor is duplicated into the peer by the kernel (the sender
  // keeps its own). Blocks at most until `deadline`. "" or the reason. A failure after the first
  // record leaves the peer a partial message, so the channel is then broken for good.
  [[nodiscard]] std::string Send(std::string_view bytes, std::span<const int> fds,
                                 std::chrono::steady_clock::time_point deadline);

  // Receives one whole message into `out` (replacing its contents). Room for the message's
  // descriptors is made in one step at its first record: growing the descriptor table a doubling
  // at a time costs an RCU grace period per doubling in a threaded process (measured: 11,000
  // descriptors took 80-110 ms that way, 12-28 ms with one step). "" or the reason: the peer
  // closed (kPeerClosed between messages; a longer text naming the record in the middle of one),
  // timeout, bad magic or version, a short or inconsistent record, a record out of order, over
  // `limits`, descriptors truncated by the kernel. Never blocks past `deadline`; never holds more
  // than `limits`. Descriptors arrive close-on-exec. Any failure except a timeout before the
  // first record of a message breaks the channel for good (every later call fails with the same
  // reason), and every descriptor received for the failed message is closed.
  [[nodiscard]] std::string Receive(HandoverMessage& out,
                                    std::chrono::steady_clock::time_point deadline,
                                    const HandoverLimits& limits = {});

  int fd() const { return fd_.get(); }
  // Whether the peer closed its end (seen by Send or Receive).
  bool peer_closed() const { return peer_closed_; }
  // Why the channel is broken, or "" while it is usable.
  const std::string& broken() const { return broken_; }
  // Gives up the socket, e.g. to pass it to a child process.
  UniqueFd Release() { return std::move(fd_); }

 private:
  std::string Break(std::string reason);

  UniqueFd fd_;
  std::uint32_t send_sequence_ = 0;
  std::uint32_t receive_sequence_ = 0;
  bool peer_closed_ = false;
  std::string broken_;
  std::vector<char> record_buffer_;  // one record's payload; allocated at the first Receive
};

}  // namespace ttlogin::server::upgrade
