#include "server/registry/choice.h"

#include <algorithm>
#include <random>
#include <utility>
#include <vector>

#include "common/splitmix.h"
#include "server/registry/msg_server_registry.h"

namespace ttlogin::registry {
namespace {

constexpr std::uint64_t kPpm = 1'000'000;

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

// Hands the login to the shard's live, eligible entry at `slot`; mu held.
void Take(RegistryShard& shard, std::size_t shard_index, std::uint32_t slot, const Clock& clock,
          bool assign, Choice& choice) {
  const MsgServerInfo& info = shard.cold[slot].info;
  choice.code = ChooseCode::kOk;
  choice.ip1 = info.ip1;
  choice.ip2 = info.ip2;
  choice.port = info.port;
  choice.handle =
      ServerHandle{static_cast<std::uint32_t>(shard_index), slot, shard.hot[slot].generation};
  if (assign) shard.Hold(slot, clock);
}

// Positions of the `k` smallest keys of `heap`, smallest first: a frontier walk from the root.
template <typename Visit>
void VisitSmallest(const RegistryShard::Heap& heap, std::size_t k, Visit visit) {
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

// One p2c draw: where the entry is, its key when drawn, and its slow start chance.
struct Sample {
  std::size_t shard = 0;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
  std::uint64_t key = 0;
  std::uint64_t chance = kPpm;
};

// Draws an eligible entry uniformly: a shard in proportion to its eligible count, then one of its
// heap positions (the heaps are dense arrays of exactly the eligible entries).
bool Draw(std::span<RegistryShard> shards, const Clock& clock, Sample& sample) {
  std::uint64_t total = 0;
  for (const RegistryShard& shard : shards) {
    total += shard.eligible.load(std::memory_order_acquire);
  }
  if (total == 0) return false;
  std::uint64_t pick = RandomBelow(total);
  std::size_t index = shards.size() - 1;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::uint64_t n = shards[i].eligible.load(std::memory_order_acquire);
    if (pick < n) {
      index = i;
      break;
    }
    pick -= n;
  }
  RegistryShard& shard = shards[index];
  std::lock_guard lock(shard.mu);
  std::int64_t now = 0;
  if (shard.HasTimedState()) {
    now = NowMs(clock);
    shard.Expire(now);
    shard.Publish();
  }
  const std::size_t warm = shard.heaps[0].size();
  const std::size_t n = warm + shard.heaps[1].size();
  if (n == 0) return false;
  const std::size_t pos = RandomBelow(n);
  const RegistryShard::HeapItem item =
      pos < warm ? shard.heaps[0][pos] : shard.heaps[1][pos - warm];
  sample = Sample{index, item.slot, item.generation, item.key, kPpm};
  if (pos >= warm) {  // drawn from the warming heap
    sample.chance = SlowStartChancePpm(shard.routing, now - shard.cold[item.slot].since);
  }
  return true;
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

bool AnyEligible(std::span<const RegistryShard> shards) {
  for (const RegistryShard& shard : shards) {
    if (shard.eligible.load(std::memory_order_acquire) != 0) return true;
  }
  return false;
}

bool ChooseLeastKey(std::span<RegistryShard> shards, bool slow_start, const Clock& clock,
                    bool assign, Choice& choice) {
  const std::size_t count = shards.size();
  // A shard's minimum can change between the lock-free scan and taking its lock; then scan again.
  // After a few rounds under heavy churn, settle for whatever the chosen shard holds.
  constexpr int kScanRounds = 4;
  for (int round = 0; round < kScanRounds; ++round) {
    std::uint64_t warm_key = kNoCandidate;
    std::uint64_t warming_key = kNoCandidate;
    std::size_t warm_shard = count;
    std::size_t warming_shard = count;
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint64_t w = shards[i].best_warm.load(std::memory_order_acquire);
      if (w < warm_key) {
        warm_key = w;
        warm_shard = i;
      }
      if (!slow_start) continue;
      const std::uint64_t g = shards[i].best_warming.load(std::memory_order_acquire);
      if (g < warming_key) {
        warming_key = g;
        warming_shard = i;
      }
    }
    if (warm_shard == count && warming_shard == count) return false;

    if (warming_shard != count && (warm_shard == count || warming_key < warm_key)) {
      // A warming entry would win: it gets the login only with its slow start chance.
      RegistryShard& shard = shards[warming_shard];
      std::lock_guard lock(shard.mu);
      const std::int64_t now = NowMs(clock);
      shard.Expire(now);
      shard.Publish();
      if (shard.heaps[1].empty()) continue;
      const std::uint32_t slot = shard.heaps[1][0].slot;
      const std::uint64_t chance = SlowStartChancePpm(shard.routing, now - shard.cold[slot].since);
      if (warm_shard == count || RandomBelow(kPpm) < chance) {
        Take(shard, warming_shard, slot, clock, assign, choice);
        return true;
      }
    }
    if (warm_shard == count) continue;
    RegistryShard& shard = shards[warm_shard];
    std::lock_guard lock(shard.mu);
    shard.ExpireDue(clock);
    if (shard.heaps[0].empty()) continue;
    Take(shard, warm_shard, shard.heaps[0][0].slot, clock, assign, choice);
    return true;
  }
  // Every round lost a race: take the minimum shard by shard (rare, still O(shards)); slow start
  // chances are skipped here.
  std::uint64_t best_key = kNoCandidate;
  std::size_t best_shard = count;
  for (std::size_t i = 0; i < count; ++i) {
    RegistryShard& shard = shards[i];
    std::lock_guard lock(shard.mu);
    for (const RegistryShard::Heap& heap : shard.heaps) {
      if (!heap.empty() && heap[0].key < best_key) {
        best_key = heap[0].key;
        best_shard = i;
      }
    }
  }
  if (best_shard == count) return false;
  RegistryShard& shard = shards[best_shard];
  std::lock_guard lock(shard.mu);
  const RegistryShard::Heap* heap = nullptr;
  for (const RegistryShard::Heap& h : shard.heaps) {
    if (!h.empty() && (heap == nullptr || h[0].key < (*heap)[0].key)) heap = &h;
  }
  if (heap == nullptr) return false;
  Take(shard, best_shard, (*heap)[0].slot, clock, assign, choice);
  return true;
}

bool ChooseP2c(std::span<RegistryShard> shards, bool slow_start, const Clock& clock, bool assign,
               Choice& choice) {
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    Sample a;
    Sample b;
    const bool have_a = Draw(shards, clock, a);
    const bool have_b = Draw(shards, clock, b);
    if (!have_a && !have_b) {
      if (!AnyEligible(shards)) return false;
      continue;
    }
    if (!have_a) a = b;
    if (!have_b) b = a;
    const Sample* pick = b.key < a.key ? &b : &a;
    const Sample* other = pick == &a ? &b : &a;
    if (pick->chance < kPpm && RandomBelow(kPpm) >= pick->chance) std::swap(pick, other);
    RegistryShard& shard = shards[pick->shard];
    std::lock_guard lock(shard.mu);
    const ServerHandle handle{static_cast<std::uint32_t>(pick->shard), pick->slot,
                              pick->generation};
    if (!shard.Live(handle) || shard.hot[pick->slot].heap_pos == RegistryShard::kNotInHeap) {
      continue;  // raced with an update that made it ineligible
    }
    Take(shard, pick->shard, pick->slot, clock, assign, choice);
    return true;
  }
  return ChooseLeastKey(shards, slow_start, clock, assign, choice);
}

void ListCandidates(std::span<const RegistryShard> shards, std::size_t extra, Choice& choice) {
  extra = std::min(extra, kMaxExtraCandidates);
  struct Found {
    std::uint64_t key;
    ServerHandle handle;
    Candidate candidate;
  };
  const std::size_t want = extra + 1;  // the chosen entry may be among them
  // Shards in order of their smallest key; a shard can only contribute while its smallest key is
  // below the want-th key found so far, so few shards are locked.
  std::vector<std::pair<std::uint64_t, std::size_t>> order;
  order.reserve(shards.size());
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::uint64_t k = std::min(shards[i].best_warm.load(std::memory_order_acquire),
                                     shards[i].best_warming.load(std::memory_order_acquire));
    if (k != kNoCandidate) order.emplace_back(k, i);
  }
  std::sort(order.begin(), order.end());
  std::vector<Found> found;
  for (const auto& entry : order) {
    const std::uint64_t shard_key = entry.first;
    const std::size_t index = entry.second;  // not a structured binding: lambdas capture it below
    if (found.size() >= want && shard_key >= found[want - 1].key) break;
    const RegistryShard& shard = shards[index];
    std::lock_guard lock(shard.mu);
    for (const RegistryShard::Heap& heap : shard.heaps) {
      VisitSmallest(heap, want, [&](const RegistryShard::HeapItem& item) {
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

}  // namespace ttlogin::registry
