// AdminHandler: the admin listener's routes. Kept off the public port, which serves only what
// clients need.
//
//   GET  /                            the status page (HTML; no token needed, it holds no data)
//   GET  /healthz                     200 while the process serves (no token needed)
//   GET  /readyz                      200 when a msg_server can be handed out, else 503 (no token);
//                                     503 "stopping" during StopGrace
//   GET  /metrics                     Prometheus text
//   GET  /servers                     the registry as JSON
//   POST /servers/{host:port}/drain   stop handing out that msg_server; it keeps its users
//   POST /servers/{host:port}/undrain
//   POST /reload                      re-read the config file (like SIGHUP)
//
// With AdminToken set, every route but the page and the probes needs
// "Authorization: Bearer <token>".
#pragma once

#include <mutex>
#include <string>

#include "server/admin/admin_backend.h"
#include "server/admin/prometheus_text.h"
#include "server/http/http_handler.h"
#include "server/session/server_context.h"

namespace ttlogin::server::admin {

class AdminHandler final : public http::HttpHandler {
 public:
  AdminHandler(ServerContext& context, AdminBackend& backend)
      : context_(context), backend_(backend) {}
  void Handle(const http::HttpRequest& request, bool keep_alive, std::string& out) override;

 private:
  bool Authorized(const http::HttpRequest& request) const;
  // A HEAD gets the GET's headers without the body: on a kept-alive connection a body would be
  // read as the next response.
  void StatusPage(bool keep_alive, bool head_only, std::string& out);
  void Metrics(bool keep_alive, bool head_only, std::string& out);
  void Servers(bool keep_alive, bool head_only, std::string& out);
  void Drain(std::string_view key, bool draining, bool keep_alive, std::string& out);
  void Reload(const http::HttpRequest& request, bool keep_alive, std::string& out);
  void Upgrade(const http::HttpRequest& request, bool keep_alive, std::string& out);

  ServerContext& context_;
  AdminBackend& backend_;
  std::mutex rate_mu_;  // several admin connections may scrape at once
  UpdateRate update_rate_;
};

// The registry as the JSON of GET /servers.
std::string ServersJson(const registry::MsgServerRegistry& registry);

}  // namespace ttlogin::server::admin
