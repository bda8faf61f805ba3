#include "test/tier/tier_msg_server.h"

#include <algorithm>

#include "common/protocol.h"
#include "tools/common/peer_pdu.h"

namespace ttlogin::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kConnectTimeout = 300ms;
constexpr auto kSendTimeout = 1000ms;
// The classic msg_server heartbeats every 5 s; once a second keeps the fake well inside any
// MsgServerTimeout a test sets.
constexpr auto kHeartbeatEvery = 1000ms;
// How often the thread looks at its links: the granularity of reconnects and updates.
constexpr auto kTick = 10ms;

}  // namespace

TierMsgServer::TierMsgServer(std::vector<std::uint16_t> login_ports, MsgServerFields fields,
                             std::chrono::milliseconds base_backoff,
                             std::chrono::milliseconds update_every)
    : fields_(std::move(fields)),
      base_backoff_(base_backoff),
      update_every_(update_every),
      links_(login_ports.size()),
      count_(fields_.cur_conn_cnt) {
  for (std::size_t i = 0; i < login_ports.size(); ++i) {
    links_[i].port = login_ports[i];
    links_[i].backoff = base_backoff_;
    links_[i].client.set_send_timeout(kSendTimeout);
  }
}

TierMsgServer::~TierMsgServer() {
  Stop();
}

void TierMsgServer::Start() {
  thread_ = std::thread([this] { Run(); });
}

void TierMsgServer::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  for (Link& link : links_)
    link.client.Close();
}

void TierMsgServer::TryLink(Link& link, Clock::time_point now) {
  MsgServerFields now_fields = fields_;
  now_fields.cur_conn_cnt = count_.load();
  if (link.client.Connect(link.port, {}, kConnectTimeout).ok() &&
      link.client.Register(now_fields).ok()) {
    link.up = true;
    link.backoff = base_backoff_;
    link.last_heartbeat = now;
    linked_.fetch_add(1);
    registrations_.fetch_add(1);
    return;
  }
  // As the classic msg_server: every failed attempt doubles the wait, up to the cap.
  link.client.Close();
  link.backoff = std::min(link.backoff * 2, base_backoff_ * kClassicBackoffCapFactor);
  link.next_attempt = Clock::now() + link.backoff;
}

void TierMsgServer::Drop(Link& link, Clock::time_point now) {
  link.client.Close();
  link.up = false;
  linked_.fetch_sub(1);
  drops_.fetch_add(1);
  // The classic msg_server notices the close at once and waits the base backoff before it dials.
  link.next_attempt = now + link.backoff;
}

void TierMsgServer::Run() {
  auto next_update = Clock::now() + update_every_;
  bool come = true;
  std::string update;
  while (!stop_.load()) {
    const auto now = Clock::now();
    for (Link& link : links_) {
      if (!link.up) {
        if (now >= link.next_attempt) TryLink(link, now);
        continue;
      }
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
    if (update_every_.count() > 0 && updating_.load() && now >= next_update) {
      // One user comes or goes, alternating, so the count stays near where it started.
      std::uint32_t count = count_.load();
      if (count == 0) come = true;
      count += come ? 1 : -1;
      update.clear();
      peer::AppendUserCntUpdatePdu(update, come ? common::kUserActionInc : common::kUserActionDec,
                                   next_user_++);
      come = !come;
      count_.store(count);
      for (Link& link : links_) {
        if (link.up && !link.client.Send(update).ok()) Drop(link, now);
      }
      next_update = now + update_every_;
    }
    std::this_thread::sleep_for(kTick);
  }
}

}  // namespace ttlogin::test
