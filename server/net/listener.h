// Listener: the acceptors of one port on every address of its ';' list.
//
// Accepted sockets are created directly on the next io loop of the pool; the factory makes the
// connection, which is counted in the listener's ListenerStats and started on that loop. A
// failing accept (out of file descriptors) backs off briefly instead of spinning. Its accept
// handlers run on one thread (the accept loop's), which is what lets ListenerStats count accepts
// without a locked instruction.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>

#include "common/login_server_config.h"
#include "server/net/connection.h"
#include "server/net/io_thread_pool.h"
#include "server/net/listener_stats.h"

namespace ttlogin::server {

class Listener {
 public:
  // Makes the connection for an accepted socket (on the socket's loop, not started yet); the
  // listener counts it and Start()s it on that loop.
  using Factory = std::function<std::shared_ptr<Connection>(asio::ip::tcp::socket)>;

  // `name` is for the log; `stats` must outlive every connection the listener accepts.
  Listener(std::string name, asio::io_context& accept_context, IoThreadPool& pool,
           ListenerStats& stats, Factory factory);
  ~Listener();

  // Opens, binds and listens on every address. Returns an empty string or the reason it failed.
  [[nodiscard]] std::string Bind(const common::ListenerConfig& config);
  // Open connections beyond this are closed at accept and counted (0 = no limit).
  void set_max_connections(std::size_t n) { max_connections_ = n; }
  void StartAccepting();
  void Stop();

  // --- Live upgrade ---
  // Stops accepting; the sockets stay open and listening, so the kernel keeps queueing new
  // connections for whoever accepts next. On the accept loop. An accept that had already
  // completed is still handed to its connection.
  void PauseAccepting();
  // Accepts again after an upgrade that failed. On the accept loop.
  void ResumeAccepting();
  // The listening sockets, for the new process (this listener keeps its own descriptors).
  struct BoundSocket {
    int fd = -1;
    asio::ip::tcp::endpoint endpoint;
  };
  std::vector<BoundSocket> bound_sockets();
  // In the new process, instead of Bind(): takes over a listening socket (and owns `fd` from
  // then on, also on failure). Returns an empty string or the reason.
  [[nodiscard]] std::string Adopt(int fd);

  std::string_view name() const { return name_; }
  // The bound endpoints (the real port when the config said 0).
  std::vector<asio::ip::tcp::endpoint> endpoints() const;

 private:
  struct Acceptor;
  void Accept(Acceptor& acceptor);

  void Refuse(Acceptor& acceptor, asio::ip::tcp::socket socket);

  std::string name_;
  asio::io_context& accept_context_;
  IoThreadPool& pool_;
  ListenerStats& stats_;
  Factory factory_;
  std::size_t max_connections_ = 0;
  bool paused_ = false;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
};

}  // namespace ttlogin::server
