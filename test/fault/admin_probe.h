// AdminProbe: what the fault tests read from a running login_server's admin listener: the
// registry (GET /servers) and the open-connection gauges (GET /metrics). The admin port is the one
// the server reported in its --ready-file under "admin".
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "test/support/server_process.h"

namespace ttlogin::test {

// The registry as GET /servers shows it: cur per "host_name:port", and their sum.
struct RegistryView {
  std::map<std::string, std::uint64_t> cur;
  std::uint64_t sum = 0;
};

// The admin port from the server's ready file; nullopt when the server reported none.
std::optional<std::uint16_t> AdminPort(const ServerProcess& server);

std::optional<RegistryView> ReadRegistry(std::uint16_t admin_port);

// The value of the first sample of `metric` whose label set contains `label` (for example
// `listener="client"`; empty matches any), from GET /metrics.
std::optional<double> ReadMetric(std::uint16_t admin_port, const std::string& metric,
                                 const std::string& label = "");

// The open-connections gauge of one listener ("msg_server", "client", "http").
std::optional<double> OpenConnections(std::uint16_t admin_port, const std::string& listener);

}  // namespace ttlogin::test
