#include "server/login_server.h"

#include <csignal>
#include <ctime>
#include <future>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/logging.h"
#include "server/client_connection.h"
#include "server/http_connection.h"
#include "server/https_connection.h"
#include "server/msg_server_connection.h"
#include "server/session/routing.h"
#include "server/upgrade_coordinator.h"

namespace ttlogin::server {
namespace {

std::size_t ThreadCount(unsigned configured) {
  if (configured != 0) return configured;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

// Makes a connection for an accepted socket (the listener counts and starts it).
template <typename T>
Listener::Factory MakeFactory(ServerContext& context) {
  return [&context](asio::ip::tcp::socket socket) -> std::shared_ptr<Connection> {
    return std::make_shared<T>(std::move(socket), context);
  };
}

std::int64_t UnixMsNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

tls::TlsSettings TlsSettingsOf(const common::LoginServerConfig& c) {
  tls::TlsSettings s;
  s.certificate_file = c.tls_certificate_file;
  s.private_key_file = c.tls_private_key_file;
  s.min_version = c.tls_min_version == "1.3" ? tls::TlsVersion::k13 : tls::TlsVersion::k12;
  s.ciphers = c.tls_ciphers;
  s.cipher_suites = c.tls_cipher_suites;
  return s;
}

std::string Describe(const common::ListenerConfig& l) {
  std::string out;
  for (const auto& a : l.addresses)
    out += (out.empty() ? "" : ";") + a;
  return out + " port " + std::to_string(l.port);
}

}  // namespace

LoginServer::LoginServer(common::LoginServerConfig config, std::string config_path,
                         std::string version)
    : startup_(config),
      config_path_(std::move(config_path)),
      version_(std::move(version)),
      live_config_(std::move(config)),
      registry_(registry::MsgServerRegistry::kDefaultShardCount, startup_.max_msg_servers),
      context_{live_config_, registry_, metrics_, &msg_server_addresses_},
      msg_server_handler_(context_, ListenerKind::kHttp),
      https_handler_(context_, ListenerKind::kHttps),
      admin_handler_(context_, *this),
      signals_(accept_io_, SIGINT, SIGTERM),
      pool_(ThreadCount(startup_.io_threads)) {
  signals_.add(SIGHUP);
  signals_.add(SIGUSR2);
  registry_.SetRouting(RoutingOptionsOf(startup_));
  metrics_.set_connection_counts([this](ListenerKind kind) {
    const ListenerStats::Counts n = connection_stats_[static_cast<std::size_t>(kind)].Read();
    return ConnectionCounts{n.accepted, n.refused, n.opened, n.closed};
  });
  auto add_listener = [this](ListenerKind kind, Listener::Factory factory) {
    listeners_.push_back(std::make_unique<Listener>(
        std::string(ListenerName(kind)), accept_io_, pool_,
        connection_stats_[static_cast<std::size_t>(kind)], std::move(factory)));
  };
  add_listener(ListenerKind::kMsgServer, MakeFactory<MsgServerConnection>(context_));
  add_listener(ListenerKind::kClient, MakeFactory<ClientConnection>(context_));
  add_listener(ListenerKind::kHttp,
               [this](asio::ip::tcp::socket socket) -> std::shared_ptr<Connection> {
                 return std::make_shared<http::HttpConnection>(
                     std::move(socket), context_, msg_server_handler_, ListenerKind::kHttp);
               });
  if (startup_.admin_enabled) {
    add_listener(ListenerKind::kAdmin,
                 [this](asio::ip::tcp::socket socket) -> std::shared_ptr<Connection> {
                   return std::make_shared<http::HttpConnection>(
                       std::move(socket), context_, admin_handler_, ListenerKind::kAdmin);
                 });
  }
  if (!startup_.state_file.empty()) {
    state_writer_ =
        std::make_unique<StateWriter>(startup_.state_file, registry_, metrics_, version_);
  }
  if (startup_.https_enabled) {
    add_listener(ListenerKind::kHttps,
                 [this](asio::ip::tcp::socket socket) -> std::shared_ptr<Connection> {
                   return std::make_shared<HttpsConnection>(std::move(socket), context_, https_,
                                                            https_handler_);
                 });
    https_listener_ = listeners_.back().get();
  }
  metrics_.set_tls_gauges([this] {
    TlsGauges g;
    g.enabled = startup_.https_enabled;
    g.handshakes_in_progress = https_.handshakes_in_progress.load(std::memory_order_relaxed);
    if (const auto context = https_.context.Get()) g.certificate_not_after = context->not_after();
    return g;
  });
  reload_thread_ = std::thread([this] { reload_io_.run(); });
}

LoginServer::~LoginServer() {
  upgrade_.reset();  // an upgrade still running ends (bounded) before anything it uses
  StopReloadThread();
  DrainAcceptLoop();
  pool_.Stop();
}

void LoginServer::StopReloadThread() {
  reload_work_.reset();
  reload_io_.stop();  // a queued reload is dropped: its caller sees "server is stopping"
  if (reload_thread_.joinable()) reload_thread_.join();
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

std::string LoginServer::LoadTls() {
  if (!startup_.https_enabled) return {};
  const tls::TlsContext::LoadResult loaded =
      tls::TlsContext::Load(TlsSettingsOf(startup_), ticket_keys_, std::time(nullptr));
  if (!loaded.context) return loaded.error;
  if (!loaded.warning.empty()) spdlog::warn("{}", loaded.warning);
  https_.context.Set(loaded.context);
  spdlog::info("HTTPS: certificate {} (expires at Unix time {}), TLS {} and up",
               loaded.context->subject(), loaded.context->not_after(), startup_.tls_min_version);
  return {};
}

std::string LoginServer::CheckTls(const common::LoginServerConfig& config, std::string* warning) {
  if (!config.https_enabled) return {};
  const tls::TlsContext::LoadResult loaded = tls::TlsContext::Load(
      TlsSettingsOf(config), std::make_shared<tls::TicketKeys>(), std::time(nullptr));
  if (warning != nullptr) *warning = loaded.warning;
  return loaded.context ? std::string() : loaded.error;
}

std::string LoginServer::Bind() {
  if (startup_.https_enabled && !https_.context.Get()) {
    if (std::string error = LoadTls(); !error.empty()) return error;
  }
  struct Spec {
    const common::ListenerConfig* config;
    const char* keys;
  };
  std::vector<Spec> specs = {{&startup_.msg_server, "MsgServerListenIP/MsgServerPort"},
                             {&startup_.client, "ClientListenIP/ClientPort"},
                             {&startup_.http, "HttpListenIP/HttpPort"}};
  if (startup_.admin_enabled) specs.push_back({&startup_.admin, "AdminListenIP/AdminPort"});
  if (startup_.https_enabled) specs.push_back({&startup_.https, "HttpsListenIP/HttpsPort"});
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    listeners_[i]->set_max_connections(specs[i].config->max_connections);
    std::string error = listeners_[i]->Bind(*specs[i].config);
    if (!error.empty()) return error + " (" + specs[i].keys + ")";
  }
  return {};
}

std::vector<std::pair<std::string, std::vector<asio::ip::tcp::endpoint>>> LoginServer::Endpoints()
    const {
  std::vector<std::pair<std::string, std::vector<asio::ip::tcp::endpoint>>> out;
  for (const auto& l : listeners_)
    out.emplace_back(std::string(l->name()), l->endpoints());
  return out;
}

void LoginServer::WaitForSignal() {
  signals_.async_wait([this](const asio::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      asio::post(reload_io_, [this] { DoReload("SIGHUP"); });
      WaitForSignal();
      return;
    }
    if (signo == SIGUSR2) {
      UpgradeAsync("SIGUSR2", [](const admin::UpgradeOutcome&) {});  // it logs its outcome
      WaitForSignal();
      return;
    }
    const char* name = signo == SIGINT ? "SIGINT" : "SIGTERM";
    const std::chrono::seconds grace = live_config_.Get().stop_grace;
    if (grace.count() > 0 && !stop_grace_.load()) {
      BeginStopGrace(name, grace);
      WaitForSignal();
      return;
    }
    Shutdown(stop_grace_.load() ? std::string(name) + " during StopGrace" : std::string(name));
  });
}

void LoginServer::BeginStopGrace(const char* signal_name, std::chrono::seconds grace) {
  stop_grace_.store(true);
  spdlog::info(
      "{}: stopping in {} s (StopGrace): /readyz answers 503 \"stopping\" meanwhile, everything "
      "else still serves; a second SIGTERM or SIGINT stops at once",
      signal_name, grace.count());
  grace_timer_.expires_after(grace);
  grace_timer_.async_wait([this, signal_name](const asio::error_code& ec) {
    if (ec || stopping_) return;
    Shutdown(std::string(signal_name) + ", StopGrace over");
  });
}

void LoginServer::ScheduleExpiry() {
  // Assignment holds and slow start windows also end when their shard is next touched; this
  // ends them in shards nobody touches. Cheap when neither is on (one atomic per shard).
  expiry_timer_.expires_after(std::chrono::milliseconds(100));
  expiry_timer_.async_wait([this](const asio::error_code& ec) {
    if (ec || stopping_) return;
    registry_.Expire();
    if (const std::size_t removed = registry_.EndProvisional()) {
      spdlog::info(
          "warm start: WarmStartGrace ({} s) is over: removed {} provisional msg_server(s) that "
          "did not register again",
          startup_.warm_start_grace.count(), removed);
    }
    ScheduleExpiry();
  });
}

void LoginServer::RestoreState() {
  if (startup_.state_file.empty()) {
    spdlog::info("cold start: StateFile is not set (no warm start)");
    return;
  }
  const WarmStartResult result =
      WarmStart(registry_, startup_.state_file, startup_.warm_start_max_age,
                startup_.warm_start_grace, UnixMsNow());
  if (result.warning) {
    spdlog::warn("{}", result.message);
  } else {
    spdlog::info("{}", result.message);
  }
}

void LoginServer::ScheduleStateWrite() {
  state_timer_.expires_after(StateWriter::kInterval);
  state_timer_.async_wait([this](const asio::error_code& ec) {
    if (ec) return;
    state_writer_->Tick(UnixMsNow());
    ScheduleStateWrite();
  });
}

void LoginServer::Run() {
  WaitForSignal();
  // Before the first accept, so the first client is answered from the restored state.
  if (taken_over_) {
    if (!startup_.state_file.empty()) {
      spdlog::info("warm start: not needed, the state came with the live upgrade");
    }
  } else {
    RestoreState();
  }
  ScheduleExpiry();
  if (state_writer_) asio::post(reload_io_, [this] { ScheduleStateWrite(); });
  pool_.Start();
  // Connections carried by a live upgrade first: they were waiting longest.
  for (auto& c : adopted_)
    asio::post(c->executor(), [c] { c->Start(); });
  adopted_.clear();
  for (auto& l : listeners_)
    l->StartAccepting();
  spdlog::info(
      "login server running: {} io threads, MaxPduSize {} bytes, heartbeat {} s, msg_server "
      "timeout {} s{}",
      pool_.size(), startup_.max_pdu_size, startup_.heartbeat_interval.count(),
      startup_.msg_server_timeout.count(),
      startup_.admin_enabled ? "" : ", no admin listener (AdminPort not set)");
  spdlog::info(
      "routing: Policy {}, SlowStart {} s (from {}%), AssignmentHold {} ms, Candidates {}, "
      "NetworkTable {}, TrustedProxies {}",
      startup_.policy, startup_.slow_start.count(), startup_.slow_start_min_share,
      startup_.assignment_hold.count(), startup_.candidates,
      startup_.network_table ? startup_.network_table_file + " (" +
                                   std::to_string(startup_.network_table->size()) + " networks)"
                             : std::string("off"),
      startup_.trusted_proxies ? std::to_string(startup_.trusted_proxies->size()) + " networks"
                               : std::string("none"));
  accept_io_.run();
  // The msg_server connections still hold their entries here; stopping the pool removes them.
  // After a live upgrade the new process writes StateFile; a last write here would replace its
  // snapshot with this process's, which no longer holds the carried links.
  if (state_writer_ && !handed_over_ && state_writer_->Final(UnixMsNow())) {
    spdlog::info("StateFile: snapshot of {} msg_server(s) written to {}",
                 registry_.Stats().registered, state_writer_->path());
  }
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
  if (handed_over_) {
    spdlog::info("shutting down ({})", why);
  } else {
    const auto stats = registry_.Stats();
    spdlog::info(
        "shutting down ({}): closing listeners and {} msg_server connection(s) holding {} users",
        why, stats.registered, stats.users);
  }
  for (auto& l : listeners_)
    l->Stop();
  signals_.cancel();
  expiry_timer_.cancel();
  grace_timer_.cancel();
  accept_io_.stop();
}

void LoginServer::set_upgrade_command(UpgradeCommand command) {
  upgrade_ = std::make_unique<UpgradeCoordinator>(*this, std::move(command));
}

void LoginServer::UpgradeAsync(std::string_view trigger,
                               std::function<void(const admin::UpgradeOutcome&)> done) {
  // The operator asked this server to stop: a new process would not know, and serve on.
  if (stop_grace_.load()) {
    spdlog::warn("live upgrade ({}) refused: the server is stopping (StopGrace)", trigger);
    admin::UpgradeOutcome out;
    out.error = "the server is stopping (StopGrace): no live upgrade";
    done(out);
    return;
  }
  if (!upgrade_) {
    AdminBackend::UpgradeAsync(trigger, std::move(done));
    return;
  }
  upgrade_->Start(std::string(trigger), std::move(done));
}

void LoginServer::ResumeAcceptingAfterUpgrade() {
  if (stopping_) return;
  for (auto& l : listeners_)
    l->ResumeAccepting();
}

admin::ReloadOutcome LoginServer::Reload(std::string_view trigger) {
  auto task = std::make_shared<std::packaged_task<admin::ReloadOutcome()>>(
      [this, trigger = std::string(trigger)] { return DoReload(trigger); });
  std::future<admin::ReloadOutcome> outcome = task->get_future();
  asio::post(reload_io_, [task] { (*task)(); });
  admin::ReloadOutcome out;
  if (outcome.wait_for(kReloadAnswerWait) != std::future_status::ready) {
    out.errors.push_back("the reload is still running after " +
                         std::to_string(kReloadAnswerWait.count()) +
                         " s; it goes on off the io loops and logs its outcome");
    return out;
  }
  try {
    return outcome.get();
  } catch (const std::future_error&) {
    out.errors.push_back("the server is stopping; no reload");
    return out;
  }
}

void LoginServer::ReloadAsync(std::string_view trigger,
                              std::function<void(const admin::ReloadOutcome&)> done) {
  asio::post(reload_io_, [this, trigger = std::string(trigger), done = std::move(done)] {
    done(DoReload(trigger));
  });
}

admin::ReloadOutcome LoginServer::DoReload(std::string_view trigger) {
  std::lock_guard lock(reload_mu_);
  admin::ReloadOutcome out;
  if (config_path_.empty()) {
    out.errors.push_back("no config file to reload");
    return out;
  }
  common::ConfigLoadResult loaded = common::LoadLoginServerConfig(config_path_);
  if (!loaded.ok()) {
    metrics_.Add(Counter::kReloadFailures);
    out.errors = loaded.errors;
    for (const auto& e : out.errors) {
      spdlog::error("reload ({}) refused, the running config stays in force: {}", trigger, e);
    }
    return out;
  }
  common::LoginServerConfig next = std::move(loaded.config);
  const auto current = live_config_.Snapshot();
  // What only a restart can change: keep the running value and say so.
  auto keep = [&](const char* what, bool changed, auto&& restore) {
    if (!changed) return;
    restore();
    out.notes.push_back(std::string(what) + " changed: needs a restart; keeping the running value");
  };
  keep("listen addresses or ports",
       Describe(next.client) != Describe(startup_.client) ||
           Describe(next.http) != Describe(startup_.http) ||
           Describe(next.msg_server) != Describe(startup_.msg_server) ||
           next.admin_enabled != startup_.admin_enabled ||
           next.https_enabled != startup_.https_enabled ||
           (next.https_enabled && Describe(next.https) != Describe(startup_.https)) ||
           (next.admin_enabled && Describe(next.admin) != Describe(startup_.admin)),
       [&] {
         const auto limits = std::make_tuple(next.client.max_connections, next.http.max_connections,
                                             next.msg_server.max_connections);
         next.client = startup_.client;
         next.http = startup_.http;
         next.msg_server = startup_.msg_server;
         next.admin = startup_.admin;
         next.admin_enabled = startup_.admin_enabled;
         const std::size_t https_limit = next.https.max_connections;
         next.https = startup_.https;
         next.https_enabled = startup_.https_enabled;
         next.https.max_connections = https_limit;
         std::tie(next.client.max_connections, next.http.max_connections,
                  next.msg_server.max_connections) = limits;
       });
  // The admin listener keeps its start-up addresses, so judge the new token against those: a
  // reload must not open a listener beyond loopback that start-up would have refused.
  const bool admin_open = common::AdminOpenBeyondLoopback(next);
  if (admin_open && next.admin_allow_insecure) {
    spdlog::warn(
        "reload ({}): INSECURE: AdminAllowInsecure=1 and no AdminToken: the running admin "
        "listener {} is open to anyone who reaches it",
        trigger, Describe(next.admin));
  }
  if (admin_open && !next.admin_allow_insecure) {
    metrics_.Add(Counter::kReloadFailures);
    out.errors.push_back(
        "AdminToken: the admin listener runs beyond loopback and the new config has no token; "
        "set AdminToken or AdminAllowInsecure=1");
    spdlog::error("reload ({}) refused, the running config stays in force: {}", trigger,
                  out.errors.back());
    return out;
  }
  // The HTTPS pair: loaded before anything changes, so a bad pair refuses the whole reload and
  // the running pair stays; connections keep the context they started with.
  std::shared_ptr<const tls::TlsContext> next_tls;
  if (startup_.https_enabled) {
    const tls::TlsContext::LoadResult loaded =
        tls::TlsContext::Load(TlsSettingsOf(next), ticket_keys_, std::time(nullptr));
    if (!loaded.context) {
      metrics_.Add(Counter::kReloadFailures);
      out.errors.push_back(loaded.error + " (the running certificate stays in use)");
      spdlog::error("reload ({}) refused, the running config stays in force: {}", trigger,
                    out.errors.back());
      return out;
    }
    if (!loaded.warning.empty()) {
      spdlog::warn("reload ({}): {}", trigger, loaded.warning);
      out.notes.push_back(loaded.warning);
    }
    next_tls = loaded.context;
  }
  keep("IoThreads", next.io_threads != startup_.io_threads,
       [&] { next.io_threads = startup_.io_threads; });
  keep("StateFile/WarmStartMaxAge/WarmStartGrace",
       next.state_file != startup_.state_file ||
           next.warm_start_max_age != startup_.warm_start_max_age ||
           next.warm_start_grace != startup_.warm_start_grace,
       [&] {
         next.state_file = startup_.state_file;
         next.warm_start_max_age = startup_.warm_start_max_age;
         next.warm_start_grace = startup_.warm_start_grace;
       });
  keep("LogFile/LogFormat/LogMaxSizeMB/LogMaxFiles",
       next.log_file != current->log_file || next.log_format != current->log_format ||
           next.log_max_size_mb != current->log_max_size_mb ||
           next.log_max_files != current->log_max_files,
       [&] {
         next.log_file = current->log_file;
         next.log_format = current->log_format;
         next.log_max_size_mb = current->log_max_size_mb;
         next.log_max_files = current->log_max_files;
       });
  if (next.msfs != current->msfs) out.notes.push_back("msfs: " + next.msfs);
  if (next.discovery != current->discovery) out.notes.push_back("discovery: " + next.discovery);
  if (next.log_level != current->log_level) {
    common::SetLogLevel(next.log_level);
    out.notes.push_back("LogLevel: " + next.log_level);
  }
  if (next.max_pdu_size != current->max_pdu_size) {
    out.notes.push_back("MaxPduSize: " + std::to_string(next.max_pdu_size) + " (new connections)");
  }
  registry_.set_max_servers(next.max_msg_servers);
  if (const registry::RoutingOptions routing = RoutingOptionsOf(next);
      !(routing == registry_.routing())) {
    registry_.SetRouting(routing);
    out.notes.push_back("routing: Policy " + next.policy + ", SlowStart " +
                        std::to_string(next.slow_start.count()) + " s, SlowStartMinShare " +
                        std::to_string(next.slow_start_min_share) + "%, AssignmentHold " +
                        std::to_string(next.assignment_hold.count()) + " ms");
  }
  if (next.candidates != current->candidates) {
    out.notes.push_back("Candidates: " + std::to_string(next.candidates));
  }
  if (next.network_table_file != current->network_table_file || next.network_table) {
    out.notes.push_back(next.network_table
                            ? "NetworkTable: " + next.network_table_file + " (" +
                                  std::to_string(next.network_table->size()) + " networks)"
                            : std::string("NetworkTable: off"));
  }
  const std::size_t limits[] = {next.msg_server.max_connections, next.client.max_connections,
                                next.http.max_connections};
  asio::post(accept_io_, [this, msg = limits[0], client = limits[1], http = limits[2],
                          https = next.https.max_connections] {
    listeners_[0]->set_max_connections(msg);
    listeners_[1]->set_max_connections(client);
    listeners_[2]->set_max_connections(http);
    if (https_listener_ != nullptr) https_listener_->set_max_connections(https);
  });
  for (const auto& w : loaded.warnings)
    spdlog::warn("reload: config: {}", w);
  if (next_tls) {
    const auto running = https_.context.Get();
    if (!running || running->subject() != next_tls->subject() ||
        running->not_after() != next_tls->not_after()) {
      out.notes.push_back("TLS certificate: " + next_tls->subject() + " (new handshakes)");
    }
    https_.context.Set(std::move(next_tls));
  }
  live_config_.Set(std::move(next));
  metrics_.Add(Counter::kReloads);
  out.ok = true;
  spdlog::info("reload ({}) applied from {}{}", trigger, config_path_,
               out.notes.empty() ? ": nothing changed" : "");
  for (const auto& n : out.notes)
    spdlog::info("reload: {}", n);
  return out;
}

}  // namespace ttlogin::server
