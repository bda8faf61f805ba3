// ClientSession: the Client-port protocol with no socket. One CID_LOGIN_REQ_MSGSERVER gets one
// CID_LOGIN_RES_MSGSERVER carrying the request's seq_num; then the link is done. Heartbeats are
// accepted; other PDUs are logged and skipped.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/frame_decoder.h"
#include "server/session/server_context.h"

namespace ttlogin::server {

class ClientSession {
 public:
  enum class Outcome {
    kNeedMore,  // keep reading
    kReply,     // send `reply`, then close
    kClose,     // close now (protocol error); `reason` says why
  };
  struct Result {
    Outcome outcome = Outcome::kNeedMore;
    std::string reason;
  };

  ClientSession(ServerContext& context, std::string peer);

  // Feeds bytes from the peer; on kReply the answer PDU has been appended to `reply`.
  Result OnBytes(std::span<const std::uint8_t> bytes, std::string& reply);

 private:
  bool Dispatch(const common::DecodedFrame& frame, std::string& reply);

  ServerContext& context_;
  std::string peer_;
  common::FrameDecoder decoder_;
  Result result_;
  int unknown_pdus_ = 0;
};

}  // namespace ttlogin::server
