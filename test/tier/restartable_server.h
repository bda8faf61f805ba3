// RestartableServer: a login_server (test/support/server_process.h) that can be stopped and
// started again on the same ports, as an operator restarts one: the first start takes ephemeral
// loopback ports, every later start pins them in its config.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "test/support/server_process.h"

namespace ttlogin::test {

class RestartableServer {
 public:
  // `extra_config` as for ServerProcess; an admin listener is always added (for /readyz).
  explicit RestartableServer(std::string extra_config);

  bool running() const { return process_.has_value() && process_->started(); }
  ServerProcess& process() { return *process_; }
  const ServerPorts& ports() const { return ports_; }

  // Sends `signo` and waits up to `timeout` for the exit; returns as ServerProcess::Stop.
  // Signal 0 sends nothing and only waits (for a stop signalled earlier).
  int Stop(int signo, std::chrono::milliseconds timeout);
  // Starts it again on the same ports; false (with the log in `why`) when it did not start.
  bool Start(std::string* why);

  // GET /readyz on the admin port: the status, 0 when there was no answer.
  int Readyz() const;
  bool WaitReady(std::chrono::milliseconds timeout) const;

 private:
  std::string extra_config_;
  ServerPorts ports_;
  std::optional<ServerProcess> process_;
};

}  // namespace ttlogin::test
