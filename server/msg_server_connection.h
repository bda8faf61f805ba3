// MsgServerConnection: a msg_server's long-lived link on the MsgServer port.
//
// Frames come from common::FrameDecoder; this class dispatches them to the registry. Differences
// from the classic server, on purpose: counts never wrap below zero; updates before registration
// are ignored with a warning; a second IMMsgServInfo replaces the entry; unknown commands are
// skipped; a body that does not parse closes only this connection.
#pragma once

#include <cstdint>
#include <string>

#include "common/frame_decoder.h"
#include "server/connection.h"
#include "server/server_context.h"

namespace ttlogin::server {

class MsgServerConnection final : public Connection {
 public:
  MsgServerConnection(asio::ip::tcp::socket socket, ServerContext& context);
  ~MsgServerConnection() override;

 private:
  void OnStart() override;
  void OnData(std::span<const std::uint8_t> data) override;
  void OnTimer(Clock::time_point now) override;
  void OnClose(std::string_view reason) override;

  bool Dispatch(const common::DecodedFrame& frame);
  bool HandleServInfo(const common::DecodedFrame& frame);
  bool HandleUserCntUpdate(const common::DecodedFrame& frame);
  void ScheduleTimer();
  // Logs the first few of a kind of warning per connection, then every 1000th, so a broken peer
  // cannot flood the log.
  bool ShouldWarn(std::uint64_t& counter);

  ServerContext& context_;
  common::FrameDecoder decoder_;
  registry::ServerHandle handle_;
  std::string host_name_;  // escaped, for log lines
  std::uint64_t unregistered_updates_ = 0;
  std::uint64_t clamped_updates_ = 0;
  std::uint64_t unknown_commands_ = 0;
  std::uint64_t bad_actions_ = 0;
};

}  // namespace ttlogin::server
