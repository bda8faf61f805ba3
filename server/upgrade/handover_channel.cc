#include "server/upgrade/handover_channel.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <utility>

namespace ttlogin::server::upgrade {
namespace {

using Clock = std::chrono::steady_clock;

// A send that the kernel refuses for too many descriptors in flight (ETOOMANYREFS: the user's
// in-flight count is over RLIMIT_NOFILE) has no readiness event to wait for; it clears as the
// peer reads, so the sender retries after this pause, until its deadline.
constexpr std::chrono::milliseconds kInFlightRetryPause{1};

constexpr std::string_view kTimedOut = "timed out waiting for the handover peer";

std::string ErrnoText(std::string_view what, int err) {
  std::string text(what);
  text += ": ";
  text += std::strerror(err);
  return text;
}

// The milliseconds poll() may wait, rounded up so a wait never ends a fraction early; 0 once
// the deadline has passed.
int PollTimeout(Clock::time_point deadline) {
  const auto now = Clock::now();
  if (now >= deadline) return 0;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
  return static_cast<int>(std::min<std::int64_t>(left, INT_MAX));
}

// Waits until `fd` has one of `events` (or an error or hang-up, which the following call then
// reports). "" when ready, kTimedOut, or the reason poll() failed. Once the deadline has passed
// it still looks once without waiting: what the peer has already sent is taken, not refused.
std::string WaitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const int timeout = PollTimeout(deadline);
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, timeout);
    if (n > 0) return "";
    if (n < 0 && errno != EINTR) return ErrnoText("poll on the handover channel", errno);
    if (timeout == 0 || Clock::now() >= deadline) return std::string(kTimedOut);
  }
}

void PutU16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}
void PutU32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint16_t GetU16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}
std::uint32_t GetU32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}

// The fixed header opening every record (docs/ARCHITECTURE.md, "The handover channel"); all
// numbers little-endian.
struct RecordHeader {
  std::uint32_t magic = kRecordMagic;
  std::uint16_t version = kRecordFormatVersion;
  std::uint16_t flags = 0;
  std::uint32_t message = 0;
  std::uint32_t index = 0;
  std::uint32_t payload_bytes = 0;
  std::uint32_t fd_count = 0;
  std::uint32_t message_bytes = 0;  // of the whole message, the same in each of its records
  std::uint32_t message_fds = 0;
};

void EncodeHeader(const RecordHeader& h, std::uint8_t* p) {
  PutU32(p, h.magic);
  PutU16(p + 4, h.version);
  PutU16(p + 6, h.flags);
  PutU32(p + 8, h.message);
  PutU32(p + 12, h.index);
  PutU32(p + 16, h.payload_bytes);
  PutU32(p + 20, h.fd_count);
  PutU32(p + 24, h.message_bytes);
  PutU32(p + 28, h.message_fds);
}

RecordHeader DecodeHeader(const std::uint8_t* p) {
  RecordHeader h;
  h.magic = GetU32(p);
  h.version = GetU16(p + 4);
  h.flags = GetU16(p + 6);
  h.message = GetU32(p + 8);
  h.index = GetU32(p + 12);
  h.payload_bytes = GetU32(p + 16);
  h.fd_count = GetU32(p + 20);
  h.message_bytes = GetU32(p + 24);
  h.message_fds = GetU32(p + 28);
  return h;
}

// Whether the peer has hung up, asked after a read of zero bytes: that is either the end of the
// stream or an empty record from a live peer, and only the hang-up tells them apart.
bool PeerHungUp(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP)) != 0;
}

// Makes room for `count` more descriptors in this process's table in one step (see Receive in
// the header for why). Asking for the lowest free slot at or above a high number grows the table
// to fit it, and F_DUPFD never replaces a descriptor another thread opened meanwhile. A failure
// (over RLIMIT_NOFILE) costs nothing: the kernel then grows the table as descriptors arrive, or
// reports that they do not fit.
void MakeRoomForDescriptors(int any_fd, std::size_t count) {
  const int lowest = ::fcntl(any_fd, F_DUPFD_CLOEXEC, 0);
  if (lowest < 0) return;
  ::close(lowest);
  if (count > static_cast<std::size_t>(INT_MAX - lowest)) return;
  const int probe = ::fcntl(any_fd, F_DUPFD_CLOEXEC, lowest + static_cast<int>(count));
  if (probe >= 0) ::close(probe);
}

std::string AfterRecord(std::uint32_t index) {
  return index == 0 ? "before its first record" : "after record " + std::to_string(index - 1);
}

}  // namespace

std::string HandoverChannel::Pair(HandoverChannel& a, HandoverChannel& b) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    return ErrnoText("cannot create the handover socket pair", errno);
  a = HandoverChannel(UniqueFd(fds[0]));
  b = HandoverChannel(UniqueFd(fds[1]));
  return "";
}

HandoverChannel::HandoverChannel(UniqueFd fd) : fd_(std::move(fd)) {}

std::string HandoverChannel::Break(std::string reason) {
  broken_ = reason;
  return reason;
}

std::string HandoverChannel::Send(std::string_view bytes, std::span<const int> fds,
                                  Clock::time_point deadline) {
  if (!broken_.empty()) return broken_;
  if (!fd_) return "the handover channel has no socket";
  const std::size_t records =
      std::max<std::size_t>({1, (bytes.size() + kMaxRecordBytes - 1) / kMaxRecordBytes,
                             (fds.size() + kMaxFdsPerRecord - 1) / kMaxFdsPerRecord});
  if (bytes.size() > UINT32_MAX || fds.size() > UINT32_MAX)
    return "a handover message of more than 4 GiB or 2^32 descriptors";

  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * kMaxFdsPerRecord)> control;
  for (std::size_t i = 0; i < records; ++i) {
    const std::string_view payload =
        bytes.substr(std::min(bytes.size(), i * kMaxRecordBytes), kMaxRecordBytes);
    const std::span<const int> record_fds = fds.subspan(
        std::min(fds.size(), i * kMaxFdsPerRecord),
        std::min(kMaxFdsPerRecord, fds.size() - std::min(fds.size(), i * kMaxFdsPerRecord)));

    RecordHeader h;
    h.flags = i + 1 == records ? kRecordFlagLast : 0;
    h.message = send_sequence_;
    h.index = static_cast<std::uint32_t>(i);
    h.payload_bytes = static_cast<std::uint32_t>(payload.size());
    h.fd_count = static_cast<std::uint32_t>(record_fds.size());
    h.message_bytes = static_cast<std::uint32_t>(bytes.size());
    h.message_fds = static_cast<std::uint32_t>(fds.size());
    std::array<std::uint8_t, kRecordHeaderBytes> header;
    EncodeHeader(h, header.data());

    iovec iov[2] = {{header.data(), header.size()},
                    {const_cast<char*>(payload.data()), payload.size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = payload.empty() ? 1 : 2;
    if (!record_fds.empty()) {
      msg.msg_control = control.data();
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * record_fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * record_fds.size());
      std::memcpy(CMSG_DATA(c), record_fds.data(), sizeof(int) * record_fds.size());
    }

    // Nothing reached the peer until the first record is queued: a failure then leaves the
    // channel usable. After that the peer holds part of a message, and only breaking is honest.
    auto fail = [&](std::string reason) {
      return i == 0 ? reason : Break(reason + " (after record " + std::to_string(i - 1) + ")");
    };
    for (;;) {
      if (::sendmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) break;
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        std::string waited = WaitFor(fd_.get(), POLLOUT, deadline);
        if (!waited.empty()) return fail(std::move(waited));
        continue;
      }
      if (err == ETOOMANYREFS) {
        if (Clock::now() + kInFlightRetryPause > deadline)
          return fail(ErrnoText("cannot send descriptors on the handover channel", err));
        ::poll(nullptr, 0, static_cast<int>(kInFlightRetryPause.count()));
        continue;
      }
      if (err == EPIPE || err == ECONNRESET) {
        peer_closed_ = true;
        return Break(std::string(kPeerClosed));
      }
      return fail(ErrnoText("cannot send on the handover channel", err));
    }
  }
  ++send_sequence_;
  return "";
}

std::string HandoverChannel::Receive(HandoverMessage& out, Clock::time_point deadline,
                                     const HandoverLimits& limits) {
  out.bytes.clear();
  out.fds.clear();
  if (!broken_.empty()) return broken_;
  if (!fd_) return "the handover channel has no socket";
  if (record_buffer_.empty()) record_buffer_.resize(kMaxRecordBytes);

  // Every failure drops what was received of the message, closing its descriptors.
  auto fail = [&](std::string reason) {
    out.bytes.clear();
    out.fds.clear();
    return Break(std::move(reason));
  };
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * kMaxFdsPerRecord)> control;
  std::uint32_t index = 0;
  std::uint32_t message_bytes = 0;  // the totals record 0 declared
  std::uint32_t message_fds = 0;
  for (;;) {
    std::string waited = WaitFor(fd_.get(), POLLIN, deadline);
    if (!waited.empty()) {
      // A timeout before the first record consumed nothing: the caller may wait again.
      if (index == 0 && waited == kTimedOut) return waited;
      return fail(waited + " in the middle of a message (" + AfterRecord(index) + ")");
    }
    std::array<std::uint8_t, kRecordHeaderBytes> header;
    iovec iov[2] = {{header.data(), header.size()}, {record_buffer_.data(), record_buffer_.size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR || err == EAGAIN || err == EWOULDBLOCK) continue;
      if (err == ECONNRESET) {
        peer_closed_ = true;
        return fail(index == 0 ? std::string(kPeerClosed)
                               : std::string(kPeerClosed) + " in the middle of a message (" +
                                     AfterRecord(index) + ")");
      }
      return fail(ErrnoText("cannot read the handover channel", err));
    }

    // Own the descriptors first, so that every path below closes them.
    const std::size_t fds_before = out.fds.size();
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const unsigned char* data = CMSG_DATA(c);
      for (std::size_t k = 0; k < count; ++k) {
        int fd;
        std::memcpy(&fd, data + k * sizeof(int), sizeof(int));
        out.fds.emplace_back(fd);
      }
    }
    const std::size_t record_fds = out.fds.size() - fds_before;
    const std::string where = "record " + std::to_string(index);

    if ((msg.msg_flags & MSG_CTRUNC) != 0)
      return fail(where + " lost descriptors: it carries more than " +
                  std::to_string(kMaxFdsPerRecord) +
                  " or this process has no room for them (RLIMIT_NOFILE)");
    if (n == 0 && record_fds == 0 && PeerHungUp(fd_.get())) {
      peer_closed_ = true;
      return fail(index == 0 ? std::string(kPeerClosed)
                             : std::string(kPeerClosed) + " in the middle of a message (" +
                                   AfterRecord(index) + ")");
    }
    if ((msg.msg_flags & MSG_TRUNC) != 0)
      return fail(where + " is longer than " + std::to_string(kRecordHeaderBytes) + " + " +
                  std::to_string(kMaxRecordBytes) + " bytes");
    const std::size_t received = static_cast<std::size_t>(n);
    if (received < kRecordHeaderBytes)
      return fail(where + " has " + std::to_string(received) + " bytes, less than its " +
                  std::to_string(kRecordHeaderBytes) + "-byte header");

    const RecordHeader h = DecodeHeader(header.data());
    if (h.magic != kRecordMagic) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "0x%08x", h.magic);
      return fail(where + " has the magic " + hex + ": not a handover record");
    }
    if (h.version != kRecordFormatVersion)
      return fail(where + " has the record format version " + std::to_string(h.version) +
                  "; this binary reads version " + std::to_string(kRecordFormatVersion));
    if ((h.flags & ~kRecordFlagLast) != 0)
      return fail(where + " has unknown flags " + std::to_string(h.flags));
    if (h.message != receive_sequence_ || h.index != index)
      return fail("out-of-order record: expected record " + std::to_string(index) + " of message " +
                  std::to_string(receive_sequence_) + ", got record " + std::to_string(h.index) +
                  " of message " + std::to_string(h.message));
    const std::size_t payload = received - kRecordHeaderBytes;
    if (h.payload_bytes != payload)
      return fail(where + " declares " + std::to_string(h.payload_bytes) +
                  " payload bytes but carries " + std::to_string(payload));
    if (h.fd_count != record_fds)
      return fail(where + " declares " + std::to_string(h.fd_count) + " descriptors but carries " +
                  std::to_string(record_fds));
    if (index == 0) {
      // The whole message is judged against the limits before any more of it is read.
      if (h.message_bytes > limits.max_bytes)
        return fail("the message declares " + std::to_string(h.message_bytes) +
                    " bytes, over the limit of " + std::to_string(limits.max_bytes));
      if (h.message_fds > limits.max_fds)
        return fail("the message declares " + std::to_string(h.message_fds) +
                    " descriptors, over the limit of " + std::to_string(limits.max_fds));
      message_bytes = h.message_bytes;
      message_fds = h.message_fds;
      out.bytes.reserve(message_bytes);
      out.fds.reserve(message_fds);
      if (message_fds > record_fds) MakeRoomForDescriptors(fd_.get(), message_fds - record_fds);
    } else if (h.message_bytes != message_bytes || h.message_fds != message_fds) {
      return fail(where + " declares a message of " + std::to_string(h.message_bytes) +
                  " bytes and " + std::to_string(h.message_fds) + " descriptors, record 0 one of " +
                  std::to_string(message_bytes) + " and " + std::to_string(message_fds));
    }
    if (payload > message_bytes - out.bytes.size() || out.fds.size() > message_fds)
      return fail(where + " takes the message past its declared " + std::to_string(message_bytes) +
                  " bytes and " + std::to_string(message_fds) + " descriptors");

    // Send fills every record but the last with a full payload or a full set of descriptors.
    // Holding a peer to that bounds the records of one message by the limits (not by the
    // deadline alone), however fast the peer writes.
    const bool last = (h.flags & kRecordFlagLast) != 0;
    if (!last && payload != kMaxRecordBytes && record_fds != kMaxFdsPerRecord)
      return fail(where + " is not the last of its message, yet carries neither " +
                  std::to_string(kMaxRecordBytes) + " bytes nor " +
                  std::to_string(kMaxFdsPerRecord) + " descriptors");

    out.bytes.append(record_buffer_.data(), payload);
    if (last && (out.bytes.size() != message_bytes || out.fds.size() != message_fds))
      return fail("the message ends at " + std::to_string(out.bytes.size()) + " bytes and " +
                  std::to_string(out.fds.size()) + " descriptors, short of its declared " +
                  std::to_string(message_bytes) + " and " + std::to_string(message_fds));
    if (last) {
      ++receive_sequence_;
      return "";
    }
    if (index == UINT32_MAX) return fail("a message of more records than can be numbered");
    ++index;
  }
}

}  // namespace ttlogin::server::upgrade
