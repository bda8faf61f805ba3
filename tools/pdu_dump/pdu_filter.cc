#include "tools/pdu_dump/pdu_filter.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/protocol.h"

namespace ttlogin::tools::pdu_dump {
namespace {

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::uint16_t> ServiceByName(std::string_view name) {
  const std::string upper = Upper(name);
  // Service ids are few and small; asking ServiceName() for each avoids a second table.
  for (std::uint16_t id = 0; id < 256; ++id) {
    const std::string_view known = common::ServiceName(id);
    if (known.empty()) continue;
    if (known == upper || (known.starts_with("SID_") && known.substr(4) == upper)) return id;
  }
  return std::nullopt;
}

bool Contains(const std::vector<std::uint16_t>& v, std::uint16_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

std::optional<std::uint32_t> ParseNumber(std::string_view text, std::uint32_t max) {
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || value > max) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

std::string PduFilter::Add(std::string_view expression) {
  const std::size_t eq = expression.find('=');
  if (eq == std::string_view::npos) {
    return "filter '" + std::string(expression) + "' is not KEY=VALUE (service, command or port)";
  }
  const std::string_view key = expression.substr(0, eq);
  std::string_view list = expression.substr(eq + 1);
  if (key != "service" && key != "command" && key != "port") {
    return "unknown filter key '" + std::string(key) + "' (use service, command or port)";
  }
  if (list.empty()) return "filter '" + std::string(expression) + "' has no value";
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    std::optional<std::uint32_t> value = ParseNumber(item, 0xffff);
    if (!value && key == "service") {
      if (auto id = ServiceByName(item)) value = *id;
    }
    if (!value && key == "command") {
      if (auto id = common::CommandIdByName(Upper(item))) value = *id;
    }
    if (!value) {
      return "filter " + std::string(key) + ": '" + std::string(item) +
             "' is neither a number (0-65535) nor a known name";
    }
    auto& target = key == "service" ? services_ : key == "command" ? commands_ : ports_;
    target.push_back(static_cast<std::uint16_t>(*value));
  }
  return {};
}

bool PduFilter::Matches(const StreamInfo& stream, const common::PduHeader& header) const {
  if (!services_.empty() && !Contains(services_, header.service_id)) return false;
  if (!commands_.empty() && !Contains(commands_, header.command_id)) return false;
  if (!ports_.empty() && !(stream.has_endpoints && (Contains(ports_, stream.src.port) ||
                                                    Contains(ports_, stream.dst.port)))) {
    return false;
  }
  return true;
}

}  // namespace ttlogin::tools::pdu_dump
