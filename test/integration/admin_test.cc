// The admin listener: probes, metrics, the registry view, drain, token, and hot reload.
#include <signal.h>

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

using nlohmann::json;

std::optional<HttpResponse> Admin(const ServerProcess& s, const std::string& method,
                                  const std::string& path, const std::string& token = "") {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  if (method == "POST") req += "Content-Length: 0\r\n";
  return HttpRequest(s.ports().admin, req + "\r\n");
}

// One sample line split into its parts, or nullopt when it is not `name{labels} value` with
// well-formed names and quoted, escaped label values. (Hand-written rather than std::regex: GCC
// 12's sanitizer builds warn inside <regex>.)
struct SampleLine {
  std::string name;
  std::string labels;  // with the braces, as written
  std::string value;
};

std::optional<SampleLine> SplitSample(const std::string& line) {
  auto name_start = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; };
  auto name_char = [&](char c) {
    return name_start(c) || std::isdigit(static_cast<unsigned char>(c)) != 0;
  };
  std::size_t i = 0;
  SampleLine out;
  if (i >= line.size() || !(name_start(line[i]) || line[i] == ':')) return std::nullopt;
  while (i < line.size() && (name_char(line[i]) || line[i] == ':'))
    ++i;
  out.name = line.substr(0, i);
  if (i < line.size() && line[i] == '{') {
    const std::size_t open = i++;
    while (i < line.size() && line[i] != '}') {
      if (!name_start(line[i])) return std::nullopt;
      while (i < line.size() && name_char(line[i]))
        ++i;
      if (line.compare(i, 2, "=\"") != 0) return std::nullopt;
      i += 2;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\') {
          if (i + 1 >= line.size() || std::string("\\\"n").find(line[i + 1]) == std::string::npos) {
            return std::nullopt;
          }
          ++i;
        }
        ++i;
      }
      if (i >= line.size()) return std::nullopt;
      ++i;  // closing quote
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return std::nullopt;
    ++i;  // closing brace
    out.labels = line.substr(open, i - open);
  }
  if (i >= line.size() || line[i] != ' ') return std::nullopt;
  out.value = line.substr(i + 1);
  if (out.value.empty() || out.value.find(' ') != std::string::npos) return std::nullopt;
  return out;
}

// Parses the exposition text strictly enough to catch malformed output: every line is a comment
// (# HELP / # TYPE) or a well-formed sample, every sample's family was declared by # TYPE, and
// values parse as numbers. Returns sample -> value.
std::map<std::string, double> ParseMetrics(const std::string& text, std::string* error) {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.rfind("# HELP ", 0) == 0) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      types[name] = type;
      continue;
    }
    const auto sample = SplitSample(line);
    if (!sample) {
      *error = "line " + std::to_string(n) + " is not a sample: " + line;
      return {};
    }
    std::string family = sample->name;
    for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
      if (types.count(family) == 0 && family.size() > suffix.size() &&
          family.compare(family.size() - suffix.size(), suffix.size(), suffix) == 0) {
        family = family.substr(0, family.size() - suffix.size());
      }
    }
    if (types.count(family) == 0) {
      *error = "sample of undeclared family: " + line;
      return {};
    }
    char* end = nullptr;
    const double v = std::strtod(sample->value.c_str(), &end);
    if (end == sample->value.c_str() || *end != '\0') {
      *error = "bad value: " + line;
      return {};
    }
    samples[sample->name + sample->labels] = v;
  }
  return samples;
}

TEST(MetricsParserTest, RejectsMalformedLines) {
  std::string error;
  EXPECT_FALSE(ParseMetrics("# TYPE a counter\na{x=1} 2\n", &error).size());
  EXPECT_NE(error, "");
  error.clear();
  EXPECT_TRUE(ParseMetrics("a 1\n", &error).empty());  // undeclared family
  EXPECT_NE(error, "");
  error.clear();
  EXPECT_TRUE(ParseMetrics("# TYPE a gauge\na{x=\"1\"} one\n", &error).empty());
  EXPECT_NE(error, "");
  error.clear();
  const auto ok = ParseMetrics("# TYPE a gauge\na{x=\"q\\\"\",y=\"2\"} 3\n", &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(ok.at("a{x=\"q\\\"\",y=\"2\"}"), 3);
}

class AdminTest : public testing::Test {
 protected:
  ServerProcess server_{"AdminPort=0\n"};
  void SetUp() override {
    ASSERT_TRUE(server_.started()) << server_.log();
    ASSERT_NE(server_.ports().admin, 0);
  }
  void Register(FakeMsgServer& ms, const std::string& host, std::uint32_t port,
                std::uint32_t cur = 0) {
    MsgServerFields f;
    f.host_name = host;
    f.port = port;
    f.cur_conn_cnt = cur;
    f.ip1 = "192.0.2.1";
    ASSERT_TRUE(ms.Register(f));
  }
  json Servers() {
    const auto r = Admin(server_, "GET", "/servers");
    return r ? json::parse(r->body, nullptr, false) : json();
  }
};

TEST_F(AdminTest, HealthzAndReadyz) {
  auto r = Admin(server_, "GET", "/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = Admin(server_, "GET", "/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  FakeMsgServer ms(server_.ports().msg_server);
  Register(ms, "msg-a", 8000);
  EXPECT_TRUE(Eventually([&] {
    const auto ready = Admin(server_, "GET", "/readyz");
    return ready && ready->status == 200;
  }));
}

TEST_F(AdminTest, ServersShowsTheRegistry) {
  FakeMsgServer ms(server_.ports().msg_server);
  Register(ms, "msg-a", 8000, 3);
  json list;
  ASSERT_TRUE(Eventually([&] {
    list = Servers();
    return list.is_array() && list.size() == 1;
  }));
  const json& e = list[0];
  EXPECT_EQ(e["host_name"], "msg-a");
  EXPECT_EQ(e["ip1"], "192.0.2.1");
  EXPECT_EQ(e["port"], 8000);
  EXPECT_EQ(e["cur"], 3);
  EXPECT_EQ(e["max"], 1000);
  EXPECT_EQ(e["draining"], false);
  EXPECT_EQ(e["peer"].get<std::string>().rfind("127.0.0.1:", 0), 0u);
  EXPECT_FALSE(e["registered_since"].get<std::string>().empty());
  EXPECT_FALSE(e["last_heard"].get<std::string>().empty());
  ASSERT_TRUE(ms.Inc(4));
  EXPECT_TRUE(Eventually([&] {
    const json l = Servers();
    return l.is_array() && l.size() == 1 && l[0]["cur"] == 7;
  }));
}

TEST_F(AdminTest, DrainStopsNewUsersAndUndrainRestores) {
  FakeMsgServer a(server_.ports().msg_server), b(server_.ports().msg_server);
  Register(a, "msg-a", 8001, 0);
  Register(b, "msg-b", 8002, 50);
  auto chosen = [&] {
    const auto r = HttpGetMsgServer(server_.ports().http);
    return r ? json::parse(r->body, nullptr, false).value("port", "") : "";
  };
  // Both registered (msg-a is chosen as soon as it alone is there), then drain msg-a.
  ASSERT_TRUE(Eventually([&] { return Servers().size() == 2; }));
  ASSERT_TRUE(Eventually([&] { return chosen() == "8001"; }));
  auto r = Admin(server_, "POST", "/servers/msg-a:8001/drain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["matched"], 1);
  EXPECT_EQ(chosen(), "8002");
  json list = Servers();
  for (const auto& e : list)
    EXPECT_EQ(e["draining"], e["host_name"] == "msg-a");
  // Users stay on a draining server: its count still moves.
  ASSERT_TRUE(a.Inc(2));
  EXPECT_TRUE(Eventually([&] {
    for (const auto& e : Servers()) {
      if (e["host_name"] == "msg-a") return e["cur"] == 2;
    }
    return false;
  }));
  r = Admin(server_, "POST", "/servers/192.0.2.1%3A8001/undrain");  // by ip1:port, escaped
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(chosen(), "8001");
}

TEST_F(AdminTest, DrainedServerStaysDrainedWhenItReconnects) {
  {
    FakeMsgServer a(server_.ports().msg_server);
    Register(a, "msg-a", 8001);
    ASSERT_TRUE(Eventually([&] { return Servers().size() == 1; }));
    const auto r = Admin(server_, "POST", "/servers/msg-a:8001/drain");
    ASSERT_TRUE(r && r->status == 200);
  }
  ASSERT_TRUE(Eventually([&] { return Servers().empty(); }));
  FakeMsgServer again(server_.ports().msg_server);
  Register(again, "msg-a", 8001);
  json list;
  ASSERT_TRUE(Eventually([&] {
    list = Servers();
    return list.size() == 1;
  }));
  EXPECT_EQ(list[0]["draining"], true);
  const auto ready = Admin(server_, "GET", "/readyz");
  EXPECT_EQ(ready->status, 503);
}

TEST_F(AdminTest, ARepeatedDrainWhileAwayKeepsTheDrain) {
  {
    FakeMsgServer a(server_.ports().msg_server);
    Register(a, "msg-a", 8001);
    ASSERT_TRUE(Eventually([&] { return Servers().size() == 1; }));
    ASSERT_EQ(Admin(server_, "POST", "/servers/msg-a:8001/drain")->status, 200);
  }
  ASSERT_TRUE(Eventually([&] { return Servers().empty(); }));
  // The operator drains it again while it is away: the drain is still in force, and stays.
  for (int i = 0; i < 2; ++i) {
    const auto r = Admin(server_, "POST", "/servers/msg-a:8001/drain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    const json j = json::parse(r->body, nullptr, false);
    EXPECT_EQ(j["matched"], 0);
    EXPECT_EQ(j["remembered"], true);
  }
  FakeMsgServer again(server_.ports().msg_server);
  Register(again, "msg-a", 8001);
  json list;
  ASSERT_TRUE(Eventually([&] {
    list = Servers();
    return list.size() == 1;
  }));
  EXPECT_EQ(list[0]["draining"], true);
  EXPECT_EQ(Admin(server_, "GET", "/readyz")->status, 503);
  // Undraining it while away is heard too, and it then comes back undrained.
  { FakeMsgServer gone = std::move(again); }
  ASSERT_TRUE(Eventually([&] { return Servers().empty(); }));
  const auto undrain = Admin(server_, "POST", "/servers/msg-a:8001/undrain");
  ASSERT_TRUE(undrain);
  EXPECT_EQ(undrain->status, 200) << undrain->body;
  EXPECT_EQ(json::parse(undrain->body, nullptr, false)["remembered"], false);
  EXPECT_EQ(Admin(server_, "POST", "/servers/msg-a:8001/drain")->status, 404);  // now unknown
  FakeMsgServer back(server_.ports().msg_server);
  Register(back, "msg-a", 8001);
  ASSERT_TRUE(Eventually([&] {
    list = Servers();
    return list.size() == 1;
  }));
  EXPECT_EQ(list[0]["draining"], false);
}

TEST_F(AdminTest, DrainOfAnUnknownServerIs404) {
  const auto r = Admin(server_, "POST", "/servers/nope:1/drain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(Admin(server_, "GET", "/servers/nope:1/drain")->status, 405);
  EXPECT_EQ(Admin(server_, "GET", "/nothing")->status, 404);
}

TEST_F(AdminTest, MetricsParseAndCount) {
  FakeMsgServer ms(server_.ports().msg_server);
  Register(ms, "msg-\"quoted\"", 8000);
  ASSERT_TRUE(ms.Inc(5));
  ASSERT_TRUE(Eventually([&] {
    const auto r = HttpGetMsgServer(server_.ports().http);
    return r && r->body.find("\"code\":0") != std::string::npos;
  }));
  ASSERT_TRUE(AskClientPort(server_.ports().client));
  HttpRequest(server_.ports().http, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  TcpClient bad(server_.ports().msg_server);
  bad.Send(std::string(16, '\0'));
  bad.WaitClosed();
  std::map<std::string, double> m;
  std::string error;
  ASSERT_TRUE(Eventually([&] {
    const auto r = Admin(server_, "GET", "/metrics");
    if (!r || r->status != 200) return false;
    EXPECT_EQ(r->headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    m = ParseMetrics(r->body, &error);
    return m["ttlogin_registry_updates_total"] == 5;
  })) << error;
  EXPECT_EQ(m["ttlogin_msg_servers{state=\"registered\"}"], 1);
  EXPECT_EQ(m["ttlogin_users"], 5);
  EXPECT_EQ(m["ttlogin_msg_server_users{host=\"msg-\\\"quoted\\\"\",port=\"8000\"}"], 5);
  EXPECT_GE(m["ttlogin_requests_total{listener=\"http\",code=\"0\"}"], 1);
  EXPECT_EQ(m["ttlogin_requests_total{listener=\"client\",code=\"0\"}"], 1);
  EXPECT_EQ(m["ttlogin_http_errors_total{status=\"404\"}"], 1);
  EXPECT_EQ(m["ttlogin_pdus_received_total{command=\"CID_OTHER_USER_CNT_UPDATE\"}"], 5);
  EXPECT_EQ(m["ttlogin_protocol_errors_total{kind=\"bad_length\"}"], 1);
  EXPECT_GE(m["ttlogin_connections_open{listener=\"msg_server\"}"], 1);
  EXPECT_GE(m["ttlogin_connections_open{listener=\"admin\"}"], 1);
  EXPECT_EQ(m["ttlogin_build_info{version=\"0.1.0\"}"], 1);
  EXPECT_GE(m["ttlogin_answer_latency_seconds_count{listener=\"http\"}"], 1);
  EXPECT_EQ(m["ttlogin_answer_latency_seconds_count{listener=\"client\"}"], 1);
  EXPECT_EQ(m["ttlogin_answer_latency_seconds_bucket{listener=\"client\",le=\"+Inf\"}"], 1);
}

TEST_F(AdminTest, MetricsPassPromtoolWhenInstalled) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not installed; the strict parser test above still checks the format";
  }
  const auto r = Admin(server_, "GET", "/metrics");
  ASSERT_TRUE(r);
  const std::string path = server_.dir() + "/metrics.txt";
  WriteFile(path, r->body);
  EXPECT_EQ(std::system(("promtool check metrics < " + path + " > " + path + ".out 2>&1").c_str()),
            0);
}

TEST(AdminTokenTest, BearerTokenGuardsEverythingButTheProbes) {
  ServerProcess server("AdminPort=0\nAdminToken=s3cret\n");
  ASSERT_TRUE(server.started()) << server.log();
  auto r = Admin(server, "GET", "/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(Admin(server, "GET", "/metrics", "wrong")->status, 401);
  EXPECT_EQ(Admin(server, "GET", "/metrics", "s3cret")->status, 200);
  EXPECT_EQ(Admin(server, "POST", "/reload")->status, 401);
  EXPECT_EQ(Admin(server, "GET", "/healthz")->status, 200);
}

TEST(AdminOffTest, NoAdminPortMeansNoAdminListener) {
  ServerProcess server;
  ASSERT_TRUE(server.started());
  EXPECT_EQ(server.ports().admin, 0);
  EXPECT_TRUE(
      Eventually([&] { return server.log().find("no admin listener") != std::string::npos; }));
}

// --- hot reload -----------------------------------------------------------------------------

class ReloadTest : public AdminTest {
 protected:
  void AppendConfig(const std::string& lines) {
    std::ofstream out(server_.config_path(), std::ios::app);
    out << lines;
  }
  std::string Msfs() {
    const auto r = HttpGetMsgServer(server_.ports().http);
    return r ? json::parse(r->body, nullptr, false).value("msfsPrior", "") : "";
  }
};

TEST_F(ReloadTest, SighupAppliesANewConfigWithoutDroppingConnections) {
  FakeMsgServer ms(server_.ports().msg_server);
  Register(ms, "msg-a", 8000);
  ASSERT_TRUE(Eventually([&] { return Msfs() == "http://127.0.0.1:8700/"; }));
  TcpClient keep_alive(server_.ports().http);
  ASSERT_TRUE(keep_alive.Send("GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(ReadHttpResponse(keep_alive));

  AppendConfig("msfs=http://files.example:9000/\ndiscovery=http://d.example/\n");
  kill(server_.pid(), SIGHUP);
  ASSERT_TRUE(Eventually([&] { return Msfs() == "http://files.example:9000/"; }));

  // The connections made before the reload still work.
  ASSERT_TRUE(keep_alive.Send("GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto again = ReadHttpResponse(keep_alive);
  ASSERT_TRUE(again);
  EXPECT_EQ(json::parse(again->body)["discovery"], "http://d.example/");
  ASSERT_TRUE(ms.Inc(3));
  EXPECT_TRUE(Eventually([&] {
    const json l = Servers();
    return l.size() == 1 && l[0]["cur"] == 3;
  }));
  EXPECT_NE(server_.log().find("reload (SIGHUP) applied"), std::string::npos);
}

TEST_F(ReloadTest, BadConfigLeavesTheOldInForceAndSaysWhy) {
  AppendConfig("HttpTimeout=never\n");
  kill(server_.pid(), SIGHUP);
  ASSERT_TRUE(Eventually(
      [&] { return server_.log().find("reload (SIGHUP) refused") != std::string::npos; }));
  EXPECT_NE(server_.log().find("HttpTimeout: 'never' is not a number"), std::string::npos);
  EXPECT_EQ(Msfs(), "");  // no msg_server yet: code 1 has no msfs; the server still answers
  const auto r = Admin(server_, "POST", "/reload");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  const json j = json::parse(r->body);
  EXPECT_EQ(j["ok"], false);
  ASSERT_EQ(j["errors"].size(), 1u);
  EXPECT_NE(j["errors"][0].get<std::string>().find("HttpTimeout"), std::string::npos);
  EXPECT_EQ(Admin(server_, "GET", "/healthz")->status, 200);
}

TEST_F(ReloadTest, PostReloadReportsWhatChangedAndWhatNeedsARestart) {
  AppendConfig("msfs=http://other/\nIoThreads=7\n");
  const auto r = Admin(server_, "POST", "/reload");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);
  EXPECT_EQ(j["ok"], true);
  const std::string notes = j["notes"].dump();
  EXPECT_NE(notes.find("msfs: http://other/"), std::string::npos) << notes;
  EXPECT_NE(notes.find("IoThreads changed: needs a restart"), std::string::npos) << notes;
}

TEST_F(ReloadTest, ReloadUnderLoadDropsNoConnection) {
  std::vector<std::unique_ptr<FakeMsgServer>> servers;
  for (int i = 0; i < 8; ++i) {
    servers.push_back(std::make_unique<FakeMsgServer>(server_.ports().msg_server));
    Register(*servers.back(), "msg-" + std::to_string(i), 9000 + i);
  }
  ASSERT_TRUE(Eventually([&] { return Servers().size() == 8; }));
  for (int round = 0; round < 5; ++round) {
    AppendConfig("msfs=http://round" + std::to_string(round) + "/\n");
    kill(server_.pid(), SIGHUP);
    for (auto& s : servers)
      ASSERT_TRUE(s->Inc(10));
  }
  EXPECT_TRUE(Eventually([&] {
    const json l = Servers();
    if (l.size() != 8) return false;
    for (const auto& e : l) {
      if (e["cur"] != 50) return false;
    }
    return true;
  }));
  EXPECT_TRUE(Eventually([&] { return Msfs() == "http://round4/"; }));
}

}  // namespace
}  // namespace ttlogin::test
