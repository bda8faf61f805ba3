// ServerProcess: starts the real login_server binary for a test and always cleans it up.
//
// The config binds every listener to 127.0.0.1 port 0; the server reports the ports it got in a
// --ready-file, which this class waits for (bounded). The destructor sends SIGTERM, waits (bounded)
// and falls back to SIGKILL, so a failing test never leaves a server behind.
//
// After a live upgrade the serving process is no longer the one the test forked: AwaitUpgrade
// follows the pid in the ready file, and the destructor stops the current process and any older
// one still alive.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
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

struct ServerOptions {
  std::string extra_config;  // appended to the generated config (later keys win)
  std::chrono::milliseconds start_timeout = std::chrono::seconds(10);
  std::vector<std::string> env;  // "NAME=value" entries added to the server's environment
};

// Exit code reported for a process that is gone but whose status this process cannot read (it
// is not its child: see AdoptOrphans).
inline constexpr int kExitNotObservable = 1000;

// What AwaitUpgrade saw.
struct UpgradeWait {
  bool ok = false;    // a new pid took over and the old process exited 0
  std::string error;  // why not, for the test's failure message
  pid_t old_pid = -1;
  pid_t new_pid = -1;
  int old_exit = -1;  // the old process's exit code, -1 while it has not exited
  // The old process was seen to exit while the ready file still named it: for a moment no
  // process named in the ready file was alive.
  bool old_exited_first = false;
};

// How long after the old process exits AwaitUpgrade still waits for the new one to name itself
// in the ready file.
inline constexpr std::chrono::milliseconds kReadyFileGrace{2000};

class ServerProcess {
 public:
  // `extra_config` lines are appended to the generated config (later keys win).
  explicit ServerProcess(const std::string& extra_config = "",
                         std::chrono::milliseconds start_timeout = std::chrono::seconds(10));
  explicit ServerProcess(const ServerOptions& options);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool started() const { return started_; }
  const ServerPorts& ports() const { return ports_; }
  // The serving process: the forked one, or after AwaitUpgrade the one that took over.
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  std::string config_path() const { return dir_ + "/loginserver.conf"; }
  std::string ready_path() const { return dir_ + "/ready.json"; }
  // The pid in the ready file, or -1 when it cannot be read.
  pid_t ReadyPid() const;
  // Everything the server wrote to stderr so far.
  std::string log() const;
  // What it wrote from byte `offset` on.
  std::string LogFrom(std::size_t offset) const;

  // Sends `signo` and waits up to `timeout` for the exit. Returns the exit code, 128+signal when
  // killed by a signal, or -1 when it did not exit in time.
  // For a process this one did not fork (after an upgrade), kExitNotObservable once it is gone.
  int Stop(int signo, std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Waits up to `timeout` for a live upgrade of the current process to complete: the ready file
  // names a new pid with the same ports, and the old process exits. Then pid() is the new one.
  // `ok` needs the old exit code to be 0 (or kExitNotObservable without AdoptOrphans). It gives up
  // early when the old process exits before a new one took over, or when `give_up` (polled)
  // returns a reason.
  UpgradeWait AwaitUpgrade(std::chrono::milliseconds timeout,
                           const std::function<std::string()>& give_up = {});

  // Makes this test process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER): a
  // server started by a live upgrade becomes its child once the old one exits, so its own exit
  // code can be read when it is replaced in turn. Call before starting servers. False on failure.
  static bool AdoptOrphans();

 private:
  // Waits for `pid` (a child, or any process through /proc) up to `timeout`.
  static int WaitExit(pid_t pid, std::chrono::milliseconds timeout);
  // SIGTERM, bounded wait, SIGKILL, bounded wait.
  static void Terminate(pid_t pid);

  std::string dir_;
  pid_t pid_ = -1;
  bool started_ = false;
  ServerPorts ports_;
  std::vector<pid_t> replaced_;  // earlier generations not yet seen to exit
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
