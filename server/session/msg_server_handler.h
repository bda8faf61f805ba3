// MsgServerHandler: the public HTTP port. GET (or POST, HEAD) /msg_server answers the classic
// JSON; other paths 404, other methods 405, each with a small JSON body. The HTTP and HTTPS
// ports each have their own handler, so their answers are counted under their own listener.
#pragma once

#include <string_view>

#include "server/http/http_handler.h"
#include "server/session/server_context.h"

namespace ttlogin::server::http {

class MsgServerHandler final : public HttpHandler {
 public:
  // `listener` is kHttp or kHttps: the answers' counters are chosen once, here, not per request.
  explicit MsgServerHandler(ServerContext& context, ListenerKind listener = ListenerKind::kHttp);
  void Handle(const HttpRequest& request, bool keep_alive, std::string& out) override;
  void CountError(int status) override;

 private:
  ServerContext& context_;
  Counter answer_ok_;  // then no msg_server, then all full: consecutive in Counter
};

// True when `url` names the msg_server resource: "/msg_server", optionally followed by a query
// string or a further path segment (the classic server matched by prefix).
bool IsMsgServerPath(std::string_view url);

}  // namespace ttlogin::server::http
