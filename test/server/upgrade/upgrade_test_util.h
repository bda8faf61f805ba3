// Helpers of the handover tests: counting this process's descriptors, pipes whose ends prove a
// received descriptor is the very file that was sent, raw records for peers that break the rules.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/upgrade/handover_channel.h"
#include "server/upgrade/unique_fd.h"

namespace ttlogin::server::upgrade::testing {

using Clock = std::chrono::steady_clock;

inline Clock::time_point In(std::chrono::milliseconds ms) {
  return Clock::now() + ms;
}

// Generous for work that should take microseconds, so a loaded machine never fails a test; the
// tests that wait for nothing use a short deadline of their own.
inline constexpr std::chrono::seconds kPatience{20};

// The descriptors open in this process (the directory listing's own one excluded).
inline int CountOpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(dir))
    if (e->d_name[0] != '.') ++n;
  ::closedir(dir);
  return n - 1;
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

inline Pipe MakePipe() {
  int fds[2] = {-1, -1};
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return {};
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Writes `text` on `to` and reads it back from `from` (the two ends of one pipe); true when the
// same bytes came out.
inline bool PipeCarries(int to, int from, std::string_view text) {
  if (::write(to, text.data(), text.size()) != static_cast<ssize_t>(text.size())) return false;
  pollfd p{from, POLLIN, 0};
  if (::poll(&p, 1, 5000) != 1) return false;
  std::string got(text.size() + 1, '\0');
  const ssize_t n = ::read(from, got.data(), got.size());
  return n == static_cast<ssize_t>(text.size()) && got.substr(0, text.size()) == text;
}

// A record header as HandoverChannel writes it (little-endian), for hand-made records.
inline std::string RawHeader(std::uint32_t magic, std::uint16_t version, std::uint16_t flags,
                             std::uint32_t message, std::uint32_t index,
                             std::uint32_t payload_bytes, std::uint32_t fd_count,
                             std::uint32_t message_bytes, std::uint32_t message_fds) {
  std::string h;
  auto put = [&h](std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
      h.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  put(magic, 4);
  put(version, 2);
  put(flags, 2);
  put(message, 4);
  put(index, 4);
  put(payload_bytes, 4);
  put(fd_count, 4);
  put(message_bytes, 4);
  put(message_fds, 4);
  return h;
}

// A well-formed header; the message's totals default to this record's (a one-record message).
inline std::string GoodHeader(std::uint32_t message, std::uint32_t index, bool last,
                              std::uint32_t payload_bytes, std::uint32_t fd_count,
                              std::optional<std::uint32_t> message_bytes = std::nullopt,
                              std::optional<std::uint32_t> message_fds = std::nullopt) {
  return RawHeader(kRecordMagic, kRecordFormatVersion, last ? kRecordFlagLast : 0, message, index,
                   payload_bytes, fd_count, message_bytes.value_or(payload_bytes),
                   message_fds.value_or(fd_count));
}

// Sends one raw record (any bytes, any descriptors) on a SEQPACKET socket; the sendmsg result.
inline ssize_t SendRaw(int socket, std::string_view bytes, const std::vector<int>& fds = {}) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.resize(CMSG_SPACE(sizeof(int) * fds.size()));
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  return ::sendmsg(socket, &msg, MSG_NOSIGNAL);
}

// A raw SEQPACKET pair: one end for a HandoverChannel, the other for a misbehaving peer.
inline std::pair<HandoverChannel, UniqueFd> ChannelAndRawPeer() {
  int fds[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    return {HandoverChannel(), UniqueFd()};
  return {HandoverChannel(UniqueFd(fds[0])), UniqueFd(fds[1])};
}

}  // namespace ttlogin::server::upgrade::testing
