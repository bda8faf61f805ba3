// MsgServerSession: the protocol of a msg_server link, from bytes to registry, with no socket.
//
// MsgServerConnection owns one and feeds it every read; fuzzers and unit tests feed it directly.
// Differences from the classic server, on purpose: counts never wrap below zero; updates before
// registration are ignored with a warning; a second IMMsgServInfo replaces the entry; unknown
// commands are skipped; a body that does not parse ends only this link.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/frame_decoder.h"
#include "server/server_context.h"

namespace ttlogin::server {

class MsgServerSession {
 public:
  MsgServerSession(ServerContext& context, std::string peer);
  // Leaves the registry if the link ended without OnClosed (server shutdown).
  ~MsgServerSession();
  MsgServerSession(const MsgServerSession&) = delete;
  MsgServerSession& operator=(const MsgServerSession&) = delete;

  // Feeds bytes from the peer. Returns the reason the link must close, or nullopt to go on.
  std::optional<std::string> OnBytes(std::span<const std::uint8_t> bytes);
  // The connection heard from the peer (any bytes); tells the registry at most once a second.
  void Heard(std::chrono::steady_clock::time_point now);
  // The link ended: removes the entry and its users from the registry, with a log line.
  void OnClosed(std::string_view reason);

  bool registered() const { return handle_.valid(); }
  registry::ServerHandle handle() const { return handle_; }
  const std::string& host_name() const { return host_name_; }
  const std::string& peer() const { return peer_; }

 private:
  bool Dispatch(const common::DecodedFrame& frame);
  bool HandleServInfo(const common::DecodedFrame& frame);
  bool HandleUserCntUpdate(const common::DecodedFrame& frame);
  // A warning when the msg_server advertises an address no remote client can reach.
  std::string AddressWarning(const std::string& ip1, const std::string& ip2) const;
  // Logs the first few of a kind of warning per link, then every 1000th, so a broken peer
  // cannot flood the log.
  static bool ShouldWarn(std::uint64_t& counter);

  ServerContext& context_;
  std::string peer_;
  common::FrameDecoder decoder_;
  registry::ServerHandle handle_;
  std::string host_name_;  // escaped, for log lines
  std::optional<std::string> close_reason_;
  std::chrono::steady_clock::time_point last_touch_{};
  std::uint64_t unregistered_updates_ = 0;
  std::uint64_t clamped_updates_ = 0;
  std::uint64_t unknown_commands_ = 0;
  std::uint64_t bad_actions_ = 0;
};

}  // namespace ttlogin::server
