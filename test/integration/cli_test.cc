// The login_server command line: options, config errors, exit codes, and signals.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

std::string Config(std::uint16_t client, std::uint16_t http, std::uint16_t msg) {
  return "ClientListenIP=127.0.0.1\nClientPort=" + std::to_string(client) +
         "\nHttpListenIP=127.0.0.1\nHttpPort=" + std::to_string(http) +
         "\nMsgServerListenIP=127.0.0.1\nMsgServerPort=" + std::to_string(msg) +
         "\nmsfs=http://127.0.0.1:8700/\ndiscovery=http://127.0.0.1/api/discovery\n";
}

// `out` without the open-files warning, which depends on the machine's RLIMIT_NOFILE rather than on
// the config under test.
std::string WithoutOpenFilesWarning(const std::string& out) {
  std::string kept;
  std::size_t pos = 0;
  while (pos < out.size()) {
    std::size_t eol = out.find('\n', pos);
    eol = eol == std::string::npos ? out.size() : eol + 1;
    const std::string_view line(out.data() + pos, eol - pos);
    if (line.find("the open-files limit (RLIMIT_NOFILE)") == std::string_view::npos) kept += line;
    pos = eol;
  }
  return kept;
}

class CliTest : public testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string WriteConfig(const std::string& text) {
    const std::string path = dir_ + "/loginserver.conf";
    WriteFile(path, text);
    return path;
  }
  std::string dir_;
};

TEST_F(CliTest, HelpAndVersionExitZero) {
  std::string out;
  EXPECT_EQ(RunLoginServer({"--help"}, &out), 0);
  EXPECT_NE(out.find("Usage: login_server"), std::string::npos);
  EXPECT_NE(out.find("Exit codes"), std::string::npos);
  EXPECT_EQ(RunLoginServer({"-h"}, &out), 0);
  EXPECT_EQ(RunLoginServer({"--version"}, &out), 0);
  EXPECT_NE(out.find("login_server (ttlogin)"), std::string::npos);
  EXPECT_EQ(RunLoginServer({"-v"}, &out), 0);
}

TEST_F(CliTest, UnknownOptionAndMissingValueExitTwo) {
  std::string out;
  EXPECT_EQ(RunLoginServer({"--frobnicate"}, &out), 2);
  EXPECT_NE(out.find("unknown option '--frobnicate'"), std::string::npos);
  EXPECT_EQ(RunLoginServer({"-c"}, &out), 2);
  EXPECT_NE(out.find("needs a value"), std::string::npos);
}

TEST_F(CliTest, CheckConfigAcceptsTheShippedConfig) {
  std::string out;
  EXPECT_EQ(RunLoginServer(
                {"--check-config", "-c", std::string(TTLOGIN_SOURCE_DIR) + "/etc/loginserver.conf"},
                &out),
            0)
      << out;
  EXPECT_NE(out.find("config OK"), std::string::npos);
  // Every shipped key is known.
  EXPECT_EQ(WithoutOpenFilesWarning(out).find("warning"), std::string::npos) << out;
}

TEST_F(CliTest, MissingConfigFileExitsTwo) {
  std::string out;
  EXPECT_EQ(RunLoginServer({"-c", dir_ + "/nope.conf"}, &out), 2);
  EXPECT_NE(out.find("cannot open config file"), std::string::npos) << out;
}

TEST_F(CliTest, MissingKeyExitsTwoNamingItAndNothingListens) {
  std::uint16_t client = 0, http = 0;
  {
    const LoopbackListener c, h;  // find two free ports, then free them again
    client = c.port();
    http = h.port();
  }
  std::string text = Config(client, http, 0);
  text.erase(text.find("MsgServerPort"));  // drops MsgServerPort and the keys after it
  std::string out;
  EXPECT_EQ(RunLoginServer({"-c", WriteConfig(text)}, &out), 2);
  EXPECT_NE(out.find("required key MsgServerPort is missing"), std::string::npos) << out;
  EXPECT_EQ(out.find("listener on"), std::string::npos) << out;
  TcpClient c;
  EXPECT_FALSE(c.Connect(http));
}

TEST_F(CliTest, BadValueExitsTwoNamingKeyAndLine) {
  std::string out;
  const std::string path = WriteConfig(Config(0, 0, 0) + "HttpPort=99999\n");
  EXPECT_EQ(RunLoginServer({"-c", path}, &out), 2);
  EXPECT_NE(out.find(path + ":9: HttpPort: 99999 is out of range"), std::string::npos) << out;
  EXPECT_EQ(RunLoginServer({"--check-config", "-c", path}, &out), 2);
  const std::string bad_ip = WriteConfig(Config(0, 0, 0) + "ClientListenIP=1.2.3\n");
  EXPECT_EQ(RunLoginServer({"-c", bad_ip}, &out), 2);
  EXPECT_NE(out.find(":9: ClientListenIP: '1.2.3' is not an IPv4 or IPv6 address"),
            std::string::npos)
      << out;
}

TEST_F(CliTest, PortInUseExitsOneWithAClearMessage) {
  LoopbackListener busy;
  std::string out;
  EXPECT_EQ(RunLoginServer({"-c", WriteConfig(Config(0, busy.port(), 0))}, &out), 1);
  EXPECT_NE(out.find("cannot listen on 127.0.0.1:" + std::to_string(busy.port())),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("HttpPort"), std::string::npos) << out;
}

TEST_F(CliTest, UnwritableLogFileExitsOne) {
  std::string out;
  WriteFile(dir_ + "/not-a-dir", "x");  // a file where the log's directory should be
  EXPECT_EQ(
      RunLoginServer(
          {"-c", WriteConfig(Config(0, 0, 0) + "LogFile=" + dir_ + "/not-a-dir/y.log\n")}, &out),
      1);
  EXPECT_NE(out.find("cannot set up logging"), std::string::npos) << out;
}

TEST_F(CliTest, SigtermAndSigintStopWithinTwoSecondsAndExitZero) {
  for (int signo : {SIGTERM, SIGINT}) {
    ServerProcess server;
    ASSERT_TRUE(server.started()) << server.log();
    FakeMsgServer ms(server.ports().msg_server);
    ASSERT_TRUE(ms.Register({}));
    TcpClient idle_http(server.ports().http);
    ASSERT_TRUE(Eventually([&] {
      const auto r = HttpGetMsgServer(server.ports().http);
      return r && r->body.find("\"code\":0") != std::string::npos;
    }));
    EXPECT_EQ(server.Stop(signo, std::chrono::seconds(2)), 0) << server.log();
    EXPECT_TRUE(ms.conn().WaitClosed(std::chrono::seconds(1)));
    EXPECT_NE(server.log().find("shutting down"), std::string::npos);
  }
}

// --- files the config names must be regular files ------------------------------------------

// Opening a FIFO blocks until its other end is opened, so a FIFO named as the config, the log
// or the network table used to hang start-up and --check-config. Each run here is bounded: -1
// from RunLoginServer would mean it hung and was killed.
TEST_F(CliTest, FifoAsConfigLogFileOrNetworkTableExitsTwoWithoutHanging) {
  const std::string fifo = dir_ + "/pipe";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  constexpr auto kBound = std::chrono::seconds(10);
  std::string out;
  for (const bool check : {true, false}) {
    std::vector<std::string> args = {"-c", fifo};
    if (check) args.insert(args.begin(), "--check-config");
    EXPECT_EQ(RunLoginServer(args, &out, kBound), 2) << out;
    EXPECT_NE(out.find(fifo + ": config file is a FIFO (named pipe), not a regular file"),
              std::string::npos)
        << out;

    args = {"-c", WriteConfig(Config(0, 0, 0) + "LogFile=" + fifo + "\n")};
    if (check) args.insert(args.begin(), "--check-config");
    EXPECT_EQ(RunLoginServer(args, &out, kBound), 2) << out;
    EXPECT_NE(out.find(":9: LogFile: '" + fifo + "' is a FIFO"), std::string::npos) << out;

    args = {"-c", WriteConfig(Config(0, 0, 0) + "NetworkTable=pipe\n")};  // relative to the config
    if (check) args.insert(args.begin(), "--check-config");
    EXPECT_EQ(RunLoginServer(args, &out, kBound), 2) << out;
    EXPECT_NE(out.find(":9: NetworkTable: " + fifo + ": is a FIFO"), std::string::npos) << out;
  }
  // A device is refused the same way (reading /dev/zero would never end).
  EXPECT_EQ(RunLoginServer({"--check-config", "-c", "/dev/zero"}, &out, kBound), 2) << out;
  EXPECT_NE(out.find("is a character device"), std::string::npos) << out;
}

// SIGHUP used to read the table on the accept thread, and POST /reload on an io thread: with a
// FIFO table both blocked for good. Now the reload is refused, says why, and the server keeps
// answering meanwhile.
TEST_F(CliTest, ReloadWithAFifoTableIsRefusedAndTheServerKeepsAnswering) {
  ServerProcess server("AdminPort=0\n");
  ASSERT_TRUE(server.started()) << server.log();
  const std::string fifo = server.dir() + "/table.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  {
    std::ofstream conf(server.config_path(), std::ios::app);
    conf << "NetworkTable=" << fifo << "\nmsfs=http://changed/\n";
  }
  auto healthy = [&] {
    const auto h = HttpRequest(server.ports().admin,
                               "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const auto m = HttpGetMsgServer(server.ports().http);
    return h && h->status == 200 && m && m->status == 200;
  };
  kill(server.pid(), SIGHUP);
  ASSERT_TRUE(
      Eventually([&] { return server.log().find("reload (SIGHUP) refused") != std::string::npos; },
                 std::chrono::seconds(10)))
      << server.log();
  EXPECT_NE(server.log().find("NetworkTable: " + fifo + ": is a FIFO"), std::string::npos)
      << server.log();
  EXPECT_TRUE(healthy());

  const auto start = std::chrono::steady_clock::now();
  const auto r = HttpRequest(server.ports().admin,
                             "POST /reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                             "Content-Length: 0\r\n\r\n",
                             std::chrono::seconds(10));
  ASSERT_TRUE(r) << "POST /reload got no answer";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("is a FIFO"), std::string::npos) << r->body;
  EXPECT_TRUE(healthy());
  // The running config stayed in force: the msfs of the refused file is not served.
  const auto m = HttpGetMsgServer(server.ports().http);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body.find("http://changed/"), std::string::npos) << m->body;
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
}

// POST /reload is answered from the reload thread: the io loop that took it goes on serving its
// other connections meanwhile, and the same connection's next requests wait for the answer. With
// one io loop, a /healthz sent once the reload has opened its (large) network table is answered
// before the reload is (it used to wait for the whole reload).
TEST_F(CliTest, PostReloadDoesNotHoldItsIoLoop) {
  ServerProcess server("AdminPort=0\nIoThreads=1\n");
  ASSERT_TRUE(server.started()) << server.log();
  const std::string table = server.dir() + "/big.table";
  {
    // 400,000 distinct /32 lines (7 MB): hundreds of milliseconds to read and build, against a
    // /healthz answered in well under one.
    std::ofstream out(table);
    std::uint32_t x = 0x0a000001;
    for (int i = 0; i < 400000; ++i, x += 7919) {
      out << ((x >> 24) & 255) << '.' << ((x >> 16) & 255) << '.' << ((x >> 8) & 255) << '.'
          << (x & 255) << " ip2\n";
    }
  }
  {
    std::ofstream conf(server.config_path(), std::ios::app);
    conf << "NetworkTable=" << table << "\n";
  }
  // Tells when the reload thread opens the table: the reload is then under way.
  const int watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(watch, 0);
  ASSERT_GE(inotify_add_watch(watch, table.c_str(), IN_OPEN), 0);
  TcpClient other(server.ports().admin);
  TcpClient reloader(server.ports().admin);
  ASSERT_TRUE(other.connected() && reloader.connected());
  // The reload, then on the same connection a /healthz that must come after its answer.
  ASSERT_TRUE(
      reloader.Send("POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                    "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  pollfd p{watch, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1) << "the reload never opened the table\n" << server.log();
  ::close(watch);
  ASSERT_TRUE(other.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const auto h = ReadHttpResponse(other, std::chrono::seconds(10));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  // The reload has not answered yet: nothing to read on its connection.
  char byte = 0;
  EXPECT_EQ(::recv(reloader.fd(), &byte, 1, MSG_DONTWAIT | MSG_PEEK), -1)
      << "the /healthz waited for the reload running on its io loop";
  const auto r = ReadHttpResponse(reloader, std::chrono::seconds(30));
  ASSERT_TRUE(r) << server.log();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->body.find("\"ok\":true"), std::string::npos) << r->body;
  const auto after = ReadHttpResponse(reloader, std::chrono::seconds(10));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
  EXPECT_NE(after->body.find("ok"), std::string::npos) << after->body;
  EXPECT_TRUE(reloader.WaitClosed());
  EXPECT_NE(server.log().find("reload (POST /reload) applied"), std::string::npos) << server.log();
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
}

// --- admin token and reach -------------------------------------------------------------------

TEST_F(CliTest, EmptyOrBlankAdminTokenExitsTwoNamingKeyAndLine) {
  std::string out;
  for (const std::string line : {"AdminToken=", "AdminToken=  \t ", "AdminToken= #Kx9fQ2"}) {
    const std::string path = WriteConfig(Config(0, 0, 0) + "AdminPort=0\n" + line + "\n");
    EXPECT_EQ(RunLoginServer({"--check-config", "-c", path}, &out), 2) << line << out;
    EXPECT_NE(out.find(path + ":10: AdminToken: value is empty"), std::string::npos) << out;
    EXPECT_EQ(RunLoginServer({"-c", path}, &out), 2) << line << out;
  }
}

// "AdminToken=#Kx9fQ2" used to be read as an empty token, which left the admin API open.
TEST_F(CliTest, TokenWithAHashIsKeptWhole) {
  ServerProcess server("AdminPort=0\nAdminToken=#Kx9fQ2\n");
  ASSERT_TRUE(server.started()) << server.log();
  auto servers = [&](const std::string& token) {
    std::string req = "GET /servers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    const auto r = HttpRequest(server.ports().admin, req + "\r\n");
    return r ? r->status : 0;
  };
  EXPECT_EQ(servers(""), 401);
  EXPECT_EQ(servers("Kx9"), 401);
  EXPECT_EQ(servers("#Kx9fQ2"), 200);
}

// A blank before '#' still starts a comment, so "AdminToken=Kx9 #fQ2" is the token "Kx9": legal,
// but --check-config and start-up say the value looks cut.
TEST_F(CliTest, ValueThatLooksCutByACommentIsWarnedAbout) {
  std::string out;
  const std::string path =
      WriteConfig(Config(0, 0, 0) + "AdminPort=0\nAdminToken=Kx9 #fQ2\nHttpTimeout=60 # fine\n");
  EXPECT_EQ(RunLoginServer({"--check-config", "-c", path}, &out), 0) << out;
  EXPECT_NE(out.find("warning: " + path +
                     ":10: AdminToken: the text after ' #' is a comment and "
                     "looks cut from the value"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find(":11:"), std::string::npos) << out;  // "# fine" is an ordinary comment
}

TEST_F(CliTest, AdminBeyondLoopbackWithoutTokenExitsTwoUnlessAllowedInsecure) {
  std::string out;
  const std::string open = Config(0, 0, 0) + "AdminListenIP=0.0.0.0\nAdminPort=0\n";
  std::string path = WriteConfig(open);
  EXPECT_EQ(RunLoginServer({"--check-config", "-c", path}, &out), 2) << out;
  EXPECT_NE(out.find(path + ":9: AdminListenIP: 0.0.0.0 is beyond loopback and AdminToken is not "
                            "set"),
            std::string::npos)
      << out;
  EXPECT_EQ(RunLoginServer({"-c", path}, &out), 2) << out;  // refused before binding anything
  path = WriteConfig(open + "AdminAllowInsecure=1\n");
  EXPECT_EQ(RunLoginServer({"--check-config", "-c", path}, &out), 0) << out;
  EXPECT_NE(out.find("warning: " + path + ": INSECURE: AdminAllowInsecure=1"), std::string::npos)
      << out;
  path = WriteConfig(open + "AdminToken=s3cret\n");
  EXPECT_EQ(RunLoginServer({"--check-config", "-c", path}, &out), 0) << out;
  EXPECT_EQ(out.find("INSECURE"), std::string::npos) << out;
}

// --- open-files limit ------------------------------------------------------------------------

// Runs login_server with RLIMIT_NOFILE set to `limit` (soft and hard, so it cannot raise it), like
// `prlimit --nofile=limit`. Returns the exit code (-1 when it outlived `timeout`) and the output.
// With `ready_file`, stops the server with SIGTERM once that file appears.
int RunWithOpenFilesLimit(rlim_t limit, const std::string& dir,
                          const std::vector<std::string>& args, std::string* output,
                          const std::string& ready_file = "") {
  const std::string out_path = dir + "/limited.out";
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> copy = args;
  std::string bin = LOGIN_SERVER_BIN;
  std::vector<char*> argv = {bin.data()};
  for (auto& a : copy)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    const rlimit lim{limit, limit};
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) _exit(126);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool signalled = false;
  int status = 0;
  int code = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (!ready_file.empty() && !signalled && std::filesystem::exists(ready_file)) {
      kill(pid, SIGTERM);
      signalled = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (code == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  std::ifstream in(out_path);
  output->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return code;
}

TEST_F(CliTest, OpenFilesLimitBelowTheCapsIsWarnedAtStartAndByCheckConfig) {
  const std::string path = WriteConfig(Config(0, 0, 0));
  std::string out;
  EXPECT_EQ(RunWithOpenFilesLimit(1024, dir_, {"--check-config", "-c", path}, &out), 0) << out;
  EXPECT_NE(out.find("warning: the open-files limit (RLIMIT_NOFILE) is 1024"), std::string::npos)
      << out;
  EXPECT_NE(out.find("MaxClientConnections 20000"), std::string::npos) << out;
  EXPECT_NE(out.find("LimitNOFILE="), std::string::npos) << out;

  const std::string ready = dir_ + "/ready.json";
  EXPECT_EQ(RunWithOpenFilesLimit(1024, dir_, {"--ready-file", ready, "-c", path}, &out, ready), 0)
      << out;
  EXPECT_NE(out.find("the open-files limit (RLIMIT_NOFILE) is 1024"), std::string::npos) << out;

  // Caps that fit: no warning.
  const std::string small = WriteConfig(Config(0, 0, 0) +
                                        "MaxMsgServerConnections=100\nMaxClientConnections=300\n"
                                        "MaxHttpConnections=300\n");
  EXPECT_EQ(RunWithOpenFilesLimit(1024, dir_, {"--check-config", "-c", small}, &out), 0) << out;
  EXPECT_EQ(out.find("open-files"), std::string::npos) << out;
}

}  // namespace
}  // namespace ttlogin::test
