#include "server/registry/registry_shard.h"

#include <utility>

namespace ttlogin::registry {

std::uint32_t RegistryShard::Insert(MsgServerInfo info, EntryMeta meta, bool draining,
                                    const Clock& clock) {
  std::uint32_t slot;
  if (!free_slots.empty()) {
    slot = free_slots.back();
    free_slots.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(hot.size());
    hot.emplace_back();
    cold.emplace_back();
  }
  Hot& h = hot[slot];
  h = Hot{};
  h.cur = info.cur_conn_cnt;
  h.max = info.max_conn_cnt;
  h.draining = draining;
  h.generation = next_generation++;
  if (next_generation == 0) next_generation = 1;
  cold[slot] = Cold{std::move(info), std::move(meta), 0};
  if (routing.slow_start_ms > 0 && h.cur == 0) {
    const std::int64_t now = NowMs(clock);
    cold[slot].since = now;
    h.warming = true;
    warmings.push_back(Record{slot, h.generation, now});
  }
  Refresh(slot);
  Publish();
  ++registered;
  return slot;
}

void RegistryShard::Update(std::uint32_t slot, MsgServerInfo info, std::string warning,
                           bool draining) {
  Hot& h = hot[slot];
  h.cur = info.cur_conn_cnt;
  h.max = info.max_conn_cnt;
  h.draining = draining;
  cold[slot].info = std::move(info);
  cold[slot].meta.warning = std::move(warning);
  Refresh(slot);
  Publish();
}

void RegistryShard::Erase(std::uint32_t slot) {
  Unheap(slot);
  hot[slot] = Hot{};  // generation 0: its hold and warming records go stale
  cold[slot] = Cold{};
  free_slots.push_back(slot);
  Publish();
  --registered;
}

MsgServerInfo RegistryShard::InfoOf(std::uint32_t slot) const {
  MsgServerInfo info = cold[slot].info;
  info.cur_conn_cnt = hot[slot].cur;
  info.max_conn_cnt = hot[slot].max;
  return info;
}

void RegistryShard::SetRouting(const RoutingOptions& options, const Clock& clock) {
  const RoutingOptions old = routing;
  routing = options;
  if (options.assignment_hold_ms <= 0 && !holds.empty()) {
    holds.clear();
    for (Hot& h : hot)
      h.held = h.settled = 0;
  }
  if (options.slow_start_ms <= 0 && !warmings.empty()) {
    warmings.clear();
    for (std::uint32_t s = 0; s < hot.size(); ++s)
      SetWarming(s, false);
  }
  // Windows may have shrunk: end what ran out under the new ones.
  if (HasTimedState()) Expire(NowMs(clock));
  if (old.policy != options.policy || old.assignment_hold_ms != options.assignment_hold_ms) {
    ClearHeaps();
    for (std::uint32_t s = 0; s < hot.size(); ++s)
      Refresh(s);
  }
  Publish();
}

}  // namespace ttlogin::registry
