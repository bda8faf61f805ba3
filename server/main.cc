// login_server: the command line. Exit codes: 0 clean stop, 1 runtime failure (e.g. a port in
// use), 2 bad command line or bad config.
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "common/command_line.h"
#include "common/logging.h"
#include "common/login_server_config.h"
#include "common/sd_notify.h"
#include "server/login_server.h"
#include "server/upgrade/child_process.h"
#include "server/upgrade/handover_channel.h"
#include "server/upgrade_coordinator.h"

#ifndef TTLOGIN_VERSION
#define TTLOGIN_VERSION "unknown"
#endif

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = ttlogin::common::kExitUsageError;

// --help and the man page login_server(8); the options are defined in main.
ttlogin::common::ToolDoc Doc() {
  ttlogin::common::ToolDoc doc;
  doc.name = "login_server";
  doc.man_section = 8;
  doc.summary = "TeamTalk-compatible login server";
  doc.synopsis = {"[OPTIONS]"};
  doc.description =
      "TeamTalk-compatible login server: msg_servers register and report their load on the "
      "MsgServer port; clients ask which msg_server to use over HTTP (GET /msg_server) or by "
      "PDU on the Client port.\n\n"
      "Every setting is in the config file (loginserver.conf(5)). SIGHUP reloads it without "
      "dropping a connection, SIGUSR2 starts a live upgrade to the binary now on disk, and "
      "SIGINT or SIGTERM stop gracefully (a second one stops at once).";
  doc.exit_status = {"Exit codes",
                     "",
                     {{"0", "stopped cleanly (SIGINT/SIGTERM), or --check-config found no error"},
                      {"1",
                       "could not start serving (a port in use, no permission, log file "
                       "unwritable)"},
                      {"2", "bad command line or bad config (each error names the key and line)"}}};
  doc.man_only = {{"Files",
                   "",
                   {{"./loginserver.conf", "the config file read when no --config is given"},
                    {"/etc/ttlogin/loginserver.conf", "the config file of the packaged service"}}}};
  doc.see_also = {"loginserver.conf(5)", "pdu_dump(1)", "load_replay(1)"};
  doc.version = std::string("login_server (ttlogin) ") + TTLOGIN_VERSION;
  return doc;
}

// Every connection is a file descriptor, and the default soft limit (often 1024) is far below what
// a login tier holds. Raise it to the hard limit and say what we got.
// Returns the soft limit in force afterwards (0 when unknown).
rlim_t RaiseOpenFilesLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  const rlim_t before = lim.rlim_cur;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      spdlog::warn("cannot raise the open-files limit from {} to {}: {}", before, lim.rlim_max,
                   std::strerror(errno));
      return before;
    }
  }
  spdlog::info("open-files limit: {} (was {})", lim.rlim_cur, before);
  return lim.rlim_cur;
}

// The limit start-up would reach (the hard limit), for --check-config.
rlim_t OpenFilesHardLimit() {
  rlimit lim{};
  return getrlimit(RLIMIT_NOFILE, &lim) == 0 ? lim.rlim_max : 0;
}

std::string OpenFilesLimitWarning(const ttlogin::common::LoginServerConfig& config, rlim_t limit) {
  if (limit == 0 || limit == RLIM_INFINITY) return {};
  return ttlogin::common::OpenFilesWarning(config, static_cast<std::uint64_t>(limit));
}

bool WriteReadyFile(const std::string& path, const ttlogin::server::LoginServer& server) {
  std::string json = "{\"pid\":" + std::to_string(getpid());
  for (const auto& [name, endpoints] : server.Endpoints()) {
    json += ",\"" + name + "\":[";
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      if (i > 0) json += ",";
      json += std::to_string(endpoints[i].port());
    }
    json += "]";
  }
  json += "}\n";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!(out << json) || !out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// The test hook TTLOGIN_HANDOVER_VERSION_OVERRIDE=<n>: this process claims handover protocol
// version n. Removed from the environment, so the binary it starts claims its real version.
std::uint32_t HandoverVersion() {
  std::uint32_t version = ttlogin::server::kHandoverProtocolVersion;
  if (const char* v = std::getenv("TTLOGIN_HANDOVER_VERSION_OVERRIDE")) {
    version = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
    unsetenv("TTLOGIN_HANDOVER_VERSION_OVERRIDE");
  }
  return version;
}

// The running binary, as started (a later replacement on disk does not change what this names).
std::string OwnBinary(const char* argv0) {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) return argv0;
  return std::string(path, static_cast<std::size_t>(n));
}

void Notify(std::string_view state) {
  if (const std::string e = ttlogin::common::SdNotify(state); !e.empty()) {
    spdlog::warn("cannot notify the service manager ({}): {}", state, e);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A live upgrade started this process: the old one's end of the handover socket.
  ttlogin::server::upgrade::HandoverChannel handover;
  if (const std::string e = ttlogin::server::upgrade::AdoptInheritedHandoverChannel(handover);
      !e.empty()) {
    std::cerr << "login_server: " << e << "; not started\n";
    return kExitRuntime;
  }
  const bool taking_over = handover.fd() >= 0;
  const std::uint32_t handover_version = HandoverVersion();
  const std::string own_binary = OwnBinary(argv[0]);
  std::string config_path = "./loginserver.conf";
  std::string ready_file;
  bool check_only = false;
  ttlogin::common::CommandLine cli(Doc());
  CLI::App& app = cli.app();
  // An empty name would only fail later as "cannot open config file ''".
  const CLI::Validator file_name(
      [](const std::string& v) { return v.empty() ? std::string("an empty file name") : ""; }, "");
  cli.Files(app.add_option("-c,--config", config_path, "config file (default: ./loginserver.conf)")
                ->type_name("FILE")
                ->check(file_name));
  app.add_flag("--check-config", check_only, "validate the config, print the result and exit");
  cli.Files(app.add_option("--ready-file", ready_file,
                           "once listening, write the bound ports there as JSON (for tests "
                           "and supervisors; written atomically)")
                ->type_name("FILE")
                ->check(file_name));
  if (const std::optional<int> exit_code = cli.Parse(argc, argv)) return *exit_code;

  const ttlogin::common::ConfigLoadResult loaded =
      ttlogin::common::LoadLoginServerConfig(config_path);
  for (const std::string& w : loaded.warnings)
    std::cerr << "login_server: warning: " << w << "\n";
  if (!loaded.ok()) {
    for (const std::string& e : loaded.errors) {
      std::cerr << "login_server: config error: " << e << "\n";
    }
    std::cerr << "login_server: not started: fix the config and try again (--check-config "
                 "validates without starting)\n";
    return kExitUsage;
  }
  if (check_only) {
    std::string tls_warning;
    if (const std::string error =
            ttlogin::server::LoginServer::CheckTls(loaded.config, &tls_warning);
        !error.empty()) {
      std::cerr << "login_server: config error: " << error << "\n";
      return kExitUsage;
    }
    if (!tls_warning.empty()) std::cerr << "login_server: warning: " << tls_warning << "\n";
    if (const std::string w = OpenFilesLimitWarning(loaded.config, OpenFilesHardLimit());
        !w.empty()) {
      std::cerr << "login_server: warning: " << w << "\n";
    }
    std::cout << config_path << ": config OK\n";
    return kExitOk;
  }

  const auto& c = loaded.config;
  const std::string log_error = ttlogin::common::SetupLogging(
      {c.log_level, c.log_file, c.log_format, c.log_max_size_mb, c.log_max_files});
  if (!log_error.empty()) {
    std::cerr << "login_server: cannot set up logging (LogFile=" << loaded.config.log_file
              << "): " << log_error << "\n";
    return kExitRuntime;
  }
  std::signal(SIGPIPE, SIG_IGN);
  const rlim_t open_files = RaiseOpenFilesLimit();
  spdlog::info("login_server {} starting with config {}", TTLOGIN_VERSION, config_path);
  for (const std::string& w : loaded.warnings)
    spdlog::warn("config: {}", w);
  if (const std::string w = OpenFilesLimitWarning(c, open_files); !w.empty()) {
    spdlog::warn("{}", w);
    if (!c.log_file.empty()) std::cerr << "login_server: warning: " << w << "\n";
  }

  try {
    ttlogin::server::LoginServer server(loaded.config, config_path, TTLOGIN_VERSION);
    // A certificate or key that cannot serve is a config error, like a bad key in the file.
    if (const std::string error = server.LoadTls(); !error.empty()) {
      spdlog::critical("config error: {}", error);
      std::cerr << "login_server: config error: " << error << "\n"
                << "login_server: not started: fix the config and try again\n";
      return kExitUsage;
    }
    ttlogin::server::UpgradeCommand command;
    command.binary = own_binary;
    command.args.assign(argv + 1, argv + argc);
    command.protocol_version = handover_version;
    command.binary_version = TTLOGIN_VERSION;
    ttlogin::server::UpgradeCoordinator::TakenOver taken;
    if (taking_over) {
      if (const std::string error = ttlogin::server::UpgradeCoordinator::TakeOver(
              server, std::move(handover), command, taken);
          !error.empty()) {
        spdlog::critical("live upgrade: cannot take over: {}; exiting, the old process serves on",
                         error);
        spdlog::shutdown();
        // At once: no destructor may touch the carried sockets, which the old process still owns.
        std::_Exit(kExitRuntime);
      }
    } else if (const std::string error = server.Bind(); !error.empty()) {
      spdlog::critical("cannot start: {}", error);
      std::cerr << "login_server: cannot start: " << error << "\n";
      return kExitRuntime;
    }
    server.set_upgrade_command(std::move(command));
    if (!ready_file.empty() && !WriteReadyFile(ready_file, server)) {
      spdlog::critical("cannot write ready file {}", ready_file);
      return kExitRuntime;
    }
    if (taking_over) {
      // systemd follows the new main process (the unit has NotifyAccess=all).
      Notify("MAINPID=" + std::to_string(getpid()) + "\nREADY=1");
      spdlog::info(
          "live upgrade: serving, took over from pid {} ({} listening socket(s), {} "
          "connection(s); {:.1f} ms since its last accept)",
          taken.old_pid, taken.listeners, taken.connections,
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                    taken.accept_paused)
              .count());
      ttlogin::server::UpgradeCoordinator::Serving(taken);
    } else {
      Notify("READY=1");
    }
    server.Run();
  } catch (const std::exception& e) {
    spdlog::critical("fatal: {}", e.what());
    std::cerr << "login_server: fatal: " << e.what() << "\n";
    return kExitRuntime;
  }
  spdlog::shutdown();
  return kExitOk;
}
