#include "test/support/live_upgrade.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace ttlogin::test {

namespace {

// What the old process logs when an upgrade fails and it serves on.
constexpr std::string_view kUpgradeFailedLog = "live upgrade failed: ";

}  // namespace

const char* TriggerName(UpgradeTrigger trigger) {
  return trigger == UpgradeTrigger::kSignal ? "SIGUSR2" : "POST /upgrade";
}

std::optional<HttpResponse> ReadOneResponse(peer::TcpPeer& conn, std::string* why,
                                            milliseconds timeout) {
  const peer::Deadline deadline = peer::DeadlineIn(timeout);
  std::string raw;
  char buf[2048];
  while (true) {
    std::size_t got = 0;
    const peer::IoResult r = peer::ReadSome(conn.fd(), buf, sizeof buf, deadline, got);
    if (!r.ok()) {
      *why = "no answer (" + r.Describe() + ") after " + std::to_string(raw.size()) + " bytes";
      return std::nullopt;
    }
    raw.append(buf, got);
    std::size_t consumed = 0;
    if (auto resp = ParseHttpResponse(raw, &consumed)) {
      if (consumed != raw.size()) {
        *why = "bytes after the answer: " + raw.substr(consumed);
        return std::nullopt;
      }
      return resp;
    }
  }
}

std::optional<HttpResponse> AdminRequest(std::uint16_t admin_port, const std::string& method,
                                         const std::string& path, const std::string& token,
                                         milliseconds timeout) {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  if (method == "POST") req += "Content-Length: 0\r\n";
  peer::TcpPeer conn;
  if (!conn.Connect(admin_port) || !conn.Send(req + "\r\n")) return std::nullopt;
  std::string why;
  return ReadOneResponse(conn, &why, timeout);
}

std::optional<HttpResponse> PostUpgrade(const ServerProcess& server, const std::string& token,
                                        milliseconds timeout) {
  return AdminRequest(server.ports().admin, "POST", "/upgrade", token, timeout);
}

UpgradeRun RunUpgrade(ServerProcess& server, UpgradeTrigger trigger, const std::string& token,
                      milliseconds timeout) {
  UpgradeRun run;
  const auto start = std::chrono::steady_clock::now();
  const pid_t old_pid = server.pid();
  const std::size_t log_start = server.log().size();
  std::size_t log_seen = log_start;
  if (trigger == UpgradeTrigger::kSignal) {
    if (kill(old_pid, SIGUSR2) != 0) {
      run.error = std::string("kill(SIGUSR2): ") + std::strerror(errno);
      return run;
    }
  } else {
    run.reply = PostUpgrade(server, token, timeout);
    if (!run.reply) {
      run.error = "POST /upgrade got no answer within " + std::to_string(timeout.count()) + " ms";
      return run;
    }
    const auto body = nlohmann::json::parse(run.reply->body, nullptr, false);
    if (run.reply->status != 200 || !body.is_object() || body.value("status", "") != "upgraded") {
      run.error =
          "POST /upgrade answered " + std::to_string(run.reply->status) + " " + run.reply->body;
      return run;
    }
    if (body.contains("handover_ms") && body["handover_ms"].is_number()) {
      run.handover_ms = body["handover_ms"].get<double>();
    }
  }
  const auto left = std::chrono::duration_cast<milliseconds>(
      timeout - (std::chrono::steady_clock::now() - start));
  // The old process logs a failure and serves on: no need to wait the whole timeout for it.
  run.wait = server.AwaitUpgrade(std::max(left, milliseconds(0)), [&]() -> std::string {
    // Only whole lines written since the last look, so a busy log is not read again each time.
    const std::string fresh = server.LogFrom(log_seen);
    const std::size_t end = fresh.rfind('\n');
    if (end == std::string::npos) return "";
    log_seen += end + 1;
    const std::size_t at = fresh.find(kUpgradeFailedLog);
    if (at == std::string::npos || at > end) return "";
    return "the server logged: " + fresh.substr(at, fresh.find('\n', at) - at);
  });
  if (!run.wait.ok) {
    run.error = run.wait.error;
    return run;
  }
  if (run.wait.old_exited_first) {
    run.error = "old pid " + std::to_string(run.wait.old_pid) +
                " exited before the new process named itself in the ready file";
    return run;
  }
  if (run.reply) {
    const auto body = nlohmann::json::parse(run.reply->body, nullptr, false);
    const pid_t answered =
        body.contains("pid") && body["pid"].is_number_integer() ? body["pid"].get<pid_t>() : -1;
    if (answered != run.wait.new_pid) {
      run.error = "POST /upgrade named pid " + std::to_string(answered) +
                  " but the ready file names " + std::to_string(run.wait.new_pid);
      return run;
    }
    if (run.handover_ms < 0) {
      run.error = "POST /upgrade's answer has no handover_ms: " + run.reply->body;
      return run;
    }
  }
  if (server.ports().admin != 0) {
    const auto seconds = MetricValue(server.ports().admin, token, "ttlogin_handover_seconds");
    if (!seconds || *seconds <= 0) {
      run.error = "the new process exposes no ttlogin_handover_seconds";
      return run;
    }
    run.gauge_ms = *seconds * 1000.0;
    if (run.handover_ms < 0) run.handover_ms = run.gauge_ms;
  }
  run.ok = true;
  return run;
}

std::optional<double> MetricValue(std::uint16_t admin_port, const std::string& token,
                                  const std::string& sample) {
  const auto r = AdminRequest(admin_port, "GET", "/metrics", token);
  if (!r || r->status != 200) return std::nullopt;
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > sample.size() && line.compare(0, sample.size(), sample) == 0 &&
        line[sample.size()] == ' ') {
      const std::string value = line.substr(sample.size() + 1);
      char* end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      if (end == value.c_str()) return std::nullopt;
      return v;
    }
  }
  return std::nullopt;
}

namespace {

template <typename Fn>
int ForEachDescriptor(pid_t pid, Fn&& fn) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    ++n;
    fn(dir, std::string(e->d_name));
  }
  closedir(d);
  return n;
}

}  // namespace

char ProcessState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  const std::size_t close = line.rfind(')');  // the command name may hold spaces and parentheses
  return close == std::string::npos || close + 2 >= line.size() ? 0 : line[close + 2];
}

int CountDescriptors(pid_t pid) {
  return ForEachDescriptor(pid, [](const std::string&, const std::string&) {});
}

std::string DescribeDescriptors(pid_t pid) {
  std::string out;
  ForEachDescriptor(pid, [&](const std::string& dir, const std::string& name) {
    char target[PATH_MAX];
    const ssize_t n = readlink((dir + "/" + name).c_str(), target, sizeof target - 1);
    out += name + " -> " + (n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "?") + "\n";
  });
  return out;
}

NotifySocket::NotifySocket(const std::string& path) : path_(path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return;
  fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  unlink(path.c_str());
  const int on = 1;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
    close(fd_);
    fd_ = -1;
  }
}

NotifySocket::~NotifySocket() {
  if (fd_ >= 0) {
    close(fd_);
    unlink(path_.c_str());
  }
}

std::optional<NotifySocket::Message> NotifySocket::Receive(milliseconds timeout) {
  if (fd_ < 0) return std::nullopt;
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
  char buf[4096];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT);
  if (n < 0) return std::nullopt;
  Message m;
  m.text.assign(buf, static_cast<std::size_t>(n));
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
      ucred cred{};
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      m.sender = cred.pid;
    }
  }
  return m;
}

bool NotifyHasLine(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (l == line) return true;
  }
  return false;
}

}  // namespace ttlogin::test
