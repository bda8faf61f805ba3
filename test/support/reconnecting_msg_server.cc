#include "test/support/reconnecting_msg_server.h"

#include <algorithm>
#include <random>

#include "common/protocol.h"
#include "tools/common/peer_pdu.h"

namespace ttlogin::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kConnectTimeout = 500ms;
constexpr auto kSendTimeout = 1000ms;
// The classic msg_server heartbeats every 5 s; once a second keeps the fake well inside any
// MsgServerTimeout a test sets.
constexpr auto kHeartbeatEvery = 1000ms;
// How often the thread looks at its links at most: the granularity of reconnects.
constexpr auto kTick = 10ms;
constexpr int kMaxRandomStep = 32;

void AppendUpdate(std::string& batch, bool come, std::uint32_t& next_user) {
  peer::AppendUserCntUpdatePdu(batch, come ? common::kUserActionInc : common::kUserActionDec,
                               next_user++);
}

}  // namespace

UpdateStep AlternatingUsers() {
  return [come = true](std::uint32_t count, std::string& batch, std::uint32_t& next_user) mutable {
    if (count == 0) come = true;
    AppendUpdate(batch, come, next_user);
    count += come ? 1 : -1;
    come = !come;
    return count;
  };
}

UpdateStep RandomUsers(std::uint32_t seed, std::uint32_t ceiling) {
  return [rng = std::mt19937(seed), ceiling](std::uint32_t count, std::string& batch,
                                             std::uint32_t& next_user) mutable {
    const int n = std::uniform_int_distribution<int>(1, kMaxRandomStep)(rng);
    for (int i = 0; i < n; ++i) {
      bool come = std::bernoulli_distribution(0.5)(rng);
      if (count == 0) come = true;
      if (count >= ceiling) come = false;
      AppendUpdate(batch, come, next_user);
      count += come ? 1 : -1;
    }
    return count;
  };
}

ReconnectingMsgServer::ReconnectingMsgServer(std::vector<std::uint16_t> login_ports,
                                             MsgServerFields fields, Options options)
    : fields_(std::move(fields)),
      options_(std::move(options)),
      links_(login_ports.size()),
      count_(fields_.cur_conn_cnt) {
  for (std::size_t i = 0; i < login_ports.size(); ++i) {
    links_[i].port = login_ports[i];
    links_[i].backoff = options_.backoff;
    links_[i].client.set_send_timeout(kSendTimeout);
  }
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
  for (Link& link : links_)
    link.client.Close();
}

void ReconnectingMsgServer::TryLink(Link& link, Clock::time_point now) {
  MsgServerFields now_fields = fields_;
  now_fields.cur_conn_cnt = count_.load();
  if (link.client.Connect(link.port, {}, kConnectTimeout).ok() &&
      link.client.Register(now_fields).ok()) {
    link.up = true;
    link.backoff = options_.backoff;
    link.last_heartbeat = now;
    linked_.fetch_add(1);
    registrations_.fetch_add(1);
    return;
  }
  // As the classic msg_server: every failed attempt doubles the wait, up to the cap.
  link.client.Close();
  link.backoff = std::min(link.backoff * 2, options_.backoff * options_.backoff_cap_factor);
  link.next_attempt = Clock::now() + link.backoff;
}

void ReconnectingMsgServer::Drop(Link& link, Clock::time_point now) {
  link.client.Close();
  link.up = false;
  linked_.fetch_sub(1);
  drops_.fetch_add(1);
  // The classic msg_server notices the close at once and waits the backoff before it dials.
  link.next_attempt = now + link.backoff;
}

void ReconnectingMsgServer::Run() {
  const bool updates = options_.update_every.count() > 0;
  const auto tick = updates ? std::min<Clock::duration>(kTick, options_.update_every) : kTick;
  auto next_update = Clock::now() + options_.update_every;
  std::string batch;
  while (!stop_.load()) {
    const auto now = Clock::now();
    for (Link& link : links_) {
      if (!link.up) {
        if (now >= link.next_attempt) TryLink(link, now);
        continue;
      }
      // What a login server sends is its heartbeats; EOF or a reset means it went away.
      if (!link.client.ReadInput().ok()) {
        Drop(link, now);
        continue;
      }
      if (now - link.last_heartbeat >= kHeartbeatEvery) {
        if (!link.client.Heartbeat().ok()) {
          Drop(link, now);
          continue;
        }
        link.last_heartbeat = now;
      }
    }
    if (!updating_.load()) {
      quiet_.store(true);
    } else if (updates && now >= next_update) {
      quiet_.store(false);
      batch.clear();
      const std::uint32_t first_user = next_user_;
      // The users came or went whether or not a login server hears of it.
      count_.store(options_.step(count_.load(), batch, next_user_));
      updates_sent_.fetch_add(next_user_ - first_user);
      for (Link& link : links_) {
        if (link.up && !link.client.Send(batch).ok()) Drop(link, now);
      }
      next_update = now + options_.update_every;
    }
    std::this_thread::sleep_for(tick);
  }
}

}  // namespace ttlogin::test
