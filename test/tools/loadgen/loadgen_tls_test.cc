// loadgen over TLS against nginx, started by the test with the benchmark's own HTTPS config
// (bench/perf/nginx_tls.conf.in) and a certificate from the benchmark's throwaway CA
// (scripts/lib/test_ca.sh): the figures the benchmark prints (full and resumed handshakes) must be
// what happened, and a handshake that fails must end the run with its cause.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

using namespace std::chrono_literals;

// Bound on one loadgen run of these tests (each measures well under a second).
constexpr auto kRunBound = 60s;
// nginx gets this long to start serving, and to stop after SIGTERM.
constexpr auto kNginxWait = 10s;
// Attempts at starting nginx: the port is picked free, but another process may take it first.
constexpr int kNginxStartAttempts = 3;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The value of `key=` in the RESULT line of `output`, or "" when absent.
std::string Field(const std::string& output, const std::string& key) {
  const std::size_t line = output.rfind("RESULT ");
  if (line == std::string::npos) return "";
  const std::size_t end = output.find('\n', line);
  const std::string result = output.substr(line, end - line);
  const std::size_t at = result.find(" " + key + "=");
  if (at == std::string::npos) return "";
  const std::size_t value = at + key.size() + 2;
  return result.substr(value, result.find(' ', value) - value);
}

long FieldNumber(const std::string& output, const std::string& key) {
  const std::string v = Field(output, key);
  return v.empty() ? -1 : std::strtol(v.c_str(), nullptr, 10);
}

// The full path of `name` in PATH or the sbin folders, or "".
std::string FindProgram(const std::string& name) {
  std::string dirs = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  dirs += ":/usr/sbin:/sbin:/usr/bin:/bin";
  std::stringstream split(dirs);
  std::string dir;
  while (std::getline(split, dir, ':')) {
    const std::string path = dir + "/" + name;
    if (!dir.empty() && access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

// The benchmark's CA fixture: ca.crt, server.chain.crt, server.key in `dir`.
bool MakeTestCa(const std::string& dir, std::string* output) {
  return RunProgram(
             "/bin/bash",
             {"-c", "source '" TTLOGIN_SOURCE_DIR "/scripts/lib/test_ca.sh' && make_test_ca '" +
                        dir + "'"},
             output, kRunBound) == 0;
}

std::uint16_t PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

bool Connects(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// nginx with one worker serving HTTPS on loopback; stopped (and its worker with it) by the
// destructor, whatever the test did.
class NginxTls {
 public:
  NginxTls() {
    dir_ = MakeTempDir();
    // nginx's worker reads the files after dropping root privileges.
    chmod(dir_.c_str(), 0755);
    std::filesystem::create_directories(dir_ + "/www");
    std::filesystem::create_directories(dir_ + "/tmp");
    chmod((dir_ + "/www").c_str(), 0755);
    WriteFile(dir_ + "/www/msg_server", "{\"code\":0}\n");
    chmod((dir_ + "/www/msg_server").c_str(), 0644);
    if (!MakeTestCa(dir_ + "/pki", &error_)) return;
    chmod((dir_ + "/pki").c_str(), 0755);
    const std::string nginx = FindProgram("nginx");
    if (nginx.empty()) {
      error_ = "nginx not found (scripts/bootstrap.sh installs it)";
      return;
    }
    for (int attempt = 0; attempt < kNginxStartAttempts && !started_; ++attempt) {
      Start(nginx);
    }
  }
  ~NginxTls() {
    if (pid_ > 0) Stop();
    std::error_code ec;
    if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir_, ec);
  }
  NginxTls(const NginxTls&) = delete;
  NginxTls& operator=(const NginxTls&) = delete;

  bool started() const { return started_; }
  std::string error() const { return error_ + ReadText(dir_ + "/nginx-error.log"); }
  std::uint16_t port() const { return port_; }
  pid_t worker() const { return worker_; }
  std::string cafile() const { return dir_ + "/pki/ca.crt"; }
  const std::string& dir() const { return dir_; }

 private:
  void Start(const std::string& nginx) {
    port_ = PickFreePort();
    std::string conf = ReadText(TTLOGIN_SOURCE_DIR "/bench/perf/nginx_tls.conf.in");
    const std::vector<std::pair<std::string, std::string>> values = {
        {"@DIR@", dir_},
        {"@PORT@", std::to_string(port_)},
        {"@NOFILE@", "1024"},
        {"@WORKER_CONNECTIONS@", "512"},
        {"@CERT@", dir_ + "/pki/server.chain.crt"},
        {"@KEY@", dir_ + "/pki/server.key"}};
    for (const auto& [name, value] : values) {
      for (std::size_t at = conf.find(name); at != std::string::npos; at = conf.find(name)) {
        conf.replace(at, name.size(), value);
      }
    }
    WriteFile(dir_ + "/nginx.conf", conf);
    pid_ = fork();
    if (pid_ == 0) {
      const std::string out = dir_ + "/nginx-stdout.log";
      if (freopen(out.c_str(), "w", stdout) == nullptr || dup2(1, 2) < 0) _exit(127);
      execl(nginx.c_str(), nginx.c_str(), "-p", dir_.c_str(), "-c", (dir_ + "/nginx.conf").c_str(),
            "-e", (dir_ + "/nginx-error.log").c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    const bool serving = Eventually(
        [&] {
          if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;  // it gave up (the port was taken): the caller tries another
            return true;
          }
          return Connects(port_);
        },
        kNginxWait);
    if (pid_ < 0 || !serving) {
      if (pid_ > 0) Stop();
      error_ = "nginx did not start serving on port " + std::to_string(port_) + "\n";
      return;
    }
    const std::string children =
        "/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) + "/children";
    started_ = Eventually([&] {
      worker_ = static_cast<pid_t>(std::atoi(ReadText(children).c_str()));
      return worker_ > 0;
    });
    if (!started_) error_ = "nginx's worker did not appear\n";
  }

  void Stop() {
    kill(pid_, SIGTERM);  // fast shutdown: the master stops its worker first
    const bool exited =
        Eventually([&] { return waitpid(pid_, nullptr, WNOHANG) == pid_; }, kNginxWait);
    if (!exited) {
      if (worker_ > 0) kill(worker_, SIGKILL);
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }

  std::string dir_;
  std::string error_;
  pid_t pid_ = -1;
  pid_t worker_ = -1;
  std::uint16_t port_ = 0;
  bool started_ = false;
};

class LoadgenTlsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(nginx_.started()) << nginx_.error(); }

  // loadgen http over TLS against nginx with `extra` options; returns its exit code.
  int RunHttps(const std::vector<std::string>& extra, std::string* output) {
    std::vector<std::string> args = {"http",        "--tls",
                                     "--cafile",    nginx_.cafile(),
                                     "--http-port", std::to_string(nginx_.port()),
                                     "--duration",  "0.3",
                                     "--warmup",    "0.1"};
    args.insert(args.end(), extra.begin(), extra.end());
    const int code = RunProgram(LOADGEN_BIN, args, output, kRunBound);
    EXPECT_NE(code, -1) << "loadgen still running after the bound\n" << *output;
    return code;
  }

  NginxTls nginx_;
};

TEST_F(LoadgenTlsTest, KeepAliveMakesOneFullHandshakePerConnection) {
  std::string out;
  ASSERT_EQ(RunHttps({"--conns", "4"}, &out), 0) << out;
  EXPECT_EQ(Field(out, "mode"), "keepalive") << out;
  EXPECT_EQ(Field(out, "tls_version"), "TLSv1.3") << out;
  EXPECT_EQ(Field(out, "alpn"), "http/1.1") << out;
  EXPECT_GT(FieldNumber(out, "requests"), 0) << out;
  EXPECT_EQ(FieldNumber(out, "errors"), 0) << out;
  EXPECT_EQ(FieldNumber(out, "full_total"), 4) << out;
  EXPECT_EQ(FieldNumber(out, "reused_total"), 0) << out;
  // Every handshake happened in the warm-up: the measured window made none.
  EXPECT_EQ(FieldNumber(out, "handshakes"), 0) << out;
}

TEST_F(LoadgenTlsTest, CloseWithoutResumptionMakesOnlyFullHandshakes) {
  for (const std::string version : {"1.3", "1.2"}) {
    std::string out;
    ASSERT_EQ(RunHttps({"--conns", "2", "--close", "--tls-version", version}, &out), 0) << out;
    EXPECT_EQ(Field(out, "mode"), "close") << out;
    EXPECT_EQ(Field(out, "tls_version"), "TLSv" + version) << out;
    EXPECT_EQ(FieldNumber(out, "errors"), 0) << out;
    EXPECT_GT(FieldNumber(out, "handshakes"), 0) << out;
    EXPECT_EQ(FieldNumber(out, "full"), FieldNumber(out, "handshakes")) << out;
    EXPECT_EQ(FieldNumber(out, "reused_total"), 0) << out;
    // One connection per request: as many handshakes as replies in the window (give or take the
    // connection in flight at each end).
    EXPECT_LE(std::labs(FieldNumber(out, "handshakes") - FieldNumber(out, "requests")), 2) << out;
  }
}

TEST_F(LoadgenTlsTest, ResumptionReusesEachConnectionsPreviousSession) {
  for (const std::string version : {"1.3", "1.2"}) {
    std::string out;
    ASSERT_EQ(RunHttps({"--conns", "2", "--close", "--tls-resume", "--tls-version", version}, &out),
              0)
        << out;
    EXPECT_EQ(Field(out, "tls_version"), "TLSv" + version) << out;
    EXPECT_EQ(FieldNumber(out, "errors"), 0) << out;
    // Only each connection's first handshake is full: nginx issues a ticket on every handshake
    // (TLS 1.3: after it; TLS 1.2: within it) and the next connection offers it.
    EXPECT_EQ(FieldNumber(out, "full_total"), 2) << out;
    EXPECT_GT(FieldNumber(out, "reused"), 0) << out;
    EXPECT_EQ(FieldNumber(out, "reused"), FieldNumber(out, "handshakes")) << out;
  }
}

TEST_F(LoadgenTlsTest, IdleHoldsTlsConnectionsAndMeasuresTheServer) {
  std::string out;
  // nginx keeps the served file open (open_file_cache) from its first request on: that request
  // comes first, so the descriptors added below are the connections alone.
  ASSERT_EQ(RunHttps({"--conns", "1"}, &out), 0) << out;
  const int code = RunProgram(LOADGEN_BIN,
                              {"idle", "--kind", "http", "--tls", "--cafile", nginx_.cafile(),
                               "--http-port", std::to_string(nginx_.port()), "--conns", "20",
                               "--server-pid", std::to_string(nginx_.worker()), "--settle", "0.2"},
                              &out, kRunBound);
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(FieldNumber(out, "conns"), 20) << out;
  EXPECT_EQ(FieldNumber(out, "errors"), 0) << out;
  EXPECT_EQ(FieldNumber(out, "full_total"), 20) << out;
  EXPECT_EQ(FieldNumber(out, "server_fds_added"), 20) << out;
  EXPECT_EQ(Field(out, "tls_version"), "TLSv1.3") << out;
}

TEST_F(LoadgenTlsTest, AnUntrustedCertificateEndsTheRunWithTheCause) {
  // A CA of its own, which did not sign nginx's certificate.
  const std::string other = nginx_.dir() + "/other";
  std::string made;
  ASSERT_TRUE(MakeTestCa(other, &made)) << made;
  std::string out;
  const auto start = std::chrono::steady_clock::now();
  const int code = RunProgram(
      LOADGEN_BIN,
      {"http", "--tls", "--cafile", other + "/ca.crt", "--http-port", std::to_string(nginx_.port()),
       "--conns", "4", "--duration", "30", "--warmup", "30"},
      &out, kRunBound);
  // --warmup and --duration add up to a minute: only ending at the first failure returns sooner.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s) << out;
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("RESULT scenario=http error=1"), std::string::npos) << out;
  EXPECT_NE(out.find("loadgen http: TLS handshake failed: "), std::string::npos) << out;
  EXPECT_NE(out.find("certificate verify failed"), std::string::npos) << out;
}

TEST_F(LoadgenTlsTest, ACertificateForAnotherNameEndsTheRunWithTheCause) {
  std::string out;
  EXPECT_EQ(RunHttps({"--servername", "wrong.example"}, &out), 1) << out;
  EXPECT_NE(out.find("hostname mismatch"), std::string::npos) << out;
  // The certificate names localhost: the same run with that name passes.
  EXPECT_EQ(RunHttps({"--servername", "localhost", "--conns", "1"}, &out), 0) << out;
}

// A sample of login_server's /metrics on its admin port, or -1 when absent.
double Metric(std::uint16_t admin_port, const std::string& sample) {
  const auto r =
      HttpRequest(admin_port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  if (!r) return -1;
  const std::size_t at = r->body.find("\n" + sample + " ");
  if (at == std::string::npos) return -1;
  return std::strtod(r->body.c_str() + at + sample.size() + 2, nullptr);
}

TEST(LoadgenTlsOursTest, FullAndResumedCountsAgreeWithTheServers) {
  // The benchmark's own certificate, as bench.sh gives it to login_server.
  const std::string dir = MakeTempDir();
  std::string made;
  ASSERT_TRUE(MakeTestCa(dir + "/pki", &made)) << made;
  ServerProcess server("AdminPort=0\nHttpsListenIP=127.0.0.1\nHttpsPort=0\nTlsCertificate=" + dir +
                       "/pki/server.chain.crt\nTlsPrivateKey=" + dir + "/pki/server.key\n");
  ASSERT_TRUE(server.started()) << server.log();
  ASSERT_NE(server.ports().https, 0) << server.log();
  std::string out;
  ASSERT_EQ(RunProgram(LOADGEN_BIN,
                       {"http", "--tls", "--cafile", dir + "/pki/ca.crt", "--tls-resume", "--close",
                        "--http-port", std::to_string(server.ports().https), "--conns", "3",
                        "--duration", "0.3", "--warmup", "0.1"},
                       &out, kRunBound),
            0)
      << out;
  EXPECT_EQ(FieldNumber(out, "full_total"), 3) << out;
  const long reused = FieldNumber(out, "reused_total");
  EXPECT_GT(reused, 0) << out;
  // The server counts a handshake when it reads the client's Finished, which may still be on its
  // way when loadgen exits: wait for the counts to meet.
  const std::uint16_t admin = server.ports().admin;
  EXPECT_TRUE(Eventually([&] {
    return Metric(admin, "ttlogin_tls_handshakes_total{result=\"resumed\"}") ==
               static_cast<double>(reused) &&
           Metric(admin, "ttlogin_tls_handshakes_total{result=\"full\"}") == 3.0;
  })) << out
      << "\nserver: full " << Metric(admin, "ttlogin_tls_handshakes_total{result=\"full\"}")
      << ", resumed " << Metric(admin, "ttlogin_tls_handshakes_total{result=\"resumed\"}");
  std::error_code ec;
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir, ec);
}

TEST(LoadgenTlsPlainServerTest, AServerWithoutTlsEndsTheRunWithTheCause) {
  ServerProcess server;
  ASSERT_TRUE(server.started()) << server.log();
  std::string out;
  const int code = RunProgram(LOADGEN_BIN,
                              {"http", "--tls", "--http-port", std::to_string(server.ports().http),
                               "--conns", "2", "--duration", "30", "--warmup", "30"},
                              &out, kRunBound);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("loadgen http: TLS handshake failed"), std::string::npos) << out;
}

TEST(LoadgenTlsOptionsTest, BadTlsOptionsAreRefusedWithAReason) {
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"pdu", "--tls", "--client-port", "1"}, 2, "--tls applies to the http scenario"},
      {{"idle", "--kind", "client", "--tls", "--client-port", "1", "--server-pid", "1"},
       2,
       "--tls applies to the http scenario"},
      {{"http", "--tls-resume", "--http-port", "1"}, 2, "need --tls"},
      {{"http", "--cafile", "x", "--http-port", "1"}, 2, "need --tls"},
      {{"http", "--tls", "--tls-version", "1.1", "--http-port", "1"},
       2,
       "--tls-version must be 1.2 or 1.3"},
      {{"http", "--tls", "--cafile", "/nonexistent/ca.crt", "--http-port", "1"},
       1,
       "cannot load the CA file /nonexistent/ca.crt"},
  };
  for (const Case& c : cases) {
    std::string out;
    EXPECT_EQ(RunProgram(LOADGEN_BIN, c.args, &out, kRunBound), c.code) << out;
    EXPECT_NE(out.find(c.message), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace ttlogin::test
