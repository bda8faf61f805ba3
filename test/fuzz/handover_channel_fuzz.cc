// Fuzz target: the receiving side of the handover channel (server/upgrade/handover_channel.h).
//
// Input: [limits choice][keep-open flag] then records, each [op][...]: a raw record of fuzzer
// bytes, a record with a well-formed header whose fields the fuzzer picks, or a whole message sent
// by HandoverChannel::Send itself; each may carry descriptors (up to 253, the kernel's most, so
// that the receiver's 250 overflow). The records go into one end of a socketpair, which is then
// closed (or kept open and read with a deadline already past), and the other end Receive()s
// until it fails. It must never crash or hang; an accepted message stays within the limits and
// holds only valid close-on-exec descriptors; a failure leaves the message empty; and when
// every record came from Send, every message arrives exactly as sent, then the close. Whatever
// happens, no descriptor stays open afterwards.
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "server/upgrade/handover_channel.h"
#include "test/fuzz/fuzz_input.h"

namespace ttlogin::fuzz {
namespace {

using server::upgrade::HandoverChannel;
using server::upgrade::HandoverLimits;
using server::upgrade::HandoverMessage;
using server::upgrade::UniqueFd;
using Clock = std::chrono::steady_clock;

// Small limits make "over the limit" as reachable as a message that fits.
constexpr std::array<std::size_t, 6> kMaxBytes = {0, 1, 24, 1000, 70000, 200000};
constexpr std::array<std::size_t, 5> kMaxFds = {0, 1, 2, 250, 300};
constexpr std::size_t kMaxRecords = 48;
constexpr std::size_t kMaxReceives = kMaxRecords + 2;

int CountOpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(dir))
    if (e->d_name[0] != '.') ++n;
  ::closedir(dir);
  return n - 1;
}

void PutLe(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// One record on a SEQPACKET socket without waiting; false when the socket buffer is full.
bool SendRecord(int socket, const std::string& bytes, int fd, std::size_t fd_count) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (fd_count > 0) {
    control.resize(CMSG_SPACE(sizeof(int) * fd_count));
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
    for (std::size_t i = 0; i < fd_count; ++i)
      std::memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(int));
  }
  return ::sendmsg(socket, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0;
}

struct Sent {
  std::string bytes;
  std::size_t fds = 0;
};

void Run(FuzzInput& in) {
  const std::uint8_t choice = in.U8();
  HandoverLimits limits;
  limits.max_bytes = kMaxBytes[choice % kMaxBytes.size()];
  limits.max_fds = kMaxFds[(choice / kMaxBytes.size()) % kMaxFds.size()];
  const bool keep_open = in.Bool();

  int pipe_fds[2];
  FUZZ_CHECK(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  const UniqueFd pipe_read(pipe_fds[0]);
  const UniqueFd pipe_write(pipe_fds[1]);

  HandoverChannel writer;
  HandoverChannel reader;
  FUZZ_CHECK(HandoverChannel::Pair(writer, reader).empty());
  UniqueFd raw = writer.Release();  // raw records and Send share the writer's socket
  HandoverChannel sender(std::move(raw));

  bool only_send = true;  // every record so far came from Send, whole
  std::vector<Sent> sent;
  for (std::size_t r = 0; r < kMaxRecords && !in.empty(); ++r) {
    const std::uint8_t op = in.U8();
    std::size_t fd_count = in.U8() % 4;
    if ((op & 0x80) != 0) fd_count = server::upgrade::kMaxFdsPerRecord - 1 + in.U8() % 4;
    std::string record;
    switch (op % 4) {
      case 0:  // raw bytes
        record = in.String(255);
        break;
      case 1: {  // a header with the fuzzer's fields, then a payload of its length or not
        const std::uint16_t flags = in.U8() % 4;
        const std::uint32_t message = in.U8() % 3;
        const std::uint32_t index = in.U8() % 3;
        const std::string payload = in.String(64);
        const bool honest = in.Bool();
        PutLe(record, server::upgrade::kRecordMagic, 4);
        PutLe(record, server::upgrade::kRecordFormatVersion, 2);
        PutLe(record, flags, 2);
        PutLe(record, message, 4);
        PutLe(record, index, 4);
        PutLe(record, honest ? payload.size() : in.U16(), 4);
        PutLe(record, honest ? fd_count : in.U8(), 4);
        // The whole message's totals: this record's, or the fuzzer's.
        PutLe(record, honest ? payload.size() : in.U16(), 4);
        PutLe(record, honest ? fd_count : in.U16(), 4);
        record += payload;
        break;
      }
      case 2: {  // a full-sized (or oversized) payload behind a well-formed header
        const std::size_t size = server::upgrade::kMaxRecordBytes + in.U8() % 3 - 1;
        PutLe(record, server::upgrade::kRecordMagic, 4);
        PutLe(record, server::upgrade::kRecordFormatVersion, 2);
        PutLe(record, in.U8() % 2, 2);
        PutLe(record, in.U8() % 2, 4);
        PutLe(record, in.U8() % 2, 4);
        PutLe(record, size, 4);
        PutLe(record, fd_count, 4);
        PutLe(record, size * (1 + in.U8() % 2), 4);
        PutLe(record, fd_count, 4);
        record.append(size, static_cast<char>(in.U8()));
        break;
      }
      default: {  // a whole message from Send
        Sent s;
        s.bytes = in.String(255);
        if ((op & 0x40) != 0) s.bytes.append(std::size_t{in.U8()} << 10, 'm');
        s.fds = (op & 0x80) != 0 ? fd_count + in.U8() : fd_count;
        const std::vector<int> fds(s.fds, pipe_read.get());
        // A deadline already past: Send takes what the socket buffer holds and never waits.
        const std::string result = sender.Send(s.bytes, fds, Clock::now());
        if (result.empty()) {
          sent.push_back(std::move(s));
        } else {
          only_send = false;
        }
        continue;
      }
    }
    only_send = false;
    if (!SendRecord(sender.fd(), record, pipe_write.get(), fd_count)) break;
  }
  if (!keep_open) sender = HandoverChannel();

  // Closed: every Receive ends on data or the close. Open: a deadline already past reads what is
  // queued, then times out at once.
  const auto deadline = keep_open ? Clock::now() : Clock::now() + std::chrono::seconds(5);
  std::size_t received = 0;
  for (std::size_t i = 0; i < kMaxReceives; ++i) {
    // When Send made every record, the next message is known: within the limits it arrives as
    // sent, over them it is refused; after the last one comes the close (or the timeout).
    const Sent* expected = only_send && received < sent.size() ? &sent[received] : nullptr;
    const bool fits = expected != nullptr && expected->bytes.size() <= limits.max_bytes &&
                      expected->fds <= limits.max_fds;
    HandoverMessage m;
    const std::string error = reader.Receive(m, deadline, limits);
    if (!error.empty()) {
      FUZZ_CHECK(m.bytes.empty() && m.fds.empty());
      if (only_send) {
        if (expected != nullptr) {
          FUZZ_CHECK(!fits);
          FUZZ_CHECK(error.find(", over the limit of ") != std::string::npos);
        } else {
          FUZZ_CHECK(keep_open ? error == "timed out waiting for the handover peer"
                               : error == HandoverChannel::kPeerClosed);
        }
      }
      // A failure is final, but for a timeout before any record.
      FUZZ_CHECK(reader.broken() == error || reader.broken().empty());
      if (!reader.broken().empty()) {
        HandoverMessage again;
        FUZZ_CHECK(reader.Receive(again, deadline, limits) == error);
      }
      break;
    }
    FUZZ_CHECK(m.bytes.size() <= limits.max_bytes);
    FUZZ_CHECK(m.fds.size() <= limits.max_fds);
    for (const UniqueFd& fd : m.fds) {
      const int flags = ::fcntl(fd.get(), F_GETFD);
      FUZZ_CHECK(flags >= 0 && (flags & FD_CLOEXEC) != 0);
    }
    if (only_send) {
      FUZZ_CHECK(fits);
      FUZZ_CHECK(m.bytes == expected->bytes);
      FUZZ_CHECK(m.fds.size() == expected->fds);
    }
    ++received;
  }
}

}  // namespace
}  // namespace ttlogin::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ttlogin::fuzz;
  const int open_before = CountOpenFds();
  {
    FuzzInput in(data, size);
    Run(in);
  }
  FUZZ_CHECK(CountOpenFds() == open_before);
  return 0;
}
