// The pdu_dump command line: what to read, how to print it, and the exit codes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/pdu_dump/capture_decoder.h"
#include "tools/pdu_dump/capture_reader.h"
#include "tools/pdu_dump/pdu_dumper.h"
#include "tools/pdu_dump/pdu_proxy.h"

namespace ttlogin::tools::pdu_dump {

// Exit codes (also in --help and docs/PDU_DUMP.md). A script can tell "the traffic is broken"
// (1) from "the tool was used wrongly" (2) from "the input is not there" (3, 4).
inline constexpr int kExitOk = 0;
inline constexpr int kExitDecodeErrors = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCannotOpen = 3;
inline constexpr int kExitNoPermission = 4;

enum class InputMode { kCapture, kRaw, kHex, kLive, kProxy };

struct Options {
  InputMode mode = InputMode::kCapture;
  std::vector<std::string> captures;  // capture files, "-" for stdin
  std::string raw_path;               // --raw / --hex
  LiveOptions live;                   // -i IFACE, the BPF words after it, -B (main sets `stop`)
  ProxyConfig proxy;
  DumpConfig dump;
  CaptureConfig capture;
  bool stats = false;
  std::string trace_path;
};

// Fills `options`. Returns the status to exit with when the program should stop here: 0 after
// --help (or a generated man page or completion), kExitUsage after printing a usage error.
[[nodiscard]] std::optional<int> ParseCommandLine(int argc, char** argv, Options& options);

}  // namespace ttlogin::tools::pdu_dump
