// Live upgrades driven from a test: the two triggers (SIGUSR2 and POST /upgrade), the figures the
// server reports about a handover, its descriptors, and a fake NOTIFY_SOCKET for sd_notify.
// Every wait is bounded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {

enum class UpgradeTrigger { kSignal, kPost };
const char* TriggerName(UpgradeTrigger trigger);

// Reads the one answer to the one request outstanding on `conn`, in chunks (nothing else can
// follow it). Sets `why` when there is none within `timeout`.
std::optional<HttpResponse> ReadOneResponse(peer::TcpPeer& conn, std::string* why,
                                            milliseconds timeout = milliseconds(10000));

// One admin request with Connection: close, and `token` as bearer token when not empty.
std::optional<HttpResponse> AdminRequest(std::uint16_t admin_port, const std::string& method,
                                         const std::string& path, const std::string& token = "",
                                         milliseconds timeout = kDefaultWait);

// POST /upgrade: its answer is deferred until the outcome is known, so `timeout` must cover the
// server's UpgradeTimeout.
std::optional<HttpResponse> PostUpgrade(const ServerProcess& server, const std::string& token,
                                        milliseconds timeout);

// What one live upgrade did.
struct UpgradeRun {
  bool ok = false;
  std::string error;                  // why not, naming the step
  UpgradeWait wait;                   // the process change (ServerProcess::AwaitUpgrade)
  std::optional<HttpResponse> reply;  // POST /upgrade's answer (kPost only)
  // The handover time: from POST /upgrade's answer (the old process's last accept to its commit),
  // or for SIGUSR2 the same as gauge_ms. -1 when not known.
  double handover_ms = -1;
  // The new process's ttlogin_handover_seconds in ms: the old process's last accept to the new
  // one's first possible accept. -1 without an admin port.
  double gauge_ms = -1;
};

// Triggers a live upgrade of `server` and waits up to `timeout` for it to complete (the new pid in
// the ready file, the old one exited 0, and for kPost a 200 "upgraded" answer naming the new pid).
// Needs an admin port for kPost and for the handover figures.
UpgradeRun RunUpgrade(ServerProcess& server, UpgradeTrigger trigger, const std::string& token,
                      milliseconds timeout);

// The value of one /metrics sample, named with its labels as exposed, e.g.
// `ttlogin_upgrades_total{result="ok"}`; nullopt when the scrape fails or has no such sample.
std::optional<double> MetricValue(std::uint16_t admin_port, const std::string& token,
                                  const std::string& sample);

// The state letter of /proc/PID/stat ('R', 'S', 'Z'...), or 0 when there is no such process.
char ProcessState(pid_t pid);

// The open descriptors of a process (/proc/PID/fd), -1 when they cannot be listed.
int CountDescriptors(pid_t pid);
// "fd -> target" for each, to name what leaked in a failure message.
std::string DescribeDescriptors(pid_t pid);

// A datagram socket standing in for systemd's NOTIFY_SOCKET. It receives with SO_PASSCRED, so
// each message carries the pid that sent it.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  bool ok() const { return fd_ >= 0; }
  // The environment entry that points a server at this socket.
  std::string env() const { return "NOTIFY_SOCKET=" + path_; }

  struct Message {
    std::string text;
    pid_t sender = -1;
  };
  // The next datagram, or nullopt when none arrives within `timeout`.
  std::optional<Message> Receive(milliseconds timeout);

 private:
  std::string path_;
  int fd_ = -1;
};

// True when `text` (an sd_notify message: newline-separated assignments) holds the line `line`.
bool NotifyHasLine(const std::string& text, const std::string& line);

}  // namespace ttlogin::test
