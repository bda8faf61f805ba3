// The login server's typed configuration, built from a classic loginserver.conf.
//
// Classic keys keep their names and meaning; every key this server adds is optional and has the
// default documented here and in etc/loginserver.conf, so an existing file works unchanged.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr_set.h"
#include "common/config_file.h"
#include "common/network_table.h"

namespace ttlogin::common {

// Open MsgServer-port connections one address may hold (MaxMsgServerConnectionsPerAddress): a
// msg_server needs one, a host running a few of them and their reconnects a handful more, and one
// address must not be able to fill MaxMsgServerConnections for everyone else.
inline constexpr std::size_t kDefaultMaxMsgServerConnectionsPerAddress = 64;

// Warm start defaults, from the classic msg_server's reconnect backoff (4 s after a disconnect,
// then 8, 16, 32, 64 s: attempts 4, 12, 28 and 60 s after it). After a downtime of at most 30 s
// every live msg_server tries again within 32 s of the restart, so a 40 s grace covers them all
// with room for the connect itself; an older snapshot would have to outlive a 64 s wait.
inline constexpr std::uint64_t kDefaultWarmStartMaxAgeSeconds = 30;
inline constexpr std::uint64_t kDefaultWarmStartGraceSeconds = 40;
inline constexpr std::uint64_t kMaxWarmStartMaxAgeSeconds = 86400;
inline constexpr std::uint64_t kMaxWarmStartGraceSeconds = 3600;

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
  std::size_t max_queued_output = 64 * 1024;      // MaxQueuedOutput, bytes: then stop reading
  std::chrono::seconds http_request_timeout{10};  // HttpRequestTimeout
  std::size_t max_msg_servers = 10000;            // MaxMsgServers
  std::string log_level = "info";                 // LogLevel
  std::string log_file;                           // LogFile: empty means stderr
  std::string log_format = "text";    // LogFormat: text or json (one JSON object per line)
  std::size_t log_max_size_mb = 100;  // LogMaxSizeMB: a LogFile rotates at this size
  std::size_t log_max_files = 5;      // LogMaxFiles: rotated files kept

  // Routing (docs/ROUTING.md); all reloadable.
  std::string policy = "least_count";       // Policy: least_count, least_ratio or p2c
  std::chrono::seconds slow_start{0};       // SlowStart: ramp window for a new msg_server; 0 = off
  std::uint32_t slow_start_min_share = 10;  // SlowStartMinShare: its share at the start, percent
  std::chrono::milliseconds assignment_hold{0};  // AssignmentHold: provisional user, ms; 0 = off
  std::size_t candidates = 0;      // Candidates: more msg_servers listed in the HTTP reply (0-8)
  std::string network_table_file;  // NetworkTable: "<network> ip1|ip2" lines; relative to the
                                   // config file's folder; empty = off (priorIP is always ip1)
  std::shared_ptr<const NetworkTable> network_table;  // loaded from it; null when off
  std::shared_ptr<const CidrSet> trusted_proxies;     // TrustedProxies: X-Forwarded-For believed
                                                      // from these networks; null when none

  // Who may use the MsgServer port (docs/OPERATIONS.md, "Trust model of the MsgServer port");
  // both reloadable, read when a connection arrives.
  std::shared_ptr<const CidrSet> msg_server_allow_from;  // MsgServerAllowFrom: null = anyone
  std::size_t max_msg_server_connections_per_address =   // MaxMsgServerConnectionsPerAddress
      kDefaultMaxMsgServerConnectionsPerAddress;

  // Warm start (docs/OPERATIONS.md, "Warm start"); read at start, so a change needs a restart.
  std::string state_file;  // StateFile: snapshot path, relative to the config file's folder;
                           // empty = off
  std::chrono::seconds warm_start_max_age{kDefaultWarmStartMaxAgeSeconds};  // WarmStartMaxAge
  std::chrono::seconds warm_start_grace{kDefaultWarmStartGraceSeconds};     // WarmStartGrace
  // HTTPS listener: off unless HttpsPort is set (docs/OPERATIONS.md, "HTTPS").
  bool https_enabled = false;
  ListenerConfig https;                 // HttpsListenIP (default: HttpListenIP's) / HttpsPort
  std::string tls_certificate_file;     // TlsCertificate: PEM, the certificate then its chain
  std::string tls_private_key_file;     // TlsPrivateKey: PEM, unencrypted
  std::string tls_min_version = "1.2";  // TlsMinVersion: 1.2 or 1.3
  std::string tls_ciphers;              // TlsCiphers: TLS 1.2 list, OpenSSL syntax; "" = ours
  std::string tls_cipher_suites;        // TlsCipherSuites: TLS 1.3 list; "" = ours
  std::chrono::seconds tls_handshake_timeout{10};  // TlsHandshakeTimeout
  std::size_t max_tls_handshakes = 1000;           // MaxTlsHandshakes: in progress at once

  // Admin listener: off unless AdminPort is set.
  bool admin_enabled = false;
  ListenerConfig admin;     // AdminListenIP (default 127.0.0.1) / AdminPort
  std::string admin_token;  // AdminToken: when set, admin routes need "Bearer <token>"
  // AdminAllowInsecure: let an admin listener beyond loopback run without AdminToken (default
  // off: that is refused, since anyone reaching the port could drain or reload).
  bool admin_allow_insecure = false;

  // Live upgrade (SIGUSR2, POST /upgrade; docs/OPERATIONS.md, "Live upgrade"); both reloadable.
  std::string upgrade_binary;                // UpgradeBinary: empty = the running binary's path
  std::chrono::seconds upgrade_timeout{10};  // UpgradeTimeout: spawn to commit, at most

  // StopGrace: after SIGTERM/SIGINT, /readyz answers 503 this long while everything still serves,
  // so a load balancer's health check takes the server out before it closes; 0 = stop at once.
  // Reloadable: the value in force when the signal comes counts.
  std::chrono::seconds stop_grace{0};
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

// True for an address a client elsewhere cannot reach: 127.0.0.0/8, ::1, 0.0.0.0, ::, and
// IPv4-mapped forms of those. Text that is not an address counts as false.
bool IsLoopbackOrUnspecified(std::string_view address);

// True when a client listener (Client or HTTP port) binds beyond loopback, i.e. clients on other
// hosts are expected.
bool ListensBeyondLoopback(const LoginServerConfig& config);

// True when an admin listener binds beyond loopback with no AdminToken: anyone who reaches it may
// drain msg_servers and reload. Refused unless AdminAllowInsecure=1.
bool AdminOpenBeyondLoopback(const LoginServerConfig& config);

// File descriptors the connection caps can take at once: every listener's cap (the registry's
// msg_servers are the MsgServer port's connections) plus kReservedDescriptors.
std::uint64_t DescriptorsNeeded(const LoginServerConfig& config);
// Descriptors held besides connections: stdio, the log file, listening sockets, each io loop's
// epoll and eventfd, config and table files while read. Generous on purpose.
inline constexpr std::uint64_t kReservedDescriptors = 64;
// Empty when `open_files_limit` (RLIMIT_NOFILE) covers DescriptorsNeeded(config); otherwise a
// warning naming the caps, the limit and how to raise it. Beyond the limit accept() fails with
// EMFILE and every port stalls, with no other hint.
std::string OpenFilesWarning(const LoginServerConfig& config, std::uint64_t open_files_limit);

// Loads, parses and validates in one step.
ConfigLoadResult LoadLoginServerConfig(const std::string& path);

// Defaults of the per-listener connection limits (MaxMsgServerConnections, MaxClientConnections,
// MaxHttpConnections). Each connection costs a file descriptor and about a kilobyte.
inline constexpr std::size_t kDefaultMaxMsgServerConnections = 10000;
inline constexpr std::size_t kDefaultMaxClientConnections = 20000;
// Bounds of the routing keys.
inline constexpr std::size_t kMaxCandidates = 8;
inline constexpr std::uint64_t kMaxAssignmentHoldMs = 60'000;
inline constexpr std::uint64_t kMaxSlowStartSeconds = 3600;
inline constexpr std::size_t kDefaultMaxHttpConnections = 20000;
// The admin port serves operators and scrapers, never clients.
inline constexpr std::size_t kMaxAdminConnections = 64;

// Bounds on the optional keys: outside them a value is a mistake, not a tuning.
inline constexpr std::uint32_t kMinMaxPduSize = 1024;
inline constexpr std::uint32_t kMaxMaxPduSize = 16 * 1024 * 1024;
inline constexpr unsigned kMaxIoThreads = 256;

}  // namespace ttlogin::common
