// The admin status page in a real browser: login_server with an AdminToken and four msg_servers
// (two with host_names that are markup), driven in headless Chromium by
// test/integration/status_page_browser.py (Debian chromium, chromium-driver, python3-selenium).
// The script's checks are listed in its docstring; the screenshot it takes is kept in the build
// tree (its path is printed).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kToken[] = "page-test-token";
// Bounds the browser script as a whole; it bounds each of its waits by itself (10 s) and the
// whole run by this budget less a margin, so that it can still close Chromium.
constexpr auto kScriptTimeout = 90s;
constexpr int kScriptBudgetSeconds = 80;

struct ScriptRun {
  int exit_code = -1;  // -1: killed at kScriptTimeout
  std::string output;
};

// Runs the script in a process group of its own: on a timeout the whole group goes (chromedriver
// and Chromium with it), and after any exit whatever it left behind does too.
ScriptRun RunBrowserScript(const std::vector<std::string>& args, const std::string& dir) {
  const std::string out_path = dir + "/browser.log";
  std::vector<std::string> argv = {"/usr/bin/python3",
                                   TTLOGIN_SOURCE_DIR "/test/integration/status_page_browser.py"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv)
    cargv.push_back(a.data());
  cargv.push_back(nullptr);

  ScriptRun run;
  const pid_t pid = fork();
  if (pid < 0) return run;
  if (pid == 0) {
    setpgid(0, 0);
    FILE* out = std::freopen(out_path.c_str(), "w", stdout);
    if (out == nullptr || dup2(fileno(stdout), STDERR_FILENO) < 0) _exit(126);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also here, so that the group exists before any kill below
  const auto deadline = std::chrono::steady_clock::now() + kScriptTimeout;
  int status = 0;
  pid_t done = 0;
  while ((done = waitpid(pid, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);  // polls the exit; the deadline bounds it
  }
  kill(-pid, SIGKILL);
  if (done == 0) waitpid(pid, &status, 0);
  // Chromium's helpers outlive its main process by a moment; orphaned, they come to this
  // process (AdoptOrphans), which reaps them instead of leaving zombies behind.
  const auto reap_deadline = std::chrono::steady_clock::now() + 5s;
  int ignored = 0;
  pid_t reaped = 0;
  while ((reaped = waitpid(-pid, &ignored, WNOHANG)) >= 0 &&
         std::chrono::steady_clock::now() < reap_deadline) {
    if (reaped == 0) std::this_thread::sleep_for(10ms);  // one is still exiting
  }
  if (done == pid && WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  std::FILE* in = std::fopen(out_path.c_str(), "r");
  if (in != nullptr) {
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, in)) > 0)
      run.output.append(buf, n);
    std::fclose(in);
  }
  return run;
}

std::optional<HttpResponse> Admin(const ServerProcess& s, const std::string& path) {
  return HttpRequest(s.ports().admin, "GET " + path +
                                          " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                          "Authorization: Bearer " +
                                          std::string(kToken) + "\r\n\r\n");
}

TEST(StatusPageTest, ShowsTheTierEscapesHostNamesAndDrainsInHeadlessChromium) {
  ASSERT_TRUE(ServerProcess::AdoptOrphans());
  // MsgServerTimeout well beyond the test: the fake msg_servers send no heartbeat.
  ServerProcess server("AdminPort=0\nAdminToken=" + std::string(kToken) +
                       "\nMsgServerTimeout=600\n");
  ASSERT_TRUE(server.started()) << server.log();

  struct Entry {
    std::string host_name;
    std::uint32_t port, cur, max;
  };
  const std::vector<Entry> entries = {
      {"msg-a", 8001, 120, 1000},
      {"msg-b.example.net", 8002, 870, 1000},
      {"<img src=x onerror=alert(1)>", 8003, 7, 10},
      {"<script>window.__injected=1</script>", 8004, 50, 50},  // full
  };
  std::vector<std::unique_ptr<FakeMsgServer>> peers;
  json expect = json::array();
  for (const auto& e : entries) {
    auto ms = std::make_unique<FakeMsgServer>(server.ports().msg_server);
    ASSERT_TRUE(ms->connected());
    MsgServerFields f;
    f.host_name = e.host_name;
    f.ip1 = "192.0.2." + std::to_string(e.port % 100);
    f.ip2 = "198.51.100." + std::to_string(e.port % 100);
    f.port = e.port;
    f.cur_conn_cnt = e.cur;
    f.max_conn_cnt = e.max;
    ASSERT_TRUE(ms->Register(f));
    peers.push_back(std::move(ms));
    expect.push_back(
        {{"host_name", e.host_name}, {"port", e.port}, {"cur", e.cur}, {"max", e.max}});
  }
  ASSERT_TRUE(Eventually([&] {
    const auto r = Admin(server, "/servers");
    return r && r->status == 200 && json::parse(r->body, nullptr, false).size() == entries.size();
  }));

  const std::string artifacts = STATUS_PAGE_ARTIFACT_DIR;
  std::filesystem::create_directories(artifacts);
  const std::string screenshot = artifacts + "/status_page.png";
  std::filesystem::remove(screenshot);
  WriteFile(server.dir() + "/expect.json", expect.dump());
  const std::string drain = entries[2].host_name + ":" + std::to_string(entries[2].port);

  const ScriptRun run =
      RunBrowserScript({"--admin-port", std::to_string(server.ports().admin), "--http-port",
                        std::to_string(server.ports().http), "--token", kToken, "--expect",
                        server.dir() + "/expect.json", "--drain", drain, "--screenshot", screenshot,
                        "--budget", std::to_string(kScriptBudgetSeconds)},
                       server.dir());
  std::cout << run.output;
  ASSERT_EQ(run.exit_code, 0) << run.output << "\nserver log:\n" << server.log();
  EXPECT_NE(run.output.find("\nok\n"), std::string::npos) << run.output;
  EXPECT_TRUE(std::filesystem::exists(screenshot) && std::filesystem::file_size(screenshot) > 0)
      << screenshot;
  std::cout << "status page screenshot: " << screenshot << "\n";

  // The drain the page asked for is the server's state, seen without the browser.
  const auto r = Admin(server, "/servers");
  ASSERT_TRUE(r && r->status == 200);
  for (const auto& s : json::parse(r->body)) {
    EXPECT_EQ(s["draining"], s["port"] == entries[2].port) << s.dump();
  }
}

}  // namespace
}  // namespace ttlogin::test
