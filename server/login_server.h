// LoginServer: wires the listeners, the io loops, the registry and the live config together.
//
// Threads: the main thread runs the accept loop and the signal handling; IoThreads loops run the
// connections. SIGINT/SIGTERM (or Stop()) close the acceptors, stop the loops and destroy every
// connection, which removes its msg_server from the registry. SIGHUP (or POST /reload on the
// admin port) re-reads the config file and applies what can change live. The file work of a
// reload runs on a thread of its own, so a slow or odd file never stalls the accept loop or an io
// loop; the result is published to the loops through LiveConfig.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <asio.hpp>

#include "common/login_server_config.h"
#include "server/admin/admin_backend.h"
#include "server/admin/admin_handler.h"
#include "server/net/address_limiter.h"
#include "server/net/io_thread_pool.h"
#include "server/net/listener.h"
#include "server/registry/msg_server_registry.h"
#include "server/session/live_config.h"
#include "server/session/metrics.h"
#include "server/session/msg_server_handler.h"
#include "server/session/server_context.h"

namespace ttlogin::server {

class UpgradeCoordinator;
struct UpgradeCommand;

class LoginServer final : public admin::AdminBackend {
 public:
  // `config_path` is what SIGHUP re-reads; empty disables reloading.
  LoginServer(common::LoginServerConfig config, std::string config_path,
              std::string version = "unknown");
  ~LoginServer() override;
  LoginServer(const LoginServer&) = delete;
  LoginServer& operator=(const LoginServer&) = delete;

  // Binds every listener. Returns an empty string, or the reason (e.g. a port in use).
  std::string Bind();
  // Serves until SIGINT/SIGTERM or Stop(). Call after a successful Bind().
  void Run();
  // Asks Run() to return; safe from any thread.
  void Stop();

  // admin::AdminBackend, for callers that must answer in place (POST /reload itself uses
  // ReloadAsync). Runs the reload on the reload thread and waits for its outcome at most
  // kReloadAnswerWait; a reload still running then finishes on its own and logs its outcome.
  admin::ReloadOutcome Reload(std::string_view trigger) override;
  // admin::AdminBackend: queues the reload on the reload thread, which calls `done` with its
  // outcome. No io loop waits for it. A reload still queued at shutdown is dropped unanswered
  // (its connection closes with the server).
  void ReloadAsync(std::string_view trigger,
                   std::function<void(const admin::ReloadOutcome&)> done) override;
  // Bounds how long Reload() waits. Every file is read non-blocking and refused unless regular, so
  // a reload normally takes milliseconds; only a stalled disk or a huge table reaches this.
  static constexpr std::chrono::seconds kReloadAnswerWait{3};
  std::string BuildVersion() const override { return version_; }

  // Live upgrade (SIGUSR2, POST /upgrade): how to start the new binary. Without it, an upgrade
  // fails with a reason.
  void set_upgrade_command(UpgradeCommand command);
  // admin::AdminBackend: runs a live upgrade on its own thread; `done` gets the outcome.
  void UpgradeAsync(std::string_view trigger,
                    std::function<void(const admin::UpgradeOutcome&)> done) override;

  // Listener names ("msg_server", "client", "http", "admin") and their bound endpoints.
  std::vector<std::pair<std::string, std::vector<asio::ip::tcp::endpoint>>> Endpoints() const;

  const Metrics& metrics() const { return metrics_; }

 private:
  void Shutdown(const std::string& why);
  void DrainAcceptLoop();
  void WaitForSignal();
  void ScheduleExpiry();
  admin::ReloadOutcome DoReload(std::string_view trigger);
  void StopReloadThread();
  // Live upgrade, old process: accepting again after a failed upgrade (accept loop), and, after
  // the commit, stopping once the connections kept here are done (bounded by UpgradeTimeout).
  void ResumeAcceptingAfterUpgrade();
  void FinishAfterHandover(pid_t new_pid);
  friend class UpgradeCoordinator;

  const common::LoginServerConfig startup_;  // what Bind() used; listeners need a restart
  const std::string config_path_;
  const std::string version_;
  LiveConfig live_config_;
  registry::MsgServerRegistry registry_;
  Metrics metrics_;
  AddressLimiter msg_server_addresses_;
  // Kept by the listeners and their connections, read by metrics_ at scrape time. Before pool_:
  // connections still queued on a loop are destroyed with it and count their closing here.
  std::array<ListenerStats, static_cast<std::size_t>(ListenerKind::kCount)> connection_stats_;
  ServerContext context_;
  http::MsgServerHandler msg_server_handler_;
  admin::AdminHandler admin_handler_;
  asio::io_context accept_io_{1};
  asio::signal_set signals_;
  asio::steady_timer expiry_timer_{accept_io_};
  IoThreadPool pool_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::mutex reload_mu_;
  bool stopping_ = false;
  bool handed_over_ = false;  // a live upgrade committed: the new process serves the state
  // Connections a live upgrade carried into this process, started by Run().
  std::vector<std::shared_ptr<Connection>> adopted_;
  // Last, so that it stops first: its reloads use everything above.
  asio::io_context reload_io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> reload_work_{
      reload_io_.get_executor()};
  std::thread reload_thread_;
  // Last of all: its upgrade thread uses everything above.
  std::unique_ptr<UpgradeCoordinator> upgrade_;
};

}  // namespace ttlogin::server
