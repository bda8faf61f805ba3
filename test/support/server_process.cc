#include "test/support/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

namespace ttlogin::test {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Waits for `pid` up to `timeout`. Returns the decoded status, or -1 on timeout.
int WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& output_path,
            std::string bin = LOGIN_SERVER_BIN) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  const int fd = open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
  }
  std::vector<char*> argv;
  argv.push_back(bin.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  execv(bin.c_str(), argv.data());
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
    : dir_(MakeTempDir()) {
  const std::string config = dir_ + "/loginserver.conf";
  WriteFile(config,
            "ClientListenIP=127.0.0.1\nClientPort=0\n"
            "HttpListenIP=127.0.0.1\nHttpPort=0\n"
            "MsgServerListenIP=127.0.0.1\nMsgServerPort=0\n"
            "msfs=http://127.0.0.1:8700/\ndiscovery=http://127.0.0.1/api/discovery\n"
            "IoThreads=2\nLogLevel=debug\n" +
                extra_config + "\n");
  const std::string ready = dir_ + "/ready.json";
  pid_ = Spawn({"-c", config, "--ready-file", ready}, dir_ + "/server.log");
  const auto deadline = std::chrono::steady_clock::now() + start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(ready)) {
      const auto j = nlohmann::json::parse(ReadFile(ready), nullptr, false);
      if (!j.is_discarded()) {
        ports_.client = j["client"][0].get<std::uint16_t>();
        ports_.http = j["http"][0].get<std::uint16_t>();
        ports_.msg_server = j["msg_server"][0].get<std::uint16_t>();
        if (j.contains("admin")) ports_.admin = j["admin"][0].get<std::uint16_t>();
        if (j.contains("https")) ports_.https = j["https"][0].get<std::uint16_t>();
        started_ = true;
        return;
      }
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
  if (pid_ > 0) {
    if (Stop(SIGTERM, std::chrono::seconds(5)) == -1 && pid_ > 0) {
      kill(pid_, SIGKILL);
      WaitFor(pid_, std::chrono::seconds(5));
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string ServerProcess::log() const {
  return ReadFile(dir_ + "/server.log");
}

int ServerProcess::Stop(int signo, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, signo);
  const int code = WaitFor(pid_, timeout);
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
