// ServerProcess: starts the real login_server binary for a test and always cleans it up.
//
// The config binds every listener to 127.0.0.1 port 0; the server reports the ports it got in a
// --ready-file, which this class waits for (bounded). The destructor sends SIGTERM, waits (bounded)
// and falls back to SIGKILL, so a failing test never leaves a server behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace ttlogin::test {

struct ServerPorts {
  std::uint16_t client = 0;
  std::uint16_t http = 0;
  std::uint16_t msg_server = 0;
  std::uint16_t admin = 0;  // 0 when the config has no AdminPort
  std::uint16_t https = 0;  // 0 when the config has no HttpsPort
};

class ServerProcess {
 public:
  // `extra_config` lines are appended to the generated config (later keys win).
  explicit ServerProcess(const std::string& extra_config = "",
                         std::chrono::milliseconds start_timeout = std::chrono::seconds(10));
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool started() const { return started_; }
  const ServerPorts& ports() const { return ports_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  std::string config_path() const { return dir_ + "/loginserver.conf"; }
  // Everything the server wrote to stderr so far.
  std::string log() const;

  // Sends `signo` and waits up to `timeout` for the exit. Returns the exit code, 128+signal when
  // killed by a signal, or -1 when it did not exit in time.
  int Stop(int signo, std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  std::string dir_;
  pid_t pid_ = -1;
  bool started_ = false;
  ServerPorts ports_;
};

// Runs login_server with `args` (no server started by the harness), waits up to `timeout`,
// returns the exit code (-1 on timeout, after killing it) and captures stdout+stderr.
int RunLoginServer(const std::vector<std::string>& args, std::string* output,
                   std::chrono::milliseconds timeout = std::chrono::seconds(10));
// The same for another program of the build (a tool), named by its path.
int RunProgram(const std::string& bin, const std::vector<std::string>& args, std::string* output,
               std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A fresh temporary directory, removed by the caller (or left in /tmp on failure for a
// post-mortem).
std::string MakeTempDir();
void WriteFile(const std::string& path, const std::string& text);

}  // namespace ttlogin::test
