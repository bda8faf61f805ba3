#include "test/fault/admin_probe.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "test/support/fake_peers.h"

namespace ttlogin::test {
namespace {

std::optional<std::string> Get(std::uint16_t port, const std::string& path) {
  const auto r = HttpRequest(
      port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (!r || r->status != 200) return std::nullopt;
  return r->body;
}

}  // namespace

std::optional<std::uint16_t> AdminPort(const ServerProcess& server) {
  std::ifstream in(server.dir() + "/ready.json");
  std::stringstream text;
  text << in.rdbuf();
  const auto j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.contains("admin")) return std::nullopt;
  const auto& a = j["admin"];
  if (a.is_array() && !a.empty() && a[0].is_number_unsigned()) return a[0].get<std::uint16_t>();
  if (a.is_number_unsigned()) return a.get<std::uint16_t>();
  return std::nullopt;
}

std::optional<RegistryView> ReadRegistry(std::uint16_t admin_port) {
  const auto body = Get(admin_port, "/servers");
  if (!body) return std::nullopt;
  auto j = nlohmann::json::parse(*body, nullptr, false);
  if (j.is_object() && j.contains("servers")) j = j["servers"];
  if (!j.is_array()) return std::nullopt;
  RegistryView view;
  for (const auto& e : j) {
    if (!e.is_object() || !e.contains("cur") || !e["cur"].is_number_unsigned()) return std::nullopt;
    const std::string key =
        e.value("host_name", std::string{}) + ":" + std::to_string(e.value("port", 0u));
    const auto cur = e["cur"].get<std::uint64_t>();
    view.cur[key] += cur;
    view.sum += cur;
  }
  return view;
}

std::optional<double> ReadMetric(std::uint16_t admin_port, const std::string& metric,
                                 const std::string& label) {
  const auto body = Get(admin_port, "/metrics");
  if (!body) return std::nullopt;
  std::istringstream lines(*body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    // name{labels} value   or   name value
    const std::size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string::npos || line.compare(0, name_end, metric) != 0 ||
        name_end != metric.size()) {
      continue;
    }
    std::string labels;
    std::size_t value_at = name_end;
    if (line[name_end] == '{') {
      const std::size_t close = line.find('}', name_end);
      if (close == std::string::npos) continue;
      labels = line.substr(name_end + 1, close - name_end - 1);
      value_at = close + 1;
    }
    if (!label.empty() && labels.find(label) == std::string::npos) continue;
    try {
      return std::stod(line.substr(value_at));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<double> OpenConnections(std::uint16_t admin_port, const std::string& listener) {
  return ReadMetric(admin_port, "ttlogin_connections_open", "listener=\"" + listener + "\"");
}

}  // namespace ttlogin::test
