// AdminBackend: what the admin listener asks of the running server, so that the admin handler
// needs no knowledge of how the server is wired (LoginServer implements it; tests fake it).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ttlogin::server::admin {

struct ReloadOutcome {
  bool ok = false;
  std::vector<std::string> errors;  // why the new config was refused (the old stays in force)
  std::vector<std::string> notes;   // what changed, and what needs a restart to change
};

struct UpgradeOutcome {
  enum class Result { kUpgraded, kFailed, kBusy };
  Result result = Result::kFailed;
  long new_pid = 0;        // kUpgraded: the process that serves now
  double handover_ms = 0;  // kUpgraded: from the last accept here to the commit
  std::string error;       // kFailed, kBusy: why (this process serves on)
};

class AdminBackend {
 public:
  virtual ~AdminBackend() = default;
  // Re-reads the config file and applies what can change live. Safe from any thread.
  virtual ReloadOutcome Reload(std::string_view trigger) = 0;
  // As Reload, but returns at once: `done` gets the outcome later, on another thread (the
  // server's reload thread). By default, in place.
  virtual void ReloadAsync(std::string_view trigger,
                           std::function<void(const ReloadOutcome&)> done) {
    done(Reload(trigger));
  }
  // Starts a live upgrade (docs/OPERATIONS.md, "Live upgrade"); `done` gets the outcome once it
  // is known, on another thread. By default there is none to start.
  virtual void UpgradeAsync(std::string_view trigger,
                            std::function<void(const UpgradeOutcome&)> done) {
    (void)trigger;
    UpgradeOutcome out;
    out.error = "live upgrade is not available here";
    done(out);
  }
  virtual std::string BuildVersion() const = 0;
};

}  // namespace ttlogin::server::admin
