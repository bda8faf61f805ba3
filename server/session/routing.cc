#include "server/session/routing.h"

namespace ttlogin::server {

registry::RoutingOptions RoutingOptionsOf(const common::LoginServerConfig& config) {
  registry::RoutingOptions options;
  options.policy = registry::ParsePolicy(config.policy).value_or(registry::Policy::kLeastCount);
  options.slow_start_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.slow_start).count();
  options.slow_start_min_percent = config.slow_start_min_share;
  options.assignment_hold_ms = config.assignment_hold.count();
  return options;
}

std::optional<common::IpAddress> ParsePeerAddress(std::string_view peer) {
  const std::size_t colon = peer.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = peer.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return common::ParseIpAddress(host);
}

bool PrefersIp2(const common::LoginServerConfig& config, std::string_view peer,
                std::string_view xff) {
  if (!config.network_table) return false;
  const std::optional<common::IpAddress> address = ParsePeerAddress(peer);
  if (!address) return false;
  common::IpAddress client = *address;
  if (!xff.empty() && config.trusted_proxies) {
    client = common::ResolveClientAddress(client, xff, *config.trusted_proxies);
  }
  return config.network_table->Lookup(client) == common::AddressPreference::kIp2;
}

}  // namespace ttlogin::server
