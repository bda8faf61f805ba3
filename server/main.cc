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
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "common/logging.h"
#include "common/login_server_config.h"
#include "server/login_server.h"

#ifndef TTLOGIN_VERSION
#define TTLOGIN_VERSION "unknown"
#endif

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kUsage = R"(Usage: login_server [options]

TeamTalk-compatible login server: msg_servers register and report their load on the
MsgServer port; clients ask which msg_server to use over HTTP (GET /msg_server) or by
PDU on the Client port.

Options:
  -c, --config FILE     config file (default: ./loginserver.conf)
      --check-config    validate the config, print the result and exit
      --ready-file FILE once listening, write the bound ports there as JSON
                        (for tests and supervisors; written atomically)
  -v, --version         print the version and exit
  -h, --help            print this help and exit

Exit codes:
  0  stopped cleanly (SIGINT/SIGTERM), or --check-config found no error
  1  could not start serving (a port in use, no permission, log file unwritable)
  2  bad command line or bad config (each error names the key and line)
)";

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

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = "./loginserver.conf";
  std::string ready_file;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) {
        std::cerr << "login_server: " << arg << " needs a value\n" << kUsage;
        std::exit(kExitUsage);
      }
      out = argv[++i];
    };
    if (arg == "-c" || arg == "--config") {
      value(config_path);
    } else if (arg.starts_with("--config=")) {
      config_path = std::string(arg.substr(9));
    } else if (arg == "--check-config") {
      check_only = true;
    } else if (arg == "--ready-file") {
      value(ready_file);
    } else if (arg == "-v" || arg == "--version") {
      std::cout << "login_server (ttlogin) " << TTLOGIN_VERSION << "\n";
      return kExitOk;
    } else if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return kExitOk;
    } else {
      std::cerr << "login_server: unknown option '" << arg << "'\n" << kUsage;
      return kExitUsage;
    }
  }

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
    if (const std::string error = server.Bind(); !error.empty()) {
      spdlog::critical("cannot start: {}", error);
      std::cerr << "login_server: cannot start: " << error << "\n";
      return kExitRuntime;
    }
    if (!ready_file.empty() && !WriteReadyFile(ready_file, server)) {
      spdlog::critical("cannot write ready file {}", ready_file);
      return kExitRuntime;
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
