#include "server/session/msg_server_session.h"

#include <spdlog/spdlog.h>

#include "IM.Server.pb.h"
#include "common/log_rate_limiter.h"
#include "common/logging.h"
#include "common/protocol.h"
#include "server/registry/registration_check.h"

namespace ttlogin::server {
namespace {
// How often the registry's last-heard time is refreshed: operators read it in seconds.
constexpr auto kTouchInterval = std::chrono::seconds(1);

// How long another address's claim of this link's host_name:port waits for this link to be
// silent, in heartbeat intervals. One is not enough: a classic msg_server sends its heartbeat
// every 5 s from a 1 s timer, so a live link is routinely silent for 5-6 s, as long as the default
// HeartbeatInterval; a claimant retrying in a loop would win in that gap. Two intervals means the
// link has missed a heartbeat.
constexpr int kClaimSilenceHeartbeats = 2;

// Refused registrations are logged the first few times, then one in this many, process-wide: a
// peer that reconnects and sends its refused registration again must not flood the log.
constexpr common::LogSampling kRefusalSampling{10, 1000};
common::SharedLogSampledCount<kRefusalSampling> g_refused_registrations;

// Decodes one protobuf varint of at most 32 bits at `p`. Returns the byte after it, or nullptr
// when the encoding is longer than 5 bytes, does not fit 32 bits, or runs past `end`: those go
// to protobuf, which has its own rules for them.
const std::uint8_t* ReadVarint32(const std::uint8_t* p, const std::uint8_t* end,
                                 std::uint32_t& value) {
  std::uint32_t v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (p == end) return nullptr;
    const std::uint8_t byte = *p++;
    if (shift == 28 && byte > 0x0f) return nullptr;  // bits beyond 32, or a sixth byte
    v |= static_cast<std::uint32_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      value = v;
      return p;
    }
  }
  return nullptr;
}

// IMUserCntUpdate as every msg_server writes it: field 1 (varint), then field 2 (varint), and
// nothing else. Returns false for any other shape (fields swapped, repeated or unknown, long
// varints, truncation), which the caller hands to protobuf: the outcome on odd input is protobuf's.
bool ParseUserCntUpdateFast(std::span<const std::uint8_t> body, std::uint32_t& action,
                            std::uint32_t& user_id) {
  constexpr std::uint8_t kTagUserAction = (1 << 3) | 0;  // field 1, wire type varint
  constexpr std::uint8_t kTagUserId = (2 << 3) | 0;      // field 2, wire type varint
  const std::uint8_t* p = body.data();
  const std::uint8_t* const end = p + body.size();
  if (p == end || *p++ != kTagUserAction) return false;
  p = ReadVarint32(p, end, action);
  if (p == nullptr || p == end || *p++ != kTagUserId) return false;
  p = ReadVarint32(p, end, user_id);
  return p == end;
}

std::int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

common::SessionVerdict MsgServerSession::Heard(std::chrono::steady_clock::time_point now) {
  if (!handle_.valid() || now - last_touch_ < kTouchInterval) return Verdict();
  last_touch_ = now;
  if (!context_.registry.Touch(handle_, UnixMs())) LoseEntry();
  return Verdict();
}

void MsgServerSession::LoseEntry() {
  TTLOGIN_LOG_PER_PEER(
      spdlog::level::info,
      "msg_server {} ({}): its entry was taken over by a new registration of the same "
      "host_name:port; closing this link",
      peer_, host_name_);
  handle_ = {};
  close_reason_ = common::CloseReason::kEntryTakenOver;
}

registry::ClaimRule MsgServerSession::Rule() const {
  const auto heartbeat =
      std::chrono::duration_cast<std::chrono::milliseconds>(context_.config().heartbeat_interval);
  return registry::ClaimRule{peer_address_, UnixMs(), kClaimSilenceHeartbeats * heartbeat.count(),
                             link_};
}

bool MsgServerSession::Acceptable(const registry::MsgServerInfo& info) {
  const auto problem = registry::CheckRegistration(info);
  if (!problem) return true;
  if (problem->reason == "bad_port") {
    context_.metrics.Add(Counter::kRegistrationBadPort);
  } else if (problem->reason == "bad_host_name") {
    context_.metrics.Add(Counter::kRegistrationBadHostName);
  } else {
    context_.metrics.Add(Counter::kRegistrationBadAddress);
  }
  // EscapeForLog bounds what reaches the log: the field may be 64 KB.
  if (const std::uint64_t n = g_refused_registrations.Count()) {
    spdlog::warn(
        "msg_server {}: registration refused: {} {} (host_name={}); closing ({} refused so far)",
        peer_, problem->field, problem->detail, common::EscapeForLog(info.host_name), n);
  }
  close_reason_ = common::CloseReason::kRegistrationRefused;
  return false;
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

MsgServerSession::MsgServerSession(ServerContext& context, std::string peer, std::uint64_t link)
    : context_(context),
      peer_(std::move(peer)),
      peer_address_(registry::PeerAddressOf(peer_)),
      link_(link),
      decoder_(context.config().max_pdu_size) {}

MsgServerSession::~MsgServerSession() {
  if (handle_.valid() && context_.registry.Remove(handle_)) {
    context_.metrics.Add(Counter::kMsgServerRemoved);
  }
}

common::SessionVerdict MsgServerSession::OnBytes(std::span<const std::uint8_t> bytes) {
  if (close_reason_ != common::CloseReason::kNone) return Verdict();
  // A link whose entry another link took over (MsgServerRegistry::Claim) has nothing left to do.
  if (handle_.valid() && !context_.registry.Live(handle_)) {
    LoseEntry();
    return Verdict();
  }
  batching_ = !spdlog::should_log(spdlog::level::debug);
  const common::FrameError error =
      decoder_.Feed(bytes, [this](const common::DecodedFrame& frame) { return Dispatch(frame); });
  FlushPending();
  if (error != common::FrameError::kNone) {
    context_.metrics.Add(Counter::kErrorBadLength);
    TTLOGIN_LOG_PER_PEER(spdlog::level::warn,
                         "msg_server {}: protocol error: {}; closing the connection", peer_,
                         decoder_.error_text());
    close_reason_ = common::CloseReasonOf(error);
  }
  return Verdict();
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
        FlushRun();  // the updates before it apply to the entry as it was
        return HandleServInfo(frame);
      case common::kCidOtherUserCntUpdate:
        ++update_pdus_;
        return HandleUserCntUpdate(frame);
      default:
        break;
    }
  }
  context_.metrics.Add(Counter::kPduOther);
  if (unknown_commands_.Count() != 0) {
    TTLOGIN_LOG_PER_PEER(
        spdlog::level::warn,
        "msg_server {}: skipping unknown PDU service={:#06x} command={:#06x} length={}", peer_,
        h.service_id, h.command_id, h.length);
  }
  return true;
}

bool MsgServerSession::HandleServInfo(const common::DecodedFrame& frame) {
  IM::Server::IMMsgServInfo msg;
  if (!msg.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size()))) {
    context_.metrics.Add(Counter::kErrorBadBody);
    TTLOGIN_LOG_PER_PEER(spdlog::level::warn,
                         "msg_server {}: IMMsgServInfo body does not parse ({} bytes); closing",
                         peer_, frame.body.size());
    close_reason_ = common::CloseReason::kBadMsgServInfo;
    return false;
  }
  const bool again = handle_.valid();
  registry::MsgServerInfo info{msg.ip1(),          msg.ip2(),          msg.port(),
                               msg.max_conn_cnt(), msg.cur_conn_cnt(), msg.host_name()};
  if (!Acceptable(info)) return false;
  std::string warning = AddressWarning(msg.ip1(), msg.ip2());
  if (!warning.empty()) {
    TTLOGIN_LOG_PER_PEER(spdlog::level::warn, "msg_server {} (host_name={}): {}", peer_,
                         common::EscapeForLog(msg.host_name()), warning);
  }
  known_count_ = -1;  // the registry decides what the new info means for the count
  registry::ClaimResult claim;
  if (again) {
    claim = context_.registry.Reclaim(handle_, std::move(info), std::move(warning), Rule());
    if (claim.code == registry::ClaimCode::kGone) {
      LoseEntry();
      return false;
    }
  } else {
    const std::int64_t now = UnixMs();
    claim = context_.registry.Claim(
        std::move(info), registry::EntryMeta{peer_, now, now, std::move(warning), link_}, Rule());
  }
  if (claim.code == registry::ClaimCode::kFull) {
    context_.metrics.Add(Counter::kMsgServerRefused);
    TTLOGIN_LOG_PER_PEER(
        spdlog::level::err,
        "msg_server {}: registration of host_name={} refused: the registry is full "
        "(MaxMsgServers); closing",
        peer_, common::EscapeForLog(msg.host_name()));
    close_reason_ = common::CloseReason::kRegistryFull;
    return false;
  }
  if (claim.code == registry::ClaimCode::kSuperseded) {
    // This link's registration was read after the one of the msg_server's newer link (links are
    // served on several io threads): the newer link keeps the name, this one is done.
    context_.metrics.Add(Counter::kMsgServerDisplaced);
    TTLOGIN_LOG_PER_PEER(spdlog::level::info,
                         "msg_server {}: host_name={} port={} is held by the newer link from {}; "
                         "closing this older link",
                         peer_, common::EscapeForLog(msg.host_name()), msg.port(),
                         claim.holder_peer);
    close_reason_ = common::CloseReason::kEntryTakenOver;
    return false;
  }
  if (claim.code == registry::ClaimCode::kTaken) {
    context_.metrics.Add(Counter::kRegistrationNameTaken);
    if (const std::uint64_t n = g_refused_registrations.Count()) {
      spdlog::warn(
          "msg_server {}: registration refused: host_name={} port={} is held by the live link "
          "from {}, heard from within {} heartbeat intervals; closing ({} refused so far)",
          peer_, common::EscapeForLog(msg.host_name()), msg.port(), claim.holder_peer,
          kClaimSilenceHeartbeats, n);
    }
    close_reason_ = common::CloseReason::kHostPortTaken;
    return false;
  }
  if (claim.displaced) {
    context_.metrics.Add(Counter::kMsgServerDisplaced);
    TTLOGIN_LOG_PER_PEER(
        spdlog::level::info, "msg_server {}: host_name={} port={} taken over from the link from {}",
        peer_, common::EscapeForLog(msg.host_name()), msg.port(), claim.holder_peer);
  }
  if (again) {
    context_.metrics.Add(Counter::kMsgServerReplaced);
  } else {
    handle_ = claim.handle;
    context_.metrics.Add(Counter::kMsgServerRegistered);
  }
  host_name_ = common::EscapeForLog(msg.host_name());
  TTLOGIN_LOG_PER_PEER(spdlog::level::info,
                       "msg_server {} {}: host_name={} ip1={} ip2={} port={} cur={} max={}", peer_,
                       again ? "re-registered (entry replaced)" : "registered", host_name_,
                       common::EscapeForLog(msg.ip1()), common::EscapeForLog(msg.ip2()), msg.port(),
                       msg.cur_conn_cnt(), msg.max_conn_cnt());
  return true;
}

bool MsgServerSession::HandleUserCntUpdate(const common::DecodedFrame& frame) {
  std::uint32_t action = 0;
  std::uint32_t user_id = 0;
  if (!ParseUserCntUpdateFast(frame.body, action, user_id)) {
    IM::Server::IMUserCntUpdate msg;
    if (!msg.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size()))) {
      FlushRun();
      context_.metrics.Add(Counter::kErrorBadBody);
      TTLOGIN_LOG_PER_PEER(spdlog::level::warn,
                           "msg_server {}: IMUserCntUpdate body does not parse ({} bytes); closing",
                           peer_, frame.body.size());
      close_reason_ = common::CloseReason::kBadUserCntUpdate;
      return false;
    }
    action = msg.user_action();
    user_id = msg.user_id();
  }
  if (!handle_.valid()) {
    context_.metrics.Add(Counter::kUpdateBeforeRegistration);
    if (const std::uint64_t n = unregistered_updates_.Count()) {
      TTLOGIN_LOG_PER_PEER(
          spdlog::level::warn,
          "msg_server {}: user count update before IMMsgServInfo ignored ({} so far)", peer_, n);
    }
    return true;
  }
  std::int64_t delta;
  if (action == common::kUserActionInc) {
    delta = 1;
  } else if (action == common::kUserActionDec) {
    delta = -1;
  } else {
    context_.metrics.Add(Counter::kUpdateBadAction);
    if (bad_actions_.Count() != 0) {
      TTLOGIN_LOG_PER_PEER(spdlog::level::warn,
                           "msg_server {} ({}): unknown user_action {} ignored", peer_, host_name_,
                           action);
    }
    return true;
  }
  if (batching_ && known_count_ >= 0) {
    // Summing is exact while the count stays inside [0, registry::kMaxCount] at every step of
    // the run: the registry clamps there, so a run that would reach a bound is applied one by one.
    const std::int64_t after = known_count_ + run_delta_ + delta;
    if (after >= 0 && after <= std::int64_t{registry::kMaxCount}) {
      run_delta_ += delta;
      ++run_updates_;
      if (delta > 0) ++run_increments_;
      return true;
    }
  }
  FlushRun();
  ApplyOne(delta, user_id);
  return true;
}

void MsgServerSession::ApplyOne(std::int64_t delta, std::uint32_t user_id) {
  const auto change = context_.registry.AdjustCount(handle_, delta);
  context_.metrics.Add(Counter::kRegistryUpdates);
  known_count_ = change ? static_cast<std::int64_t>(change->count) : -1;
  if (!change) return;
  if (change->clamped) {
    context_.metrics.Add(Counter::kUpdateClamped);
    if (const std::uint64_t n = clamped_updates_.Count()) {
      TTLOGIN_LOG_PER_PEER(
          spdlog::level::warn,
          "msg_server {} ({}): user count would go below zero; kept at 0 ({} so far)", peer_,
          host_name_, n);
    }
  }
  TTLOGIN_LOG_PER_PEER(spdlog::level::debug, "msg_server {} ({}): user {} {} -> {}", peer_,
                       host_name_, user_id, delta > 0 ? "came" : "left", change->count);
}

void MsgServerSession::FlushRun() {
  if (run_updates_ == 0) return;
  context_.metrics.Add(Counter::kRegistryUpdates, run_updates_);
  const std::int64_t delta = run_delta_;
  const std::uint64_t increments = run_increments_;
  run_updates_ = 0;
  run_delta_ = 0;
  run_increments_ = 0;
  // As many up as down: the count is where it was, but each increment still settles an
  // assignment hold (docs/ROUTING.md), so the registry hears of them when holds are on.
  if (delta == 0 && (increments == 0 || context_.config().assignment_hold.count() == 0)) return;
  const auto change = context_.registry.AdjustCount(handle_, delta, increments);
  known_count_ = change ? static_cast<std::int64_t>(change->count) : -1;
  if (change && change->clamped) {
    // Cannot happen while only this link moves the count (the run was checked against it); if
    // it ever does, it is reported like any other clamp rather than hidden.
    context_.metrics.Add(Counter::kUpdateClamped);
    if (const std::uint64_t n = clamped_updates_.Count()) {
      TTLOGIN_LOG_PER_PEER(
          spdlog::level::warn,
          "msg_server {} ({}): user count would go below zero; kept at 0 ({} so far)", peer_,
          host_name_, n);
    }
  }
}

void MsgServerSession::FlushPending() {
  FlushRun();
  if (update_pdus_ != 0) {
    context_.metrics.Add(Counter::kPduUserCntUpdate, update_pdus_);
    update_pdus_ = 0;
  }
}

void MsgServerSession::Restore(registry::ServerHandle handle, std::string host_name,
                               std::int64_t known_count,
                               std::chrono::steady_clock::time_point last_touch,
                               std::span<const std::uint8_t> pending_frame) {
  handle_ = handle;
  host_name_ = std::move(host_name);
  known_count_ = known_count;
  last_touch_ = last_touch;
  // A partial frame: the decoder only keeps it (a whole one would be dispatched, as on a read).
  if (!pending_frame.empty()) (void)OnBytes(pending_frame);
}

void MsgServerSession::OnClosed(std::string_view reason) {
  if (!handle_.valid()) {
    TTLOGIN_LOG_PER_PEER(spdlog::level::debug,
                         "msg_server connection {} closed before registering ({})", peer_, reason);
    return;
  }
  const auto info = context_.registry.Get(handle_);
  const bool removed = context_.registry.Remove(handle_);
  handle_ = {};
  if (!removed) {
    TTLOGIN_LOG_PER_PEER(spdlog::level::info,
                         "msg_server {} closed ({}); its entry had been taken over by another link",
                         peer_, reason);
    return;
  }
  context_.metrics.Add(Counter::kMsgServerRemoved);
  TTLOGIN_LOG_PER_PEER(spdlog::level::info,
                       "msg_server {} removed ({}): host_name={} port={} users dropped={}", peer_,
                       reason, host_name_, info ? info->port : 0, info ? info->cur_conn_cnt : 0);
}

}  // namespace ttlogin::server
