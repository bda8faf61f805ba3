#include "server/msg_server_connection.h"

#include <spdlog/spdlog.h>

#include "IM.Other.pb.h"
#include "IM.Server.pb.h"
#include "common/logging.h"
#include "common/protocol.h"

namespace ttlogin::server {
namespace {

const std::string& HeartbeatPdu() {
  static const std::string pdu =
      common::MakePdu(common::kSidOther, common::kCidOtherHeartbeat, 0, IM::Other::IMHeartBeat{});
  return pdu;
}

constexpr std::uint64_t kWarnFirst = 5;
constexpr std::uint64_t kWarnEvery = 1000;

}  // namespace

MsgServerConnection::MsgServerConnection(asio::ip::tcp::socket socket, ServerContext& context)
    : Connection(std::move(socket), "msg_server"),
      context_(context),
      decoder_(context.config.max_pdu_size) {
  context_.counters.msg_server_connections.fetch_add(1, std::memory_order_relaxed);
}

MsgServerConnection::~MsgServerConnection() {
  // A connection torn down without Close() (server shutdown) must still leave the registry.
  if (handle_.valid()) context_.registry.Remove(handle_);
  context_.counters.msg_server_connections.fetch_sub(1, std::memory_order_relaxed);
}

void MsgServerConnection::OnStart() {
  spdlog::debug("msg_server connection from {}", peer());
  ScheduleTimer();
}

void MsgServerConnection::ScheduleTimer() {
  const auto heartbeat_due = last_sent() + context_.config.heartbeat_interval;
  const auto silence_due = last_received() + context_.config.msg_server_timeout;
  ArmTimer(std::min(heartbeat_due, silence_due));
}

void MsgServerConnection::OnTimer(Clock::time_point now) {
  if (now >= last_received() + context_.config.msg_server_timeout) {
    spdlog::warn("msg_server {} ({}) timed out: nothing received for {} s; dropping it", peer(),
                 host_name_.empty() ? "unregistered" : host_name_,
                 context_.config.msg_server_timeout.count());
    Close("timeout");
    return;
  }
  if (now >= last_sent() + context_.config.heartbeat_interval) Send(HeartbeatPdu());
  ScheduleTimer();
}

void MsgServerConnection::OnData(std::span<const std::uint8_t> data) {
  const std::string error =
      decoder_.Feed(data, [this](const common::DecodedFrame& frame) { return Dispatch(frame); });
  if (!error.empty()) {
    context_.counters.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("msg_server {}: protocol error: {}; closing the connection", peer(), error);
    Close("protocol error");
  }
}

bool MsgServerConnection::Dispatch(const common::DecodedFrame& frame) {
  if (closed()) return false;
  const auto& h = frame.header;
  if (h.service_id == common::kSidOther) {
    switch (h.command_id) {
      case common::kCidOtherHeartbeat:
        return true;  // its arrival already refreshed last_received()
      case common::kCidOtherMsgServInfo:
        return HandleServInfo(frame);
      case common::kCidOtherUserCntUpdate:
        return HandleUserCntUpdate(frame);
      default:
        break;
    }
  }
  if (ShouldWarn(unknown_commands_)) {
    spdlog::warn("msg_server {}: skipping unknown PDU service={:#06x} command={:#06x} length={}",
                 peer(), h.service_id, h.command_id, h.length);
  }
  return true;
}

bool MsgServerConnection::HandleServInfo(const common::DecodedFrame& frame) {
  IM::Server::IMMsgServInfo msg;
  if (!msg.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size()))) {
    context_.counters.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("msg_server {}: IMMsgServInfo body does not parse ({} bytes); closing", peer(),
                 frame.body.size());
    Close("bad IMMsgServInfo");
    return false;
  }
  registry::MsgServerInfo info{msg.ip1(),          msg.ip2(),          msg.port(),
                               msg.max_conn_cnt(), msg.cur_conn_cnt(), msg.host_name()};
  host_name_ = common::EscapeForLog(info.host_name);
  const bool again = handle_.valid();
  if (again) {
    context_.registry.Replace(handle_, std::move(info));
  } else {
    handle_ = context_.registry.Register(std::move(info));
  }
  spdlog::info("msg_server {} {}: host_name={} ip1={} ip2={} port={} cur={} max={}", peer(),
               again ? "re-registered (entry replaced)" : "registered", host_name_,
               common::EscapeForLog(msg.ip1()), common::EscapeForLog(msg.ip2()), msg.port(),
               msg.cur_conn_cnt(), msg.max_conn_cnt());
  return true;
}

bool MsgServerConnection::HandleUserCntUpdate(const common::DecodedFrame& frame) {
  IM::Server::IMUserCntUpdate msg;
  if (!msg.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size()))) {
    context_.counters.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("msg_server {}: IMUserCntUpdate body does not parse ({} bytes); closing", peer(),
                 frame.body.size());
    Close("bad IMUserCntUpdate");
    return false;
  }
  if (!handle_.valid()) {
    if (ShouldWarn(unregistered_updates_)) {
      spdlog::warn("msg_server {}: user count update before IMMsgServInfo ignored ({} so far)",
                   peer(), unregistered_updates_);
    }
    return true;
  }
  std::int64_t delta;
  if (msg.user_action() == common::kUserActionInc) {
    delta = 1;
  } else if (msg.user_action() == common::kUserActionDec) {
    delta = -1;
  } else {
    if (ShouldWarn(bad_actions_)) {
      spdlog::warn("msg_server {} ({}): unknown user_action {} ignored", peer(), host_name_,
                   msg.user_action());
    }
    return true;
  }
  const auto change = context_.registry.AdjustCount(handle_, delta);
  context_.counters.count_updates.fetch_add(1, std::memory_order_relaxed);
  if (change && change->clamped && ShouldWarn(clamped_updates_)) {
    spdlog::warn("msg_server {} ({}): user count would go below zero; kept at 0 ({} so far)",
                 peer(), host_name_, clamped_updates_);
  }
  if (change) {
    spdlog::debug("msg_server {} ({}): user {} {} -> {}", peer(), host_name_, msg.user_id(),
                  delta > 0 ? "came" : "left", change->count);
  }
  return true;
}

void MsgServerConnection::OnClose(std::string_view reason) {
  if (!handle_.valid()) {
    spdlog::debug("msg_server connection {} closed before registering ({})", peer(), reason);
    return;
  }
  const auto info = context_.registry.Get(handle_);
  context_.registry.Remove(handle_);
  handle_ = {};
  spdlog::info("msg_server {} removed ({}): host_name={} port={} users dropped={}", peer(), reason,
               host_name_, info ? info->port : 0, info ? info->cur_conn_cnt : 0);
}

bool MsgServerConnection::ShouldWarn(std::uint64_t& counter) {
  ++counter;
  return counter <= kWarnFirst || counter % kWarnEvery == 0;
}

}  // namespace ttlogin::server
