// Fuzz target: the config reader, text -> ParseConfigText -> BuildLoginServerConfig.
//
// Input: the config text itself. Checks that the parser keeps its stated rules (keys and values
// trimmed, no comment text: '#' is a comment at the start of a line or after a blank, so no key or
// value holds a blank followed by '#' and no key starts with '#'; no line breaks, keys without
// '=', line numbers inside the text; an AdminToken that is accepted is never empty; an admin
// listener beyond loopback with no token is accepted only with AdminAllowInsecure=1), that
// writing the parsed values back as key=value lines and parsing again gives the same values, and
// that a config accepted as valid holds only values inside the documented bounds.
#include <algorithm>
#include <string_view>

#include <arpa/inet.h>

#include "common/config_file.h"
#include "common/login_server_config.h"
#include "test/fuzz/fuzz_input.h"

namespace ttlogin::fuzz {
namespace {

bool IsBlank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool Trimmed(std::string_view s) {
  return s.empty() || (!IsBlank(s.front()) && !IsBlank(s.back()));
}

// The comment rule: what survives parsing holds no blank followed by '#'.
bool HoldsComment(std::string_view s) {
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (s[i] == '#' && (s[i - 1] == ' ' || s[i - 1] == '\t')) return true;
  }
  return false;
}

bool IsAddress(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

void CheckValid(const common::LoginServerConfig& c) {
  for (const auto* l : {&c.client, &c.http, &c.msg_server}) {
    FUZZ_CHECK(!l->addresses.empty());
    for (const auto& a : l->addresses)
      FUZZ_CHECK(IsAddress(a));
    FUZZ_CHECK(l->max_connections >= 1 && l->max_connections <= 10'000'000);
  }
  FUZZ_CHECK(c.io_threads <= common::kMaxIoThreads);
  FUZZ_CHECK(c.max_pdu_size >= common::kMinMaxPduSize && c.max_pdu_size <= common::kMaxMaxPduSize);
  FUZZ_CHECK(c.heartbeat_interval.count() >= 1 && c.heartbeat_interval.count() <= 3600);
  FUZZ_CHECK(c.msg_server_timeout.count() >= 1 && c.msg_server_timeout.count() <= 86400);
  // Otherwise every msg_server would time out between two heartbeats.
  FUZZ_CHECK(c.heartbeat_interval < c.msg_server_timeout);
  FUZZ_CHECK(c.client_timeout.count() >= 1 && c.client_timeout.count() <= 86400);
  FUZZ_CHECK(c.http_timeout.count() >= 1 && c.http_timeout.count() <= 86400);
  FUZZ_CHECK(c.http_request_timeout.count() >= 1 && c.http_request_timeout.count() <= 3600);
  FUZZ_CHECK(c.max_http_head_size >= 256 && c.max_http_head_size <= 1024 * 1024);
  FUZZ_CHECK(c.max_http_body_size <= 1024 * 1024);
  FUZZ_CHECK(c.max_msg_servers >= 1 && c.max_msg_servers <= 10'000'000);
  constexpr std::string_view kLevels[] = {"trace", "debug",    "info", "warn",
                                          "error", "critical", "off"};
  FUZZ_CHECK(std::find(std::begin(kLevels), std::end(kLevels), c.log_level) != std::end(kLevels));
}

}  // namespace
}  // namespace ttlogin::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ttlogin;
  using namespace ttlogin::fuzz;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const common::ConfigFile file = common::ParseConfigText(text);
  const int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;

  std::string rewritten;
  for (const auto& [key, v] : file.values) {
    FUZZ_CHECK(!key.empty() && Trimmed(key) && Trimmed(v.value));
    FUZZ_CHECK(key.find_first_of("=\n") == std::string::npos && key.front() != '#');
    FUZZ_CHECK(v.value.find('\n') == std::string::npos);
    FUZZ_CHECK(!HoldsComment(key) && !HoldsComment(v.value));
    FUZZ_CHECK(key.find('\0') == std::string::npos && v.value.find('\0') == std::string::npos);
    FUZZ_CHECK(v.line >= 1 && v.line <= lines);
    FUZZ_CHECK(file.Find(key) == &v);
    rewritten += key + "=" + v.value + "\n";
  }
  const common::ConfigFile again = common::ParseConfigText(rewritten);
  FUZZ_CHECK(again.errors.empty() && again.warnings.empty());
  FUZZ_CHECK(again.values.size() == file.values.size());
  for (const auto& [key, v] : file.values) {
    const common::ConfigValue* w = again.Find(key);
    FUZZ_CHECK(w != nullptr && w->value == v.value);
  }

  const common::ConfigLoadResult result = common::BuildLoginServerConfig(file);
  // Malformed lines always reach the caller, so a broken file is never used.
  if (!file.errors.empty()) FUZZ_CHECK(!result.ok());
  if (result.ok()) {
    CheckValid(result.config);
    if (file.Find("AdminToken") != nullptr) FUZZ_CHECK(!result.config.admin_token.empty());
    if (common::AdminOpenBeyondLoopback(result.config)) {
      FUZZ_CHECK(result.config.admin_allow_insecure);
    }
  }
  return 0;
}
