#include "server/session/msg_server_handler.h"

#include "server/session/login_reply.h"
#include "server/session/routing.h"

namespace ttlogin::server::http {
namespace {

// A listener's three answer counters follow each other in Counter, in ChooseCode's order.
static_assert(static_cast<int>(Counter::kHttpAnswerAllFull) ==
              static_cast<int>(Counter::kHttpAnswerOk) + 2);
static_assert(static_cast<int>(Counter::kHttpsAnswerAllFull) ==
              static_cast<int>(Counter::kHttpsAnswerOk) + 2);

Counter AnswerCounter(Counter ok, registry::ChooseCode code) {
  std::size_t offset = 2;  // all full
  switch (code) {
    case registry::ChooseCode::kOk:
      offset = 0;
      break;
    case registry::ChooseCode::kNoMsgServer:
      offset = 1;
      break;
    case registry::ChooseCode::kAllFull:
      break;
  }
  return static_cast<Counter>(static_cast<std::size_t>(ok) + offset);
}

}  // namespace

MsgServerHandler::MsgServerHandler(ServerContext& context, ListenerKind listener)
    : context_(context),
      answer_ok_(listener == ListenerKind::kHttps ? Counter::kHttpsAnswerOk
                                                  : Counter::kHttpAnswerOk) {}

bool IsMsgServerPath(std::string_view url) {
  constexpr std::string_view kPath = "/msg_server";
  if (url.substr(0, kPath.size()) != kPath) return false;
  if (url.size() == kPath.size()) return true;
  const char next = url[kPath.size()];
  return next == '?' || next == '/';
}

void MsgServerHandler::CountError(int status) {
  switch (status) {
    case 404:
      context_.metrics.Add(Counter::kHttp404);
      return;
    case 405:
      context_.metrics.Add(Counter::kHttp405);
      return;
    case 408:
      context_.metrics.Add(Counter::kHttp408);
      return;
    case 413:
      context_.metrics.Add(Counter::kHttp413);
      return;
    case 431:
      context_.metrics.Add(Counter::kHttp431);
      return;
    default:
      context_.metrics.Add(Counter::kHttp400);
      context_.metrics.Add(Counter::kErrorHttpMalformed);
      return;
  }
}

void MsgServerHandler::Handle(const HttpRequest& request, bool keep_alive, std::string& out) {
  const auto method = static_cast<llhttp_method_t>(request.method);
  const bool head = method == HTTP_HEAD;
  if (!IsMsgServerPath(request.url)) {
    CountError(404);
    AppendJsonError(out, 404, "not found; use GET /msg_server", keep_alive);
    return;
  }
  if (method != HTTP_GET && method != HTTP_POST && !head) {
    CountError(405);
    AppendJsonError(out, 405, "method not allowed; use GET", keep_alive,
                    "Allow: GET, HEAD, POST\r\n");
    return;
  }
  const auto& config = context_.config();
  const registry::Choice choice = context_.registry.Choose({.extra = config.candidates});
  context_.metrics.Add(AnswerCounter(answer_ok_, choice.code));
  const bool prefer_ip2 = choice.code == registry::ChooseCode::kOk &&
                          PrefersIp2(config, request.peer, request.x_forwarded_for);
  AppendHttpResponse(out, 200,
                     BuildMsgServerJson(choice, config.msfs, config.discovery, prefer_ip2),
                     keep_alive, head);
}

}  // namespace ttlogin::server::http
