#include "server/registry/registry_shard.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace ttlogin::registry {
namespace {

MsgServerInfo Info(std::uint32_t port, std::uint32_t cur, std::uint32_t max) {
  return MsgServerInfo{"10.0.0.1", "10.0.1.1", port, max, cur, "h" + std::to_string(port)};
}

// What the shard should hold for one slot, kept per entry (the shard keeps one FIFO of hold
// records for all entries, with generations to skip stale ones).
struct ModelEntry {
  bool live = false;
  std::uint32_t generation = 0;
  std::uint32_t cur = 0;
  std::uint32_t max = 0;
  bool draining = false;
  bool warming = false;
  std::int64_t since = 0;
  std::deque<std::int64_t> hold_times;  // this entry's hold records, oldest first
  std::uint32_t held = 0;
  std::uint32_t settled = 0;
};

struct Model {
  RoutingOptions routing;
  std::vector<ModelEntry> slots;
  std::size_t hold_records = 0;  // of all entries, removed ones too: bounded per shard

  std::size_t Live() const {
    std::size_t n = 0;
    for (const ModelEntry& e : slots)
      n += e.live ? 1 : 0;
    return n;
  }
};

// The heaps are min-heaps on the entries' keys, hold exactly the live eligible entries (warm in
// heaps[0], warming in heaps[1]) and agree with heap_pos; the published words match the heaps;
// each slot's state matches the model.
void ExpectConsistent(const RegistryShard& shard, const Model& model) {
  ASSERT_EQ(shard.hot.size(), model.slots.size());
  ASSERT_EQ(shard.registered, model.Live());
  std::set<std::uint32_t> in_heap[2];
  for (int w = 0; w < 2; ++w) {
    const RegistryShard::Heap& heap = shard.heaps[w];
    for (std::size_t pos = 0; pos < heap.size(); ++pos) {
      const RegistryShard::HeapItem& item = heap[pos];
      ASSERT_LT(item.slot, shard.hot.size());
      const RegistryShard::Hot& h = shard.hot[item.slot];
      ASSERT_EQ(h.heap_pos, pos) << "slot " << item.slot;
      ASSERT_EQ(item.generation, h.generation);
      ASSERT_EQ(item.key, LoadKey(model.routing.policy, h.cur, h.held, h.max));
      if (pos > 0) {
        ASSERT_LE(heap[(pos - 1) / 2].key, item.key) << "heap order at " << pos;
      }
      ASSERT_TRUE(in_heap[w].insert(item.slot).second) << "slot twice in a heap";
    }
  }
  for (std::uint32_t slot = 0; slot < model.slots.size(); ++slot) {
    const ModelEntry& e = model.slots[slot];
    const RegistryShard::Hot& h = shard.hot[slot];
    if (!e.live) {
      ASSERT_EQ(h.generation, 0u) << slot;
      ASSERT_EQ(h.heap_pos, RegistryShard::kNotInHeap) << slot;
      continue;
    }
    ASSERT_EQ(h.generation, e.generation) << slot;
    ASSERT_EQ(h.cur, e.cur) << slot;
    ASSERT_EQ(h.max, e.max) << slot;
    ASSERT_EQ(h.draining, e.draining) << slot;
    ASSERT_EQ(h.warming, e.warming) << slot;
    ASSERT_EQ(h.held, e.held) << slot;
    ASSERT_EQ(h.settled, e.settled) << slot;
    const bool eligible = e.cur < e.max && !e.draining;
    for (int w = 0; w < 2; ++w) {
      ASSERT_EQ(in_heap[w].count(slot) != 0, eligible && e.warming == (w == 1)) << slot;
    }
  }
  const auto top = [&shard](int w) {
    return shard.heaps[w].empty() ? kNoCandidate : shard.heaps[w][0].key;
  };
  ASSERT_EQ(shard.best_warm.load(), top(0));
  ASSERT_EQ(shard.best_warming.load(), top(1));
  ASSERT_EQ(shard.eligible.load(), shard.heaps[0].size() + shard.heaps[1].size());
}

// The model's Expire: each entry's due records settle first what increments settled, then held.
void ModelExpire(Model& model, std::int64_t now) {
  for (ModelEntry& e : model.slots) {
    while (!e.hold_times.empty() &&
           e.hold_times.front() + model.routing.assignment_hold_ms <= now) {
      e.hold_times.pop_front();
      if (e.settled > 0) {
        --e.settled;
      } else if (e.held > 0) {
        --e.held;
      }
    }
    if (e.warming && e.since + model.routing.slow_start_ms <= now) e.warming = false;
  }
}

TEST(RegistryShardTest, RandomOperationsKeepTheHeapsTrueToAModel) {
  for (std::uint32_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    std::int64_t now = 1000;
    const Clock clock = [&now] { return now; };
    RegistryShard shard;
    Model model;
    // Removed entries' records stay in the shard's FIFO until they expire; count them apart.
    std::deque<std::int64_t> all_hold_times;
    // What the run exercised, so it cannot pass by never reaching holds, warmings or depth.
    std::size_t holds_placed = 0;
    std::size_t warming_inserts = 0;
    std::size_t deepest_heap = 0;
    const auto pick_live = [&]() -> int {
      if (model.Live() == 0) return -1;
      for (;;) {
        const auto slot = static_cast<std::uint32_t>(rng() % model.slots.size());
        if (model.slots[slot].live) return static_cast<int>(slot);
      }
    };
    for (int step = 0; step < 6000; ++step) {
      const unsigned op = rng() % 100;
      const int slot = pick_live();
      if (op < 14 || slot < 0) {
        const std::uint32_t max = rng() % 12;
        const std::uint32_t cur = rng() % 3 == 0 ? 0 : rng() % 14;
        const bool draining = rng() % 8 == 0;
        const std::uint32_t s = shard.Insert(Info(step, cur, max), {}, draining, clock);
        if (s >= model.slots.size()) model.slots.resize(s + 1);
        ModelEntry& e = model.slots[s];
        ASSERT_FALSE(e.live) << "a live slot was reused";
        e = ModelEntry{};
        e.live = true;
        e.generation = shard.hot[s].generation;
        e.cur = cur;
        e.max = max;
        e.draining = draining;
        e.warming = model.routing.slow_start_ms > 0 && cur == 0;
        e.since = now;
        if (e.warming) ++warming_inserts;
      } else if (op < 22) {
        shard.Erase(static_cast<std::uint32_t>(slot));
        model.slots[slot] = ModelEntry{};
      } else if (op < 60) {
        ModelEntry& e = model.slots[slot];
        // Mostly +1/-1 as msg_servers report them, sometimes a jump or a summed run.
        std::uint32_t count = e.cur;
        std::uint64_t increments = 0;
        const unsigned kind = rng() % 10;
        if (kind < 5) {
          ++count;
          increments = 1;
        } else if (kind < 9) {
          count = count > 0 ? count - 1 : 0;
        } else {
          count = rng() % 14;
          increments = rng() % 4;
        }
        shard.SetCount(static_cast<std::uint32_t>(slot), count, increments);
        const std::uint32_t settle =
            static_cast<std::uint32_t>(std::min<std::uint64_t>(increments, e.held));
        e.held -= settle;
        e.settled += settle;
        e.cur = count;
      } else if (op < 68) {
        const bool draining = rng() % 2 == 0;
        shard.SetDraining(static_cast<std::uint32_t>(slot), draining);
        shard.Publish();
        model.slots[slot].draining = draining;
      } else if (op < 84) {
        ModelEntry& e = model.slots[slot];
        shard.Hold(static_cast<std::uint32_t>(slot), clock);
        if (model.routing.assignment_hold_ms > 0 && all_hold_times.size() < kMaxHoldsPerShard) {
          e.hold_times.push_back(now);
          ++e.held;
          ++holds_placed;
          all_hold_times.push_back(now);
        }
      } else if (op < 96) {
        now += static_cast<std::int64_t>(rng() % 60);
        shard.Expire(now);
        shard.Publish();
        ModelExpire(model, now);
        while (!all_hold_times.empty() &&
               all_hold_times.front() + model.routing.assignment_hold_ms <= now) {
          all_hold_times.pop_front();
        }
      } else {
        RoutingOptions options;
        options.policy = static_cast<Policy>(rng() % 3);
        options.assignment_hold_ms = static_cast<std::int64_t>(rng() % 3) * 100;
        options.slow_start_ms = static_cast<std::int64_t>(rng() % 3) * 150;
        shard.SetRouting(options, clock);
        model.routing = options;
        if (options.assignment_hold_ms <= 0) {
          all_hold_times.clear();
          for (ModelEntry& e : model.slots) {
            e.hold_times.clear();
            e.held = e.settled = 0;
          }
        }
        if (options.slow_start_ms <= 0) {
          for (ModelEntry& e : model.slots)
            e.warming = false;
        }
        ModelExpire(model, now);
        while (!all_hold_times.empty() &&
               all_hold_times.front() + model.routing.assignment_hold_ms <= now) {
          all_hold_times.pop_front();
        }
      }
      ASSERT_NO_FATAL_FAILURE(ExpectConsistent(shard, model)) << "step " << step << " op " << op;
      deepest_heap = std::max({deepest_heap, shard.heaps[0].size(), shard.heaps[1].size()});
    }
    EXPECT_GT(holds_placed, 300u);
    EXPECT_GT(warming_inserts, 100u);
    EXPECT_GT(deepest_heap, 60u);
  }
}

TEST(RegistryShardTest, AnIncrementSettlesTheOldestHoldWhoseRecordThenExpiresUncounted) {
  std::int64_t now = 0;
  const Clock clock = [&now] { return now; };
  RegistryShard shard;
  shard.SetRouting(RoutingOptions{.assignment_hold_ms = 100}, clock);
  const std::uint32_t slot = shard.Insert(Info(1, 5, 100), {}, false, clock);
  shard.Hold(slot, clock);
  now = 10;
  shard.Hold(slot, clock);
  EXPECT_EQ(shard.hot[slot].held, 2u);
  EXPECT_EQ(shard.heaps[0][0].key, 7u);  // 5 users and 2 provisional ones
  shard.SetCount(slot, 6, 1);            // the first held login arrived
  EXPECT_EQ(shard.hot[slot].held, 1u);
  EXPECT_EQ(shard.heaps[0][0].key, 7u);
  now = 100;  // the first record runs out: it was settled, so held stays
  shard.Expire(now);
  EXPECT_EQ(shard.hot[slot].held, 1u);
  EXPECT_EQ(shard.hot[slot].settled, 0u);
  now = 110;  // the second runs out unsettled: that login never arrived
  shard.Expire(now);
  shard.Publish();
  EXPECT_EQ(shard.hot[slot].held, 0u);
  EXPECT_EQ(shard.best_warm.load(), 6u);
}

TEST(RegistryShardTest, AHoldOfARemovedEntryDoesNotTouchTheEntryReusingItsSlot) {
  std::int64_t now = 0;
  const Clock clock = [&now] { return now; };
  RegistryShard shard;
  shard.SetRouting(RoutingOptions{.assignment_hold_ms = 100}, clock);
  const std::uint32_t old_slot = shard.Insert(Info(1, 0, 10), {}, false, clock);
  shard.Hold(old_slot, clock);
  const std::uint32_t old_generation = shard.hot[old_slot].generation;
  shard.Erase(old_slot);
  now = 50;
  const std::uint32_t slot = shard.Insert(Info(2, 0, 10), {}, false, clock);
  ASSERT_EQ(slot, old_slot);
  ASSERT_NE(shard.hot[slot].generation, old_generation);
  shard.Hold(slot, clock);
  now = 100;  // the removed entry's record runs out
  shard.Expire(now);
  EXPECT_EQ(shard.hot[slot].held, 1u);
  now = 150;
  shard.Expire(now);
  EXPECT_EQ(shard.hot[slot].held, 0u);
}

TEST(RegistryShardTest, AnEntryRegisteredEmptyWarmsInTheSecondHeapForTheWindow) {
  std::int64_t now = 0;
  const Clock clock = [&now] { return now; };
  RegistryShard shard;
  shard.SetRouting(RoutingOptions{.slow_start_ms = 1000}, clock);
  const std::uint32_t cold = shard.Insert(Info(1, 0, 10), {}, false, clock);
  const std::uint32_t busy = shard.Insert(Info(2, 4, 10), {}, false, clock);
  EXPECT_TRUE(shard.hot[cold].warming);
  EXPECT_FALSE(shard.hot[busy].warming);  // registered with users: no cold process
  EXPECT_EQ(shard.best_warming.load(), 0u);
  EXPECT_EQ(shard.best_warm.load(), 4u);
  now = 999;
  shard.Expire(now);
  EXPECT_TRUE(shard.hot[cold].warming);
  now = 1000;
  shard.Expire(now);
  shard.Publish();
  EXPECT_FALSE(shard.hot[cold].warming);
  EXPECT_EQ(shard.best_warming.load(), kNoCandidate);
  EXPECT_EQ(shard.best_warm.load(), 0u);
}

}  // namespace
}  // namespace ttlogin::registry
