// Renders the server's metrics in the Prometheus text exposition format (version 0.0.4).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/session/metrics.h"
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

// Makes any bytes a label value Prometheus accepts: valid UTF-8 with no control character.
// Printable ASCII and well-formed non-ASCII UTF-8 pass through ('"' as \"); control characters
// (C0, DEL, C1), backslashes and bytes that are not well-formed UTF-8 (truncated, overlong,
// surrogate, above U+10FFFF) become the visible text \xNN, one per byte, as in the log. The
// mapping is reversible, so distinct host_names stay distinct series.
std::string EscapeLabel(std::string_view value);

// Length of the well-formed UTF-8 sequence (RFC 3629) that starts `s`, or 0 when there is none.
std::size_t Utf8SequenceLength(std::string_view s);

}  // namespace ttlogin::server::admin
