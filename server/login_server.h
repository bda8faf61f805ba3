// LoginServer: wires the listeners, the io loops, the registry and the live config together.
//
// Threads: the main thread runs the accept loop and the signal handling; IoThreads loops run the
// connections. SIGINT/SIGTERM (or Stop()) close the acceptors, stop the loops and destroy every
// connection, which removes its msg_server from the registry; with StopGrace set, a signal first
// turns /readyz to 503 for that long while everything still serves. SIGHUP (or POST /reload on the
// admin port) re-reads the config file and applies what can change live. The file work of a
// reload runs on a thread of its own, so a slow or odd file never stalls the accept loop or an io
// loop; the result is published to the loops through LiveConfig.
#pragma once

#include <array>
#include <atomic>
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
#include "server/https_connection.h"
#include "server/net/address_limiter.h"
#include "server/net/io_thread_pool.h"
#include "server/net/listener.h"
#include "server/registry/msg_server_registry.h"
#include "server/session/live_config.h"
#include "server/session/metrics.h"
#include "server/session/msg_server_handler.h"
#include "server/session/server_context.h"
#include "server/warm_start.h"

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

  // Loads the certificate and key of the HTTPS listener (nothing to do without HttpsPort).
  // Returns an empty string, or the error naming the config key (start-up exits with 2).
  std::string LoadTls();
  // The same checks without a server (--check-config): an empty string or the error; a warning
  // (expiry within 14 days) goes to `warning`.
  static std::string CheckTls(const common::LoginServerConfig& config, std::string* warning);
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
  bool Stopping() const override { return stop_grace_.load(std::memory_order_relaxed); }

  // Live upgrade (SIGUSR2, POST /upgrade): how to start the new binary. Without it, an upgrade
  // fails with a reason.
  void set_upgrade_command(UpgradeCommand command);
  // admin::AdminBackend: runs a live upgrade on its own thread; `done` gets the outcome.
  void UpgradeAsync(std::string_view trigger,
                    std::function<void(const admin::UpgradeOutcome&)> done) override;

  // Listener names ("msg_server", "client", "http", "admin", "https") and their bound endpoints.
  std::vector<std::pair<std::string, std::vector<asio::ip::tcp::endpoint>>> Endpoints() const;

  const Metrics& metrics() const { return metrics_; }

 private:
  void Shutdown(const std::string& why);
  void DrainAcceptLoop();
  void WaitForSignal();
  // The first stop signal with StopGrace set: /readyz turns 503, the rest serves on, and
  // Shutdown follows when the grace ends (or at once on a second signal).
  void BeginStopGrace(const char* signal_name, std::chrono::seconds grace);
  void ScheduleExpiry();
  // Warm start (server/warm_start.h): restores the snapshot before the listeners accept, writes
  // it every StateWriter::kInterval on the reload thread, and once more at a clean stop.
  void RestoreState();
  void ScheduleStateWrite();
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
  http::MsgServerHandler https_handler_;  // the same answers, counted under listener="https"
  admin::AdminHandler admin_handler_;
  // HTTPS: the certificate new handshakes use, the handshakes in progress, and the ticket keys
  // every context shares (so a certificate reload keeps resumption working).
  HttpsShared https_;
  std::shared_ptr<tls::TicketKeys> ticket_keys_ = std::make_shared<tls::TicketKeys>();
  Listener* https_listener_ = nullptr;
  asio::io_context accept_io_{1};
  asio::signal_set signals_;
  asio::steady_timer expiry_timer_{accept_io_};
  asio::steady_timer grace_timer_{accept_io_};
  std::atomic<bool> stop_grace_{false};  // read by the admin listener's io thread
  IoThreadPool pool_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::mutex reload_mu_;
  bool stopping_ = false;
  bool handed_over_ = false;  // a live upgrade committed: the new process serves the state
  // This process took over from a live upgrade: its state came from the old process (provisional
  // entries included), so StateFile is not read at start.
  bool taken_over_ = false;
  // Connections a live upgrade carried into this process, started by Run().
  std::vector<std::shared_ptr<Connection>> adopted_;
  // Last, so that it stops first: its reloads use everything above.
  asio::io_context reload_io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> reload_work_{
      reload_io_.get_executor()};
  std::thread reload_thread_;
  // Null when StateFile is off. The timer runs on the reload thread, so it stops with it.
  std::unique_ptr<StateWriter> state_writer_;
  asio::steady_timer state_timer_{reload_io_};
  // Last of all: its upgrade thread uses everything above.
  std::unique_ptr<UpgradeCoordinator> upgrade_;
};

}  // namespace ttlogin::server
