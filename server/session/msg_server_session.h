// MsgServerSession: the protocol of a msg_server link, from bytes to registry, with no socket.
//
// MsgServerConnection owns one and feeds it every read; fuzzers and unit tests feed it directly.
// Differences from the classic server, on purpose: counts never wrap below zero; updates before
// registration are ignored with a warning; a second IMMsgServInfo replaces the entry; unknown
// commands are skipped; a body that does not parse ends only this link. A registration whose
// fields fail CheckRegistration (bad port, oversized host_name, ip1/ip2 not an address), or that
// claims a host_name:port another live link holds (MsgServerRegistry::Claim), is refused and ends
// the link: the msg_server sees the close and reconnects, as it does after any failure, so a
// claim refused only because the old link was still heard from succeeds on a later try. When a
// new link displaces this one's entry, this link ends at its next read.
//
// The update path is the hot one (millions of IMUserCntUpdate PDUs per second from a backlog), so
// a read's consecutive +1/-1 updates are summed and applied with one registry call, when that is
// provably the same as applying them one by one: the session knows the entry's count (only this
// link changes it), and the run never reaches 0 or 2^32-1 on the way. An update that would clamp
// ends the run and is applied alone, so every clamp is still detected, counted and logged. Bodies
// in the canonical two-varint encoding are decoded without protobuf; anything else goes through
// protobuf as before.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/frame_decoder.h"
#include "common/log_rate_limiter.h"
#include "common/session_verdict.h"
#include "server/session/server_context.h"

namespace ttlogin::server {

class MsgServerSession {
 public:
  // `link`: the order in which the connection was accepted (1, 2, ...), so that of two links
  // from one address the later one keeps the msg_server's name (registry::EntryMeta::link); 0
  // where there is no connection (tests, fuzzers).
  MsgServerSession(ServerContext& context, std::string peer, std::uint64_t link = 0);
  // Leaves the registry if the link ended without OnClosed (server shutdown).
  ~MsgServerSession();
  MsgServerSession(const MsgServerSession&) = delete;
  MsgServerSession& operator=(const MsgServerSession&) = delete;

  // Feeds bytes from the peer. Returns continue, or close with the reason (a msg_server is never
  // answered, so never reply-then-close). Once closed, every call returns the same verdict.
  [[nodiscard]] common::SessionVerdict OnBytes(std::span<const std::uint8_t> bytes);
  // The connection heard from the peer (any bytes); tells the registry at most once a second.
  // Returns close (kEntryTakenOver) when another link took this one's entry, else continue.
  [[nodiscard]] common::SessionVerdict Heard(std::chrono::steady_clock::time_point now);
  // The link ended: removes the entry and its users from the registry, with a log line.
  void OnClosed(std::string_view reason);

  // --- Live upgrade ---
  std::uint64_t link() const { return link_; }
  std::span<const std::uint8_t> pending_frame() const { return decoder_.pending(); }
  std::int64_t known_count() const { return known_count_; }
  std::chrono::steady_clock::time_point last_touch() const { return last_touch_; }
  // Whether the link can be carried: it goes on (no close decided).
  bool carriable() const { return close_reason_ == common::CloseReason::kNone; }
  // The new process holds the link and its entry now: forget the entry here without removing it
  // (no registry change, no log line).
  void Release() { handle_ = {}; }
  // In the new process, before the first byte: the carried entry (already in the registry), and
  // the bytes of the frame that was half-received.
  void Restore(registry::ServerHandle handle, std::string host_name, std::int64_t known_count,
               std::chrono::steady_clock::time_point last_touch,
               std::span<const std::uint8_t> pending_frame);

  bool registered() const { return handle_.valid(); }
  registry::ServerHandle handle() const { return handle_; }
  const std::string& host_name() const { return host_name_; }

 private:
  bool Dispatch(const common::DecodedFrame& frame);
  bool HandleServInfo(const common::DecodedFrame& frame);
  bool HandleUserCntUpdate(const common::DecodedFrame& frame);
  // Applies one update on its own, with the per-update checks and log lines.
  void ApplyOne(std::int64_t delta, std::uint32_t user_id);
  // Applies the pending run of updates (see the file comment) with one registry call.
  void FlushRun();
  // Flushes the run and the per-read counters into the registry and the metrics.
  void FlushPending();
  // The verdict for the link as it stands: continue, or close with close_reason_.
  common::SessionVerdict Verdict() const {
    return close_reason_ == common::CloseReason::kNone
               ? common::SessionVerdict::Continue()
               : common::SessionVerdict::Close(close_reason_);
  }
  // Refuses the registration (metric, log line, close) when its fields are not acceptable.
  bool Acceptable(const registry::MsgServerInfo& info);
  // What another link may do to this one's entry (see MsgServerRegistry::ClaimRule).
  registry::ClaimRule Rule() const;
  // The entry was displaced by another link: forget it and end this link.
  void LoseEntry();
  // A warning when the msg_server advertises an address no remote client can reach.
  std::string AddressWarning(const std::string& ip1, const std::string& ip2) const;
  // Each kind of warning is logged the first few times per link, then every 1000th, so a broken
  // peer cannot flood the log.
  static constexpr common::LogSampling kWarnSampling{5, 1000};
  using WarnCount = common::LogSampledCount<kWarnSampling>;

  ServerContext& context_;
  std::string peer_;
  std::string peer_address_;  // peer_ without the port
  std::uint64_t link_ = 0;
  common::FrameDecoder decoder_;
  registry::ServerHandle handle_;
  std::string host_name_;  // escaped, for log lines
  // Set once the link must end; kNone while it goes on.
  common::CloseReason close_reason_ = common::CloseReason::kNone;
  std::chrono::steady_clock::time_point last_touch_{};
  WarnCount unregistered_updates_;
  WarnCount clamped_updates_;
  WarnCount unknown_commands_;
  WarnCount bad_actions_;

  // The entry's count as the registry last reported it; -1 when unknown (after a registration or
  // a replacement, until the next update tells).
  std::int64_t known_count_ = -1;
  // The run of updates not yet applied: how many, and their sum. Only while OnBytes runs.
  std::uint64_t run_updates_ = 0;
  std::int64_t run_delta_ = 0;
  std::uint64_t run_increments_ = 0;  // the +1s of the run: each settles a hold
  // Whether updates may be summed in this read (not when debug logging wants one line each).
  bool batching_ = false;
  // IMUserCntUpdate PDUs seen in this read, added to the metrics once per read.
  std::uint64_t update_pdus_ = 0;
};

}  // namespace ttlogin::server
