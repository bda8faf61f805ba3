#include "server/login_server.h"

#include <csignal>
#include <thread>

#include <spdlog/spdlog.h>

#include "server/client_connection.h"
#include "server/http/http_connection.h"
#include "server/msg_server_connection.h"

namespace ttlogin::server {
namespace {

std::size_t ThreadCount(unsigned configured) {
  if (configured != 0) return configured;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

// Makes a connection of type T for an accepted socket and starts it on the socket's own loop.
template <typename T>
Listener::Factory MakeFactory(ServerContext& context) {
  return [&context](asio::ip::tcp::socket socket) {
    auto executor = socket.get_executor();
    auto connection = std::make_shared<T>(std::move(socket), context);
    asio::post(executor, [connection] { connection->Start(); });
  };
}

}  // namespace

LoginServer::LoginServer(common::LoginServerConfig config)
    : config_(std::move(config)),
      registry_(registry::MsgServerRegistry::kDefaultShardCount, config_.max_msg_servers),
      context_{config_, registry_, metrics_},
      signals_(accept_io_, SIGINT, SIGTERM),
      pool_(ThreadCount(config_.io_threads)) {
  listeners_.push_back(std::make_unique<Listener>(ListenerKind::kMsgServer, accept_io_, pool_,
                                                  metrics_,
                                                  MakeFactory<MsgServerConnection>(context_)));
  listeners_.push_back(std::make_unique<Listener>(
      ListenerKind::kClient, accept_io_, pool_, metrics_, MakeFactory<ClientConnection>(context_)));
  listeners_.push_back(std::make_unique<Listener>(ListenerKind::kHttp, accept_io_, pool_, metrics_,
                                                  MakeFactory<http::HttpConnection>(context_)));
}

LoginServer::~LoginServer() {
  DrainAcceptLoop();
  pool_.Stop();
}

void LoginServer::DrainAcceptLoop() {
  // A pending accept holds a socket that belongs to an io loop of the pool. Close the acceptors
  // and run their aborted handlers now, while the pool's loops still exist; otherwise destroying
  // the accept loop later would destroy those sockets after their loops.
  for (auto& l : listeners_) {
    l->Stop();
  }
  accept_io_.restart();
  accept_io_.poll();
}

std::string LoginServer::Bind() {
  const common::ListenerConfig* configs[] = {&config_.msg_server, &config_.client, &config_.http};
  const char* keys[] = {"MsgServerListenIP/MsgServerPort", "ClientListenIP/ClientPort",
                        "HttpListenIP/HttpPort"};
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    listeners_[i]->set_max_connections(configs[i]->max_connections);
    std::string error = listeners_[i]->Bind(*configs[i]);
    if (!error.empty()) return error + " (" + keys[i] + ")";
  }
  return {};
}

std::vector<std::pair<std::string, std::vector<asio::ip::tcp::endpoint>>> LoginServer::Endpoints()
    const {
  std::vector<std::pair<std::string, std::vector<asio::ip::tcp::endpoint>>> out;
  for (const auto& l : listeners_)
    out.emplace_back(l->name(), l->endpoints());
  return out;
}

void LoginServer::Run() {
  signals_.async_wait([this](const asio::error_code& ec, int signo) {
    if (ec) return;
    Shutdown(signo == SIGINT ? "SIGINT" : "SIGTERM");
  });
  pool_.Start();
  for (auto& l : listeners_)
    l->StartAccepting();
  spdlog::info(
      "login server running: {} io threads, MaxPduSize {} bytes, heartbeat {} s, "
      "msg_server timeout {} s",
      pool_.size(), config_.max_pdu_size, config_.heartbeat_interval.count(),
      config_.msg_server_timeout.count());
  accept_io_.run();
  DrainAcceptLoop();
  pool_.Stop();
  spdlog::info("login server stopped");
}

void LoginServer::Stop() {
  asio::post(accept_io_, [this] { Shutdown("stop requested"); });
}

void LoginServer::Shutdown(const std::string& why) {
  if (stopping_) return;
  stopping_ = true;
  const auto stats = registry_.Stats();
  spdlog::info(
      "shutting down ({}): closing listeners and {} msg_server connection(s) holding {} "
      "users",
      why, stats.registered, stats.users);
  for (auto& l : listeners_)
    l->Stop();
  signals_.cancel();
  accept_io_.stop();
}

}  // namespace ttlogin::server
