#include "server/msg_server_connection.h"

#include <spdlog/spdlog.h>

#include <atomic>

#include "IM.Other.pb.h"
#include "common/ip_address.h"
#include "common/log_rate_limiter.h"
#include "common/protocol.h"
#include "common/session_verdict.h"
#include "server/net/address_limiter.h"

namespace ttlogin::server {
namespace {

const std::string& HeartbeatPdu() {
  static const std::string pdu =
      common::MakePdu(common::kSidOther, common::kCidOtherHeartbeat, 0, IM::Other::IMHeartBeat{});
  return pdu;
}

// Refusals at arrival are logged the first few times, then one in this many: a flood of
// connections must not flood the log.
constexpr common::LogSampling kRefusalSampling{5, 1000};
common::SharedLogSampledCount<kRefusalSampling> g_refusals;

// Links are numbered in the order they are accepted: the listener builds connections on its one
// accept thread, so of two links of one msg_server the larger number is the newer one.
std::atomic<std::uint64_t> g_links{0};

}  // namespace

MsgServerConnection::MsgServerConnection(asio::ip::tcp::socket socket, ServerContext& context,
                                         std::uint64_t carried_link)
    : Connection(std::move(socket)),
      context_(context),
      session_(
          context, peer(),
          carried_link != 0 ? carried_link : g_links.fetch_add(1, std::memory_order_relaxed) + 1),
      address_(registry::PeerAddressOf(peer())) {
  set_output_budget(context_.config().max_queued_output);
}

std::uint64_t MsgServerConnection::LastLink() {
  return g_links.load(std::memory_order_relaxed);
}

void MsgServerConnection::NumberLinksAbove(std::uint64_t link) {
  std::uint64_t current = g_links.load(std::memory_order_relaxed);
  while (current < link && !g_links.compare_exchange_weak(current, link)) {
  }
}

MsgServerConnection::~MsgServerConnection() {
  if (holds_address_slot_) context_.msg_server_addresses->Release(address_);
}

std::optional<std::string> MsgServerConnection::Admit() {
  const common::LoginServerConfig& config = context_.config();
  if (const auto& allow = config.msg_server_allow_from) {
    const auto ip = common::ParseIpAddress(address_);
    if (!ip || !allow->Contains(*ip)) {
      context_.metrics.Add(Counter::kMsgServerPeerNotAllowed);
      return "not in MsgServerAllowFrom";
    }
  }
  if (context_.msg_server_addresses != nullptr) {
    const std::size_t limit = config.max_msg_server_connections_per_address;
    if (!context_.msg_server_addresses->Acquire(address_, limit)) {
      context_.metrics.Add(Counter::kMsgServerPeerOverAddressLimit);
      return "already holds " + std::to_string(limit) +
             " connections (MaxMsgServerConnectionsPerAddress)";
    }
    holds_address_slot_ = true;
  }
  return std::nullopt;
}

void MsgServerConnection::OnStart() {
  if (auto refusal = Admit()) {
    if (const std::uint64_t n = g_refusals.Count()) {
      spdlog::warn("msg_server connection from {} refused: {} ({} refused so far)", peer(),
                   *refusal, n);
    }
    Close("refused at arrival");
    return;
  }
  TTLOGIN_LOG_PER_PEER(spdlog::level::debug, "msg_server connection from {}", peer());
  ScheduleTimer();
}

void MsgServerConnection::ScheduleTimer() {
  // While output is queued no heartbeat is sent, so its due time moves on by an interval rather
  // than staying in the past (which would fire the timer again at once).
  const auto heartbeat_due = queued_output() == 0
                                 ? last_sent() + context_.config().heartbeat_interval
                                 : Clock::now() + context_.config().heartbeat_interval;
  const auto silence_due = last_received() + context_.config().msg_server_timeout;
  ArmTimer(std::min(heartbeat_due, silence_due));
}

void MsgServerConnection::OnTimer(Clock::time_point now) {
  if (now >= last_received() + context_.config().msg_server_timeout) {
    context_.metrics.Add(Counter::kMsgServerTimedOut);
    TTLOGIN_LOG_PER_PEER(spdlog::level::warn,
                         "msg_server {} ({}) timed out: nothing received for {} s; dropping it",
                         peer(), session_.registered() ? session_.host_name() : "unregistered",
                         context_.config().msg_server_timeout.count());
    context_.metrics.Closed(ListenerKind::kMsgServer, common::CloseReason::kTimeout);
    Close("timeout");
    return;
  }
  // A heartbeat is only queued when nothing is: a msg_server that stops reading costs at most
  // one heartbeat of output, however long it keeps sending.
  if (now >= last_sent() + context_.config().heartbeat_interval && queued_output() == 0) {
    Send(HeartbeatPdu());
  }
  ScheduleTimer();
}

std::size_t MsgServerConnection::OnData(std::span<const std::uint8_t> data) {
  // A msg_server is never answered (only heartbeats go out, on the timer), so input is always
  // consumed whole; a partial PDU waits in the session's frame decoder. The session logged why it
  // closes (rate-limited per peer); Close's text reaches its "removed (...)" line.
  common::SessionVerdict verdict = session_.OnBytes(data);
  if (!verdict.closes()) verdict = session_.Heard(last_received());
  if (verdict.closes()) {
    context_.metrics.Closed(ListenerKind::kMsgServer, verdict.reason);
    Close(common::CloseReasonText(verdict.reason));
  }
  return data.size();
}

void MsgServerConnection::OnClose(std::string_view reason) {
  session_.OnClosed(reason);
}

}  // namespace ttlogin::server
