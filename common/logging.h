// Logging set-up shared by the server and the tools, and escaping of peer-supplied text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/json_text.h"

namespace ttlogin::common {

struct LogOptions {
  std::string level = "info";
  std::string file;               // empty: stderr
  std::string format = "text";    // "text" or "json" (one object per line, for log shippers)
  std::size_t max_size_mb = 100;  // a file rotates at this size
  std::size_t max_files = 5;      // rotated files kept
};

// Points the default spdlog logger at the file (rotating) or stderr. Returns an empty string on
// success or the reason it failed (e.g. the file cannot be opened).
std::string SetupLogging(const LogOptions& options);

// Changes the level of the default logger (hot reload).
void SetLogLevel(const std::string& level);

// Makes peer-supplied text safe for a log line: control characters and non-ASCII bytes become
// \xNN escapes and the result is cut to `max_len` bytes, so a hostile host_name cannot forge log
// lines or flood the log.
std::string EscapeForLog(std::string_view text, std::size_t max_len = 128);

}  // namespace ttlogin::common
