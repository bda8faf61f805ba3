#include "server/net/address_limiter.h"

namespace ttlogin::server {

bool AddressLimiter::Acquire(std::string_view address, std::size_t limit) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = held_.try_emplace(std::string(address), 0);
  if (it->second >= limit) return false;
  ++it->second;
  return true;
}

void AddressLimiter::Release(std::string_view address) {
  std::lock_guard lock(mu_);
  const auto it = held_.find(std::string(address));
  if (it == held_.end()) return;
  if (--it->second == 0) held_.erase(it);
}

std::size_t AddressLimiter::Held(std::string_view address) const {
  std::lock_guard lock(mu_);
  const auto it = held_.find(std::string(address));
  return it == held_.end() ? 0 : it->second;
}

}  // namespace ttlogin::server
