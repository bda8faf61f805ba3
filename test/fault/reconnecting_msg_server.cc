#include "test/fault/reconnecting_msg_server.h"

#include <chrono>

#include "common/protocol.h"
#include "tools/common/peer_pdu.h"

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
    : port_(port), fields_(std::move(fields)), rng_(seed), count_(fields_.cur_conn_cnt) {
  client_.set_send_timeout(kSendTimeout);
}

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

void ReconnectingMsgServer::Drop() {
  linked_.store(false);
  client_.Close();
}

bool ReconnectingMsgServer::Send(const std::string& bytes) {
  if (client_.Send(bytes).ok()) return true;
  Drop();
  return false;
}

bool ReconnectingMsgServer::Link() {
  MsgServerFields now = fields_;
  now.cur_conn_cnt = count_.load();
  if (!client_.Connect(port_, {}, kConnectTimeout).ok()) return false;
  linked_.store(true);
  return Send(peer::ServInfoPdu(now));
}

void ReconnectingMsgServer::NextBatch(std::string& batch) {
  batch.clear();
  const int n = std::uniform_int_distribution<int>(1, kMaxBatch)(rng_);
  std::uint32_t count = count_.load();
  for (int i = 0; i < n; ++i) {
    // Users come and go at random, drifting neither to zero nor to the limit.
    bool come = std::bernoulli_distribution(0.5)(rng_);
    if (count == 0) come = true;
    if (count >= fields_.max_conn_cnt / 2) come = false;
    count += come ? 1 : -1;
    peer::AppendUserCntUpdatePdu(batch, come ? common::kUserActionInc : common::kUserActionDec,
                                 next_user_++);
  }
  // The users came or went whether or not the login server hears of it.
  count_.store(count);
  updates_sent_.fetch_add(static_cast<std::uint64_t>(n));
}

void ReconnectingMsgServer::Run() {
  auto backoff = kMinBackoff;
  auto last_heartbeat = Clock::now();
  std::string batch;
  while (!stop_.load()) {
    if (!linked_.load()) {
      if (!Link()) {
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, kMaxBackoff);
        continue;
      }
      backoff = kMinBackoff;
      registrations_.fetch_add(1);
      last_heartbeat = Clock::now();
    }
    // What the server sent is its heartbeats; EOF or reset means the login server went away.
    if (!client_.ReadInput().ok()) {
      Drop();
      continue;
    }
    if (Clock::now() - last_heartbeat >= kHeartbeatEvery) {
      if (!Send(peer::HeartbeatPdu())) continue;
      last_heartbeat = Clock::now();
    }
    if (streaming_.load()) {
      quiet_.store(false);
      NextBatch(batch);
      if (!Send(batch)) continue;
    } else {
      quiet_.store(true);
    }
    std::this_thread::sleep_for(kBatchPause);
  }
}

}  // namespace ttlogin::test
