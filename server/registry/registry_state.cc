// The registry's part of a live upgrade: every entry with its timed state (holds, slow start) out
// of one registry and into another, in another process. Kept apart from the update and choice
// paths, which it does not touch.
//
// Timed state travels as ages, not as clock readings: each registry may run on its own clock
// (tests inject one), and an age rebased on the importing clock keeps every hold and window
// ending when it would have.
#include <algorithm>
#include <unordered_map>
#include <utility>

#include "server/registry/msg_server_registry.h"
#include "server/registry/registry_shard.h"

namespace ttlogin::registry {
namespace {

std::string NameKey(std::string_view host, std::uint32_t port) {
  std::string key(host);
  key += ':';
  key += std::to_string(port);
  return key;
}

bool BySince(const RegistryShard::Record& a, const RegistryShard::Record& b) {
  return a.since < b.since;
}

}  // namespace

RegistryState MsgServerRegistry::ExportState() const {
  RegistryState out;
  std::lock_guard drain_lock(drain_mu_);
  out.drain_keys.assign(drain_keys_.begin(), drain_keys_.end());
  const std::int64_t now = NowMs(clock_);
  for (std::size_t i = 0; i < shard_count_; ++i) {
    RegistryShard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    // Holds and windows that ran out must not be carried as if they were live.
    if (shard.HasTimedState()) {
      shard.Expire(now);
      shard.Publish();
    }
    std::unordered_map<std::uint32_t, std::size_t> index;  // slot -> position in out.entries
    for (std::uint32_t s = 0; s < shard.hot.size(); ++s) {
      const RegistryShard::Hot& h = shard.hot[s];
      if (h.generation == 0) continue;
      RegistryEntryState e;
      e.handle = ServerHandle{static_cast<std::uint32_t>(i), s, h.generation};
      e.info = shard.InfoOf(s);
      e.meta = shard.cold[s].meta;
      e.held = h.held;
      e.settled = h.settled;
      e.warming = h.warming;
      if (h.warming) e.warming_age_ms = std::max<std::int64_t>(0, now - shard.cold[s].since);
      index.emplace(s, out.entries.size());
      out.entries.push_back(std::move(e));
    }
    for (const RegistryShard::Record& r : shard.holds) {
      if (!shard.LiveRecord(r)) continue;
      const auto it = index.find(r.slot);
      if (it == index.end()) continue;
      out.entries[it->second].hold_ages_ms.push_back(std::max<std::int64_t>(0, now - r.since));
    }
  }
  return out;
}

std::vector<ServerHandle> MsgServerRegistry::ImportState(const RegistryState& state) {
  std::vector<ServerHandle> handles;
  handles.reserve(state.entries.size());
  std::lock_guard drain_lock(drain_mu_);
  for (const std::string& key : state.drain_keys)
    drain_keys_.insert(key);
  const std::int64_t now = NowMs(clock_);
  std::vector<bool> touched(shard_count_, false);
  for (const RegistryEntryState& e : state.entries) {
    const std::size_t shard_index =
        next_shard_.fetch_add(1, std::memory_order_relaxed) % shard_count_;
    RegistryShard& shard = shards_[shard_index];
    const bool draining = MatchesDrainKeyLocked(e.info);
    std::string name_key = NameKey(e.info.host_name, e.info.port);
    std::lock_guard lock(shard.mu);
    const std::uint32_t slot = shard.Insert(e.info, e.meta, draining, clock_);
    RegistryShard::Hot& h = shard.hot[slot];
    // Insert() starts a window for an empty entry; the carried one says whether it is warming
    // and since when.
    if (h.warming) {
      shard.warmings.pop_back();
      shard.SetWarming(slot, false);
    }
    if (e.warming && shard.routing.slow_start_ms > 0) {
      const std::int64_t since = now - e.warming_age_ms;
      shard.cold[slot].since = since;
      shard.SetWarming(slot, true);
      shard.warmings.push_back(RegistryShard::Record{slot, h.generation, since});
    }
    if (shard.routing.assignment_hold_ms > 0 && !e.hold_ages_ms.empty()) {
      // Each live record is one provisional or settled hold; trust the records over the counts.
      const auto records = static_cast<std::uint32_t>(
          std::min<std::size_t>(e.hold_ages_ms.size(), kMaxHoldsPerShard));
      h.held = std::min(e.held, records);
      h.settled = std::min(e.settled, records - h.held);
      for (std::uint32_t k = records - h.held - h.settled; k < records; ++k) {
        shard.holds.push_back(RegistryShard::Record{slot, h.generation, now - e.hold_ages_ms[k]});
      }
      shard.Refresh(slot);
    }
    shard.Publish();
    registered_.fetch_add(1, std::memory_order_relaxed);
    names_.try_emplace(std::move(name_key),
                       ServerHandle{static_cast<std::uint32_t>(shard_index), slot, h.generation});
    handles.push_back(ServerHandle{static_cast<std::uint32_t>(shard_index), slot, h.generation});
    touched[shard_index] = true;
  }
  // Entries arrived one by one; each FIFO must be in order of time again.
  for (std::size_t i = 0; i < shard_count_; ++i) {
    if (!touched[i]) continue;
    RegistryShard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    std::stable_sort(shard.holds.begin(), shard.holds.end(), BySince);
    std::stable_sort(shard.warmings.begin(), shard.warmings.end(), BySince);
    shard.ExpireDue(clock_);
  }
  return handles;
}

}  // namespace ttlogin::registry
