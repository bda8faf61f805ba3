#include "server/session/live_config.h"

namespace ttlogin::server {

namespace {
std::atomic<std::uint64_t> next_id{1};
}  // namespace

LiveConfig::LiveConfig(common::LoginServerConfig initial)
    : id_(next_id.fetch_add(1, std::memory_order_relaxed)),
      current_(std::make_shared<const common::LoginServerConfig>(std::move(initial))) {}

const common::LoginServerConfig& LiveConfig::Get() const {
  struct Cache {
    std::uint64_t owner = 0;
    std::uint64_t generation = 0;
    std::shared_ptr<const common::LoginServerConfig> config;
  };
  thread_local Cache cache;
  const std::uint64_t generation = generation_.load(std::memory_order_acquire);
  if (cache.owner != id_ || cache.generation != generation) {
    std::lock_guard lock(mu_);
    cache.owner = id_;
    cache.generation = generation_.load(std::memory_order_relaxed);
    cache.config = current_;
  }
  return *cache.config;
}

std::shared_ptr<const common::LoginServerConfig> LiveConfig::Snapshot() const {
  std::lock_guard lock(mu_);
  return current_;
}

void LiveConfig::Set(common::LoginServerConfig next) {
  std::lock_guard lock(mu_);
  current_ = std::make_shared<const common::LoginServerConfig>(std::move(next));
  generation_.fetch_add(1, std::memory_order_release);
}

}  // namespace ttlogin::server
