// MsgServerConnection: a msg_server's long-lived link on the MsgServer port.
//
// The protocol lives in MsgServerSession; this class adds the socket's part: heartbeats after
// HeartbeatInterval without sending, and the drop after MsgServerTimeout of silence. It also
// decides whether the peer may use the port at all (MsgServerAllowFrom, the per-address cap):
// a refused connection is closed as it starts, before any byte is read.
#pragma once

#include <optional>
#include <string>

#include "server/net/connection.h"
#include "server/session/msg_server_session.h"
#include "server/session/server_context.h"

namespace ttlogin::server {

class MsgServerConnection final : public Connection {
 public:
  // `carried_link`: the link number a live upgrade carried (0: a new link, numbered now).
  MsgServerConnection(asio::ip::tcp::socket socket, ServerContext& context,
                      std::uint64_t carried_link = 0);
  ~MsgServerConnection() override;

  // --- Live upgrade ---
  bool Carriable() const { return Quiescent() && session_.carriable(); }
  MsgServerSession& session() { return session_; }
  // The largest link number given so far; links are numbered above `link` from now on (the new
  // process continues above the largest carried link).
  static std::uint64_t LastLink();
  static void NumberLinksAbove(std::uint64_t link);

 private:
  void OnStart() override;
  std::size_t OnData(std::span<const std::uint8_t> data) override;
  void OnTimer(Clock::time_point now) override;
  void OnClose(std::string_view reason) override;
  void ScheduleTimer();
  // Why this peer may not use the port, or nullopt; takes its per-address place when it may.
  std::optional<std::string> Admit();

  ServerContext& context_;
  MsgServerSession session_;
  std::string address_;              // the peer's address, without port
  bool holds_address_slot_ = false;  // counted in context_.msg_server_addresses
};

}  // namespace ttlogin::server
