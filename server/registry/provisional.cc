// Provisional entries of a warm start (MsgServerRegistry::AddProvisional and its takeover by a
// registration). Kept apart from the registry's core: nothing here runs on the update or the
// choice path, which treat a provisional entry as any other.
#include <algorithm>
#include <utility>

#include "server/registry/msg_server_registry.h"
#include "server/registry/registry_shard.h"

namespace ttlogin::registry {
namespace {

// The name index's key (as msg_server_registry.cc forms it): "host_name:port".
std::string NameKey(const MsgServerInfo& info) {
  return info.host_name + ':' + std::to_string(info.port);
}

}  // namespace

std::size_t MsgServerRegistry::AddProvisional(const std::vector<ProvisionalEntry>& entries,
                                              const std::vector<std::string>& drain_keys,
                                              std::int64_t grace_ms) {
  std::lock_guard drain_lock(drain_mu_);  // see SetDraining()
  provisional_deadline_ms_.store(NowMs(clock_) + grace_ms, std::memory_order_relaxed);
  if (!drain_keys.empty()) {
    for (const std::string& key : drain_keys)
      drain_keys_.insert(key);
    // Entries registered before the keys came back are judged again (normally there are none).
    for (std::size_t i = 0; i < shard_count_; ++i) {
      RegistryShard& shard = shards_[i];
      std::lock_guard lock(shard.mu);
      bool changed = false;
      for (std::uint32_t s = 0; s < shard.hot.size(); ++s) {
        if (shard.hot[s].generation != 0 &&
            shard.SetDraining(s, MatchesDrainKeyLocked(shard.cold[s].info))) {
          changed = true;
        }
      }
      if (changed) shard.Publish();
    }
  }
  std::size_t added = 0;
  for (const ProvisionalEntry& e : entries) {
    if (names_.count(NameKey(e.info)) != 0) continue;  // a live registration came first
    const ServerHandle handle =
        InsertLocked(e.info, EntryMeta{std::string(), e.registered_ms, e.known_ms, {}, 0});
    if (!handle.valid()) break;  // MaxMsgServers
    RegistryShard& shard = shards_[handle.shard];
    std::lock_guard lock(shard.mu);
    shard.cold[handle.slot].provisional = true;
    // It stands for a msg_server that had these users a moment ago, not a cold process: no slow
    // start (its warming record, if any, ends as a no-op).
    shard.SetWarming(handle.slot, false);
    shard.Publish();
    provisional_.fetch_add(1, std::memory_order_relaxed);
    ++added;
  }
  return added;
}

std::int64_t MsgServerRegistry::provisional_grace_left_ms() const {
  if (provisional_.load(std::memory_order_relaxed) == 0) return 0;
  return std::max<std::int64_t>(
      0, provisional_deadline_ms_.load(std::memory_order_relaxed) - NowMs(clock_));
}

std::optional<ServerHandle> MsgServerRegistry::AdoptProvisionalLocked(MsgServerInfo& info,
                                                                      EntryMeta& meta) {
  const auto it = names_.find(NameKey(info));
  if (it == names_.end()) return std::nullopt;
  const ServerHandle handle = it->second;
  const bool drained = MatchesDrainKeyLocked(info);
  RegistryShard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(handle) || !shard.cold[handle.slot].provisional) return std::nullopt;
  // In place: the same slot and handle, so holds placed on it while it was provisional (logins
  // handed out to this very msg_server) settle with its increments as usual.
  std::string warning = meta.warning;
  shard.Update(handle.slot, std::move(info), std::move(warning), drained);
  shard.cold[handle.slot].meta = std::move(meta);
  shard.cold[handle.slot].provisional = false;
  provisional_.fetch_sub(1, std::memory_order_relaxed);
  return handle;
}

std::size_t MsgServerRegistry::EndProvisional() {
  if (provisional_.load(std::memory_order_relaxed) == 0) return 0;
  if (NowMs(clock_) < provisional_deadline_ms_.load(std::memory_order_relaxed)) return 0;
  std::lock_guard drain_lock(drain_mu_);
  std::vector<ServerHandle> left;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    RegistryShard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    for (std::uint32_t s = 0; s < shard.hot.size(); ++s) {
      if (shard.hot[s].generation != 0 && shard.cold[s].provisional) {
        left.push_back(ServerHandle{static_cast<std::uint32_t>(i), s, shard.hot[s].generation});
      }
    }
  }
  std::size_t removed = 0;
  for (const ServerHandle& h : left) {
    if (RemoveLocked(h)) ++removed;
  }
  return removed;
}

std::vector<std::string> MsgServerRegistry::DrainKeys() const {
  std::lock_guard lock(drain_mu_);
  return {drain_keys_.begin(), drain_keys_.end()};
}

}  // namespace ttlogin::registry
