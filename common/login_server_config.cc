#include "common/login_server_config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <set>

namespace ttlogin::common {
namespace {

// Keys we know; anything else gets a warning (a typo would otherwise silently do nothing).
const std::set<std::string, std::less<>>& KnownKeys() {
  static const std::set<std::string, std::less<>> keys = {
      "ClientListenIP",
      "ClientPort",
      "HttpListenIP",
      "HttpPort",
      "MsgServerListenIP",
      "MsgServerPort",
      "msfs",
      "discovery",
      "IoThreads",
      "MaxPduSize",
      "HeartbeatInterval",
      "MsgServerTimeout",
      "ClientTimeout",
      "HttpTimeout",
      "MaxHttpHeadSize",
      "MaxHttpBodySize",
      "MaxQueuedOutput",
      "LogLevel",
      "LogFile",
      "LogFormat",
      "LogMaxSizeMB",
      "LogMaxFiles",
      "HttpRequestTimeout",
      "MaxMsgServers",
      "MaxMsgServerConnections",
      "MaxClientConnections",
      "MaxHttpConnections",
      "AdminListenIP",
      "AdminPort",
      "AdminToken",
      "AdminAllowInsecure",
      "Policy",
      "SlowStart",
      "SlowStartMinShare",
      "AssignmentHold",
      "Candidates",
      "NetworkTable",
      "TrustedProxies",
      "MsgServerAllowFrom",
      "MaxMsgServerConnectionsPerAddress",
      "UpgradeBinary",
      "UpgradeTimeout",
  };
  return keys;
}

class Builder {
 public:
  explicit Builder(const ConfigFile& file) : file_(file) {}

  void Error(const std::string& key, const ConfigValue* v, const std::string& what) {
    std::string where = file_.path;
    if (v != nullptr) where += ":" + std::to_string(v->line);
    errors_.push_back(where + ": " + key + ": " + what);
  }

  const ConfigValue* Required(const std::string& key) {
    const ConfigValue* v = file_.Find(key);
    if (v == nullptr) {
      errors_.push_back(file_.path + ": required key " + key + " is missing");
    } else if (v->value.empty()) {
      Error(key, v, "value is empty");
      return nullptr;
    }
    return v;
  }

  // Unsigned integer in [lo, hi]; returns false (with an error) when present and invalid.
  bool Number(const std::string& key, const ConfigValue* v, std::uint64_t lo, std::uint64_t hi,
              std::uint64_t& out) {
    const std::string& s = v->value;
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc{} || end != s.data() + s.size()) {
      Error(key, v, "'" + s + "' is not a number");
      return false;
    }
    if (n < lo || n > hi) {
      Error(key, v,
            std::to_string(n) + " is out of range (" + std::to_string(lo) + "-" +
                std::to_string(hi) + ")");
      return false;
    }
    out = n;
    return true;
  }

  template <typename T>
  void Optional(const std::string& key, std::uint64_t lo, std::uint64_t hi, T& out) {
    const ConfigValue* v = file_.Find(key);
    if (v == nullptr) return;
    std::uint64_t n = 0;
    if (Number(key, v, lo, hi, n)) out = static_cast<T>(n);
  }

  void Seconds(const std::string& key, std::uint64_t lo, std::uint64_t hi,
               std::chrono::seconds& out) {
    std::uint64_t n = static_cast<std::uint64_t>(out.count());
    Optional(key, lo, hi, n);
    out = std::chrono::seconds(static_cast<std::int64_t>(n));
  }

  void Listener(const std::string& ip_key, const std::string& port_key, ListenerConfig& out) {
    if (const ConfigValue* v = Required(ip_key)) {
      std::string_view rest = v->value;
      bool bad_item = false;
      while (true) {
        const std::size_t semi = rest.find(';');
        std::string item(rest.substr(0, semi));
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
          item.erase(0, 1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
          item.pop_back();
        if (!item.empty()) {
          if (IsIpAddress(item)) {
            out.addresses.push_back(item);
          } else {
            Error(ip_key, v, "'" + item + "' is not an IPv4 or IPv6 address");
            bad_item = true;
          }
        }
        if (semi == std::string_view::npos) break;
        rest = rest.substr(semi + 1);
      }
      if (out.addresses.empty() && !bad_item) Error(ip_key, v, "no address given");
    }
    if (const ConfigValue* v = Required(port_key)) {
      std::uint64_t port = 0;
      if (Number(port_key, v, 0, 65535, port)) {
        out.port = static_cast<std::uint16_t>(port);
        if (port == 0) {
          warnings_.push_back(file_.path + ":" + std::to_string(v->line) + ": " + port_key +
                              "=0: the system picks a free port (meant for tests)");
        }
      }
    }
  }

  // AdminToken and the listener's reach. A line that means "no token" must not be an accident:
  // "AdminToken=" (or a value the comment rule emptied) is an error, not "auth off".
  void Admin(LoginServerConfig& c) {
    if (const ConfigValue* v = file_.Find("AdminToken")) {
      if (v->value.empty()) {
        Error("AdminToken", v,
              "value is empty (or blank); set a token, or remove the line to run the admin "
              "listener without one (loopback only)");
      } else {
        c.admin_token = v->value;
      }
    }
    std::uint64_t insecure = 0;
    if (const ConfigValue* v = file_.Find("AdminAllowInsecure")) {
      if (Number("AdminAllowInsecure", v, 0, 1, insecure)) c.admin_allow_insecure = insecure == 1;
    }
    if (!AdminOpenBeyondLoopback(c) || file_.Find("AdminToken") != nullptr) return;
    const ConfigValue* where = file_.Find("AdminListenIP");
    std::string addresses;
    for (const auto& a : c.admin.addresses)
      addresses += (addresses.empty() ? "" : ";") + a;
    if (c.admin_allow_insecure) {
      warnings_.push_back(file_.path +
                          ": INSECURE: AdminAllowInsecure=1 and no AdminToken: the "
                          "admin API on " +
                          addresses +
                          " lets anyone who reaches it drain msg_servers and reload the config");
    } else {
      Error("AdminListenIP", where,
            addresses +
                " is beyond loopback and AdminToken is not set: anyone who reaches the port "
                "could drain msg_servers and reload; set AdminToken, listen on 127.0.0.1, or set "
                "AdminAllowInsecure=1");
    }
  }

  void Routing(LoginServerConfig& c) {
    if (const ConfigValue* v = file_.Find("Policy")) {
      if (v->value != "least_count" && v->value != "least_ratio" && v->value != "p2c") {
        Error("Policy", v, "'" + v->value + "' is not least_count, least_ratio or p2c");
      } else {
        c.policy = v->value;
      }
    }
    Seconds("SlowStart", 0, kMaxSlowStartSeconds, c.slow_start);
    Optional("SlowStartMinShare", 1, 100, c.slow_start_min_share);
    std::uint64_t hold_ms = 0;
    Optional("AssignmentHold", 0, kMaxAssignmentHoldMs, hold_ms);
    c.assignment_hold = std::chrono::milliseconds(hold_ms);
    Optional("Candidates", 0, kMaxCandidates, c.candidates);
    if (const ConfigValue* v = file_.Find("NetworkTable"); v != nullptr && !v->value.empty()) {
      std::filesystem::path path(v->value);
      if (path.is_relative()) path = std::filesystem::path(file_.path).parent_path() / path;
      c.network_table_file = path.string();
      std::string error;
      if (auto table = NetworkTable::LoadFile(c.network_table_file, &error)) {
        c.network_table = std::make_shared<const NetworkTable>(std::move(*table));
      } else {
        Error("NetworkTable", v, error);
      }
    }
    if (const ConfigValue* v = file_.Find("TrustedProxies"); v != nullptr && !v->value.empty()) {
      std::string error;
      if (auto set = CidrSet::Parse(v->value, &error)) {
        c.trusted_proxies = std::make_shared<const CidrSet>(std::move(*set));
      } else {
        Error("TrustedProxies", v, error);
      }
    }
  }

  // MsgServerAllowFrom and MaxMsgServerConnectionsPerAddress. Anyone who reaches the MsgServer
  // port can register a msg_server and so receive logins: say so when the port is open beyond
  // loopback to everyone.
  void MsgServerTrust(LoginServerConfig& c) {
    const ConfigValue* v = file_.Find("MsgServerAllowFrom");
    if (v != nullptr && !v->value.empty()) {
      std::string error;
      if (auto set = CidrSet::Parse(v->value, &error)) {
        if (!set->empty())
          c.msg_server_allow_from = std::make_shared<const CidrSet>(std::move(*set));
      } else {
        Error("MsgServerAllowFrom", v, error);
      }
    }
    Optional("MaxMsgServerConnectionsPerAddress", 1, 10'000'000,
             c.max_msg_server_connections_per_address);
    if (c.msg_server_allow_from) return;
    for (const std::string& a : c.msg_server.addresses) {
      unsigned char v4[4];
      const bool loopback = (inet_pton(AF_INET, a.c_str(), v4) == 1 && v4[0] == 127) || a == "::1";
      if (!loopback) {
        warnings_.push_back(file_.path + ": MsgServerListenIP " + a +
                            " is beyond loopback and MsgServerAllowFrom is empty: any host that "
                            "reaches the MsgServer port can register a msg_server and receive "
                            "logins (see \"Trust model of the MsgServer port\" in "
                            "docs/OPERATIONS.md)");
        return;
      }
    }
  }

  static bool IsIpAddress(const std::string& s) {
    unsigned char buf[16];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
  }

  ConfigLoadResult Build() {
    ConfigLoadResult r;
    if (file_.values.empty() && !file_.errors.empty()) {
      // Unreadable or wholly broken file: listing every "missing key" would bury the real cause.
      r.errors = file_.errors;
      return r;
    }
    errors_ = file_.errors;
    warnings_ = file_.warnings;
    LoginServerConfig& c = r.config;
    Listener("ClientListenIP", "ClientPort", c.client);
    Listener("HttpListenIP", "HttpPort", c.http);
    Listener("MsgServerListenIP", "MsgServerPort", c.msg_server);
    // The classic server read msfs and discovery without checking them; a missing one only made
    // the reply's field empty. Keep that, but say so.
    for (const char* key : {"msfs", "discovery"}) {
      const ConfigValue* v = file_.Find(key);
      if (v == nullptr) {
        warnings_.push_back(file_.path + ": " + key + " is not set; the HTTP reply carries \"\"");
      } else {
        (std::string_view(key) == "msfs" ? c.msfs : c.discovery) = v->value;
      }
    }
    Optional("IoThreads", 0, kMaxIoThreads, c.io_threads);
    Optional("MaxPduSize", kMinMaxPduSize, kMaxMaxPduSize, c.max_pdu_size);
    Seconds("HeartbeatInterval", 1, 3600, c.heartbeat_interval);
    Seconds("MsgServerTimeout", 1, 86400, c.msg_server_timeout);
    Seconds("ClientTimeout", 1, 86400, c.client_timeout);
    Seconds("HttpTimeout", 1, 86400, c.http_timeout);
    Optional("MaxHttpHeadSize", 256, 1024 * 1024, c.max_http_head_size);
    Optional("MaxHttpBodySize", 0, 1024 * 1024, c.max_http_body_size);
    Optional("MaxQueuedOutput", 4 * 1024, 64 * 1024 * 1024, c.max_queued_output);
    Seconds("HttpRequestTimeout", 1, 3600, c.http_request_timeout);
    Seconds("UpgradeTimeout", 1, 3600, c.upgrade_timeout);
    if (const ConfigValue* v = file_.Find("UpgradeBinary"); v != nullptr && !v->value.empty()) {
      if (v->value.front() != '/') {
        Error("UpgradeBinary", v, "'" + v->value + "' is not an absolute path");
      } else {
        c.upgrade_binary = v->value;
      }
    }
    Optional("MaxMsgServers", 1, 10'000'000, c.max_msg_servers);
    c.msg_server.max_connections = kDefaultMaxMsgServerConnections;
    c.client.max_connections = kDefaultMaxClientConnections;
    c.http.max_connections = kDefaultMaxHttpConnections;
    Optional("MaxMsgServerConnections", 1, 10'000'000, c.msg_server.max_connections);
    Optional("MaxClientConnections", 1, 10'000'000, c.client.max_connections);
    Optional("MaxHttpConnections", 1, 10'000'000, c.http.max_connections);
    if (const ConfigValue* v = file_.Find("LogLevel")) {
      static const std::set<std::string, std::less<>> levels = {
          "trace", "debug", "info", "warn", "warning", "error", "critical", "off"};
      if (levels.count(v->value) == 0) {
        Error("LogLevel", v,
              "'" + v->value + "' is not one of trace, debug, info, warn, error, critical, off");
      } else {
        c.log_level = v->value == "warning" ? "warn" : v->value;
      }
    }
    if (const ConfigValue* v = file_.Find("LogFile")) {
      c.log_file = v->value;
      // Opening a FIFO for writing blocks until a reader comes; a device or socket is no log.
      if (!c.log_file.empty()) {
        if (std::string why = NotARegularFile(c.log_file); !why.empty()) {
          Error("LogFile", v,
                "'" + c.log_file + "' " + why + " (leave LogFile empty to log to stderr)");
        }
      }
    }
    if (const ConfigValue* v = file_.Find("LogFormat")) {
      if (v->value != "text" && v->value != "json") {
        Error("LogFormat", v, "'" + v->value + "' is not text or json");
      } else {
        c.log_format = v->value;
      }
    }
    Optional("LogMaxSizeMB", 1, 1024 * 1024, c.log_max_size_mb);
    Optional("LogMaxFiles", 1, 1000, c.log_max_files);
    MsgServerTrust(c);
    if (file_.Find("AdminPort") != nullptr) {
      c.admin_enabled = true;
      if (file_.Find("AdminListenIP") == nullptr) {
        c.admin.addresses = {"127.0.0.1"};
        if (const ConfigValue* v = Required("AdminPort")) {
          std::uint64_t port = 0;
          if (Number("AdminPort", v, 0, 65535, port))
            c.admin.port = static_cast<std::uint16_t>(port);
        }
      } else {
        Listener("AdminListenIP", "AdminPort", c.admin);
      }
      c.admin.max_connections = kMaxAdminConnections;
    } else if (const ConfigValue* v = file_.Find("AdminListenIP")) {
      warnings_.push_back(file_.path + ":" + std::to_string(v->line) +
                          ": AdminListenIP is set but AdminPort is not: no admin listener");
    }
    Admin(c);
    Routing(c);
    if (c.heartbeat_interval >= c.msg_server_timeout) {
      const ConfigValue* v = file_.Find("HeartbeatInterval");
      if (v == nullptr) v = file_.Find("MsgServerTimeout");
      Error("HeartbeatInterval", v,
            "must be shorter than MsgServerTimeout, or peers time out between heartbeats");
    }
    for (const auto& [key, value] : file_.values) {
      if (KnownKeys().count(key) == 0) {
        warnings_.push_back(file_.path + ":" + std::to_string(value.line) + ": unknown key " + key +
                            " is ignored");
      }
    }
    r.errors = std::move(errors_);
    r.warnings = std::move(warnings_);
    return r;
  }

 private:
  const ConfigFile& file_;
  std::vector<std::string> errors_;
  std::vector<std::string> warnings_;
};

}  // namespace

bool IsLoopbackOrUnspecified(std::string_view address) {
  const std::string text(address);
  unsigned char v4[4];
  unsigned char v6[16];
  if (inet_pton(AF_INET, text.c_str(), v4) == 1) {
    return v4[0] == 127 || (v4[0] == 0 && v4[1] == 0 && v4[2] == 0 && v4[3] == 0);
  }
  if (inet_pton(AF_INET6, text.c_str(), v6) != 1) return false;
  static constexpr unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(v6, v6 + 12, kMappedPrefix)) {
    return v6[12] == 127 || (v6[12] == 0 && v6[13] == 0 && v6[14] == 0 && v6[15] == 0);
  }
  for (int i = 0; i < 15; ++i) {
    if (v6[i] != 0) return false;
  }
  return v6[15] == 0 || v6[15] == 1;  // :: or ::1
}

bool ListensBeyondLoopback(const LoginServerConfig& config) {
  for (const ListenerConfig* l : {&config.client, &config.http}) {
    for (const std::string& a : l->addresses) {
      unsigned char v4[4];
      const bool loopback_only =
          (inet_pton(AF_INET, a.c_str(), v4) == 1 && v4[0] == 127) || a == "::1";
      if (!loopback_only) return true;
    }
  }
  return false;
}

bool AdminOpenBeyondLoopback(const LoginServerConfig& config) {
  if (!config.admin_enabled || !config.admin_token.empty()) return false;
  for (const std::string& a : config.admin.addresses) {
    unsigned char v4[4];
    unsigned char v6[16];
    if (inet_pton(AF_INET, a.c_str(), v4) == 1) {
      if (v4[0] != 127) return true;
    } else if (inet_pton(AF_INET6, a.c_str(), v6) == 1) {
      static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
      static constexpr unsigned char kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                                      0, 0, 0, 0, 0, 0, 0, 1};
      const bool loopback =
          std::equal(v6, v6 + 16, kLoopback) || (std::equal(v6, v6 + 12, kMapped) && v6[12] == 127);
      if (!loopback) return true;
    } else {
      return true;  // not an address: cannot tell, so not loopback
    }
  }
  return false;
}

std::uint64_t DescriptorsNeeded(const LoginServerConfig& config) {
  std::uint64_t n = kReservedDescriptors;
  n += config.msg_server.max_connections + config.client.max_connections +
       config.http.max_connections;
  if (config.admin_enabled) n += config.admin.max_connections;
  return n;
}

std::string OpenFilesWarning(const LoginServerConfig& config, std::uint64_t open_files_limit) {
  const std::uint64_t needed = DescriptorsNeeded(config);
  if (needed <= open_files_limit) return {};
  std::string caps = "MaxMsgServerConnections " +
                     std::to_string(config.msg_server.max_connections) +
                     " + MaxClientConnections " + std::to_string(config.client.max_connections) +
                     " + MaxHttpConnections " + std::to_string(config.http.max_connections);
  if (config.admin_enabled) caps += " + admin " + std::to_string(config.admin.max_connections);
  caps += " + " + std::to_string(kReservedDescriptors) + " reserved";
  return "the open-files limit (RLIMIT_NOFILE) is " + std::to_string(open_files_limit) +
         ", below the " + std::to_string(needed) + " descriptors the connection caps allow (" +
         caps +
         "): once it is reached, accepts fail and every port stalls. Raise it (LimitNOFILE=" +
         std::to_string(needed) +
         " or more in the systemd unit, or ulimit -n before starting) or lower the caps";
}

ConfigLoadResult BuildLoginServerConfig(const ConfigFile& file) {
  return Builder(file).Build();
}

ConfigLoadResult LoadLoginServerConfig(const std::string& path) {
  return BuildLoginServerConfig(LoadConfigFile(path));
}

}  // namespace ttlogin::common
