// RestartableServer: a login_server (test/support/server_process.h) that can be stopped and
// started again on the same ports, as an operator restarts one: the first start takes ephemeral
// loopback ports, every later start pins them in its config. It can also be upgraded live
// (SIGUSR2): the process that takes over is a child of the old one, so the test process makes
// itself a subreaper (PR_SET_CHILD_SUBREAPER) to wait for and clean up every generation.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "test/support/server_process.h"

namespace ttlogin::test {

class RestartableServer {
 public:
  // `extra_config` as for ServerProcess; an admin listener is always added (for /readyz).
  explicit RestartableServer(std::string extra_config);
  ~RestartableServer();
  RestartableServer(const RestartableServer&) = delete;
  RestartableServer& operator=(const RestartableServer&) = delete;

  bool running() const { return pid() > 0; }
  // The process serving now (after live upgrades, the latest one).
  pid_t pid() const;
  const ServerPorts& ports() const { return ports_; }
  // Everything the server (every generation of it) wrote to stderr so far.
  std::string log() const;

  // Sends `signo` to the serving process and waits up to `timeout` for the exit; returns as
  // ServerProcess::Stop. Signal 0 sends nothing and only waits (for a stop signalled earlier).
  int Stop(int signo, std::chrono::milliseconds timeout);
  // Starts it again on the same ports; false (with the log in `why`) when it did not start.
  bool Start(std::string* why);
  // Live upgrade: SIGUSR2, then waits until a new process reports itself in the ready file and
  // the old one has exited 0. False with the reason in `why` otherwise.
  bool Upgrade(std::chrono::milliseconds timeout, std::string* why);

  // GET /readyz on the admin port: the status, 0 when there was no answer.
  int Readyz() const;
  bool WaitReady(std::chrono::milliseconds timeout) const;

 private:
  std::string extra_config_;
  ServerPorts ports_;
  std::optional<ServerProcess> process_;
  // After a live upgrade: the process that took over (our child through the subreaper).
  pid_t upgraded_pid_ = -1;
};

// True when the login_server binary knows config `key` (`--check-config` accepts `key=value`
// without an "unknown key" warning): how the tests find out what the build has.
bool LoginServerKnowsKey(const std::string& key, const std::string& value);

// The build has live upgrade (SIGUSR2) when it knows its UpgradeTimeout key.
inline bool LiveUpgradeAvailable() {
  return LoginServerKnowsKey("UpgradeTimeout", "10");
}

}  // namespace ttlogin::test
