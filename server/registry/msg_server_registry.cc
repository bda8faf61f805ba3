#include "server/registry/msg_server_registry.h"

#include <algorithm>
#include <span>
#include <utility>

#include "server/registry/choice.h"
#include "server/registry/registry_shard.h"

namespace ttlogin::registry {

MsgServerRegistry::MsgServerRegistry(std::size_t shard_count, std::size_t max_servers, Clock clock)
    : shard_count_(shard_count == 0 ? 1 : shard_count),
      max_servers_(max_servers),
      clock_(std::move(clock)),
      shards_(std::make_unique<RegistryShard[]>(shard_count_)) {}

MsgServerRegistry::~MsgServerRegistry() = default;

RegistryShard& MsgServerRegistry::ShardOf(ServerHandle handle) const {
  return shards_[handle.shard < shard_count_ ? handle.shard : 0];
}

static std::string DrainKey(std::string_view host, std::uint32_t port) {
  std::string key(host);
  key += ':';
  key += std::to_string(port);
  return key;
}

bool MsgServerRegistry::MatchesDrainKeyLocked(const MsgServerInfo& info) const {
  if (drain_keys_.empty()) return false;
  return drain_keys_.count(DrainKey(info.host_name, info.port)) != 0 ||
         drain_keys_.count(DrainKey(info.ip1, info.port)) != 0;
}

bool MsgServerRegistry::IsDrainKey(std::string_view key) const {
  std::lock_guard lock(drain_mu_);
  return drain_keys_.count(key) != 0;
}

// An entry drains exactly while some remembered key matches it (by host name or by ip1). drain_mu_
// is held throughout, and Register() and Replace() hold it too while they insert, so a key added
// or removed here cannot miss an entry being registered meanwhile (lock order: drain_mu_, then a
// shard's mu).
std::size_t MsgServerRegistry::SetDraining(std::string_view key, bool draining) {
  std::lock_guard drain_lock(drain_mu_);
  return SetDrainingLocked(key, draining);
}

MsgServerRegistry::DrainOutcome MsgServerRegistry::Drain(std::string_view key, bool draining) {
  std::lock_guard drain_lock(drain_mu_);
  DrainOutcome out;
  out.was_remembered = drain_keys_.count(key) != 0;
  out.matched = SetDrainingLocked(key, draining);
  // Nothing matched, so no entry changed: forgetting the key again needs no re-judging.
  if (draining && out.matched == 0 && !out.was_remembered) {
    drain_keys_.erase(drain_keys_.find(key));
  }
  out.remembered = drain_keys_.count(key) != 0;
  return out;
}

std::size_t MsgServerRegistry::SetDrainingLocked(std::string_view key, bool draining) {
  const auto matches = [&key](const MsgServerInfo& info) {
    return DrainKey(info.host_name, info.port) == key || DrainKey(info.ip1, info.port) == key;
  };
  if (draining) {
    drain_keys_.emplace(key);
  } else {
    // Undraining a msg_server by either of its names lifts both: it was drained as one process.
    std::vector<std::string> lifted{std::string(key)};
    for (std::size_t i = 0; i < shard_count_; ++i) {
      RegistryShard& shard = shards_[i];
      std::lock_guard lock(shard.mu);
      for (std::uint32_t s = 0; s < shard.hot.size(); ++s) {
        const MsgServerInfo& info = shard.cold[s].info;
        if (shard.hot[s].generation == 0 || !matches(info)) continue;
        lifted.push_back(DrainKey(info.host_name, info.port));
        lifted.push_back(DrainKey(info.ip1, info.port));
      }
    }
    for (const std::string& k : lifted)
      drain_keys_.erase(k);
  }
  // Every entry is judged again: lifting a name may also undrain another entry it matched.
  std::size_t matched = 0;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    RegistryShard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    bool changed = false;
    for (std::uint32_t s = 0; s < shard.hot.size(); ++s) {
      if (shard.hot[s].generation == 0) continue;
      const MsgServerInfo& info = shard.cold[s].info;
      if (matches(info)) ++matched;
      const bool now = MatchesDrainKeyLocked(info);
      if (shard.SetDraining(s, now)) changed = true;
    }
    if (changed) shard.Publish();
  }
  return matched;
}

bool MsgServerRegistry::Touch(ServerHandle handle, std::int64_t unix_ms) {
  RegistryShard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(handle)) return false;
  shard.cold[handle.slot].meta.last_heard_ms = unix_ms;
  return true;
}

bool MsgServerRegistry::Live(ServerHandle handle) const {
  const RegistryShard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  return shard.Live(handle);
}

std::string_view PeerAddressOf(std::string_view peer) {
  if (!peer.empty() && peer.front() == '[') {
    const std::size_t close = peer.find(']');
    return close == std::string_view::npos ? peer : peer.substr(1, close - 1);
  }
  const std::size_t colon = peer.rfind(':');
  return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

ServerHandle MsgServerRegistry::Register(MsgServerInfo info, EntryMeta meta) {
  std::lock_guard drain_lock(drain_mu_);  // see SetDraining()
  return InsertLocked(std::move(info), std::move(meta));
}

std::optional<ServerHandle> MsgServerRegistry::HolderLocked(const std::string& name_key,
                                                            ServerHandle self,
                                                            const ClaimRule& rule,
                                                            bool& may_displace, bool& superseded,
                                                            std::string& holder_peer) const {
  const auto it = names_.find(name_key);
  if (it == names_.end() || it->second == self) return std::nullopt;
  const ServerHandle holder = it->second;
  const RegistryShard& shard = ShardOf(holder);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(holder)) return std::nullopt;
  const EntryMeta& meta = shard.cold[holder.slot].meta;
  holder_peer = meta.peer;
  if (shard.cold[holder.slot].provisional) {
    may_displace = true;  // no connection to protect (AddProvisional)
  } else if (PeerAddressOf(meta.peer) == rule.peer_address) {
    // The msg_server itself, on a new link (a reconnect) or the same one. Links are served on
    // several io threads, so an old link's last registration can be read after the new link's
    // first: only a link accepted later takes the name over.
    superseded = rule.link != 0 && meta.link != 0 && rule.link < meta.link;
    may_displace = !superseded;
  } else {
    may_displace = rule.now_unix_ms - meta.last_heard_ms >= rule.silence_ms;
  }
  return holder;
}

ClaimResult MsgServerRegistry::Claim(MsgServerInfo info, EntryMeta meta, const ClaimRule& rule) {
  std::lock_guard drain_lock(drain_mu_);  // see SetDraining()
  ClaimResult out;
  if (provisional_.load(std::memory_order_relaxed) != 0) {
    if (const auto adopted = AdoptProvisionalLocked(info, meta)) {
      out.handle = *adopted;
      out.adopted_provisional = true;
      return out;
    }
  }
  bool may_displace = false;
  bool superseded = false;
  if (const auto holder = HolderLocked(DrainKey(info.host_name, info.port), ServerHandle{}, rule,
                                       may_displace, superseded, out.holder_peer)) {
    if (!may_displace) {
      out.code = superseded ? ClaimCode::kSuperseded : ClaimCode::kTaken;
      return out;
    }
    out.displaced = RemoveLocked(*holder);
  }
  out.handle = InsertLocked(std::move(info), std::move(meta));
  out.code = out.handle.valid() ? ClaimCode::kOk : ClaimCode::kFull;
  return out;
}

ClaimResult MsgServerRegistry::Reclaim(ServerHandle handle, MsgServerInfo info, std::string warning,
                                       const ClaimRule& rule) {
  std::lock_guard drain_lock(drain_mu_);  // see SetDraining()
  ClaimResult out;
  {
    const RegistryShard& shard = ShardOf(handle);
    std::lock_guard lock(shard.mu);
    if (!shard.Live(handle)) {
      out.code = ClaimCode::kGone;
      return out;
    }
  }
  bool may_displace = false;
  bool superseded = false;
  if (const auto holder = HolderLocked(DrainKey(info.host_name, info.port), handle, rule,
                                       may_displace, superseded, out.holder_peer)) {
    if (!may_displace) {
      out.code = superseded ? ClaimCode::kSuperseded : ClaimCode::kTaken;
      return out;
    }
    out.displaced = RemoveLocked(*holder);
  }
  ReplaceLocked(handle, std::move(info), std::move(warning));
  out.handle = handle;
  return out;
}

ServerHandle MsgServerRegistry::InsertLocked(MsgServerInfo info, EntryMeta meta) {
  const bool draining = MatchesDrainKeyLocked(info);
  std::string name_key = DrainKey(info.host_name, info.port);
  // Reserve a place first, so concurrent registrations cannot overshoot the bound. (Meanwhile a
  // Choose() may see one more registration than entries and answer "all full" rather than "none
  // registered": both are refusals, and the window is one insert long.)
  const std::size_t max_servers = max_servers_.load(std::memory_order_relaxed);
  if (registered_.fetch_add(1, std::memory_order_relaxed) >= max_servers && max_servers != 0) {
    registered_.fetch_sub(1, std::memory_order_relaxed);
    return ServerHandle{};
  }
  const std::size_t shard_index =
      next_shard_.fetch_add(1, std::memory_order_relaxed) % shard_count_;
  RegistryShard& shard = shards_[shard_index];
  std::lock_guard lock(shard.mu);
  const std::uint32_t index = shard.Insert(std::move(info), std::move(meta), draining, clock_);
  const ServerHandle handle{static_cast<std::uint32_t>(shard_index), index,
                            shard.hot[index].generation};
  names_.try_emplace(std::move(name_key), handle);
  return handle;
}

bool MsgServerRegistry::Replace(ServerHandle handle, MsgServerInfo info, std::string warning) {
  std::lock_guard drain_lock(drain_mu_);  // see SetDraining()
  return ReplaceLocked(handle, std::move(info), std::move(warning));
}

bool MsgServerRegistry::ReplaceLocked(ServerHandle handle, MsgServerInfo info,
                                      std::string warning) {
  const bool drained = MatchesDrainKeyLocked(info);
  RegistryShard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(handle)) return false;
  const MsgServerInfo& old = shard.cold[handle.slot].info;
  if (old.host_name != info.host_name || old.port != info.port) {
    const auto it = names_.find(DrainKey(old.host_name, old.port));
    if (it != names_.end() && it->second == handle) names_.erase(it);
    names_.try_emplace(DrainKey(info.host_name, info.port), handle);
  }
  // Drained or not by the new name and address.
  shard.Update(handle.slot, std::move(info), std::move(warning), drained);
  return true;
}

bool MsgServerRegistry::Remove(ServerHandle handle) {
  std::lock_guard drain_lock(drain_mu_);  // the name index
  return RemoveLocked(handle);
}

bool MsgServerRegistry::RemoveLocked(ServerHandle handle) {
  RegistryShard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(handle)) return false;
  const MsgServerInfo& info = shard.cold[handle.slot].info;
  if (const auto it = names_.find(DrainKey(info.host_name, info.port));
      it != names_.end() && it->second == handle) {
    names_.erase(it);
  }
  if (shard.cold[handle.slot].provisional) provisional_.fetch_sub(1, std::memory_order_relaxed);
  shard.Erase(handle.slot);
  registered_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

std::optional<CountChange> MsgServerRegistry::AdjustCount(ServerHandle handle, std::int64_t delta) {
  return AdjustCount(handle, delta, delta > 0 ? static_cast<std::uint64_t>(delta) : 0);
}

std::optional<CountChange> MsgServerRegistry::AdjustCount(ServerHandle handle, std::int64_t delta,
                                                          std::uint64_t increments) {
  RegistryShard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(handle)) return std::nullopt;
  if (shard.HasTimedState()) shard.Expire(NowMs(clock_));
  const std::int64_t old_count = shard.hot[handle.slot].cur;
  // Any |delta| beyond 2^33 clamps the same way; bounding it first keeps the sum from overflowing.
  constexpr std::int64_t kDeltaBound = std::int64_t{1} << 33;
  std::int64_t wanted = old_count + std::clamp(delta, -kDeltaBound, kDeltaBound);
  CountChange change;
  if (wanted < 0 || wanted > std::int64_t{kMaxCount}) {
    change.clamped = true;
    wanted = wanted < 0 ? 0 : std::int64_t{kMaxCount};
  }
  change.count = static_cast<std::uint32_t>(wanted);
  // The users these increments report are (up to) the logins held for them.
  shard.SetCount(handle.slot, change.count, increments);
  return change;
}

ChooseCode MsgServerRegistry::RefusalCode() const {
  return registered_.load(std::memory_order_relaxed) == 0 ? ChooseCode::kNoMsgServer
                                                          : ChooseCode::kAllFull;
}

bool MsgServerRegistry::AnyEligible() const {
  return registry::AnyEligible(std::span<const RegistryShard>(shards_.get(), shard_count_));
}

Choice MsgServerRegistry::Choose(const ChooseOptions& options) {
  const std::span<RegistryShard> shards(shards_.get(), shard_count_);
  const bool slow_start = slow_start_on_.load(std::memory_order_relaxed);
  Choice choice;
  const bool found = policy_.load(std::memory_order_relaxed) == Policy::kP2c
                         ? ChooseP2c(shards, slow_start, clock_, options.assign, choice)
                         : ChooseLeastKey(shards, slow_start, clock_, options.assign, choice);
  if (!found) {
    choice.code = RefusalCode();
    return choice;
  }
  if (options.extra > 0) ListCandidates(shards, options.extra, choice);
  return choice;
}

void MsgServerRegistry::SetRouting(const RoutingOptions& options) {
  std::lock_guard routing_lock(routing_mu_);
  for (std::size_t i = 0; i < shard_count_; ++i) {
    RegistryShard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    shard.SetRouting(options, clock_);
  }
  routing_ = options;
  policy_.store(options.policy, std::memory_order_relaxed);
  slow_start_on_.store(options.slow_start_ms > 0, std::memory_order_relaxed);
}

RoutingOptions MsgServerRegistry::routing() const {
  std::lock_guard lock(routing_mu_);
  return routing_;
}

void MsgServerRegistry::Expire() {
  for (std::size_t i = 0; i < shard_count_; ++i) {
    RegistryShard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    shard.ExpireDue(clock_);
  }
}

std::optional<MsgServerInfo> MsgServerRegistry::Get(ServerHandle handle) const {
  const RegistryShard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(handle)) return std::nullopt;
  return shard.InfoOf(handle.slot);
}

RegistryStats MsgServerRegistry::Stats() const {
  RegistryStats stats;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    const RegistryShard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    stats.registered += shard.registered;
    for (const RegistryShard::Hot& h : shard.hot) {
      if (h.generation == 0) continue;
      stats.users += h.cur;
      stats.held += h.held;
      if (RegistryShard::Eligible(h)) ++stats.eligible;
      if (h.draining) ++stats.draining;
      if (h.warming) ++stats.warming;
    }
  }
  stats.provisional = provisional_count();
  return stats;
}

std::vector<ServerSnapshot> MsgServerRegistry::Snapshot() const {
  std::vector<ServerSnapshot> out;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    const RegistryShard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    for (std::uint32_t s = 0; s < shard.hot.size(); ++s) {
      const RegistryShard::Hot& h = shard.hot[s];
      if (h.generation == 0) continue;
      out.push_back(ServerSnapshot{ServerHandle{static_cast<std::uint32_t>(i), s, h.generation},
                                   shard.InfoOf(s), shard.cold[s].meta, h.draining, h.warming,
                                   h.held, shard.cold[s].provisional});
    }
  }
  return out;
}

}  // namespace ttlogin::registry
