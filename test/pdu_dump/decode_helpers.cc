#include "test/pdu_dump/decode_helpers.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>

namespace ttlogin::tools::pdu_dump::testing {

DecodeOutcome DecodeCapture(const std::string& capture, OutputFormat format,
                            const CaptureConfig& config, DumpConfig dump, bool with_trace) {
  DecodeOutcome outcome;
  dump.format = format;
  char* trace_buf = nullptr;
  std::size_t trace_size = 0;
  std::FILE* trace_file = with_trace ? open_memstream(&trace_buf, &trace_size) : nullptr;
  TraceWriter trace(trace_file);
  {
    PduDumper dumper(dump, nullptr, with_trace ? &trace : nullptr);
    CaptureDecoder decoder(config, dumper);
    // fmemopen needs a writable buffer only for "w" modes; "rb" reads the copy in place.
    std::string copy = capture;
    std::FILE* f = fmemopen(copy.data(), copy.size(), "rb");
    outcome.input = ReadCaptureStream(f, "fixture", decoder, dumper);
    outcome.output = dumper.output();
    outcome.stats = dumper.stats();
  }
  if (trace_file != nullptr) {
    std::fclose(trace_file);
    outcome.trace.assign(trace_buf, trace_size);
    std::free(trace_buf);
  }
  return outcome;
}

std::vector<nlohmann::json> ParseLines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
    lines.push_back(std::move(j));
  }
  return lines;
}

std::vector<std::string> CommandSeqs(const std::vector<nlohmann::json>& lines) {
  std::vector<std::string> out;
  for (const auto& j : lines) {
    if (j["command"].is_null()) continue;
    std::ostringstream s;
    s << std::hex << j["command"].get<int>() << std::dec << "@" << j["seq"].get<int>();
    out.push_back(s.str());
  }
  return out;
}

}  // namespace ttlogin::tools::pdu_dump::testing
