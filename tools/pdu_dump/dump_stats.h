// DumpStats: the `--stats` summary, counted as the run goes.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

namespace ttlogin::tools::pdu_dump {

struct CommandCount {
  std::uint64_t pdus = 0;
  std::uint64_t bytes = 0;
};

// Distinct ports remembered for the unwatched-ports hint, and how many of them it names.
inline constexpr std::size_t kMaxUnwatchedHintPorts = 256;
inline constexpr std::size_t kUnwatchedHintPortsNamed = 8;

struct DumpStats {
  // Input side (captures only).
  std::uint64_t frames = 0;
  std::uint64_t frames_not_tcp = 0;
  std::uint64_t frames_malformed = 0;  // counted as errors: the capture is damaged
  std::uint64_t segments_on_ports = 0;
  std::uint64_t connections = 0;
  std::uint64_t retransmitted_segments = 0;
  std::uint64_t out_of_order_segments = 0;
  std::uint64_t gaps = 0;
  std::uint64_t gap_bytes = 0;
  std::uint64_t peak_buffered_bytes = 0;

  // Decoded side.
  std::uint64_t streams = 0;
  std::uint64_t pdus = 0;        // every PDU decoded
  std::uint64_t pdus_shown = 0;  // those that passed --filter
  std::uint64_t pdu_bytes = 0;
  std::uint64_t skipped_bytes = 0;                    // passed over while looking for a header
  std::map<std::uint32_t, CommandCount> per_command;  // (service << 16 | command), shown PDUs

  // Streams on ports not watched whose start looks like a PDU stream, and their listening ports
  // (at most kMaxUnwatchedHintPorts of them; the total counts them all).
  std::uint64_t unwatched_pdu_streams = 0;
  std::map<std::uint16_t, std::uint64_t> unwatched_pdu_ports;

  // Errors, each of which makes the exit code 1.
  std::uint64_t stream_errors = 0;  // bad length, missing bytes, PDU cut off at the end
  std::uint64_t body_errors = 0;    // body does not parse or lacks required fields
  std::uint64_t input_errors = 0;   // truncated or corrupt capture file, malformed frames

  std::uint64_t errors() const {
    return stream_errors + body_errors + input_errors + frames_malformed;
  }
  void Print(std::FILE* out) const;
  void CountUnwatchedPduStream(std::uint16_t port);
};

// "4 streams on unwatched ports look like PDUs: 28101,28102; add --port +28101,28102", or empty
// when no such stream was seen.
std::string UnwatchedPortsHint(const DumpStats& stats);

}  // namespace ttlogin::tools::pdu_dump
