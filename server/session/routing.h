// Routing glue between the config and the registry: the registry's routing options from the
// config keys, and which of a msg_server's two addresses a given client gets first (the
// carrier-aware network table, with X-Forwarded-For from trusted proxies). docs/ROUTING.md.
#pragma once

#include <optional>
#include <string_view>

#include "common/forwarded_for.h"
#include "common/login_server_config.h"
#include "server/registry/msg_server_registry.h"

namespace ttlogin::server {

// Policy, SlowStart, SlowStartMinShare and AssignmentHold as the registry takes them. The config
// has already validated the policy name; an unknown one would fall back to least_count.
registry::RoutingOptions RoutingOptionsOf(const common::LoginServerConfig& config);

// The address part of a connection's peer text as Connection formats it ("1.2.3.4:5678",
// "[2001:db8::1]:5678"); nullopt if it is not one (e.g. "?").
std::optional<common::IpAddress> ParsePeerAddress(std::string_view peer);

// True when the network table says a client at `peer` (a connection's peer text, parsed as
// above; or, if that is a trusted proxy, the address X-Forwarded-For `xff` names) prefers the
// msg_servers' second address (ip2). False when no table is configured (then nothing is parsed),
// the address is unknown, or nothing matches: ip1 first, as classic.
bool PrefersIp2(const common::LoginServerConfig& config, std::string_view peer,
                std::string_view xff = {});

}  // namespace ttlogin::server
