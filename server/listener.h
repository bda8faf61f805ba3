// Listener: the acceptors of one port on every address of its ';' list.
//
// Accepted sockets are created directly on the next io loop of the pool, and the connection is
// started on that loop. A failing accept (out of file descriptors) backs off briefly instead of
// spinning.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>

#include "common/login_server_config.h"
#include "server/io_thread_pool.h"

namespace ttlogin::server {

class Listener {
 public:
  // Makes the connection object for an accepted socket; it is then Start()ed on its loop.
  using Factory = std::function<void(asio::ip::tcp::socket)>;

  Listener(std::string name, asio::io_context& accept_context, IoThreadPool& pool, Factory factory);
  ~Listener();

  // Opens, binds and listens on every address. Returns an empty string or the reason it failed.
  std::string Bind(const common::ListenerConfig& config);
  void StartAccepting();
  void Stop();

  const std::string& name() const { return name_; }
  // The bound endpoints (the real port when the config said 0).
  std::vector<asio::ip::tcp::endpoint> endpoints() const;

 private:
  struct Acceptor;
  void Accept(Acceptor& acceptor);

  std::string name_;
  asio::io_context& accept_context_;
  IoThreadPool& pool_;
  Factory factory_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
};

}  // namespace ttlogin::server
