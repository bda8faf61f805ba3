#include "test/tier/haproxy_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kStartTimeout = 10s;
constexpr auto kStopTimeout = 5s;
constexpr auto kStatsTimeout = 2s;
// The descriptor the frontend's listening socket has in haproxy ("bind fd@3").
constexpr int kListenFd = 3;

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A listening socket on 127.0.0.1 and an ephemeral port, or -1.
int ListenLoopback(std::uint16_t& port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 1024) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return -1;
  }
  port = ntohs(addr.sin_port);
  return fd;
}

// Returns the exit status, or -1 when `pid` is still running after `timeout`.
int WaitExit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 || Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(5ms);
  }
}

std::string Config(const std::vector<TierBackend>& servers, bool health_checks,
                   const std::string& refusal_file, const std::string& dir) {
  const std::string inter = std::to_string(HaproxyProcess::kCheckInterval.count()) + "ms";
  std::string c =
      "global\n"
      "  maxconn 4096\n"
      "  stats socket " +
      dir +
      "/stats.sock mode 600 level admin\n"
      "defaults\n"
      "  mode http\n"
      "  timeout connect 500ms\n"
      "  timeout client 10s\n"
      "  timeout server 3s\n"
      "  timeout check 500ms\n"
      // A refused or reset connection, or a server that closed without answering, is retried
      // (GET /msg_server is idempotent), each retry on another server.
      "  retries 3\n"
      "  option redispatch 1\n"
      "  retry-on conn-failure empty-response response-timeout\n"
      "frontend clients\n"
      "  bind fd@" +
      std::to_string(kListenFd) +
      "\n"
      "  default_backend login\n"
      "backend login\n"
      "  balance roundrobin\n";
  if (!refusal_file.empty()) c += "  errorfile 503 " + refusal_file + "\n";
  if (health_checks) {
    c += "  option httpchk GET /readyz\n"
         "  http-check expect status 200\n"
         "  default-server inter " +
         inter + " fastinter " + inter + " downinter " + inter + " fall 2 rise 2\n";
  }
  for (std::size_t i = 0; i < servers.size(); ++i) {
    c += "  server " + HaproxyProcess::ServerName(i) +
         " 127.0.0.1:" + std::to_string(servers[i].http_port);
    if (health_checks) c += " check port " + std::to_string(servers[i].admin_port);
    c += "\n";
  }
  return c;
}

}  // namespace

std::string HaproxyBinary() {
  if (const char* env = std::getenv("HAPROXY"); env != nullptr && *env != '\0') return env;
  for (const char* path : {"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return {};
}

std::string ClassicRefusalResponse() {
  // The login server's own answer when no msg_server is registered (docs/PROTOCOL.md).
  const std::string body = R"({"code":1,"msg":"没有msg_server"})";
  return "HTTP/1.0 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\nCache-Control: no-cache\r\n\r\n" + body;
}

HaproxyProcess::HaproxyProcess(const std::vector<TierBackend>& servers, bool health_checks,
                               bool classic_refusal)
    : dir_(MakeTempDir()) {
  const std::string bin = HaproxyBinary();
  if (bin.empty()) {
    error_ = "haproxy is not installed (scripts/bootstrap.sh installs it; or set HAPROXY)";
    return;
  }
  std::string refusal_file;
  if (classic_refusal) {
    refusal_file = dir_ + "/classic-refusal.http";
    WriteFile(refusal_file, ClassicRefusalResponse());
  }
  config_ = Config(servers, health_checks, refusal_file, dir_);
  const std::string config_path = dir_ + "/haproxy.cfg";
  WriteFile(config_path, config_);
  const int listen_fd = ListenLoopback(port_);
  if (listen_fd < 0) {
    error_ = std::string("cannot listen on 127.0.0.1: ") + std::strerror(errno);
    return;
  }
  const std::string log_path = dir_ + "/haproxy.log";
  pid_ = fork();
  if (pid_ == 0) {
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0) {
      dup2(log, 1);
      dup2(log, 2);
    }
    // dup2 clears close-on-exec on the copy: the socket stays open in haproxy as fd 3.
    if (dup2(listen_fd, kListenFd) < 0) _exit(126);
    std::string arg0 = bin, f = "-f", cfg = config_path, db = "-db";
    char* argv[] = {arg0.data(), f.data(), cfg.data(), db.data(), nullptr};
    execv(bin.c_str(), argv);
    _exit(127);
  }
  close(listen_fd);
  if (pid_ < 0) {
    error_ = std::string("fork: ") + std::strerror(errno);
    return;
  }
  const auto deadline = Clock::now() + kStartTimeout;
  while (Clock::now() < deadline) {
    if (Command("show info\n").find("Pid:") != std::string::npos) return;
    if (const int status = WaitExit(pid_, 0ms); status != -1) {
      pid_ = -1;
      error_ = "haproxy exited at start-up (status " + std::to_string(status) + "): " + log();
      return;
    }
    std::this_thread::sleep_for(20ms);
  }
  error_ = "haproxy did not answer on its stats socket within 10 s: " + log();
}

HaproxyProcess::~HaproxyProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    if (WaitExit(pid_, kStopTimeout) == -1) {
      kill(pid_, SIGKILL);
      WaitExit(pid_, kStopTimeout);
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string HaproxyProcess::log() const {
  return ReadWholeFile(dir_ + "/haproxy.log");
}

std::string HaproxyProcess::Command(const std::string& command) const {
  const std::string path = dir_ + "/stats.sock";
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    close(fd);
    return {};
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      send(fd, command.data(), command.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(command.size())) {
    // Without "prompt" haproxy answers one command and closes.
    const auto deadline = Clock::now() + kStatsTimeout;
    char buf[4096];
    while (Clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      const int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
      if (poll(&p, 1, std::max(left, 1)) <= 0) break;
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  close(fd);
  return out;
}

std::optional<std::string> HaproxyProcess::ServerStatus(std::size_t index) const {
  // "show stat" is CSV: a "# pxname,svname,..." header naming the columns, then one row per
  // proxy and server.
  std::istringstream in(Command("show stat\n"));
  std::string line;
  std::size_t status_column = std::string::npos;
  const std::string name = ServerName(index);
  auto split = [](const std::string& text) {
    std::vector<std::string> cells;
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = text.find(',', start);
      cells.push_back(text.substr(start, comma - start));
      if (comma == std::string::npos) return cells;
      start = comma + 1;
    }
  };
  while (std::getline(in, line)) {
    if (line.rfind("# ", 0) == 0) {
      const auto header = split(line.substr(2));
      for (std::size_t i = 0; i < header.size(); ++i) {
        if (header[i] == "status") status_column = i;
      }
      continue;
    }
    const auto cells = split(line);
    if (cells.size() > 1 && cells[0] == "login" && cells[1] == name &&
        status_column < cells.size()) {
      return cells[status_column];
    }
  }
  return std::nullopt;
}

bool HaproxyProcess::WaitStatus(std::size_t index, const std::string& expected,
                                std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    // Exact: "UP" must not match "UP 1/2" (failing checks, on its way down).
    if (const auto status = ServerStatus(index); status && *status == expected) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

}  // namespace ttlogin::test
