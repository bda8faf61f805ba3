// LiveConfig: the config in force, replaceable at run time (SIGHUP, POST /reload) without a lock
// on the read path.
//
// Readers on the io threads call Get() per event. Each thread caches a shared_ptr to the current
// snapshot and re-reads it only when the generation number moved, so the common case is one
// relaxed atomic load, and no reference count is touched across threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "common/login_server_config.h"

namespace ttlogin::server {

class LiveConfig {
 public:
  explicit LiveConfig(common::LoginServerConfig initial);
  LiveConfig(const LiveConfig&) = delete;
  LiveConfig& operator=(const LiveConfig&) = delete;

  // The config as this thread sees it. The reference stays valid at least until this thread's
  // next Get(): use it within one event, do not keep it.
  const common::LoginServerConfig& Get() const;
  // A snapshot that may be kept.
  std::shared_ptr<const common::LoginServerConfig> Snapshot() const;
  void Set(common::LoginServerConfig next);

 private:
  // Identifies this instance in the per-thread caches: an address could be reused by a later
  // LiveConfig, an id is not.
  const std::uint64_t id_;
  mutable std::mutex mu_;
  std::shared_ptr<const common::LoginServerConfig> current_;
  std::atomic<std::uint64_t> generation_{1};
};

}  // namespace ttlogin::server
