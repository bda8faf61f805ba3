// What every connection of the login server shares: config, registry, metrics.
#pragma once

#include "common/login_server_config.h"
#include "server/metrics.h"
#include "server/registry/msg_server_registry.h"

namespace ttlogin::server {

struct ServerContext {
  const common::LoginServerConfig& config;
  registry::MsgServerRegistry& registry;
  Metrics& metrics;
};

}  // namespace ttlogin::server
