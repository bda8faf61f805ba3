// Logging set-up shared by the server and the tools, and escaping of peer-supplied text.
#pragma once

#include <string>
#include <string_view>

namespace ttlogin::common {

// Points the default spdlog logger at `file` (stderr when empty) with `level`.
// Returns an empty string on success or the reason it failed (e.g. the file cannot be opened).
std::string SetupLogging(const std::string& level, const std::string& file);

// Makes peer-supplied text safe for a log line: control characters and non-ASCII bytes become
// \xNN escapes and the result is cut to `max_len` bytes, so a hostile host_name cannot forge log
// lines or flood the log.
std::string EscapeForLog(std::string_view text, std::size_t max_len = 128);

}  // namespace ttlogin::common
