// What every connection of the login server shares: config, registry, metrics.
#pragma once

#include "server/registry/msg_server_registry.h"
#include "server/session/live_config.h"
#include "server/session/metrics.h"

namespace ttlogin::server {

// Only the wiring (server/msg_server_connection.cc) uses it: sessions know no sockets.
class AddressLimiter;

struct ServerContext {
  LiveConfig& live_config;
  registry::MsgServerRegistry& registry;
  Metrics& metrics;
  // Open MsgServer-port connections per peer address (MaxMsgServerConnectionsPerAddress); null
  // where no socket is involved (session tests, fuzzers).
  AddressLimiter* msg_server_addresses = nullptr;

  // The config in force for this event (see LiveConfig::Get: do not keep the reference).
  const common::LoginServerConfig& config() const { return live_config.Get(); }
};

}  // namespace ttlogin::server
