// Renders the server's metrics in the Prometheus text exposition format (version 0.0.4).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/metrics.h"
#include "server/registry/msg_server_registry.h"

namespace ttlogin::server::admin {

// Turns registry updates between two scrapes into a per-second figure (for the gauge
// ttlogin_registry_updates_per_second; Prometheus users should prefer rate() on the counter).
class UpdateRate {
 public:
  double Sample(std::uint64_t total, std::chrono::steady_clock::time_point now);

 private:
  std::uint64_t last_total_ = 0;
  std::chrono::steady_clock::time_point last_time_{};
  double last_rate_ = 0;
};

std::string RenderPrometheus(const Metrics& metrics, const registry::MsgServerRegistry& registry,
                             std::string_view version, double updates_per_second);

// Escapes a label value: backslash, double quote and newline.
std::string EscapeLabel(std::string_view value);

}  // namespace ttlogin::server::admin
