// Reads a load-replay trace (JSON Lines, docs/REPLAY.md) into a Trace, validating every line.
//
// The whole trace is validated before anything is replayed, so a malformed line stops a replay
// before the first PDU leaves: an operator never half-replays an incident. Every error names the
// 1-based line it was found on.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "tools/load_replay/trace_event.h"

namespace ttlogin::tools::replay {

// Bounds on one event's numbers: past them a value is a typo, not a load pattern.
inline constexpr std::uint32_t kMaxCountPerEvent = 1'000'000;  // "n" of inc / dec
inline constexpr std::size_t kMaxNameLength = 256;             // "ms"

struct TraceError {
  std::uint32_t line = 0;  // 0 when the file itself could not be read
  std::string message;
  std::string ToString() const;
};

struct ReadResult {
  Trace trace;
  std::optional<TraceError> error;
  bool ok() const { return !error.has_value(); }
};

// Incremental reader: feed lines in order; the first error sticks.
class TraceReader {
 public:
  // Returns false once a line was malformed (this one or an earlier one).
  bool AddLine(std::string_view text);
  const std::optional<TraceError>& error() const { return error_; }
  Trace& trace() { return trace_; }

 private:
  bool Fail(std::string message);
  bool AddCluster(const nlohmann::json& j);

  Trace trace_;
  std::optional<TraceError> error_;
  std::uint64_t last_t_ = 0;
};

ReadResult ReadTrace(std::istream& in);
ReadResult ReadTraceString(std::string_view text);
ReadResult ReadTraceFile(const std::string& path);

}  // namespace ttlogin::tools::replay
