// Fuzz target: /metrics label escaping. The input is a host_name of any bytes; the escaped label
// must be what a Prometheus parser accepts (only \\, \" and \n escapes, no raw '"' or newline),
// read back as valid UTF-8 (checked by a decoder written out here, sharing no code with the
// server) with no control character, and map back to exactly the input (no two host_names
// share a series).
#include <cstdint>
#include <optional>
#include <string>

#include "server/admin/prometheus_text.h"
#include "test/fuzz/fuzz_input.h"

namespace ttlogin::fuzz {
namespace {

std::optional<std::string> PrometheusUnescape(const std::string& wire) {
  std::string out;
  for (std::size_t i = 0; i < wire.size(); ++i) {
    if (wire[i] == '"' || wire[i] == '\n') return std::nullopt;
    if (wire[i] != '\\') {
      out += wire[i];
      continue;
    }
    if (++i == wire.size()) return std::nullopt;
    if (wire[i] == '\\' || wire[i] == '"') {
      out += wire[i];
    } else if (wire[i] == 'n') {
      out += '\n';
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// True when `s` is valid UTF-8 (shortest forms, no surrogates, at most U+10FFFF) holding no
// control character (C0, DEL, C1).
bool ValidUtf8WithoutControls(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const int n = lead < 0x80         ? 1
                  : (lead >> 5) == 6  ? 2
                  : (lead >> 4) == 14 ? 3
                  : (lead >> 3) == 30 ? 4
                                      : 0;
    if (n == 0 || i + n > s.size()) return false;
    std::uint32_t cp = n == 1 ? lead : lead & (0x7F >> n);
    for (int k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b >> 6) != 2) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    const std::uint32_t shortest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < shortest[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return false;
    i += static_cast<std::size_t>(n);
  }
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace
}  // namespace ttlogin::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ttlogin::fuzz;
  const std::string host_name(reinterpret_cast<const char*>(data), size);
  const std::string wire = ttlogin::server::admin::EscapeLabel(host_name);
  const auto label = PrometheusUnescape(wire);
  FUZZ_CHECK(label.has_value());
  FUZZ_CHECK(ValidUtf8WithoutControls(*label));
  std::string back;
  for (std::size_t i = 0; i < label->size(); ++i) {
    if ((*label)[i] != '\\') {
      back += (*label)[i];
      continue;
    }
    FUZZ_CHECK(i + 3 < label->size() && (*label)[i + 1] == 'x');
    const int hi = HexDigit((*label)[i + 2]);
    const int lo = HexDigit((*label)[i + 3]);
    FUZZ_CHECK(hi >= 0 && lo >= 0);
    back += static_cast<char>(hi * 16 + lo);
    i += 3;
  }
  FUZZ_CHECK(back == host_name);
  return 0;
}
