// SessionVerdict: what a protocol session tells its connection after each read or timeout.
//
// Every session (Client port, MsgServer port, HTTP and admin ports) answers in this one shape, so
// each connection's read loop reads the same way and the metrics count every close the server
// decides by one reason code. It lives in common/ because the HTTP layer may not see the
// PDU sessions, and neither may see the connections.
//
// The continue path is the hot one (every read of every msg_server link): it carries no text, so
// returning it allocates nothing. Detail text is only filled when a connection is about to close.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace ttlogin::common {

// Why a session ended its connection. A new value needs a label in CloseReasonName (it names a
// metrics series, so it is never renamed) and a text in CloseReasonText.
enum class CloseReason : std::uint8_t {
  kNone,  // the verdict is "continue"
  // The exchange is over as the protocol intends: a client got its answer, an HTTP request
  // without keep-alive (or with a protocol switch) was answered.
  kAnswered,
  // Nothing (msg_server, idle HTTP) or no whole request (client) arrived in time.
  kTimeout,
  // PDU framing: the stream cannot be resynchronised.
  kPduLengthBelowHeader,
  kPduLengthAboveMax,
  // A PDU body that does not parse.
  kBadLoginRequest,   // IMMsgServReq
  kBadMsgServInfo,    // IMMsgServInfo
  kBadUserCntUpdate,  // IMUserCntUpdate
  // msg_server registration.
  kRegistrationRefused,  // a field failed CheckRegistration
  kRegistryFull,         // MaxMsgServers
  kHostPortTaken,        // another live link holds host_name:port
  kEntryTakenOver,       // a new link took this link's entry
  // HTTP requests refused by the parser (each answered with its status first).
  kHttpMalformed,               // 400: llhttp's grammar
  kHttpHeadTooLarge,            // 431
  kHttpBodyTooLarge,            // 413
  kHttpObsFold,                 // 400
  kHttpDuplicateHost,           // 400
  kHttpDuplicateAuthorization,  // 400
  kHttpMissingHost,             // 400
  kHttpBadPath,                 // 400
  kHttpRequestTimeout,          // 408: half a request when the deadline came
  kCount
};

// The reason's metrics label (snake_case, stable).
constexpr std::string_view CloseReasonName(CloseReason r) {
  switch (r) {
    case CloseReason::kNone:
      return "none";
    case CloseReason::kAnswered:
      return "answered";
    case CloseReason::kTimeout:
      return "timeout";
    case CloseReason::kPduLengthBelowHeader:
      return "pdu_length_below_header";
    case CloseReason::kPduLengthAboveMax:
      return "pdu_length_above_max";
    case CloseReason::kBadLoginRequest:
      return "bad_login_request";
    case CloseReason::kBadMsgServInfo:
      return "bad_msg_serv_info";
    case CloseReason::kBadUserCntUpdate:
      return "bad_user_cnt_update";
    case CloseReason::kRegistrationRefused:
      return "registration_refused";
    case CloseReason::kRegistryFull:
      return "registry_full";
    case CloseReason::kHostPortTaken:
      return "host_port_taken";
    case CloseReason::kEntryTakenOver:
      return "entry_taken_over";
    case CloseReason::kHttpMalformed:
      return "http_malformed";
    case CloseReason::kHttpHeadTooLarge:
      return "http_head_too_large";
    case CloseReason::kHttpBodyTooLarge:
      return "http_body_too_large";
    case CloseReason::kHttpObsFold:
      return "http_obs_fold";
    case CloseReason::kHttpDuplicateHost:
      return "http_duplicate_host";
    case CloseReason::kHttpDuplicateAuthorization:
      return "http_duplicate_authorization";
    case CloseReason::kHttpMissingHost:
      return "http_missing_host";
    case CloseReason::kHttpBadPath:
      return "http_bad_path";
    case CloseReason::kHttpRequestTimeout:
      return "http_request_timeout";
    case CloseReason::kCount:
      break;
  }
  return "unknown";
}

// The reason as the connection's close log line gives it ("msg_server ... removed (<text>)").
// The PDU texts are the ones operators have always seen in those lines.
constexpr std::string_view CloseReasonText(CloseReason r) {
  switch (r) {
    case CloseReason::kNone:
      return "none";
    case CloseReason::kAnswered:
      return "reply sent";
    case CloseReason::kTimeout:
      return "timeout";
    case CloseReason::kPduLengthBelowHeader:
    case CloseReason::kPduLengthAboveMax:
      return "protocol error";
    case CloseReason::kBadLoginRequest:
      return "bad IMMsgServReq";
    case CloseReason::kBadMsgServInfo:
      return "bad IMMsgServInfo";
    case CloseReason::kBadUserCntUpdate:
      return "bad IMUserCntUpdate";
    case CloseReason::kRegistrationRefused:
      return "registration refused";
    case CloseReason::kRegistryFull:
      return "registry full";
    case CloseReason::kHostPortTaken:
      return "host_name:port taken";
    case CloseReason::kEntryTakenOver:
      return "entry taken over";
    case CloseReason::kHttpMalformed:
    case CloseReason::kHttpObsFold:
    case CloseReason::kHttpDuplicateHost:
    case CloseReason::kHttpDuplicateAuthorization:
    case CloseReason::kHttpMissingHost:
    case CloseReason::kHttpBadPath:
      return "malformed HTTP request";
    case CloseReason::kHttpHeadTooLarge:
      return "request head too large";
    case CloseReason::kHttpBodyTooLarge:
      return "request body too large";
    case CloseReason::kHttpRequestTimeout:
      return "request not completed in time";
    case CloseReason::kCount:
      break;
  }
  return "unknown";
}

struct SessionVerdict {
  enum class Action : std::uint8_t {
    kContinue,        // keep reading
    kReplyThenClose,  // send what the session appended to the output, then close
    kClose,           // close now, dropping nothing the session wrote (it wrote nothing)
  };

  Action action = Action::kContinue;
  CloseReason reason = CloseReason::kNone;
  // For the connection's log line (an HTTP parse error's specifics); empty when the session
  // logged the close itself, and always on the continue path.
  std::string detail;

  [[nodiscard]] static SessionVerdict Continue() { return {}; }
  [[nodiscard]] static SessionVerdict ReplyThenClose(CloseReason reason, std::string detail = {}) {
    return {Action::kReplyThenClose, reason, std::move(detail)};
  }
  [[nodiscard]] static SessionVerdict Close(CloseReason reason, std::string detail = {}) {
    return {Action::kClose, reason, std::move(detail)};
  }

  [[nodiscard]] bool closes() const { return action != Action::kContinue; }
};

}  // namespace ttlogin::common
