#include "test/support/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

extern char** environ;

namespace ttlogin::test {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The state letter of /proc/PID/stat, or 0 when there is no such process.
char ProcState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  const std::size_t close = line.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos || close + 2 >= line.size()) return 0;
  return line[close + 2];
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Waits for the child `pid` up to `timeout`. Returns the decoded status, or -1 on timeout.
int WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return DecodeStatus(status);
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

struct ReadyInfo {
  pid_t pid = -1;
  ServerPorts ports;
};

std::optional<ReadyInfo> ParseReadyFile(const std::string& path) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  const auto j = nlohmann::json::parse(ReadFile(path), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  ReadyInfo r;
  try {
    if (j.contains("pid")) r.pid = j["pid"].get<pid_t>();
    r.ports.client = j["client"][0].get<std::uint16_t>();
    r.ports.http = j["http"][0].get<std::uint16_t>();
    r.ports.msg_server = j["msg_server"][0].get<std::uint16_t>();
    if (j.contains("admin")) r.ports.admin = j["admin"][0].get<std::uint16_t>();
    if (j.contains("https")) r.ports.https = j["https"][0].get<std::uint16_t>();
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  return r;
}

bool SamePorts(const ServerPorts& a, const ServerPorts& b) {
  return a.client == b.client && a.http == b.http && a.msg_server == b.msg_server &&
         a.admin == b.admin && a.https == b.https;
}

std::string PortsText(const ServerPorts& p) {
  return "client " + std::to_string(p.client) + ", http " + std::to_string(p.http) +
         ", msg_server " + std::to_string(p.msg_server) + ", admin " + std::to_string(p.admin);
}

// Everything execve needs is built before fork(): a test process may run threads, and only
// async-signal-safe calls are allowed between fork and exec there.
pid_t Spawn(const std::vector<std::string>& args, const std::string& output_path,
            const std::string& bin = LOGIN_SERVER_BIN, const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv_text;
  argv_text.push_back(bin);
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_text)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_text;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& extra : env) {
      overridden = overridden || extra.substr(0, extra.find('=')) == name;
    }
    if (!overridden) env_text.emplace_back(entry);
  }
  env_text.insert(env_text.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_text)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  const pid_t pid = fork();
  if (pid != 0) return pid;
  // Only stdio, as a service manager starts it: descriptors the test runner leaked into this
  // process would otherwise show in the server's /proc/PID/fd (and vanish after a live upgrade).
  close_range(3, ~0U, 0);
  const int fd = open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
  }
  execve(argv[0], argv.data(), envp.data());
  _exit(127);
}

}  // namespace

std::string MakeTempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "ttlogin-test-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

ServerProcess::ServerProcess(const std::string& extra_config,
                             std::chrono::milliseconds start_timeout)
    : ServerProcess(ServerOptions{extra_config, start_timeout, {}}) {}

ServerProcess::ServerProcess(const ServerOptions& options) : dir_(MakeTempDir()) {
  const std::string config = config_path();
  WriteFile(config,
            "ClientListenIP=127.0.0.1\nClientPort=0\n"
            "HttpListenIP=127.0.0.1\nHttpPort=0\n"
            "MsgServerListenIP=127.0.0.1\nMsgServerPort=0\n"
            "msfs=http://127.0.0.1:8700/\ndiscovery=http://127.0.0.1/api/discovery\n"
            "IoThreads=2\nLogLevel=debug\n" +
                options.extra_config + "\n");
  const std::string ready = ready_path();
  pid_ = Spawn({"-c", config, "--ready-file", ready}, dir_ + "/server.log", LOGIN_SERVER_BIN,
               options.env);
  const auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (const auto info = ParseReadyFile(ready)) {
      ports_ = info->ports;
      started_ = true;
      return;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {  // died during start-up
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Terminate(pid_);
  for (const pid_t old : replaced_)
    Terminate(old);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

int ServerProcess::WaitExit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return DecodeStatus(status);
    if (r < 0 && errno != ECHILD) return -1;
    if (r < 0) {  // not a child of this process: all /proc can tell is whether it is gone
      const char state = ProcState(pid);
      if (state == 0 || state == 'Z' || state == 'X') {
        // It may have become an adopted orphan meanwhile; then its status is there to read.
        r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return DecodeStatus(status);
        if (r < 0) return kExitNotObservable;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void ServerProcess::Terminate(pid_t pid) {
  if (kill(pid, SIGTERM) != 0 && errno == ESRCH) {
    (void)WaitExit(pid, std::chrono::milliseconds(0));  // reap it if it is a zombie of ours
    return;
  }
  if (WaitExit(pid, std::chrono::seconds(5)) == -1) {
    kill(pid, SIGKILL);
    (void)WaitExit(pid, std::chrono::seconds(5));
  }
}

pid_t ServerProcess::ReadyPid() const {
  const auto info = ParseReadyFile(ready_path());
  return info ? info->pid : -1;
}

UpgradeWait ServerProcess::AwaitUpgrade(std::chrono::milliseconds timeout,
                                        const std::function<std::string()>& give_up) {
  UpgradeWait w;
  w.old_pid = pid_;
  if (pid_ <= 0) {
    w.error = "no server is running";
    return w;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<std::chrono::steady_clock::time_point> old_gone_at;
  std::optional<ReadyInfo> info;
  while (true) {
    info = ParseReadyFile(ready_path());
    if (info && info->pid > 0 && info->pid != w.old_pid) break;
    const auto now = std::chrono::steady_clock::now();
    if (!old_gone_at) {
      if (const int code = WaitExit(w.old_pid, std::chrono::milliseconds(0)); code != -1) {
        w.old_exit = code;
        w.old_exited_first = true;
        old_gone_at = now;
        pid_ = -1;
      }
    } else if (now - *old_gone_at > kReadyFileGrace) {
      w.error = "old pid " + std::to_string(w.old_pid) + " exited (" + std::to_string(w.old_exit) +
                ") and no new process named itself in the ready file within " +
                std::to_string(kReadyFileGrace.count()) + " ms";
      return w;
    }
    if (give_up) {
      if (std::string why = give_up(); !why.empty()) {
        w.error = std::move(why);
        return w;
      }
    }
    if (now >= deadline) {
      w.error = "after " + std::to_string(timeout.count()) + " ms the ready file still names pid " +
                std::to_string(info ? info->pid : -1) + " (old pid " + std::to_string(w.old_pid) +
                ")";
      return w;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  w.new_pid = info->pid;
  if (!old_gone_at) replaced_.push_back(w.old_pid);
  pid_ = info->pid;
  if (!SamePorts(info->ports, ports_)) {
    w.error = "the new process reports other ports (" + PortsText(info->ports) +
              ") than the old (" + PortsText(ports_) + ")";
    return w;
  }
  if (!old_gone_at) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    w.old_exit = WaitExit(w.old_pid, std::max(left, std::chrono::milliseconds(0)));
    if (w.old_exit == -1) {
      w.error = "old pid " + std::to_string(w.old_pid) + " still runs " +
                std::to_string(timeout.count()) + " ms after the upgrade began";
      return w;
    }
    replaced_.erase(std::remove(replaced_.begin(), replaced_.end(), w.old_pid), replaced_.end());
  }
  if (w.old_exit != 0 && w.old_exit != kExitNotObservable) {
    w.error = "old pid " + std::to_string(w.old_pid) + " exited with " + std::to_string(w.old_exit);
    return w;
  }
  w.ok = true;
  return w;
}

bool ServerProcess::AdoptOrphans() {
  return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
}

std::string ServerProcess::log() const {
  return ReadFile(dir_ + "/server.log");
}

std::string ServerProcess::LogFrom(std::size_t offset) const {
  std::ifstream in(dir_ + "/server.log");
  in.seekg(static_cast<std::streamoff>(offset));
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int ServerProcess::Stop(int signo, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, signo);
  const int code = WaitExit(pid_, timeout);
  if (code != -1) pid_ = -1;
  return code;
}

int RunLoginServer(const std::vector<std::string>& args, std::string* output,
                   std::chrono::milliseconds timeout) {
  return RunProgram(LOGIN_SERVER_BIN, args, output, timeout);
}

int RunProgram(const std::string& bin, const std::vector<std::string>& args, std::string* output,
               std::chrono::milliseconds timeout) {
  const std::string dir = MakeTempDir();
  const std::string out_path = dir + "/output.txt";
  const pid_t pid = Spawn(args, out_path, bin);
  int code = WaitFor(pid, timeout);
  if (code == -1) {
    kill(pid, SIGKILL);
    WaitFor(pid, std::chrono::seconds(5));
  }
  if (output != nullptr) *output = ReadFile(out_path);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return code;
}

}  // namespace ttlogin::test
