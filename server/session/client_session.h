// ClientSession: the Client-port protocol with no socket. One CID_LOGIN_REQ_MSGSERVER gets one
// CID_LOGIN_RES_MSGSERVER carrying the request's seq_num; then the link is done. Heartbeats are
// accepted; other PDUs are logged and skipped. A broken frame or a request body that does not
// parse closes the link without an answer (the session logs why).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/frame_decoder.h"
#include "common/session_verdict.h"
#include "server/session/server_context.h"

namespace ttlogin::server {

class ClientSession {
 public:
  ClientSession(ServerContext& context, std::string peer);

  // Feeds bytes from the peer. On kReplyThenClose (reason kAnswered) the answer PDU has been
  // appended to `reply`. Once the session has closed, it returns the same verdict again.
  [[nodiscard]] common::SessionVerdict OnBytes(std::span<const std::uint8_t> bytes,
                                               std::string& reply);

 private:
  bool Dispatch(const common::DecodedFrame& frame, std::string& reply);

  ServerContext& context_;
  std::string peer_;
  common::FrameDecoder decoder_;
  common::SessionVerdict::Action action_ = common::SessionVerdict::Action::kContinue;
  common::CloseReason reason_ = common::CloseReason::kNone;
  int unknown_pdus_ = 0;
};

}  // namespace ttlogin::server
