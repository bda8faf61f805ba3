#include "server/admin/admin_handler.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "common/log_rate_limiter.h"
#include "common/logging.h"
#include "server/admin/status_page.h"

namespace ttlogin::server::admin {
namespace {

using nlohmann::json;

constexpr std::string_view kServersPrefix = "/servers/";

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Compares without leaking the token's length or prefix through timing.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

std::string IsoTime(std::int64_t unix_ms) {
  if (unix_ms <= 0) return "";
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return std::string(buf) + "." + fmt::format("{:03d}", unix_ms % 1000) + "Z";
}

// Decodes %XX escapes (a host name may hold characters a client escapes in a path). Invalid
// escapes are kept as they are.
std::string PercentDecode(std::string_view in) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

}  // namespace

// Written one entry at a time: a DOM of the whole list (a node per value) cost several times
// the text it became, and with thousands of entries one GET built hundreds of MB.
std::string ServersJson(const registry::MsgServerRegistry& registry) {
  std::string text = "[";
  bool first = true;
  for (const auto& s : registry.Snapshot()) {
    json e;
    e["host_name"] = s.info.host_name;
    e["ip1"] = s.info.ip1;
    e["ip2"] = s.info.ip2;
    e["port"] = s.info.port;
    e["cur"] = s.info.cur_conn_cnt;
    e["max"] = s.info.max_conn_cnt;
    e["peer"] = s.meta.peer;
    e["registered_since"] = IsoTime(s.meta.registered_ms);
    e["last_heard"] = IsoTime(s.meta.last_heard_ms);
    e["draining"] = s.draining;
    e["full"] = s.info.cur_conn_cnt >= s.info.max_conn_cnt;
    e["warming"] = s.warming;  // inside its slow start window
    e["held"] = s.held;        // logins handed out, not yet reported (AssignmentHold)
    // Restored by a warm start and handed out on its last known counts until its msg_server
    // registers again or WarmStartGrace ends.
    e["provisional"] = s.provisional;
    e["state"] = s.provisional ? "provisional" : "registered";
    if (!s.meta.warning.empty()) e["warning"] = s.meta.warning;
    if (!first) text += ',';
    first = false;
    text += Dump(e);
  }
  text += ']';
  return text;
}

bool AdminHandler::Authorized(const http::HttpRequest& request) const {
  const std::string& token = context_.config().admin_token;
  if (token.empty()) return true;
  constexpr std::string_view kBearer = "Bearer ";
  const std::string_view given = request.authorization;
  if (given.substr(0, kBearer.size()) != kBearer) return false;
  return ConstantTimeEquals(given.substr(kBearer.size()), token);
}

void AdminHandler::Handle(const http::HttpRequest& request, bool keep_alive, std::string& out) {
  const auto method = static_cast<llhttp_method_t>(request.method);
  const std::string_view path = http::UrlPath(request.url);
  const bool get = method == HTTP_GET || method == HTTP_HEAD;
  const bool post = method == HTTP_POST;

  if (path == "/") {
    // The page is the same for everyone and holds no data: it reads the routes below with the
    // token the operator types in, so it needs none itself (a browser cannot send a bearer token
    // when it opens a URL).
    if (!get) return http::AppendJsonError(out, 405, "use GET", keep_alive, "Allow: GET\r\n");
    return StatusPage(keep_alive, method == HTTP_HEAD, out);
  }
  if (path == "/healthz") {
    if (!get) return http::AppendJsonError(out, 405, "use GET", keep_alive, "Allow: GET\r\n");
    return http::AppendHttpResponse(out, 200, "{\"status\":\"ok\"}", keep_alive,
                                    method == HTTP_HEAD);
  }
  if (path == "/readyz") {
    if (!get) return http::AppendJsonError(out, 405, "use GET", keep_alive, "Allow: GET\r\n");
    if (backend_.Stopping()) {
      return http::AppendHttpResponse(
          out, 503,
          "{\"status\":\"stopping\",\"msg\":\"the server stops at the end of StopGrace\"}",
          keep_alive, method == HTTP_HEAD);
    }
    const bool ready = context_.registry.AnyEligible();
    return http::AppendHttpResponse(
        out, ready ? 200 : 503,
        ready ? "{\"status\":\"ready\"}"
              : "{\"status\":\"not ready\",\"msg\":\"no msg_server can take a user\"}",
        keep_alive, method == HTTP_HEAD);
  }
  if (!Authorized(request)) {
    return http::AppendJsonError(out, 401, "missing or wrong bearer token", keep_alive,
                                 "WWW-Authenticate: Bearer\r\n");
  }
  if (path == "/metrics") {
    if (!get) return http::AppendJsonError(out, 405, "use GET", keep_alive, "Allow: GET\r\n");
    return Metrics(keep_alive, method == HTTP_HEAD, out);
  }
  if (path == "/servers") {
    if (!get) return http::AppendJsonError(out, 405, "use GET", keep_alive, "Allow: GET\r\n");
    return Servers(keep_alive, method == HTTP_HEAD, out);
  }
  if (path == "/reload") {
    if (!post) return http::AppendJsonError(out, 405, "use POST", keep_alive, "Allow: POST\r\n");
    return Reload(request, keep_alive, out);
  }
  if (path == "/upgrade") {
    if (!post) return http::AppendJsonError(out, 405, "use POST", keep_alive, "Allow: POST\r\n");
    return Upgrade(request, keep_alive, out);
  }
  if (path.substr(0, kServersPrefix.size()) == kServersPrefix) {
    std::string_view rest = path.substr(kServersPrefix.size());
    const std::size_t slash = rest.rfind('/');
    if (slash != std::string_view::npos && slash > 0) {
      const std::string_view action = rest.substr(slash + 1);
      const std::string_view key = rest.substr(0, slash);
      if (action == "drain" || action == "undrain") {
        if (!post) {
          return http::AppendJsonError(out, 405, "use POST", keep_alive, "Allow: POST\r\n");
        }
        return Drain(PercentDecode(key), action == "drain", keep_alive, out);
      }
    }
  }
  http::AppendJsonError(out, 404, "no such admin path", keep_alive);
}

void AdminHandler::Metrics(bool keep_alive, bool head_only, std::string& out) {
  double rate;
  {
    std::lock_guard lock(rate_mu_);
    rate = update_rate_.Sample(context_.metrics.Get(Counter::kRegistryUpdates),
                               std::chrono::steady_clock::now());
  }
  const std::string text =
      RenderPrometheus(context_.metrics, context_.registry, backend_.BuildVersion(), rate);
  http::AppendHttpResponse(out, 200, text, keep_alive, head_only, {},
                           "text/plain; version=0.0.4; charset=utf-8");
}

void AdminHandler::StatusPage(bool keep_alive, bool head_only, std::string& out) {
  // Built once: the page and its policy are fixed at build time.
  static const std::string kHeaders = std::string("Content-Security-Policy: ") +
                                      std::string(kStatusPageCsp) +
                                      "\r\n"
                                      "Cache-Control: no-store\r\n"
                                      "X-Content-Type-Options: nosniff\r\n"
                                      "Referrer-Policy: no-referrer\r\n"
                                      "X-Frame-Options: DENY\r\n";
  http::AppendHttpResponse(out, 200, kStatusPageHtml, keep_alive, head_only, kHeaders,
                           "text/html; charset=utf-8");
}

void AdminHandler::Servers(bool keep_alive, bool head_only, std::string& out) {
  http::AppendHttpResponse(out, 200, ServersJson(context_.registry), keep_alive, head_only);
}

void AdminHandler::Drain(std::string_view key, bool draining, bool keep_alive, std::string& out) {
  // A drain naming no live msg_server is a typo unless the key is already remembered: then the
  // msg_server is away and drained, and draining it again must keep that (undraining forgets it).
  const auto outcome = context_.registry.Drain(key, draining);
  if (outcome.matched == 0 && !outcome.was_remembered) {
    return http::AppendJsonError(out, 404, "no registered msg_server has that host:port",
                                 keep_alive);
  }
  TTLOGIN_LOG_PER_PEER(
      spdlog::level::info, "admin: {} {} ({} msg_server(s){})",
      draining ? "draining" : "undraining", common::EscapeForLog(key), outcome.matched,
      outcome.matched == 0 ? ", none connected; the drain key was remembered" : "");
  json j;
  j["key"] = std::string(key);
  j["draining"] = draining;
  j["matched"] = outcome.matched;
  j["remembered"] = outcome.remembered;
  http::AppendHttpResponse(out, 200, Dump(j), keep_alive);
}

namespace {

void AppendReloadAnswer(const ReloadOutcome& r, bool keep_alive, std::string& out) {
  json j;
  j["ok"] = r.ok;
  j["errors"] = r.errors;
  j["notes"] = r.notes;
  http::AppendHttpResponse(out, r.ok ? 200 : 400, Dump(j), keep_alive);
}

void AppendUpgradeAnswer(const UpgradeOutcome& r, bool keep_alive, std::string& out) {
  json j;
  int status = 200;
  switch (r.result) {
    case UpgradeOutcome::Result::kUpgraded:
      j["status"] = "upgraded";
      j["pid"] = r.new_pid;
      j["handover_ms"] = r.handover_ms;
      break;
    case UpgradeOutcome::Result::kBusy:
      status = 409;
      j["status"] = "busy";
      j["error"] = r.error;
      break;
    case UpgradeOutcome::Result::kFailed:
      status = 500;
      j["status"] = "failed";
      j["error"] = r.error;
      break;
  }
  http::AppendHttpResponse(out, status, Dump(j), keep_alive);
}

}  // namespace

void AdminHandler::Upgrade(const http::HttpRequest& request, bool keep_alive, std::string& out) {
  if (request.deferral == nullptr) {
    UpgradeOutcome r;
    r.error = "POST /upgrade needs a connection that can wait for the outcome";
    AppendUpgradeAnswer(r, keep_alive, out);
    return;
  }
  // The answer waits for the outcome (at most UpgradeTimeout); this connection stays with this
  // process, which answers it after the handover and then closes it.
  backend_.UpgradeAsync(
      "POST /upgrade", [deliver = request.deferral->Defer(), keep_alive](const UpgradeOutcome& r) {
        std::string answer;
        // Upgraded: this process exits once it has answered, so it says so.
        AppendUpgradeAnswer(r, keep_alive && r.result != UpgradeOutcome::Result::kUpgraded, answer);
        deliver(std::move(answer));
      });
}

void AdminHandler::Reload(const http::HttpRequest& request, bool keep_alive, std::string& out) {
  if (request.deferral == nullptr) {
    AppendReloadAnswer(backend_.Reload("POST /reload"), keep_alive, out);
    return;
  }
  // The reload reads files (the config, the network table) on the reload thread; the io loop
  // goes on serving its other connections and this one is answered when the reload is done.
  backend_.ReloadAsync("POST /reload",
                       [deliver = request.deferral->Defer(), keep_alive](const ReloadOutcome& r) {
                         std::string answer;
                         AppendReloadAnswer(r, keep_alive, answer);
                         deliver(std::move(answer));
                       });
}

}  // namespace ttlogin::server::admin
