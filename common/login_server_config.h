// The login server's typed configuration, built from a classic loginserver.conf.
//
// Classic keys keep their names and meaning; every key this server adds is optional and has the
// default documented here and in etc/loginserver.conf, so an existing file works unchanged.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/config_file.h"

namespace ttlogin::common {

struct ListenerConfig {
  std::vector<std::string> addresses;  // from the ';'-separated list
  std::uint16_t port = 0;              // 0 picks a free port (tests only; logged loudly)
  std::size_t max_connections = 0;     // open connections beyond this are refused at accept
};

struct LoginServerConfig {
  // Classic keys.
  ListenerConfig client;      // ClientListenIP / ClientPort
  ListenerConfig http;        // HttpListenIP / HttpPort
  ListenerConfig msg_server;  // MsgServerListenIP / MsgServerPort
  std::string msfs;           // msfs: file server URL, echoed in the HTTP reply
  std::string discovery;      // discovery: echoed in the HTTP reply

  // Keys this server adds, with their defaults.
  unsigned io_threads = 0;                        // IoThreads: 0 means one per core
  std::uint32_t max_pdu_size = 64 * 1024;         // MaxPduSize, bytes
  std::chrono::seconds heartbeat_interval{5};     // HeartbeatInterval
  std::chrono::seconds msg_server_timeout{30};    // MsgServerTimeout
  std::chrono::seconds client_timeout{120};       // ClientTimeout
  std::chrono::seconds http_timeout{60};          // HttpTimeout
  std::size_t max_http_head_size = 8 * 1024;      // MaxHttpHeadSize, bytes
  std::size_t max_http_body_size = 16 * 1024;     // MaxHttpBodySize, bytes
  std::chrono::seconds http_request_timeout{10};  // HttpRequestTimeout
  std::size_t max_msg_servers = 10000;            // MaxMsgServers
  std::string log_level = "info";                 // LogLevel
  std::string log_file;                           // LogFile: empty means stderr
};

struct ConfigLoadResult {
  LoginServerConfig config;
  std::vector<std::string> errors;    // any error: do not start
  std::vector<std::string> warnings;  // start, but tell the operator
  bool ok() const { return errors.empty(); }
};

// Validates the file and builds the typed config. Each error names the key and, where it has one,
// the line.
ConfigLoadResult BuildLoginServerConfig(const ConfigFile& file);

// Loads, parses and validates in one step.
ConfigLoadResult LoadLoginServerConfig(const std::string& path);

// Defaults of the per-listener connection limits (MaxMsgServerConnections, MaxClientConnections,
// MaxHttpConnections). Each connection costs a file descriptor and about a kilobyte.
inline constexpr std::size_t kDefaultMaxMsgServerConnections = 10000;
inline constexpr std::size_t kDefaultMaxClientConnections = 20000;
inline constexpr std::size_t kDefaultMaxHttpConnections = 20000;

// Bounds on the optional keys: outside them a value is a mistake, not a tuning.
inline constexpr std::uint32_t kMinMaxPduSize = 1024;
inline constexpr std::uint32_t kMaxMaxPduSize = 16 * 1024 * 1024;
inline constexpr unsigned kMaxIoThreads = 256;

}  // namespace ttlogin::common
