#include "test/fault/reconnecting_msg_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>
#include <cerrno>
#include <chrono>

namespace ttlogin::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kConnectTimeout = 500ms;
constexpr auto kSendTimeout = 1000ms;
constexpr auto kMinBackoff = 50ms;
constexpr auto kMaxBackoff = 500ms;
// A real msg_server heartbeats every 5 s; the fault tests run the login server with shorter
// timeouts, so heartbeat every second.
constexpr auto kHeartbeatEvery = 1000ms;
constexpr auto kBatchPause = 2ms;
constexpr int kMaxBatch = 32;

}  // namespace

ReconnectingMsgServer::ReconnectingMsgServer(std::uint16_t port, MsgServerFields fields,
                                             std::uint32_t seed)
    : port_(port), fields_(std::move(fields)), rng_(seed), count_(fields_.cur_conn_cnt) {}

ReconnectingMsgServer::~ReconnectingMsgServer() {
  Stop();
}

void ReconnectingMsgServer::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ReconnectingMsgServer::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  Drop();
}

bool ReconnectingMsgServer::Connect() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    close(fd);
    return false;
  }
  pollfd p{fd, POLLOUT, 0};
  int err = 0;
  socklen_t len = sizeof err;
  if (poll(&p, 1, static_cast<int>(kConnectTimeout.count())) != 1 ||
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    close(fd);
    return false;
  }
  fd_.store(fd);
  return true;
}

void ReconnectingMsgServer::Drop() {
  const int fd = fd_.exchange(-1);
  if (fd >= 0) close(fd);
}

bool ReconnectingMsgServer::SendAll(std::string_view bytes) {
  const int fd = fd_.load();
  const auto deadline = Clock::now() + kSendTimeout;
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd p{fd, POLLOUT, 0};
      if (left.count() > 0 && poll(&p, 1, static_cast<int>(left.count())) == 1) continue;
    }
    Drop();
    return false;
  }
  return true;
}

bool ReconnectingMsgServer::DrainInput() {
  char buf[4096];
  while (true) {
    const ssize_t n = recv(fd_.load(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0 && errno == EINTR) continue;
    Drop();  // EOF or reset: the login server went away
    return false;
  }
}

std::string ReconnectingMsgServer::NextBatch() {
  std::string batch;
  const int n = std::uniform_int_distribution<int>(1, kMaxBatch)(rng_);
  std::uint32_t count = count_.load();
  for (int i = 0; i < n; ++i) {
    // Users come and go at random, drifting neither to zero nor to the limit.
    bool come = std::bernoulli_distribution(0.5)(rng_);
    if (count == 0) come = true;
    if (count >= fields_.max_conn_cnt / 2) come = false;
    count += come ? 1 : -1;
    batch += UserCntUpdatePdu(come ? 1 : 2, next_user_++);
  }
  // The users came or went whether or not the login server hears of it.
  count_.store(count);
  updates_sent_.fetch_add(static_cast<std::uint64_t>(n));
  return batch;
}

void ReconnectingMsgServer::Run() {
  auto backoff = kMinBackoff;
  auto last_heartbeat = Clock::now();
  while (!stop_.load()) {
    if (fd_.load() < 0) {
      MsgServerFields now = fields_;
      now.cur_conn_cnt = count_.load();
      if (!Connect() || !SendAll(ServInfoPdu(now))) {
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, kMaxBackoff);
        continue;
      }
      backoff = kMinBackoff;
      registrations_.fetch_add(1);
      last_heartbeat = Clock::now();
    }
    if (!DrainInput()) continue;
    if (Clock::now() - last_heartbeat >= kHeartbeatEvery) {
      if (!SendAll(HeartbeatPdu())) continue;
      last_heartbeat = Clock::now();
    }
    if (streaming_.load()) {
      quiet_.store(false);
      if (!SendAll(NextBatch())) continue;
    } else {
      quiet_.store(true);
    }
    std::this_thread::sleep_for(kBatchPause);
  }
}

}  // namespace ttlogin::test
