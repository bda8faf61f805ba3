#include "test/tier/restartable_server.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "test/support/fake_peers.h"

namespace ttlogin::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Waits for our child `pid`: its status decoded as ServerProcess::Stop does, or -1 on timeout.
int WaitChild(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (r < 0 || Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(5ms);
  }
}

// The pid the ready file names, or -1.
pid_t ReadyPid(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!j.is_object() || !j.contains("pid") || !j["pid"].is_number_integer()) return -1;
  return j["pid"].get<pid_t>();
}

}  // namespace

RestartableServer::RestartableServer(std::string extra_config)
    : extra_config_("AdminPort=0\n" + std::move(extra_config)) {
  // A process a live upgrade starts outlives its parent, the old server: as a subreaper this
  // test process becomes its parent then, and can wait for it.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  process_.emplace(extra_config_);
  if (process_->started()) ports_ = process_->ports();
}

RestartableServer::~RestartableServer() {
  if (upgraded_pid_ > 0 && Stop(SIGTERM, 5s) == -1 && upgraded_pid_ > 0) {
    kill(upgraded_pid_, SIGKILL);
    WaitChild(upgraded_pid_, 5s);
  }
}

pid_t RestartableServer::pid() const {
  if (upgraded_pid_ > 0) return upgraded_pid_;
  return process_ && process_->started() ? process_->pid() : -1;
}

std::string RestartableServer::log() const {
  return process_ ? process_->log() : std::string();
}

int RestartableServer::Stop(int signo, std::chrono::milliseconds timeout) {
  if (upgraded_pid_ > 0) {
    if (signo != 0) kill(upgraded_pid_, signo);
    const int code = WaitChild(upgraded_pid_, timeout);
    if (code != -1) upgraded_pid_ = -1;
    return code;
  }
  if (!process_) return -1;
  return process_->Stop(signo, timeout);
}

bool RestartableServer::Start(std::string* why) {
  // The old process's folder (config, log) goes with it.
  process_.reset();
  process_.emplace(extra_config_ + "ClientPort=" + std::to_string(ports_.client) +
                   "\nHttpPort=" + std::to_string(ports_.http) +
                   "\nMsgServerPort=" + std::to_string(ports_.msg_server) +
                   "\nAdminPort=" + std::to_string(ports_.admin) + "\n");
  if (!process_->started() && why != nullptr) *why = process_->log();
  return process_->started();
}

bool RestartableServer::Upgrade(std::chrono::milliseconds timeout, std::string* why) {
  const pid_t old_pid = pid();
  if (old_pid <= 0 || kill(old_pid, SIGUSR2) != 0) {
    *why = "no server to upgrade";
    return false;
  }
  const std::string ready = process_->dir() + "/ready.json";
  pid_t new_pid = -1;
  if (!Eventually(
          [&] {
            new_pid = ReadyPid(ready);
            return new_pid > 0 && new_pid != old_pid;
          },
          timeout)) {
    *why = "no new process reported itself within the timeout: " + log();
    return false;
  }
  // The old process finishes what it kept and exits 0.
  const int code = Stop(0, timeout);
  if (code == -1) {
    kill(old_pid, SIGKILL);
    Stop(0, timeout);
  }
  upgraded_pid_ = new_pid;
  if (code != 0) {
    *why = "the old process exited with " + std::to_string(code) + ": " + log();
    return false;
  }
  return true;
}

int RestartableServer::Readyz() const {
  const auto r =
      HttpRequest(ports_.admin, "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  return r ? r->status : 0;
}

bool RestartableServer::WaitReady(std::chrono::milliseconds timeout) const {
  return Eventually([this] { return Readyz() == 200; }, timeout);
}

bool LoginServerKnowsKey(const std::string& key, const std::string& value) {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/check.conf";
  WriteFile(path,
            "ClientListenIP=127.0.0.1\nClientPort=0\nHttpListenIP=127.0.0.1\nHttpPort=0\n"
            "MsgServerListenIP=127.0.0.1\nMsgServerPort=0\nmsfs=x\ndiscovery=x\n" +
                key + "=" + value + "\n");
  std::string output;
  const int code = RunLoginServer({"--check-config", "-c", path}, &output);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return code == 0 && output.find("unknown key " + key) == std::string::npos;
}

}  // namespace ttlogin::test
