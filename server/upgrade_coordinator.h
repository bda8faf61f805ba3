// UpgradeCoordinator: live upgrade of a running login_server to a new binary, without closing a
// listener or a carried connection (docs/OPERATIONS.md, "Live upgrade"; the sequence is in
// docs/ARCHITECTURE.md).
//
// The old process (Start) spawns the new binary with the same command line and one end of a
// handover channel; the new process (TakeOver) loads its config and says Hello. The old one then
// stops accepting (the listening sockets stay open: the kernel queues new connections), parks
// every io loop on a task that blocks until the outcome is known (so every connection's state can
// be read without a lock, and nothing more is read from any socket), and sends the State with the
// descriptors. The new process builds its registry and connections without reading or accepting
// and answers Adopted; the old one sends Commit, lets its copies of the carried sockets go without
// shutdown() and exits once the requests it kept are answered. Before Commit, any failure (the
// binary missing, a bad config, a crash, a hang past UpgradeTimeout, garbage, a version it does
// not speak) kills the new process and unparks the loops: the old process serves on, and says so.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/admin/admin_backend.h"

namespace ttlogin::server {

class LoginServer;
namespace upgrade {
class HandoverChannel;
}

// The version of the handover messages (proto/ttlogin_handover.proto) this binary speaks. Both
// sides refuse any other, with the reason in the log of both.
inline constexpr std::uint32_t kHandoverProtocolVersion = 2;

// How the old process starts the new one.
struct UpgradeCommand {
  std::string binary;             // UpgradeBinary, else the running binary (/proc/self/exe)
  std::vector<std::string> args;  // the command line after argv[0]
  // The version this process claims: kHandoverProtocolVersion, or the test hook's
  // TTLOGIN_HANDOVER_VERSION_OVERRIDE (docs/OPERATIONS.md).
  std::uint32_t protocol_version = kHandoverProtocolVersion;
  std::string binary_version;  // for the log of the other side
};

class UpgradeCoordinator {
 public:
  UpgradeCoordinator(LoginServer& server, UpgradeCommand command);
  // Waits for an upgrade still running (bounded by its UpgradeTimeout).
  ~UpgradeCoordinator();
  UpgradeCoordinator(const UpgradeCoordinator&) = delete;
  UpgradeCoordinator& operator=(const UpgradeCoordinator&) = delete;

  // Runs one upgrade on a thread of its own; `done` gets the outcome there. While one runs, `done`
  // gets kBusy at once.
  void Start(std::string trigger, std::function<void(const admin::UpgradeOutcome&)> done);

  const UpgradeCommand& command() const { return command_; }

  // In the new process, instead of LoginServer::Bind(): the handover over `channel` (the inherited
  // TTLOGIN_HANDOVER_FD, upgrade::AdoptInheritedHandoverChannel) up to Commit. On success `server`
  // holds the carried listeners and connections, to be started by Run(). Returns "" or why; the
  // caller then exits at once with status 1, leaving the carried sockets untouched for the old
  // process.
  struct TakenOver {
    pid_t old_pid = 0;
    std::size_t listeners = 0;
    std::size_t connections = 0;
    std::chrono::steady_clock::time_point accept_paused{};  // the old process's last accept
    std::shared_ptr<upgrade::HandoverChannel> channel;      // open until Serving()
  };
  [[nodiscard]] static std::string TakeOver(LoginServer& server, upgrade::HandoverChannel&& channel,
                                            const UpgradeCommand& command, TakenOver& out);
  // In the new process, once the service manager knows it as the main process (sd_notify
  // MAINPID): tells the old process, which may exit from then on without the service manager
  // taking its exit for the service's.
  static void Serving(TakenOver& taken);

 private:
  admin::UpgradeOutcome Run(const std::string& trigger);

  LoginServer& server_;
  const UpgradeCommand command_;
  std::mutex mu_;
  std::atomic<bool> running_{false};
  std::thread thread_;
};

}  // namespace ttlogin::server
