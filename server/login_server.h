// LoginServer: wires the three listeners, the io loops and the registry together.
//
// Threads: the main thread runs the accept loop and the signal handling; IoThreads loops run the
// connections. Shutdown (SIGINT/SIGTERM or Stop()) closes the acceptors, stops the loops and
// destroys every connection, which removes its msg_server from the registry.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>

#include "common/login_server_config.h"
#include "server/io_thread_pool.h"
#include "server/listener.h"
#include "server/registry/msg_server_registry.h"
#include "server/server_context.h"

namespace ttlogin::server {

class LoginServer {
 public:
  explicit LoginServer(common::LoginServerConfig config);
  ~LoginServer();
  LoginServer(const LoginServer&) = delete;
  LoginServer& operator=(const LoginServer&) = delete;

  // Binds every listener. Returns an empty string, or the reason (e.g. a port in use).
  std::string Bind();
  // Serves until SIGINT/SIGTERM or Stop(). Call after a successful Bind().
  void Run();
  // Asks Run() to return; safe from any thread.
  void Stop();

  // "client" / "http" / "msg_server" and their bound endpoints, for --ready-file and tests.
  std::vector<std::pair<std::string, std::vector<asio::ip::tcp::endpoint>>> Endpoints() const;

  registry::MsgServerRegistry& registry() { return registry_; }
  const Metrics& metrics() const { return metrics_; }

 private:
  void Shutdown(const std::string& why);
  void DrainAcceptLoop();

  common::LoginServerConfig config_;
  registry::MsgServerRegistry registry_;
  Metrics metrics_;
  ServerContext context_;
  asio::io_context accept_io_{1};
  asio::signal_set signals_;
  IoThreadPool pool_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  bool stopping_ = false;
};

}  // namespace ttlogin::server
