#include "server/registry/msg_server_registry.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <limits>
#include <random>

#include "common/splitmix.h"

namespace ttlogin::registry {
namespace {

constexpr std::uint32_t kNil = std::numeric_limits<std::uint32_t>::max();
// Published by a heap that is empty; no real key reaches it.
constexpr std::uint64_t kNoCandidate = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kMaxKey = kNoCandidate - 1;
constexpr std::uint64_t kPpm = 1'000'000;

// Ratio keys below 1 fill [0, kRatioOne); at and above 1 (only reachable with holds) they follow.
constexpr std::uint64_t kRatioOne = kNoCandidate - 0xffffffffULL;  // 2^64 - 2^32

// The order of eligible entries under `policy`: smaller is chosen first. For the ratio policies
// a load below max maps to floor(load * kRatioOne / max): two different ratios of 32-bit numbers
// differ by at least 1/(max_a * max_b), and max_a * max_b < kRatioOne, so their keys differ by
// more than 1: never shared, while equal ratios always share one. A load at or over max (held
// logins beyond the free places) maps above all of those, ordered by (load - max) / max at a
// resolution of 2^-16.
std::uint64_t LoadKey(Policy policy, std::uint32_t cur, std::uint32_t held, std::uint32_t max) {
  const std::uint64_t load = std::uint64_t{cur} + held;
  if (policy == Policy::kLeastCount) return std::min(load, kMaxKey);
  if (max == 0) return kMaxKey;
  using Wide = unsigned __int128;
  if (load < max) return static_cast<std::uint64_t>(static_cast<Wide>(load) * kRatioOne / max);
  const std::uint64_t over = ((load - max) << 16) / max;  // load < 2^33: no overflow
  return kRatioOne + std::min<std::uint64_t>(over, kMaxKey - kRatioOne);
}

struct ThreadRandom {
  common::SplitMix64 rng;
  bool seeded = false;
};
thread_local ThreadRandom t_random;

// Uniform in [0, n); 0 when n is 0. Each thread seeds itself from the system on first use.
std::uint64_t RandomBelow(std::uint64_t n) {
  if (!t_random.seeded) {
    std::random_device device;
    t_random.rng.Seed((std::uint64_t{device()} << 32) ^ device());
    t_random.seeded = true;
  }
  return t_random.rng.Below(n);
}

// The chance, in parts per million, that a warming entry is taken when it would win.
std::uint64_t SlowStartChancePpm(const RoutingOptions& routing, std::int64_t age_ms) {
  if (routing.slow_start_ms <= 0 || age_ms >= routing.slow_start_ms) return kPpm;
  const std::uint64_t floor =
      std::uint64_t{std::clamp(routing.slow_start_min_percent, 1U, 100U)} * (kPpm / 100);
  const std::uint64_t ramp = static_cast<std::uint64_t>(std::max<std::int64_t>(age_ms, 0)) * kPpm /
                             static_cast<std::uint64_t>(routing.slow_start_ms);
  return std::max(floor, ramp);
}

}  // namespace

void SeedThreadRandom(std::uint64_t seed) {
  t_random.rng.Seed(seed);
  t_random.seeded = true;
}

std::string_view PolicyName(Policy policy) {
  switch (policy) {
    case Policy::kLeastCount:
      return "least_count";
    case Policy::kLeastRatio:
      return "least_ratio";
    case Policy::kP2c:
      return "p2c";
  }
  return "unknown";
}

std::optional<Policy> ParsePolicy(std::string_view name) {
  for (Policy p : {Policy::kLeastCount, Policy::kLeastRatio, Policy::kP2c}) {
    if (name == PolicyName(p)) return p;
  }
  return std::nullopt;
}

struct MsgServerRegistry::Shard {
  // What updates and choices touch, kept compact so a large shard stays in cache.
  struct Hot {
    std::uint32_t cur = 0;
    std::uint32_t max = 0;
    std::uint32_t held = 0;     // provisional users (assignment holds not yet settled or expired)
    std::uint32_t settled = 0;  // holds settled by increments whose records have not expired yet
    std::uint32_t generation = 0;   // 0 while free
    std::uint32_t heap_pos = kNil;  // position in heaps[warming], kNil when not eligible
    bool draining = false;
    bool warming = false;
  };
  // What only registration, replies and operators read. info's counts are kept in Hot.
  struct Cold {
    MsgServerInfo info;
    EntryMeta meta;
    std::int64_t since = 0;  // clock ms of the registration (slow start)
  };
  struct HeapItem {
    std::uint64_t key;
    std::uint32_t slot;
    std::uint32_t generation;  // a copy (it fits the padding): p2c draws need not read Hot
  };
  using Heap = std::vector<HeapItem>;
  struct Record {  // an assignment hold (until = expiry) or a warming entry (until = window end)
    std::uint32_t slot;
    std::uint32_t generation;
    std::int64_t since;
  };

  // Written under mu, read lock-free by Choose(): the minimum key of each heap, and how many
  // entries are eligible (p2c draws a shard in proportion to it).
  alignas(64) std::atomic<std::uint64_t> best_warm{kNoCandidate};
  std::atomic<std::uint64_t> best_warming{kNoCandidate};
  std::atomic<std::uint32_t> eligible{0};
  mutable std::mutex mu;
  RoutingOptions routing;
  std::vector<Hot> hot;
  std::vector<Cold> cold;
  std::vector<std::uint32_t> free_slots;
  Heap heaps[2];                // [0]: warm entries, [1]: entries inside their slow start window
  std::deque<Record> holds;     // in order of expiry (one hold window for all)
  std::deque<Record> warmings;  // in order of registration (one slow start window for all)
  std::size_t registered = 0;
  std::uint32_t next_generation = 1;

  static bool Eligible(const Hot& h) { return h.cur < h.max && !h.draining; }

  bool Live(ServerHandle h) const {
    return h.generation != 0 && h.slot < hot.size() && hot[h.slot].generation == h.generation;
  }
  bool LiveRecord(const Record& r) const {
    return r.slot < hot.size() && hot[r.slot].generation == r.generation;
  }

  std::uint64_t KeyOf(const Hot& h) const { return LoadKey(routing.policy, h.cur, h.held, h.max); }

  void Put(Heap& heap, std::size_t pos, HeapItem item) {
    heap[pos] = item;
    hot[item.slot].heap_pos = static_cast<std::uint32_t>(pos);
  }
  // Equal keys stop both sifts, so a count that moves among equals does not move the entry.
  void SiftUp(Heap& heap, std::size_t pos) {
    const HeapItem item = heap[pos];
    while (pos > 0) {
      const std::size_t parent = (pos - 1) / 2;
      if (heap[parent].key <= item.key) break;
      Put(heap, pos, heap[parent]);
      pos = parent;
    }
    Put(heap, pos, item);
  }
  void SiftDown(Heap& heap, std::size_t pos) {
    const HeapItem item = heap[pos];
    const std::size_t n = heap.size();
    for (;;) {
      std::size_t child = 2 * pos + 1;
      if (child >= n) break;
      if (child + 1 < n && heap[child + 1].key < heap[child].key) ++child;
      if (heap[child].key >= item.key) break;
      Put(heap, pos, heap[child]);
      pos = child;
    }
    Put(heap, pos, item);
  }
  void Unheap(std::uint32_t slot) {
    Hot& h = hot[slot];
    if (h.heap_pos == kNil) return;
    Heap& heap = heaps[h.warming ? 1 : 0];
    const std::size_t pos = h.heap_pos;
    h.heap_pos = kNil;
    const HeapItem last = heap.back();
    heap.pop_back();
    if (pos == heap.size()) return;
    Put(heap, pos, last);
    SiftDown(heap, pos);
    SiftUp(heap, hot[last.slot].heap_pos);
  }

  // Brings the entry's heap membership and position in line with its state: call after any
  // change of its counts, flags or the policy.
  void Refresh(std::uint32_t slot) {
    Hot& h = hot[slot];
    const bool wanted = h.generation != 0 && Eligible(h);
    if (!wanted) {
      Unheap(slot);
      return;
    }
    Heap& heap = heaps[h.warming ? 1 : 0];
    const std::uint64_t key = KeyOf(h);
    if (h.heap_pos == kNil) {
      heap.push_back(HeapItem{key, slot, h.generation});
      h.heap_pos = static_cast<std::uint32_t>(heap.size() - 1);
      SiftUp(heap, h.heap_pos);
      return;
    }
    const std::size_t pos = h.heap_pos;
    const std::uint64_t old = heap[pos].key;
    heap[pos].key = key;
    if (key < old) {
      SiftUp(heap, pos);
    } else if (key > old) {
      SiftDown(heap, pos);
    }
  }

  void SetWarming(std::uint32_t slot, bool warming) {
    if (hot[slot].warming == warming) return;
    Unheap(slot);
    hot[slot].warming = warming;
    Refresh(slot);
  }

  bool HasTimedState() const { return !holds.empty() || !warmings.empty(); }

  // Ends the holds and slow start windows that ran out by `now`.
  void ExpireLocked(std::int64_t now) {
    while (!holds.empty() && holds.front().since + routing.assignment_hold_ms <= now) {
      const Record r = holds.front();
      holds.pop_front();
      if (!LiveRecord(r)) continue;
      Hot& h = hot[r.slot];
      if (h.settled > 0) {
        --h.settled;  // an increment already settled the oldest hold: this is its record
      } else if (h.held > 0) {
        --h.held;
        Refresh(r.slot);
      }
    }
    while (!warmings.empty() && warmings.front().since + routing.slow_start_ms <= now) {
      const Record r = warmings.front();
      warmings.pop_front();
      if (LiveRecord(r)) SetWarming(r.slot, false);
    }
  }

  void Publish() {
    best_warm.store(heaps[0].empty() ? kNoCandidate : heaps[0][0].key, std::memory_order_release);
    best_warming.store(heaps[1].empty() ? kNoCandidate : heaps[1][0].key,
                       std::memory_order_release);
    eligible.store(static_cast<std::uint32_t>(heaps[0].size() + heaps[1].size()),
                   std::memory_order_release);
  }

  MsgServerInfo InfoOf(std::uint32_t slot) const {
    MsgServerInfo info = cold[slot].info;
    info.cur_conn_cnt = hot[slot].cur;
    info.max_conn_cnt = hot[slot].max;
    return info;
  }

  // Positions of the `k` smallest keys of `heap`, smallest first: a frontier walk from the root.
  template <typename Visit>
  void VisitSmallest(const Heap& heap, std::size_t k, Visit visit) const {
    std::size_t frontier[2 * kMaxExtraCandidates + 4];
    std::size_t size = 0;
    if (!heap.empty()) frontier[size++] = 0;
    for (std::size_t taken = 0; taken < k && size > 0; ++taken) {
      std::size_t best = 0;
      for (std::size_t i = 1; i < size; ++i) {
        if (heap[frontier[i]].key < heap[frontier[best]].key) best = i;
      }
      const std::size_t pos = frontier[best];
      frontier[best] = frontier[--size];
      visit(heap[pos]);
      for (std::size_t child = 2 * pos + 1; child <= 2 * pos + 2 && child < heap.size(); ++child) {
        frontier[size++] = child;
      }
    }
  }
};

MsgServerRegistry::MsgServerRegistry(std::size_t shard_count, std::size_t max_servers, Clock clock)
    : shard_count_(shard_count == 0 ? 1 : shard_count),
      max_servers_(max_servers),
      clock_(std::move(clock)),
      shards_(std::make_unique<Shard[]>(shard_count_)) {}

MsgServerRegistry::~MsgServerRegistry() = default;

std::int64_t MsgServerRegistry::Now() const {
  if (clock_) return clock_();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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
      Shard& shard = shards_[i];
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
    Shard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    bool changed = false;
    for (std::uint32_t s = 0; s < shard.hot.size(); ++s) {
      if (shard.hot[s].generation == 0) continue;
      const MsgServerInfo& info = shard.cold[s].info;
      if (matches(info)) ++matched;
      const bool now = MatchesDrainKeyLocked(info);
      if (shard.hot[s].draining == now) continue;
      shard.hot[s].draining = now;
      shard.Refresh(s);
      changed = true;
    }
    if (changed) shard.Publish();
  }
  return matched;
}

bool MsgServerRegistry::Touch(ServerHandle handle, std::int64_t unix_ms) {
  Shard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(handle)) return false;
  shard.cold[handle.slot].meta.last_heard_ms = unix_ms;
  return true;
}

bool MsgServerRegistry::Live(ServerHandle handle) const {
  const Shard& shard = ShardOf(handle);
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
                                                            bool& may_displace,
                                                            std::string& holder_peer) const {
  const auto it = names_.find(name_key);
  if (it == names_.end() || it->second == self) return std::nullopt;
  const ServerHandle holder = it->second;
  const Shard& shard = ShardOf(holder);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(holder)) return std::nullopt;
  const EntryMeta& meta = shard.cold[holder.slot].meta;
  holder_peer = meta.peer;
  may_displace = PeerAddressOf(meta.peer) == rule.peer_address ||
                 rule.now_unix_ms - meta.last_heard_ms >= rule.silence_ms;
  return holder;
}

ClaimResult MsgServerRegistry::Claim(MsgServerInfo info, EntryMeta meta, const ClaimRule& rule) {
  std::lock_guard drain_lock(drain_mu_);  // see SetDraining()
  ClaimResult out;
  bool may_displace = false;
  if (const auto holder = HolderLocked(DrainKey(info.host_name, info.port), ServerHandle{}, rule,
                                       may_displace, out.holder_peer)) {
    if (!may_displace) {
      out.code = ClaimCode::kTaken;
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
    const Shard& shard = ShardOf(handle);
    std::lock_guard lock(shard.mu);
    if (!shard.Live(handle)) {
      out.code = ClaimCode::kGone;
      return out;
    }
  }
  bool may_displace = false;
  if (const auto holder = HolderLocked(DrainKey(info.host_name, info.port), handle, rule,
                                       may_displace, out.holder_peer)) {
    if (!may_displace) {
      out.code = ClaimCode::kTaken;
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
  Shard& shard = shards_[shard_index];
  std::lock_guard lock(shard.mu);
  std::uint32_t index;
  if (!shard.free_slots.empty()) {
    index = shard.free_slots.back();
    shard.free_slots.pop_back();
  } else {
    index = static_cast<std::uint32_t>(shard.hot.size());
    shard.hot.emplace_back();
    shard.cold.emplace_back();
  }
  Shard::Hot& h = shard.hot[index];
  h = Shard::Hot{};
  h.cur = info.cur_conn_cnt;
  h.max = info.max_conn_cnt;
  h.draining = draining;
  h.generation = shard.next_generation++;
  if (shard.next_generation == 0) shard.next_generation = 1;
  // Slow start is for a msg_server that comes up empty; one re-registering with its users (e.g.
  // after this login server restarted) is no cold process.
  shard.cold[index] = Shard::Cold{std::move(info), std::move(meta), 0};
  if (shard.routing.slow_start_ms > 0 && h.cur == 0) {
    const std::int64_t now = Now();
    shard.cold[index].since = now;
    h.warming = true;
    shard.warmings.push_back(Shard::Record{index, h.generation, now});
  }
  shard.Refresh(index);
  shard.Publish();
  ++shard.registered;
  const ServerHandle handle{static_cast<std::uint32_t>(shard_index), index, h.generation};
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
  Shard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(handle)) return false;
  const MsgServerInfo& old = shard.cold[handle.slot].info;
  if (old.host_name != info.host_name || old.port != info.port) {
    const auto it = names_.find(DrainKey(old.host_name, old.port));
    if (it != names_.end() && it->second == handle) names_.erase(it);
    names_.try_emplace(DrainKey(info.host_name, info.port), handle);
  }
  Shard::Hot& h = shard.hot[handle.slot];
  h.cur = info.cur_conn_cnt;
  h.max = info.max_conn_cnt;
  h.draining = drained;  // by the new name and address
  shard.cold[handle.slot].info = std::move(info);
  shard.cold[handle.slot].meta.warning = std::move(warning);
  shard.Refresh(handle.slot);
  shard.Publish();
  return true;
}

bool MsgServerRegistry::Remove(ServerHandle handle) {
  std::lock_guard drain_lock(drain_mu_);  // the name index
  return RemoveLocked(handle);
}

bool MsgServerRegistry::RemoveLocked(ServerHandle handle) {
  Shard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(handle)) return false;
  const MsgServerInfo& info = shard.cold[handle.slot].info;
  if (const auto it = names_.find(DrainKey(info.host_name, info.port));
      it != names_.end() && it->second == handle) {
    names_.erase(it);
  }
  shard.Unheap(handle.slot);
  shard.hot[handle.slot] = Shard::Hot{};  // generation 0: its hold and warming records go stale
  shard.cold[handle.slot] = Shard::Cold{};
  shard.free_slots.push_back(handle.slot);
  shard.Publish();
  --shard.registered;
  registered_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

std::optional<CountChange> MsgServerRegistry::AdjustCount(ServerHandle handle, std::int64_t delta) {
  return AdjustCount(handle, delta, delta > 0 ? static_cast<std::uint64_t>(delta) : 0);
}

std::optional<CountChange> MsgServerRegistry::AdjustCount(ServerHandle handle, std::int64_t delta,
                                                          std::uint64_t increments) {
  Shard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(handle)) return std::nullopt;
  if (shard.HasTimedState()) shard.ExpireLocked(Now());
  Shard::Hot& h = shard.hot[handle.slot];
  const std::int64_t old_count = h.cur;
  constexpr std::int64_t kMaxCount = std::numeric_limits<std::uint32_t>::max();
  // Any |delta| beyond 2^33 clamps the same way; bounding it first keeps the sum from overflowing.
  constexpr std::int64_t kDeltaBound = std::int64_t{1} << 33;
  std::int64_t wanted = old_count + std::clamp(delta, -kDeltaBound, kDeltaBound);
  CountChange change;
  if (wanted < 0 || wanted > kMaxCount) {
    change.clamped = true;
    wanted = wanted < 0 ? 0 : kMaxCount;
  }
  change.count = static_cast<std::uint32_t>(wanted);
  if (increments > 0 && h.held > 0) {
    // The users these increments report are (up to) the logins held for them.
    const auto settle = static_cast<std::uint32_t>(std::min<std::uint64_t>(increments, h.held));
    h.held -= settle;
    h.settled += settle;
  }
  h.cur = change.count;
  shard.Refresh(handle.slot);
  shard.Publish();
  return change;
}

ChooseCode MsgServerRegistry::RefusalCode() const {
  return registered_.load(std::memory_order_relaxed) == 0 ? ChooseCode::kNoMsgServer
                                                          : ChooseCode::kAllFull;
}

bool MsgServerRegistry::AnyEligible() const {
  for (std::size_t i = 0; i < shard_count_; ++i) {
    if (shards_[i].eligible.load(std::memory_order_acquire) != 0) return true;
  }
  return false;
}

void MsgServerRegistry::TakeLocked(Shard& shard, std::size_t shard_index, std::uint32_t slot,
                                   bool assign, Choice& choice) {
  Shard::Hot& h = shard.hot[slot];
  const MsgServerInfo& info = shard.cold[slot].info;
  choice.code = ChooseCode::kOk;
  choice.ip1 = info.ip1;
  choice.ip2 = info.ip2;
  choice.port = info.port;
  choice.handle = ServerHandle{static_cast<std::uint32_t>(shard_index), slot, h.generation};
  if (assign && shard.routing.assignment_hold_ms > 0 && shard.holds.size() < kMaxHoldsPerShard) {
    ++h.held;  // at most kMaxHoldsPerShard: cannot overflow
    shard.holds.push_back(Shard::Record{slot, h.generation, Now()});
    shard.Refresh(slot);
    shard.Publish();
  }
}

bool MsgServerRegistry::ChooseByKey(Choice& choice, bool assign) {
  // A shard's minimum can change between the lock-free scan and taking its lock; then scan again.
  // After a few rounds under heavy churn, settle for whatever the chosen shard holds.
  constexpr int kScanRounds = 4;
  const bool slow_start = slow_start_on_.load(std::memory_order_relaxed);
  for (int round = 0; round < kScanRounds; ++round) {
    std::uint64_t warm_key = kNoCandidate;
    std::uint64_t warming_key = kNoCandidate;
    std::size_t warm_shard = shard_count_;
    std::size_t warming_shard = shard_count_;
    for (std::size_t i = 0; i < shard_count_; ++i) {
      const std::uint64_t w = shards_[i].best_warm.load(std::memory_order_acquire);
      if (w < warm_key) {
        warm_key = w;
        warm_shard = i;
      }
      if (!slow_start) continue;
      const std::uint64_t g = shards_[i].best_warming.load(std::memory_order_acquire);
      if (g < warming_key) {
        warming_key = g;
        warming_shard = i;
      }
    }
    if (warm_shard == shard_count_ && warming_shard == shard_count_) return false;

    if (warming_shard != shard_count_ && (warm_shard == shard_count_ || warming_key < warm_key)) {
      // A warming entry would win: it gets the login only with its slow start chance.
      Shard& shard = shards_[warming_shard];
      std::lock_guard lock(shard.mu);
      const std::int64_t now = Now();
      shard.ExpireLocked(now);
      shard.Publish();
      if (shard.heaps[1].empty()) continue;
      const std::uint32_t slot = shard.heaps[1][0].slot;
      const std::uint64_t chance = SlowStartChancePpm(shard.routing, now - shard.cold[slot].since);
      if (warm_shard == shard_count_ || RandomBelow(kPpm) < chance) {
        TakeLocked(shard, warming_shard, slot, assign, choice);
        return true;
      }
    }
    if (warm_shard == shard_count_) continue;
    Shard& shard = shards_[warm_shard];
    std::lock_guard lock(shard.mu);
    if (shard.HasTimedState()) {
      shard.ExpireLocked(Now());
      shard.Publish();
    }
    if (shard.heaps[0].empty()) continue;
    TakeLocked(shard, warm_shard, shard.heaps[0][0].slot, assign, choice);
    return true;
  }
  // Every round lost a race: take the minimum shard by shard (rare, still O(shards)); slow start
  // chances are skipped here.
  std::uint64_t best_key = kNoCandidate;
  std::size_t best_shard = shard_count_;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    for (const Shard::Heap& heap : shard.heaps) {
      if (!heap.empty() && heap[0].key < best_key) {
        best_key = heap[0].key;
        best_shard = i;
      }
    }
  }
  if (best_shard == shard_count_) return false;
  Shard& shard = shards_[best_shard];
  std::lock_guard lock(shard.mu);
  const Shard::Heap* heap = nullptr;
  for (const Shard::Heap& h : shard.heaps) {
    if (!h.empty() && (heap == nullptr || h[0].key < (*heap)[0].key)) heap = &h;
  }
  if (heap == nullptr) return false;
  TakeLocked(shard, best_shard, (*heap)[0].slot, assign, choice);
  return true;
}

struct MsgServerRegistry::Sample {
  std::size_t shard = 0;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
  std::uint64_t key = 0;
  std::uint64_t chance = kPpm;  // slow start chance, ppm
};

bool MsgServerRegistry::ChooseP2c(Choice& choice, bool assign) {
  // Draws an eligible entry uniformly: a shard in proportion to its eligible count, then one of
  // its heap positions (the heaps are dense arrays of exactly the eligible entries).
  auto draw = [this](Sample& sample) {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < shard_count_; ++i) {
      total += shards_[i].eligible.load(std::memory_order_acquire);
    }
    if (total == 0) return false;
    std::uint64_t pick = RandomBelow(total);
    std::size_t index = shard_count_ - 1;
    for (std::size_t i = 0; i < shard_count_; ++i) {
      const std::uint64_t n = shards_[i].eligible.load(std::memory_order_acquire);
      if (pick < n) {
        index = i;
        break;
      }
      pick -= n;
    }
    Shard& shard = shards_[index];
    std::lock_guard lock(shard.mu);
    std::int64_t now = 0;
    if (shard.HasTimedState()) {
      now = Now();
      shard.ExpireLocked(now);
      shard.Publish();
    }
    const std::size_t warm = shard.heaps[0].size();
    const std::size_t n = warm + shard.heaps[1].size();
    if (n == 0) return false;
    const std::size_t pos = RandomBelow(n);
    const Shard::HeapItem item = pos < warm ? shard.heaps[0][pos] : shard.heaps[1][pos - warm];
    sample = Sample{index, item.slot, item.generation, item.key, kPpm};
    if (pos >= warm) {  // drawn from the warming heap
      sample.chance = SlowStartChancePpm(shard.routing, now - shard.cold[item.slot].since);
    }
    return true;
  };

  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    Sample a;
    Sample b;
    const bool have_a = draw(a);
    const bool have_b = draw(b);
    if (!have_a && !have_b) {
      if (!AnyEligible()) return false;
      continue;
    }
    if (!have_a) a = b;
    if (!have_b) b = a;
    const Sample* pick = b.key < a.key ? &b : &a;
    const Sample* other = pick == &a ? &b : &a;
    if (pick->chance < kPpm && RandomBelow(kPpm) >= pick->chance) std::swap(pick, other);
    Shard& shard = shards_[pick->shard];
    std::lock_guard lock(shard.mu);
    const ServerHandle handle{static_cast<std::uint32_t>(pick->shard), pick->slot,
                              pick->generation};
    if (!shard.Live(handle) || shard.hot[pick->slot].heap_pos == kNil) continue;  // raced
    TakeLocked(shard, pick->shard, pick->slot, assign, choice);
    return true;
  }
  return ChooseByKey(choice, assign);
}

void MsgServerRegistry::ListCandidates(Choice& choice, std::size_t extra) const {
  struct Found {
    std::uint64_t key;
    ServerHandle handle;
    Candidate candidate;
  };
  const std::size_t want = extra + 1;  // the chosen entry may be among them
  // Shards in order of their smallest key; a shard can only contribute while its smallest key is
  // below the want-th key found so far, so few shards are locked.
  std::vector<std::pair<std::uint64_t, std::size_t>> order;
  order.reserve(shard_count_);
  for (std::size_t i = 0; i < shard_count_; ++i) {
    const std::uint64_t k = std::min(shards_[i].best_warm.load(std::memory_order_acquire),
                                     shards_[i].best_warming.load(std::memory_order_acquire));
    if (k != kNoCandidate) order.emplace_back(k, i);
  }
  std::sort(order.begin(), order.end());
  std::vector<Found> found;
  for (const auto& entry : order) {
    const std::uint64_t shard_key = entry.first;
    const std::size_t index = entry.second;  // not a structured binding: lambdas capture it below
    if (found.size() >= want && shard_key >= found[want - 1].key) break;
    const Shard& shard = shards_[index];
    std::lock_guard lock(shard.mu);
    for (const Shard::Heap& heap : shard.heaps) {
      shard.VisitSmallest(heap, want, [&](const Shard::HeapItem& item) {
        const MsgServerInfo& info = shard.cold[item.slot].info;
        found.push_back(Found{item.key,
                              ServerHandle{static_cast<std::uint32_t>(index), item.slot,
                                           shard.hot[item.slot].generation},
                              Candidate{info.ip1, info.ip2, info.port, {}}});
      });
    }
    std::stable_sort(found.begin(), found.end(),
                     [](const Found& x, const Found& y) { return x.key < y.key; });
    if (found.size() > want) found.resize(want);
  }
  for (Found& f : found) {
    if (f.handle == choice.handle || choice.candidates.size() == extra) continue;
    f.candidate.handle = f.handle;
    choice.candidates.push_back(std::move(f.candidate));
  }
}

Choice MsgServerRegistry::Choose(const ChooseOptions& options) {
  Choice choice;
  const bool found = policy_.load(std::memory_order_relaxed) == Policy::kP2c
                         ? ChooseP2c(choice, options.assign)
                         : ChooseByKey(choice, options.assign);
  if (!found) {
    choice.code = RefusalCode();
    return choice;
  }
  if (options.extra > 0) ListCandidates(choice, std::min(options.extra, kMaxExtraCandidates));
  return choice;
}

void MsgServerRegistry::SetRouting(const RoutingOptions& options) {
  std::lock_guard routing_lock(routing_mu_);
  for (std::size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    const RoutingOptions old = shard.routing;
    shard.routing = options;
    if (options.assignment_hold_ms <= 0 && !shard.holds.empty()) {
      shard.holds.clear();
      for (Shard::Hot& h : shard.hot)
        h.held = h.settled = 0;
    }
    if (options.slow_start_ms <= 0 && !shard.warmings.empty()) {
      shard.warmings.clear();
      for (std::uint32_t s = 0; s < shard.hot.size(); ++s)
        shard.SetWarming(s, false);
    }
    // Windows may have shrunk: end what ran out under the new ones.
    if (shard.HasTimedState()) shard.ExpireLocked(Now());
    if (old.policy != options.policy || old.assignment_hold_ms != options.assignment_hold_ms) {
      for (Shard::Heap& heap : shard.heaps) {
        for (const Shard::HeapItem& item : heap)
          shard.hot[item.slot].heap_pos = kNil;
        heap.clear();
      }
      for (std::uint32_t s = 0; s < shard.hot.size(); ++s)
        shard.Refresh(s);
    }
    shard.Publish();
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
    Shard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    if (!shard.HasTimedState()) continue;
    shard.ExpireLocked(Now());
    shard.Publish();
  }
}

std::optional<MsgServerInfo> MsgServerRegistry::Get(ServerHandle handle) const {
  const Shard& shard = ShardOf(handle);
  std::lock_guard lock(shard.mu);
  if (!shard.Live(handle)) return std::nullopt;
  return shard.InfoOf(handle.slot);
}

RegistryStats MsgServerRegistry::Stats() const {
  RegistryStats stats;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    const Shard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    stats.registered += shard.registered;
    for (const Shard::Hot& h : shard.hot) {
      if (h.generation == 0) continue;
      stats.users += h.cur;
      stats.held += h.held;
      if (Shard::Eligible(h)) ++stats.eligible;
      if (h.draining) ++stats.draining;
      if (h.warming) ++stats.warming;
    }
  }
  return stats;
}

std::vector<ServerSnapshot> MsgServerRegistry::Snapshot() const {
  std::vector<ServerSnapshot> out;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    const Shard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    for (std::uint32_t s = 0; s < shard.hot.size(); ++s) {
      const Shard::Hot& h = shard.hot[s];
      if (h.generation == 0) continue;
      out.push_back(ServerSnapshot{ServerHandle{static_cast<std::uint32_t>(i), s, h.generation},
                                   shard.InfoOf(s), shard.cold[s].meta, h.draining, h.warming,
                                   h.held});
    }
  }
  return out;
}

}  // namespace ttlogin::registry
