#include "tools/pdu_dump/dump_stats.h"

#include <algorithm>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "common/protocol.h"

namespace ttlogin::tools::pdu_dump {

void DumpStats::Print(std::FILE* out) const {
  std::string s = "--- pdu_dump statistics ---\n";
  auto line = [&s](std::string_view name, std::uint64_t value) {
    s += fmt::format("{:<28}{}\n", name, value);
  };
  if (frames != 0) {
    line("frames read", frames);
    line("frames not TCP", frames_not_tcp);
    line("frames malformed", frames_malformed);
    line("segments on watched ports", segments_on_ports);
    line("connections", connections);
    line("retransmitted segments", retransmitted_segments);
    line("out-of-order segments", out_of_order_segments);
    line("gaps (bytes lost)", gaps);
    line("bytes lost in gaps", gap_bytes);
    line("peak out-of-order bytes", peak_buffered_bytes);
  }
  line("streams", streams);
  line("PDUs decoded", pdus);
  line("PDUs shown", pdus_shown);
  line("PDU bytes", pdu_bytes);
  line("bytes skipped (resync)", skipped_bytes);
  line("stream errors", stream_errors);
  line("body errors", body_errors);
  line("input errors", input_errors);
  if (frames != 0) line("unwatched PDU-like streams", unwatched_pdu_streams);
  if (!per_command.empty()) {
    s += fmt::format("{:<8}{:<8}{:<30}{:>12}{:>14}\n", "service", "command", "name", "PDUs",
                     "bytes");
    for (const auto& [key, count] : per_command) {
      const auto service = static_cast<std::uint16_t>(key >> 16);
      const auto command = static_cast<std::uint16_t>(key & 0xffff);
      const auto info = common::FindCommand(service, command);
      s += fmt::format("0x{:04x}  0x{:04x}  {:<30}{:>12}{:>14}\n", service, command,
                       info ? info->name : std::string_view("?"), count.pdus, count.bytes);
    }
  }
  std::fwrite(s.data(), 1, s.size(), out);
}

void DumpStats::CountUnwatchedPduStream(std::uint16_t port) {
  ++unwatched_pdu_streams;
  const auto it = unwatched_pdu_ports.find(port);
  if (it != unwatched_pdu_ports.end()) {
    ++it->second;
  } else if (unwatched_pdu_ports.size() < kMaxUnwatchedHintPorts) {
    unwatched_pdu_ports.emplace(port, 1);
  }
}

std::string UnwatchedPortsHint(const DumpStats& stats) {
  if (stats.unwatched_pdu_streams == 0) return {};
  // The ports with the most such streams first: those are the likeliest login servers.
  std::vector<std::pair<std::uint16_t, std::uint64_t>> ports(stats.unwatched_pdu_ports.begin(),
                                                             stats.unwatched_pdu_ports.end());
  std::stable_sort(ports.begin(), ports.end(),
                   [](const auto& x, const auto& y) { return x.second > y.second; });
  const std::size_t named = std::min(ports.size(), kUnwatchedHintPortsNamed);
  std::string list;
  for (std::size_t i = 0; i < named; ++i) {
    list += (i == 0 ? "" : ",") + std::to_string(ports[i].first);
  }
  const bool one = stats.unwatched_pdu_streams == 1;
  std::string hint = fmt::format("{} stream{} on unwatched ports look{} like PDUs: {}",
                                 stats.unwatched_pdu_streams, one ? "" : "s", one ? "s" : "", list);
  if (ports.size() > named || stats.unwatched_pdu_ports.size() >= kMaxUnwatchedHintPorts) {
    hint += " and more ports; add --port +" + list + " or --port auto";
  } else {
    hint += "; add --port +" + list;
  }
  return hint;
}

}  // namespace ttlogin::tools::pdu_dump
