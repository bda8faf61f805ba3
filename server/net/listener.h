// Listener: the acceptors of one port on every address of its ';' list.
//
// Accepted sockets are created directly on the next io loop of the pool, and the connection is
// started on that loop. A failing accept (out of file descriptors) backs off briefly instead of
// spinning.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>

#include "common/login_server_config.h"
#include "server/net/io_thread_pool.h"
#include "server/session/metrics.h"

namespace ttlogin::server {

class Listener {
 public:
  // Makes the connection object for an accepted socket; it is then Start()ed on its loop.
  using Factory = std::function<void(asio::ip::tcp::socket)>;

  Listener(ListenerKind kind, asio::io_context& accept_context, IoThreadPool& pool,
           Metrics& metrics, Factory factory);
  ~Listener();

  // Opens, binds and listens on every address. Returns an empty string or the reason it failed.
  std::string Bind(const common::ListenerConfig& config);
  // Open connections beyond this are closed at accept and counted (0 = no limit).
  void set_max_connections(std::size_t n) { max_connections_ = n; }
  void StartAccepting();
  void Stop();

  std::string_view name() const { return ListenerName(kind_); }
  // The bound endpoints (the real port when the config said 0).
  std::vector<asio::ip::tcp::endpoint> endpoints() const;

 private:
  struct Acceptor;
  void Accept(Acceptor& acceptor);

  void Refuse(Acceptor& acceptor, asio::ip::tcp::socket socket);

  ListenerKind kind_;
  asio::io_context& accept_context_;
  IoThreadPool& pool_;
  Metrics& metrics_;
  Factory factory_;
  std::size_t max_connections_ = 0;
  std::uint64_t refused_ = 0;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
};

}  // namespace ttlogin::server
