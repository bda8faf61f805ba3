// What every connection of the login server shares: config, registry, counters.
#pragma once

#include <atomic>
#include <cstdint>

#include "common/login_server_config.h"
#include "server/registry/msg_server_registry.h"

namespace ttlogin::server {

// Counters a test or an operator can read. Relaxed atomics: they are statistics, not state.
struct ServerCounters {
  std::atomic<std::uint64_t> msg_server_connections{0};  // open
  std::atomic<std::uint64_t> client_connections{0};      // open
  std::atomic<std::uint64_t> http_connections{0};        // open
  std::atomic<std::uint64_t> protocol_errors{0};
  std::atomic<std::uint64_t> http_requests{0};
  std::atomic<std::uint64_t> pdu_requests{0};
  std::atomic<std::uint64_t> count_updates{0};
};

struct ServerContext {
  const common::LoginServerConfig& config;
  registry::MsgServerRegistry& registry;
  ServerCounters& counters;
};

}  // namespace ttlogin::server
