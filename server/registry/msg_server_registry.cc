#include "server/registry/msg_server_registry.h"

#include <limits>

namespace ttlogin::registry {
namespace {

constexpr std::uint32_t kNil = std::numeric_limits<std::uint32_t>::max();
// Published by a shard that has no eligible entry.
constexpr std::uint64_t kNoCandidate = std::numeric_limits<std::uint64_t>::max();

std::uint64_t PackCandidate(std::uint32_t count, std::uint32_t slot) {
  return (std::uint64_t{count} << 32) | slot;
}

}  // namespace

struct MsgServerRegistry::Shard {
  struct Bucket {
    std::uint32_t head = kNil;  // first slot of the intrusive list
  };
  using Buckets = std::map<std::uint32_t, Bucket>;

  struct Slot {
    MsgServerInfo info;
    EntryMeta meta;
    bool draining = false;
    std::uint32_t generation = 0;  // 0 while free
    bool in_bucket = false;
    Buckets::iterator bucket;  // valid while in_bucket (map iterators are stable)
    std::uint32_t prev = kNil;
    std::uint32_t next = kNil;
  };

  // Written under mu, read lock-free by Choose(): the shard's minimum eligible (count, slot).
  alignas(64) std::atomic<std::uint64_t> best{kNoCandidate};
  mutable std::mutex mu;
  std::vector<Slot> slots;
  std::vector<std::uint32_t> free_slots;
  Buckets buckets;
  Buckets::node_type spare;  // one recycled bucket node, so count moves do not allocate
  std::size_t registered = 0;
  std::uint32_t next_generation = 1;

  static bool Eligible(const Slot& s) {
    return s.info.cur_conn_cnt < s.info.max_conn_cnt && !s.draining;
  }

  bool Live(ServerHandle h) const {
    return h.generation != 0 && h.slot < slots.size() && slots[h.slot].generation == h.generation;
  }

  // Takes the slot out of its bucket. Returns true when that emptied (and erased) the bucket.
  bool Unlink(std::uint32_t index) {
    Slot& s = slots[index];
    if (!s.in_bucket) return false;
    if (s.prev != kNil) {
      slots[s.prev].next = s.next;
    } else {
      s.bucket->second.head = s.next;
    }
    if (s.next != kNil) slots[s.next].prev = s.prev;
    s.prev = s.next = kNil;
    s.in_bucket = false;
    if (s.bucket->second.head != kNil) return false;
    spare = buckets.extract(s.bucket);
    return true;
  }

  // Puts the slot into the bucket of its count, if it is eligible. `hint` is either that bucket
  // or the bucket right after where it belongs; with a right hint this is O(1) amortised.
  void Link(std::uint32_t index, Buckets::iterator hint) {
    Slot& s = slots[index];
    if (!Eligible(s)) return;
    const std::uint32_t count = s.info.cur_conn_cnt;
    Buckets::iterator it = hint;
    if (it == buckets.end() || it->first != count) {
      if (!spare.empty()) {
        spare.key() = count;
        spare.mapped() = Bucket{};
        it = buckets.insert(hint, std::move(spare));
      } else {
        it = buckets.emplace_hint(hint, count, Bucket{});
      }
    }
    s.next = it->second.head;
    s.prev = kNil;
    if (s.next != kNil) slots[s.next].prev = index;
    it->second.head = index;
    s.bucket = it;
    s.in_bucket = true;
  }

  void LinkAnywhere(std::uint32_t index) {
    Link(index, buckets.lower_bound(slots[index].info.cur_conn_cnt));
  }

  void Publish() {
    if (buckets.empty()) {
      best.store(kNoCandidate, std::memory_order_release);
    } else {
      const auto& [count, bucket] = *buckets.begin();
      best.store(PackCandidate(count, bucket.head), std::memory_order_release);
    }
  }
};

MsgServerRegistry::MsgServerRegistry(std::size_t shard_count, std::size_t max_servers)
    : shard_count_(shard_count == 0 ? 1 : shard_count),
      max_servers_(max_servers),
      shards_(std::make_unique<Shard[]>(shard_count_)) {}

MsgServerRegistry::~MsgServerRegistry() = default;

MsgServerRegistry::Shard& MsgServerRegistry::ShardOf(ServerHandle handle) const {
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

std::size_t MsgServerRegistry::SetDraining(std::string_view key, bool draining) {
  {
    std::lock_guard lock(drain_mu_);
    if (draining) {
      drain_keys_.emplace(key);
    } else if (auto it = drain_keys_.find(key); it != drain_keys_.end()) {
      drain_keys_.erase(it);
    }
  }
  std::size_t matched = 0;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    bool changed = false;
    for (std::uint32_t s = 0; s < shard.slots.size(); ++s) {
      Shard::Slot& slot = shard.slots[s];
      if (slot.generation == 0) continue;
      if (DrainKey(slot.info.host_name, slot.info.port) != key &&
          DrainKey(slot.info.ip1, slot.info.port) != key) {
        continue;
      }
      ++matched;
      if (slot.draining == draining) continue;
      shard.Unlink(s);
      slot.draining = draining;
      shard.LinkAnywhere(s);
      changed = true;
    }
    if (changed) shard.Publish();
  }
  return matched;
}

void MsgServerRegistry::Touch(ServerHandle handle, std::int64_t unix_ms) {
  Shard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (shard.Live(handle)) shard.slots[handle.slot].meta.last_heard_ms = unix_ms;
}

ServerHandle MsgServerRegistry::Register(MsgServerInfo info, EntryMeta meta) {
  bool draining = false;
  {
    std::lock_guard lock(drain_mu_);
    draining = MatchesDrainKeyLocked(info);
  }
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
  Shard& shard = shards_[shard_index];
  std::lock_guard lock(shard.mu);
  std::uint32_t index;
  if (!shard.free_slots.empty()) {
    index = shard.free_slots.back();
    shard.free_slots.pop_back();
  } else {
    index = static_cast<std::uint32_t>(shard.slots.size());
    shard.slots.emplace_back();
  }
  Shard::Slot& slot = shard.slots[index];
  slot.info = std::move(info);
  slot.meta = std::move(meta);
  slot.draining = draining;
  slot.generation = shard.next_generation++;
  if (shard.next_generation == 0) shard.next_generation = 1;
  shard.LinkAnywhere(index);
  shard.Publish();
  ++shard.registered;
  return ServerHandle{static_cast<std::uint32_t>(shard_index), index, slot.generation};
}

bool MsgServerRegistry::Replace(ServerHandle handle, MsgServerInfo info, std::string warning) {
  bool drained = false;
  {
    std::lock_guard lock(drain_mu_);
    drained = MatchesDrainKeyLocked(info);
  }
  Shard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(handle)) return false;
  shard.Unlink(handle.slot);
  Shard::Slot& slot = shard.slots[handle.slot];
  slot.info = std::move(info);
  slot.meta.warning = std::move(warning);
  slot.draining = slot.draining || drained;
  shard.LinkAnywhere(handle.slot);
  shard.Publish();
  return true;
}

bool MsgServerRegistry::Remove(ServerHandle handle) {
  Shard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(handle)) return false;
  shard.Unlink(handle.slot);
  Shard::Slot& slot = shard.slots[handle.slot];
  slot.generation = 0;
  slot.info = MsgServerInfo{};
  slot.meta = EntryMeta{};
  slot.draining = false;
  shard.free_slots.push_back(handle.slot);
  shard.Publish();
  --shard.registered;
  registered_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

std::optional<CountChange> MsgServerRegistry::AdjustCount(ServerHandle handle, std::int64_t delta) {
  Shard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(handle)) return std::nullopt;
  Shard::Slot& slot = shard.slots[handle.slot];
  const std::int64_t old_count = slot.info.cur_conn_cnt;
  std::int64_t wanted = old_count + delta;
  CountChange change;
  constexpr std::int64_t kMaxCount = std::numeric_limits<std::uint32_t>::max();
  if (wanted < 0 || wanted > kMaxCount) {
    change.clamped = true;
    wanted = wanted < 0 ? 0 : kMaxCount;
  }
  change.count = static_cast<std::uint32_t>(wanted);
  if (wanted == old_count) return change;

  const bool one_step = delta == 1 || delta == -1;
  if (!slot.in_bucket || !one_step) {
    shard.Unlink(handle.slot);
    slot.info.cur_conn_cnt = change.count;
    shard.LinkAnywhere(handle.slot);
  } else {
    // A one-step move lands in the neighbouring bucket, or in a new one right beside the bucket
    // it leaves: take the neighbours before unlinking, since that may erase the old bucket.
    const auto old_it = slot.bucket;
    const auto next_it = std::next(old_it);
    const auto prev_it = old_it == shard.buckets.begin() ? shard.buckets.end() : std::prev(old_it);
    const bool erased = shard.Unlink(handle.slot);
    slot.info.cur_conn_cnt = change.count;
    Shard::Buckets::iterator hint;
    if (delta > 0) {
      hint = next_it;
    } else if (prev_it != shard.buckets.end() && prev_it->first == change.count) {
      hint = prev_it;
    } else {
      hint = erased ? next_it : old_it;
    }
    shard.Link(handle.slot, hint);
  }
  shard.Publish();
  return change;
}

Choice MsgServerRegistry::Choose() const {
  Choice choice;
  // A shard's minimum can change between the lock-free scan and taking its lock; then scan again.
  // After a few rounds under heavy churn, settle for whatever the chosen shard holds.
  constexpr int kScanRounds = 4;
  for (int round = 0; round < kScanRounds; ++round) {
    std::uint64_t best = kNoCandidate;
    std::size_t best_shard = shard_count_;
    for (std::size_t i = 0; i < shard_count_; ++i) {
      const std::uint64_t b = shards_[i].best.load(std::memory_order_acquire);
      if (b < best) {
        best = b;
        best_shard = i;
      }
    }
    if (best_shard == shard_count_) {
      choice.code = registered_.load(std::memory_order_relaxed) == 0 ? ChooseCode::kNoMsgServer
                                                                     : ChooseCode::kAllFull;
      return choice;
    }
    const Shard& shard = shards_[best_shard];
    std::lock_guard lock(shard.mu);
    if (shard.buckets.empty()) continue;
    const std::uint32_t index = shard.buckets.begin()->second.head;
    const Shard::Slot& slot = shard.slots[index];
    choice.code = ChooseCode::kOk;
    choice.ip1 = slot.info.ip1;
    choice.ip2 = slot.info.ip2;
    choice.port = slot.info.port;
    choice.handle = ServerHandle{static_cast<std::uint32_t>(best_shard), index, slot.generation};
    return choice;
  }
  // Every round lost a race: take the minimum shard by shard (rare, still O(shards)).
  std::uint32_t best_count = 0;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    const Shard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    if (shard.buckets.empty()) continue;
    const auto& [count, bucket] = *shard.buckets.begin();
    if (choice.code == ChooseCode::kOk && count >= best_count) continue;
    const Shard::Slot& slot = shard.slots[bucket.head];
    best_count = count;
    choice.code = ChooseCode::kOk;
    choice.ip1 = slot.info.ip1;
    choice.ip2 = slot.info.ip2;
    choice.port = slot.info.port;
    choice.handle = ServerHandle{static_cast<std::uint32_t>(i), bucket.head, slot.generation};
  }
  if (choice.code != ChooseCode::kOk) {
    choice.code = registered_.load(std::memory_order_relaxed) == 0 ? ChooseCode::kNoMsgServer
                                                                   : ChooseCode::kAllFull;
  }
  return choice;
}

std::optional<MsgServerInfo> MsgServerRegistry::Get(ServerHandle handle) const {
  const Shard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(handle)) return std::nullopt;
  return shard.slots[handle.slot].info;
}

RegistryStats MsgServerRegistry::Stats() const {
  RegistryStats stats;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    const Shard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    stats.registered += shard.registered;
    for (const Shard::Slot& slot : shard.slots) {
      if (slot.generation == 0) continue;
      stats.users += slot.info.cur_conn_cnt;
      if (Shard::Eligible(slot)) ++stats.eligible;
      if (slot.draining) ++stats.draining;
    }
  }
  return stats;
}

std::vector<ServerSnapshot> MsgServerRegistry::Snapshot() const {
  std::vector<ServerSnapshot> out;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    const Shard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    for (std::uint32_t s = 0; s < shard.slots.size(); ++s) {
      const Shard::Slot& slot = shard.slots[s];
      if (slot.generation == 0) continue;
      out.push_back(ServerSnapshot{ServerHandle{static_cast<std::uint32_t>(i), s, slot.generation},
                                   slot.info, slot.meta, slot.draining});
    }
  }
  return out;
}

}  // namespace ttlogin::registry
