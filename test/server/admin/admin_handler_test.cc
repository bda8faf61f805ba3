// AdminHandler with a fake backend: every route, the bearer token, the methods each route takes,
// the deferred reload answer and the error JSON.
#include "server/admin/admin_handler.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ttlogin::server::admin {
namespace {

using nlohmann::json;

constexpr std::string_view kToken = "s3cret-Token";
constexpr std::string_view kVersion = "9.8.7-admin-test";

// Answers reloads with a set outcome and records what it was asked.
class FakeBackend final : public AdminBackend {
 public:
  ReloadOutcome outcome;
  std::vector<std::string> triggers;  // of every Reload and ReloadAsync, in order
  int async_calls = 0;
  std::function<void(const ReloadOutcome&)> pending;  // the last ReloadAsync's callback
  bool stopping = false;

  ReloadOutcome Reload(std::string_view trigger) override {
    triggers.emplace_back(trigger);
    return outcome;
  }
  void ReloadAsync(std::string_view trigger,
                   std::function<void(const ReloadOutcome&)> done) override {
    triggers.emplace_back(trigger);
    ++async_calls;
    pending = std::move(done);
  }
  void UpgradeAsync(std::string_view trigger,
                    std::function<void(const UpgradeOutcome&)> done) override {
    triggers.emplace_back(trigger);
    upgrade_pending = std::move(done);
  }
  std::function<void(const UpgradeOutcome&)> upgrade_pending;  // the last UpgradeAsync's callback
  std::string BuildVersion() const override { return std::string(kVersion); }
  bool Stopping() const override { return stopping; }
};

// A connection that can answer later: keeps what is delivered.
class FakeDeferral final : public http::ReplyDeferral {
 public:
  int deferred = 0;
  std::optional<std::string> delivered;

  Deliver Defer() override {
    ++deferred;
    return [this](std::string response) { delivered = std::move(response); };
  }
};

struct Response {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;
  bool Has(std::string_view header_line) const {
    return head.find("\r\n" + std::string(header_line) + "\r\n") != std::string::npos;
  }
  json Json() const { return json::parse(body); }
};

// Splits one whole response; checks that Content-Length matches the body (or, for HEAD, that
// there is none).
Response Parse(const std::string& out, bool head_only = false) {
  Response r;
  const std::size_t end = out.find("\r\n\r\n");
  EXPECT_NE(end, std::string::npos) << out;
  if (end == std::string::npos) return r;
  r.head = out.substr(0, end + 2);
  r.body = out.substr(end + 4);
  EXPECT_EQ(r.head.compare(0, 9, "HTTP/1.1 "), 0) << r.head;
  r.status = std::stoi(r.head.substr(9, 3));
  const std::size_t cl = r.head.find("\r\nContent-Length: ");
  EXPECT_NE(cl, std::string::npos) << r.head;
  if (cl != std::string::npos) {
    const std::size_t length = std::stoul(r.head.substr(cl + 18));
    if (head_only) {
      EXPECT_TRUE(r.body.empty());
    } else {
      EXPECT_EQ(length, r.body.size()) << r.head;
    }
  }
  return r;
}

common::LoginServerConfig WithToken(std::string_view token) {
  common::LoginServerConfig c;
  c.admin_token = std::string(token);
  return c;
}

registry::MsgServerInfo Info(std::string host_name, std::uint32_t port, std::uint32_t cur,
                             std::uint32_t max) {
  registry::MsgServerInfo info;
  info.ip1 = "10.0.0." + std::to_string(port % 250);
  info.ip2 = "192.0.2." + std::to_string(port % 250);
  info.port = port;
  info.cur_conn_cnt = cur;
  info.max_conn_cnt = max;
  info.host_name = std::move(host_name);
  return info;
}

class AdminHandlerTest : public ::testing::Test {
 protected:
  AdminHandlerTest(std::string_view token = kToken)
      : live_(WithToken(token)), context_{live_, registry_, metrics_} {}

  Response Send(llhttp_method_t method, std::string url, std::string authorization = "",
                bool keep_alive = true, http::ReplyDeferral* deferral = nullptr) {
    http::HttpRequest request;
    request.method = static_cast<std::uint8_t>(method);
    request.url = std::move(url);
    request.keep_alive = keep_alive;
    request.authorization = std::move(authorization);
    request.deferral = deferral;
    std::string out;
    handler_.Handle(request, keep_alive, out);
    last_raw_ = out;
    if (deferral != nullptr && out.empty()) return Response{};
    return Parse(out, method == HTTP_HEAD);
  }
  Response Authorized(llhttp_method_t method, std::string url) {
    return Send(method, std::move(url), "Bearer " + std::string(kToken));
  }

  LiveConfig live_;
  registry::MsgServerRegistry registry_;
  Metrics metrics_;
  ServerContext context_;
  FakeBackend backend_;
  AdminHandler handler_{context_, backend_};
  std::string last_raw_;
};

// The same handler where no AdminToken is set (a loopback admin listener, or a wider one with
// AdminAllowInsecure=1: the config decides, the handler only sees an empty token).
class AdminHandlerNoTokenTest : public AdminHandlerTest {
 protected:
  AdminHandlerNoTokenTest() : AdminHandlerTest("") {}
};

// The text between <tag> and </tag>, or nullopt unless there is exactly one such block.
std::optional<std::string> InlineBlock(const std::string& page, const std::string& tag) {
  const std::size_t open = page.find("<" + tag);
  const std::size_t close = page.find("</" + tag + ">");
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  if (page.find("<" + tag, open + 1) != std::string::npos) return std::nullopt;
  const std::string start = "<" + tag + ">";
  if (page.compare(open, start.size(), start) != 0) return std::nullopt;  // attributes: src=...
  return page.substr(open + start.size(), close - open - start.size());
}

// What a CSP hash source names: base64 of the SHA-256 of the text.
std::string Sha256Base64(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EXPECT_EQ(EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr), 1);
  unsigned char encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(encoded, digest, static_cast<int>(length));
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(n));
}

std::string HeaderValue(const std::string& head, const std::string& name) {
  const std::size_t at = head.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  const std::size_t start = at + name.size() + 4;
  return head.substr(start, head.find("\r\n", start) - start);
}

TEST_F(AdminHandlerTest, StatusPageIsOneSelfContainedHtmlPageWithAStrictPolicy) {
  // No token: a browser opening the URL cannot send one; the page reads the data with the token
  // the operator types in.
  const Response r = Send(HTTP_GET, "/");
  ASSERT_EQ(r.status, 200) << r.head;
  EXPECT_TRUE(r.Has("Content-Type: text/html; charset=utf-8")) << r.head;
  EXPECT_TRUE(r.Has("Cache-Control: no-store")) << r.head;
  EXPECT_TRUE(r.Has("X-Content-Type-Options: nosniff")) << r.head;
  EXPECT_EQ(r.body.rfind("<!DOCTYPE html>", 0), 0u);

  // Nothing is loaded from elsewhere: no URL, no src, no stylesheet link, no CSS import.
  for (const char* external : {"http:", "https:", "//cdn", "src=", "@import", "url(",
                               "rel=\"stylesheet\"", "<iframe", "<object", "<embed"}) {
    EXPECT_EQ(r.body.find(external), std::string::npos) << "the page names " << external;
  }
  // Its inline script and style are the only ones, and the policy allows exactly them.
  const auto script = InlineBlock(r.body, "script");
  const auto style = InlineBlock(r.body, "style");
  ASSERT_TRUE(script && style) << "one inline <script> and one inline <style>";
  const std::string csp = HeaderValue(r.head, "Content-Security-Policy");
  EXPECT_EQ(csp.rfind("default-src 'none'; ", 0), 0u) << csp;
  EXPECT_NE(csp.find("script-src 'sha256-" + Sha256Base64(*script) + "';"), std::string::npos)
      << csp;
  EXPECT_NE(csp.find("style-src 'sha256-" + Sha256Base64(*style) + "';"), std::string::npos) << csp;
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  for (const char* loose : {"unsafe-inline", "unsafe-eval", "*", "http"}) {
    EXPECT_EQ(csp.find(loose), std::string::npos) << csp;
  }
  // Strings from msg_servers go in as text: the script never parses markup.
  for (const char* markup : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"}) {
    EXPECT_EQ(script->find(markup), std::string::npos) << markup;
  }
}

TEST_F(AdminHandlerTest, StatusPageIgnoresTheQueryAnswersHeadAndRefusesOtherMethods) {
  const Response page = Send(HTTP_GET, "/");
  const Response query = Send(HTTP_GET, "/?refresh=<script>alert(1)</script>&x=%00", "", false);
  EXPECT_EQ(query.status, 200);
  EXPECT_EQ(query.body, page.body) << "the query string changes nothing, and is never echoed";
  EXPECT_TRUE(query.Has("Connection: close"));

  const Response head = Send(HTTP_HEAD, "/");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_TRUE(head.Has("Content-Length: " + std::to_string(page.body.size())));
  EXPECT_EQ(HeaderValue(head.head, "Content-Security-Policy"),
            HeaderValue(page.head, "Content-Security-Policy"));

  for (const llhttp_method_t m : {HTTP_POST, HTTP_PUT, HTTP_DELETE}) {
    const Response r = Authorized(m, "/");
    EXPECT_EQ(r.status, 405);
    EXPECT_TRUE(r.Has("Allow: GET"));
  }
  EXPECT_EQ(Authorized(HTTP_GET, "/index.html").status, 404) << "only / is the page";
  EXPECT_EQ(Send(HTTP_GET, "/servers").status, 401) << "the data it reads still needs the token";
}

TEST_F(AdminHandlerTest, HealthzAnswersWithoutAToken) {
  const Response r = Send(HTTP_GET, "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Json(), json::parse(R"({"status":"ok"})"));
  EXPECT_TRUE(r.Has("Connection: keep-alive"));

  const Response head = Send(HTTP_HEAD, "/healthz");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_TRUE(head.Has("Content-Length: " + std::to_string(r.body.size())))
      << "HEAD announces the length GET would send";

  const Response query = Send(HTTP_GET, "/healthz?verbose=1", "", false);
  EXPECT_EQ(query.status, 200) << "the query string is not part of the route";
  EXPECT_TRUE(query.Has("Connection: close"));
}

TEST_F(AdminHandlerTest, ReadyzFollowsWhetherAMsgServerCanTakeAUser) {
  Response r = Send(HTTP_GET, "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.Json()["status"], "not ready");
  EXPECT_FALSE(r.Json()["msg"].get<std::string>().empty());

  const registry::ServerHandle h = registry_.Register(Info("ms1", 8000, 0, 2));
  ASSERT_TRUE(h.valid());
  r = Send(HTTP_GET, "/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Json(), json::parse(R"({"status":"ready"})"));

  ASSERT_TRUE(registry_.AdjustCount(h, 2).has_value());  // full
  EXPECT_EQ(Send(HTTP_GET, "/readyz").status, 503);
  ASSERT_TRUE(registry_.AdjustCount(h, -1).has_value());
  EXPECT_EQ(Send(HTTP_HEAD, "/readyz").status, 200);
  ASSERT_EQ(registry_.SetDraining("ms1:8000", true), 1u);
  EXPECT_EQ(Send(HTTP_GET, "/readyz").status, 503) << "a draining msg_server takes nobody";
}

TEST_F(AdminHandlerTest, ReadyzSaysStoppingDuringStopGraceWhileTheRestServes) {
  ASSERT_TRUE(registry_.Register(Info("ms1", 8000, 0, 2)).valid());
  ASSERT_EQ(Send(HTTP_GET, "/readyz").status, 200);
  backend_.stopping = true;
  Response r = Send(HTTP_GET, "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.Json()["status"], "stopping");
  EXPECT_NE(r.Json()["msg"].get<std::string>().find("StopGrace"), std::string::npos);
  EXPECT_EQ(Send(HTTP_HEAD, "/readyz").status, 503);
  EXPECT_EQ(Send(HTTP_GET, "/healthz").status, 200) << "the process still serves";
  EXPECT_EQ(Authorized(HTTP_GET, "/servers").status, 200);
  backend_.stopping = false;
  EXPECT_EQ(Send(HTTP_GET, "/readyz").status, 200);
}

TEST_F(AdminHandlerTest, ProbesTakeOnlyGetAndHead) {
  for (const char* path : {"/healthz", "/readyz"}) {
    for (llhttp_method_t method : {HTTP_POST, HTTP_PUT, HTTP_DELETE}) {
      const Response r = Send(method, path);
      EXPECT_EQ(r.status, 405) << path;
      EXPECT_TRUE(r.Has("Allow: GET")) << path;
      EXPECT_EQ(r.Json(), json::parse(R"({"code":405,"msg":"use GET"})")) << path;
    }
  }
}

TEST_F(AdminHandlerTest, EveryOtherRouteNeedsTheBearerToken) {
  const std::string token(kToken);
  const std::vector<std::pair<llhttp_method_t, std::string>> routes = {
      {HTTP_GET, "/metrics"},
      {HTTP_GET, "/servers"},
      {HTTP_POST, "/reload"},
      {HTTP_POST, "/servers/ms1:8000/drain"},
      {HTTP_POST, "/servers/ms1:8000/undrain"},
      {HTTP_GET, "/no/such/path"},
  };
  const std::vector<std::string> wrong = {
      "",
      "Bearer",
      "Bearer ",
      "Bearer wrong",
      "Bearer " + token.substr(0, token.size() - 1),  // a prefix
      "Bearer " + token + "x",                        // longer
      "Basic " + token,
      token,  // no scheme
      "Bearer  " + token,
  };
  for (const auto& [method, path] : routes) {
    for (const std::string& authorization : wrong) {
      const Response r = Send(method, path, authorization);
      EXPECT_EQ(r.status, 401) << path << " with '" << authorization << "'";
      EXPECT_TRUE(r.Has("WWW-Authenticate: Bearer")) << path;
      EXPECT_EQ(r.Json()["code"], 401);
    }
  }
  EXPECT_TRUE(backend_.triggers.empty()) << "no reload ran without the token";
  EXPECT_TRUE(registry_.Snapshot().empty());
  EXPECT_FALSE(registry_.IsDrainKey("ms1:8000"));

  backend_.outcome.ok = true;
  EXPECT_EQ(Send(HTTP_GET, "/metrics", "Bearer " + token).status, 200);
  EXPECT_EQ(Send(HTTP_GET, "/servers", "Bearer " + token).status, 200);
  EXPECT_EQ(Send(HTTP_POST, "/reload", "Bearer " + token).status, 200);
  EXPECT_EQ(backend_.triggers.size(), 1u);
  // Past the token check: no msg_server has that name, no route has that path.
  EXPECT_EQ(Send(HTTP_POST, "/servers/ms1:8000/drain", "Bearer " + token).status, 404);
  EXPECT_EQ(Send(HTTP_GET, "/no/such/path", "Bearer " + token).status, 404);
}

TEST_F(AdminHandlerTest, ATokenSetByReloadAppliesToTheNextRequest) {
  EXPECT_EQ(Authorized(HTTP_GET, "/servers").status, 200);
  live_.Set(WithToken("another"));
  EXPECT_EQ(Authorized(HTTP_GET, "/servers").status, 401);
  EXPECT_EQ(Send(HTTP_GET, "/servers", "Bearer another").status, 200);
  live_.Set(WithToken(""));
  EXPECT_EQ(Send(HTTP_GET, "/servers").status, 200);
}

TEST_F(AdminHandlerNoTokenTest, EveryRouteAnswersWithoutAToken) {
  EXPECT_EQ(Send(HTTP_GET, "/metrics").status, 200);
  EXPECT_EQ(Send(HTTP_GET, "/servers").status, 200);
  backend_.outcome.ok = true;
  EXPECT_EQ(Send(HTTP_POST, "/reload").status, 200);
  EXPECT_EQ(Send(HTTP_GET, "/nope").status, 404);
  // A header is not required, and one that is there is not checked either.
  EXPECT_EQ(Send(HTTP_GET, "/servers", "Bearer whatever").status, 200);
}

TEST_F(AdminHandlerTest, MetricsIsPrometheusTextWithTheBuildVersion) {
  metrics_.Add(Counter::kReloads, 7);
  metrics_.Add(Counter::kReloadFailures, 2);
  ASSERT_TRUE(registry_.Register(Info("ms1", 8000, 3, 10)).valid());
  const Response r = Authorized(HTTP_GET, "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.Has("Content-Type: text/plain; version=0.0.4; charset=utf-8"));
  EXPECT_NE(r.body.find("ttlogin_build_info{version=\"" + std::string(kVersion) + "\"} 1\n"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("ttlogin_reloads_total{result=\"ok\"} 7\n"), std::string::npos);
  EXPECT_NE(r.body.find("ttlogin_reloads_total{result=\"failed\"} 2\n"), std::string::npos);

  const Response head = Send(HTTP_HEAD, "/metrics", "Bearer " + std::string(kToken));
  EXPECT_EQ(head.status, 200) << "HEAD is a GET without the body";
  EXPECT_TRUE(head.Has("Content-Type: text/plain; version=0.0.4; charset=utf-8"));

  const Response post = Authorized(HTTP_POST, "/metrics");
  EXPECT_EQ(post.status, 405);
  EXPECT_TRUE(post.Has("Allow: GET"));
}

TEST_F(AdminHandlerTest, ServersListsTheRegistryAsJson) {
  Response r = Authorized(HTTP_GET, "/servers");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.Has("Content-Type: application/json; charset=utf-8"));
  EXPECT_EQ(r.Json(), json::array());

  registry::EntryMeta meta;
  meta.peer = "10.0.0.9:40000";
  meta.registered_ms = 1'700'000'000'123;
  meta.last_heard_ms = 1'700'000'005'007;
  meta.warning = "ip1 is a loopback address";
  ASSERT_TRUE(registry_.Register(Info("ms1", 8000, 3, 10), meta).valid());
  ASSERT_TRUE(registry_.Register(Info("ms2", 8001, 5, 5)).valid());
  ASSERT_EQ(registry_.SetDraining("ms2:8001", true), 1u);

  r = Authorized(HTTP_GET, "/servers");
  ASSERT_EQ(r.status, 200);
  const json list = r.Json();
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 2u);
  const json& ms1 = list[0]["host_name"] == "ms1" ? list[0] : list[1];
  const json& ms2 = list[0]["host_name"] == "ms1" ? list[1] : list[0];
  EXPECT_EQ(ms1["ip1"], "10.0.0." + std::to_string(8000 % 250));
  EXPECT_EQ(ms1["ip2"], "192.0.2." + std::to_string(8000 % 250));
  EXPECT_EQ(ms1["port"], 8000);
  EXPECT_EQ(ms1["cur"], 3);
  EXPECT_EQ(ms1["max"], 10);
  EXPECT_EQ(ms1["peer"], "10.0.0.9:40000");
  EXPECT_EQ(ms1["registered_since"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(ms1["last_heard"], "2023-11-14T22:13:25.007Z");
  EXPECT_EQ(ms1["draining"], false);
  EXPECT_EQ(ms1["full"], false);
  EXPECT_EQ(ms1["warning"], "ip1 is a loopback address");
  EXPECT_EQ(ms2["host_name"], "ms2");
  EXPECT_EQ(ms2["draining"], true);
  EXPECT_EQ(ms2["full"], true);
  EXPECT_EQ(ms2["registered_since"], "") << "no time known: empty, not 1970";
  EXPECT_FALSE(ms2.contains("warning"));
  EXPECT_EQ(ServersJson(registry_), r.body);

  const Response head = Send(HTTP_HEAD, "/servers", "Bearer " + std::string(kToken));
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.Has("Content-Length: " + std::to_string(r.body.size())));

  const Response post = Authorized(HTTP_POST, "/servers");
  EXPECT_EQ(post.status, 405);
  EXPECT_TRUE(post.Has("Allow: GET"));
}

TEST_F(AdminHandlerTest, DrainAndUndrainByHostNameOrAddress) {
  ASSERT_TRUE(registry_.Register(Info("ms1", 8000, 0, 10)).valid());
  Response r = Authorized(HTTP_POST, "/servers/ms1:8000/drain");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Json(),
            json::parse(R"({"key":"ms1:8000","draining":true,"matched":1,"remembered":true})"));
  EXPECT_TRUE(registry_.Snapshot().at(0).draining);
  EXPECT_FALSE(registry_.AnyEligible());

  // Undrained by its ip1: forgets the host-name key too.
  const std::string by_address = "10.0.0." + std::to_string(8000 % 250) + ":8000";
  r = Authorized(HTTP_POST, "/servers/" + by_address + "/undrain");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Json()["draining"], false);
  EXPECT_EQ(r.Json()["matched"], 1);
  EXPECT_EQ(r.Json()["remembered"], false);
  EXPECT_FALSE(registry_.Snapshot().at(0).draining);
  EXPECT_FALSE(registry_.IsDrainKey("ms1:8000"));
}

TEST_F(AdminHandlerTest, DrainKeysArePercentDecoded) {
  ASSERT_TRUE(registry_.Register(Info("ms one", 8000, 0, 10)).valid());
  const Response r = Authorized(HTTP_POST, "/servers/ms%20one:8000/drain");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Json()["key"], "ms one:8000");
  EXPECT_EQ(r.Json()["matched"], 1);
  // A malformed escape is kept as it is, and then names nobody.
  EXPECT_EQ(Authorized(HTTP_POST, "/servers/ms%2:8000/drain").status, 404);
}

TEST_F(AdminHandlerTest, DrainOfAnUnknownNameIsA404UnlessTheKeyIsRemembered) {
  Response r = Authorized(HTTP_POST, "/servers/typo:8000/drain");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Json(),
            json::parse(R"({"code":404,"msg":"no registered msg_server has that host:port"})"));
  EXPECT_FALSE(registry_.IsDrainKey("typo:8000")) << "a typo is not remembered";

  // Drained while connected, then gone: draining it again keeps the remembered key.
  const registry::ServerHandle h = registry_.Register(Info("ms1", 8000, 0, 10));
  ASSERT_EQ(Authorized(HTTP_POST, "/servers/ms1:8000/drain").status, 200);
  ASSERT_TRUE(registry_.Remove(h));
  r = Authorized(HTTP_POST, "/servers/ms1:8000/drain");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Json(),
            json::parse(R"({"key":"ms1:8000","draining":true,"matched":0,"remembered":true})"));
  // Undraining it forgets the key.
  r = Authorized(HTTP_POST, "/servers/ms1:8000/undrain");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Json()["remembered"], false);
  EXPECT_FALSE(registry_.IsDrainKey("ms1:8000"));
}

TEST_F(AdminHandlerTest, DrainTakesOnlyPostAndOtherServerPathsAre404) {
  ASSERT_TRUE(registry_.Register(Info("ms1", 8000, 0, 10)).valid());
  for (const char* path : {"/servers/ms1:8000/drain", "/servers/ms1:8000/undrain"}) {
    const Response r = Authorized(HTTP_GET, path);
    EXPECT_EQ(r.status, 405) << path;
    EXPECT_TRUE(r.Has("Allow: POST")) << path;
    EXPECT_EQ(r.Json(), json::parse(R"({"code":405,"msg":"use POST"})"));
  }
  for (const char* path : {"/servers/ms1:8000/restart", "/servers//drain", "/servers/drain",
                           "/servers/", "/server/ms1:8000/drain"}) {
    const Response r = Authorized(HTTP_POST, path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.Json(), json::parse(R"({"code":404,"msg":"no such admin path"})")) << path;
  }
  EXPECT_FALSE(registry_.Snapshot().at(0).draining);
}

TEST_F(AdminHandlerTest, ReloadAnswersInPlaceWithoutADeferral) {
  backend_.outcome = ReloadOutcome{true, {}, {"Policy: least_count -> p2c"}};
  Response r = Authorized(HTTP_POST, "/reload");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Json(),
            json::parse(R"({"ok":true,"errors":[],"notes":["Policy: least_count -> p2c"]})"));
  ASSERT_EQ(backend_.triggers.size(), 1u);
  EXPECT_EQ(backend_.triggers[0], "POST /reload");
  EXPECT_EQ(backend_.async_calls, 0);

  backend_.outcome = ReloadOutcome{false, {"line 3: MaxPduSize: not a number"}, {}};
  r = Authorized(HTTP_POST, "/reload");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Json()["ok"], false);
  EXPECT_EQ(r.Json()["errors"], json::array({"line 3: MaxPduSize: not a number"}));

  const Response get = Authorized(HTTP_GET, "/reload");
  EXPECT_EQ(get.status, 405);
  EXPECT_TRUE(get.Has("Allow: POST"));
  EXPECT_EQ(backend_.triggers.size(), 2u) << "a GET reloads nothing";
}

TEST_F(AdminHandlerTest, ReloadWithADeferralAnswersWhenTheOutcomeArrives) {
  FakeDeferral deferral;
  const Response none = Send(HTTP_POST, "/reload", "Bearer " + std::string(kToken),
                             /*keep_alive=*/false, &deferral);
  EXPECT_TRUE(last_raw_.empty()) << "nothing is answered before the reload is done";
  EXPECT_EQ(none.status, 0);
  EXPECT_EQ(deferral.deferred, 1);
  EXPECT_EQ(backend_.async_calls, 1);
  ASSERT_TRUE(backend_.pending);
  EXPECT_FALSE(deferral.delivered);

  // The reload thread posts the outcome.
  std::thread reload_thread([&] {
    backend_.pending(ReloadOutcome{false, {"AdminToken: too short"}, {"kept the old config"}});
  });
  reload_thread.join();
  ASSERT_TRUE(deferral.delivered);
  const Response r = Parse(*deferral.delivered);
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.Has("Connection: close")) << "the request's keep-alive is kept for the answer";
  EXPECT_EQ(
      r.Json(),
      json::parse(
          R"({"ok":false,"errors":["AdminToken: too short"],"notes":["kept the old config"]})"));
}

TEST_F(AdminHandlerTest, OtherRoutesAnswerAtOnceEvenWithADeferral) {
  FakeDeferral deferral;
  const Response r = Send(HTTP_GET, "/servers", "Bearer " + std::string(kToken), true, &deferral);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(deferral.deferred, 0);
  EXPECT_EQ(Send(HTTP_GET, "/healthz", "", true, &deferral).status, 200);
  EXPECT_EQ(deferral.deferred, 0);
}

TEST_F(AdminHandlerTest, UpgradeAnswersWithItsOutcomeOnceKnown) {
  EXPECT_EQ(Send(HTTP_POST, "/upgrade").status, 401);
  EXPECT_EQ(Authorized(HTTP_GET, "/upgrade").status, 405);
  EXPECT_TRUE(backend_.triggers.empty()) << "nothing started without the token or by a GET";

  struct Case {
    UpgradeOutcome outcome;
    int status;
    json body;
  };
  UpgradeOutcome upgraded{UpgradeOutcome::Result::kUpgraded, 4321, 12.5, ""};
  UpgradeOutcome failed{UpgradeOutcome::Result::kFailed, 0, 0,
                        "the new process exited 2 before saying hello"};
  UpgradeOutcome busy{UpgradeOutcome::Result::kBusy, 0, 0, "a live upgrade is already running"};
  const Case cases[] = {
      {upgraded, 200, json::parse(R"({"status":"upgraded","pid":4321,"handover_ms":12.5})")},
      {failed, 500,
       json::parse(
           R"({"status":"failed","error":"the new process exited 2 before saying hello"})")},
      {busy, 409, json::parse(R"({"status":"busy","error":"a live upgrade is already running"})")},
  };
  for (const Case& c : cases) {
    FakeDeferral deferral;
    Send(HTTP_POST, "/upgrade", "Bearer " + std::string(kToken), true, &deferral);
    EXPECT_TRUE(last_raw_.empty()) << "nothing is answered before the outcome is known";
    ASSERT_EQ(deferral.deferred, 1);
    ASSERT_TRUE(backend_.upgrade_pending);
    std::thread upgrade_thread([&] { backend_.upgrade_pending(c.outcome); });
    upgrade_thread.join();
    ASSERT_TRUE(deferral.delivered);
    const Response r = Parse(*deferral.delivered);
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(r.Json(), c.body);
  }
  EXPECT_EQ(backend_.triggers, std::vector<std::string>(3, "POST /upgrade"));
}

}  // namespace
}  // namespace ttlogin::server::admin
