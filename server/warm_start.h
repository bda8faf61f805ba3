// Warm start: the registry written to StateFile while serving and at a clean stop, and read back
// at start as provisional entries (MsgServerRegistry::AddProvisional), so that after a crash or
// a cold restart clients are answered from the last known state while the msg_servers reconnect
// on their own backoff (docs/OPERATIONS.md, "Warm start").
//
// Both sides run off the io loops and the accept loop: the reader before the listeners accept,
// the writer on the reload thread (and at stop, after the accept loop has ended). A snapshot is
// only an optimisation, so every problem with it is a log line and a metric, never fatal.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "common/state_file.h"
#include "server/registry/msg_server_registry.h"
#include "server/session/metrics.h"

namespace ttlogin::server {

// A snapshot written this far in the future of the reader's clock (the clock was set back) is
// not trusted: its age cannot be told.
inline constexpr std::chrono::seconds kStateFutureTolerance{5};

// A temporary file of a write that is older than this was left by a writer that died.
inline constexpr std::chrono::seconds kStateTemporaryAge{60};

// The registry as a snapshot taken at `now_unix_ms`.
state::StateSnapshot SnapshotOf(const registry::MsgServerRegistry& registry,
                                std::int64_t now_unix_ms, std::string_view writer_version);

struct WarmStartResult {
  bool warm = false;         // provisional entries were restored (possibly 0 of an empty state)
  std::size_t restored = 0;  // entries added
  std::size_t skipped = 0;   // entries of the file left out (stale, invalid, name taken, full)
  std::size_t drain_keys = 0;
  std::string message;   // the start-up log line
  bool warning = false;  // log it as a warning (the file was unusable)
};

// Reads `path` and, if its snapshot is younger than `max_age`, restores its entries as
// provisional for `grace` and its drain keys. `now_unix_ms` is the wall clock.
WarmStartResult WarmStart(registry::MsgServerRegistry& registry, const std::string& path,
                          std::chrono::seconds max_age, std::chrono::seconds grace,
                          std::int64_t now_unix_ms);

// Writes the registry to StateFile: periodically (Tick) and once more at a clean stop (Final).
// Thread-safe; a write happens only when the state changed since the last one, or when the last
// one is kStateRefresh old, so that an idle cluster's snapshot stays young enough to be used.
class StateWriter {
 public:
  static constexpr std::chrono::seconds kInterval{2};
  static constexpr std::chrono::seconds kRefresh{10};
  // A failing write (full disk, read-only directory) is logged at most this often.
  static constexpr std::chrono::seconds kWarnEvery{60};

  StateWriter(std::string path, const registry::MsgServerRegistry& registry, Metrics& metrics,
              std::string writer_version);

  // One periodic turn at wall clock `now_unix_ms`. Returns whether a file was written.
  bool Tick(std::int64_t now_unix_ms);
  // Writes the state now, whatever changed, and stops: later calls do nothing (so the registry
  // emptied by the shutdown that follows is never written over it).
  bool Final(std::int64_t now_unix_ms);
  const std::string& path() const { return path_; }

 private:
  bool WriteLocked(std::int64_t now_unix_ms, bool force);

  const std::string path_;
  const registry::MsgServerRegistry& registry_;
  Metrics& metrics_;
  const std::string version_;
  std::mutex mu_;
  bool closed_ = false;
  std::string last_state_;  // the last written state without its times, to see a change
  std::int64_t last_write_ms_ = 0;
  std::int64_t last_warning_ms_ = 0;
  std::uint64_t failures_since_warning_ = 0;
};

}  // namespace ttlogin::server
