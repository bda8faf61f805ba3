// Runs the real decode path in-process on fixtures: a capture held in memory goes through libpcap
// (fmemopen) exactly as a file would, or frames go straight into a CaptureDecoder.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/pdu_dump/capture_decoder.h"
#include "tools/pdu_dump/capture_reader.h"
#include "tools/pdu_dump/pdu_dumper.h"

namespace ttlogin::tools::pdu_dump::testing {

struct DecodeOutcome {
  std::string output;  // what pdu_dump would print
  InputResult input;
  DumpStats stats;
  std::string trace;  // --trace output, when asked for
};

DecodeOutcome DecodeCapture(const std::string& capture, OutputFormat format = OutputFormat::kJson,
                            const CaptureConfig& config = {}, DumpConfig dump = {},
                            bool with_trace = false);

// Parses JSON Lines; fails the current test on a line that is not JSON.
std::vector<nlohmann::json> ParseLines(const std::string& text);

// The PDU lines only (no stream-error lines), as "command@seq" in output order, for compact
// assertions on order.
std::vector<std::string> CommandSeqs(const std::vector<nlohmann::json>& lines);

}  // namespace ttlogin::tools::pdu_dump::testing
