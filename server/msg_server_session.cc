#include "server/msg_server_session.h"

#include <spdlog/spdlog.h>

#include "IM.Server.pb.h"
#include "common/logging.h"
#include "common/protocol.h"

namespace ttlogin::server {
namespace {
constexpr std::uint64_t kWarnFirst = 5;
constexpr std::uint64_t kWarnEvery = 1000;
// How often the registry's last-heard time is refreshed: operators read it in seconds.
constexpr auto kTouchInterval = std::chrono::seconds(1);

std::int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

void MsgServerSession::Heard(std::chrono::steady_clock::time_point now) {
  if (!handle_.valid() || now - last_touch_ < kTouchInterval) return;
  last_touch_ = now;
  context_.registry.Touch(handle_, UnixMs());
}

std::string MsgServerSession::AddressWarning(const std::string& ip1, const std::string& ip2) const {
  if (!common::ListensBeyondLoopback(context_.config())) return {};
  const bool bad1 = common::IsLoopbackOrUnspecified(ip1);
  const bool bad2 = common::IsLoopbackOrUnspecified(ip2);
  if (!bad1 && !bad2) return {};
  std::string which = bad1 && bad2 ? "ip1 and ip2 are" : bad1 ? "ip1 is" : "ip2 is";
  return which +
         " a loopback or unspecified address, but clients connect from elsewhere: each "
         "would be told to connect to itself (check the msg_server's IpAddr1/IpAddr2)";
}

MsgServerSession::MsgServerSession(ServerContext& context, std::string peer)
    : context_(context), peer_(std::move(peer)), decoder_(context.config().max_pdu_size) {}

MsgServerSession::~MsgServerSession() {
  if (handle_.valid()) {
    context_.registry.Remove(handle_);
    context_.metrics.Add(Counter::kMsgServerRemoved);
  }
}

std::optional<std::string> MsgServerSession::OnBytes(std::span<const std::uint8_t> bytes) {
  if (close_reason_) return close_reason_;
  const std::string error =
      decoder_.Feed(bytes, [this](const common::DecodedFrame& frame) { return Dispatch(frame); });
  if (!error.empty()) {
    context_.metrics.Add(Counter::kErrorBadLength);
    spdlog::warn("msg_server {}: protocol error: {}; closing the connection", peer_, error);
    close_reason_ = "protocol error";
  }
  return close_reason_;
}

bool MsgServerSession::Dispatch(const common::DecodedFrame& frame) {
  const auto& h = frame.header;
  if (h.service_id == common::kSidOther) {
    switch (h.command_id) {
      case common::kCidOtherHeartbeat:
        context_.metrics.Add(Counter::kPduHeartbeat);
        return true;  // its arrival is all that matters
      case common::kCidOtherMsgServInfo:
        context_.metrics.Add(Counter::kPduMsgServInfo);
        return HandleServInfo(frame);
      case common::kCidOtherUserCntUpdate:
        context_.metrics.Add(Counter::kPduUserCntUpdate);
        return HandleUserCntUpdate(frame);
      default:
        break;
    }
  }
  context_.metrics.Add(Counter::kPduOther);
  if (ShouldWarn(unknown_commands_)) {
    spdlog::warn("msg_server {}: skipping unknown PDU service={:#06x} command={:#06x} length={}",
                 peer_, h.service_id, h.command_id, h.length);
  }
  return true;
}

bool MsgServerSession::HandleServInfo(const common::DecodedFrame& frame) {
  IM::Server::IMMsgServInfo msg;
  if (!msg.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size()))) {
    context_.metrics.Add(Counter::kErrorBadBody);
    spdlog::warn("msg_server {}: IMMsgServInfo body does not parse ({} bytes); closing", peer_,
                 frame.body.size());
    close_reason_ = "bad IMMsgServInfo";
    return false;
  }
  const bool again = handle_.valid();
  registry::MsgServerInfo info{msg.ip1(),          msg.ip2(),          msg.port(),
                               msg.max_conn_cnt(), msg.cur_conn_cnt(), msg.host_name()};
  std::string warning = AddressWarning(msg.ip1(), msg.ip2());
  if (!warning.empty()) {
    spdlog::warn("msg_server {} (host_name={}): {}", peer_, common::EscapeForLog(msg.host_name()),
                 warning);
  }
  if (again) {
    context_.registry.Replace(handle_, std::move(info), std::move(warning));
    context_.metrics.Add(Counter::kMsgServerReplaced);
  } else {
    const std::int64_t now = UnixMs();
    handle_ = context_.registry.Register(std::move(info),
                                         registry::EntryMeta{peer_, now, now, std::move(warning)});
    if (!handle_.valid()) {
      context_.metrics.Add(Counter::kMsgServerRefused);
      spdlog::error(
          "msg_server {}: registration of host_name={} refused: the registry is full "
          "(MaxMsgServers); closing",
          peer_, common::EscapeForLog(msg.host_name()));
      close_reason_ = "registry full";
      return false;
    }
    context_.metrics.Add(Counter::kMsgServerRegistered);
  }
  host_name_ = common::EscapeForLog(msg.host_name());
  spdlog::info("msg_server {} {}: host_name={} ip1={} ip2={} port={} cur={} max={}", peer_,
               again ? "re-registered (entry replaced)" : "registered", host_name_,
               common::EscapeForLog(msg.ip1()), common::EscapeForLog(msg.ip2()), msg.port(),
               msg.cur_conn_cnt(), msg.max_conn_cnt());
  return true;
}

bool MsgServerSession::HandleUserCntUpdate(const common::DecodedFrame& frame) {
  IM::Server::IMUserCntUpdate msg;
  if (!msg.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size()))) {
    context_.metrics.Add(Counter::kErrorBadBody);
    spdlog::warn("msg_server {}: IMUserCntUpdate body does not parse ({} bytes); closing", peer_,
                 frame.body.size());
    close_reason_ = "bad IMUserCntUpdate";
    return false;
  }
  if (!handle_.valid()) {
    context_.metrics.Add(Counter::kUpdateBeforeRegistration);
    if (ShouldWarn(unregistered_updates_)) {
      spdlog::warn("msg_server {}: user count update before IMMsgServInfo ignored ({} so far)",
                   peer_, unregistered_updates_);
    }
    return true;
  }
  std::int64_t delta;
  if (msg.user_action() == common::kUserActionInc) {
    delta = 1;
  } else if (msg.user_action() == common::kUserActionDec) {
    delta = -1;
  } else {
    context_.metrics.Add(Counter::kUpdateBadAction);
    if (ShouldWarn(bad_actions_)) {
      spdlog::warn("msg_server {} ({}): unknown user_action {} ignored", peer_, host_name_,
                   msg.user_action());
    }
    return true;
  }
  const auto change = context_.registry.AdjustCount(handle_, delta);
  context_.metrics.Add(Counter::kRegistryUpdates);
  if (!change) return true;
  if (change->clamped) {
    context_.metrics.Add(Counter::kUpdateClamped);
    if (ShouldWarn(clamped_updates_)) {
      spdlog::warn("msg_server {} ({}): user count would go below zero; kept at 0 ({} so far)",
                   peer_, host_name_, clamped_updates_);
    }
  }
  spdlog::debug("msg_server {} ({}): user {} {} -> {}", peer_, host_name_, msg.user_id(),
                delta > 0 ? "came" : "left", change->count);
  return true;
}

void MsgServerSession::OnClosed(std::string_view reason) {
  if (!handle_.valid()) {
    spdlog::debug("msg_server connection {} closed before registering ({})", peer_, reason);
    return;
  }
  const auto info = context_.registry.Get(handle_);
  context_.registry.Remove(handle_);
  context_.metrics.Add(Counter::kMsgServerRemoved);
  handle_ = {};
  spdlog::info("msg_server {} removed ({}): host_name={} port={} users dropped={}", peer_, reason,
               host_name_, info ? info->port : 0, info ? info->cur_conn_cnt : 0);
}

bool MsgServerSession::ShouldWarn(std::uint64_t& counter) {
  ++counter;
  return counter <= kWarnFirst || counter % kWarnEvery == 0;
}

}  // namespace ttlogin::server
