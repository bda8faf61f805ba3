// RegistryShard: one shard of the registry: its entries, the indexed heaps that order the eligible
// ones, and the FIFOs of assignment holds and slow start windows.
//
// Not thread-safe by itself: the owner (MsgServerRegistry) holds `mu` around every call and every
// field access; only the published words (best_warm, best_warming, eligible) are read without it.
// Kept apart from the registry so its invariants are tested on their own:
//  - heaps[w] holds exactly the live, eligible entries (cur < max, not draining) whose warming
//    flag is w, each once, and is a binary min-heap on the entries' load keys;
//  - hot[slot].heap_pos is the position of the slot in its heap, or kNotInHeap;
//  - each item's key is LoadKey(routing.policy, cur, held, max) of its entry;
//  - after Publish(), the published words are the heaps' minimum keys and total size.
// The update and choice paths (SetCount, Refresh, Hold, Expire, Publish) are defined here, in
// the header: the build has no LTO, and per-update work must stay inlinable into AdjustCount.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "server/registry/load_key.h"
#include "server/registry/registry_types.h"

namespace ttlogin::registry {

struct RegistryShard {
  static constexpr std::uint32_t kNotInHeap = std::numeric_limits<std::uint32_t>::max();

  // What updates and choices touch, kept compact so a large shard stays in cache.
  struct Hot {
    std::uint32_t cur = 0;
    std::uint32_t max = 0;
    std::uint32_t held = 0;     // provisional users (assignment holds not yet settled or expired)
    std::uint32_t settled = 0;  // holds settled by increments whose records have not expired yet
    std::uint32_t generation = 0;         // 0 while free
    std::uint32_t heap_pos = kNotInHeap;  // position in heaps[warming]
    bool draining = false;
    bool warming = false;
  };
  // What only registration, replies and operators read. info's counts are kept in Hot.
  struct Cold {
    MsgServerInfo info;
    EntryMeta meta;
    std::int64_t since = 0;  // clock ms of the registration (slow start)
    // Restored from a warm start snapshot, its msg_server not registered again yet
    // (MsgServerRegistry::AddProvisional).
    bool provisional = false;
  };
  struct HeapItem {
    std::uint64_t key;
    std::uint32_t slot;
    std::uint32_t generation;  // a copy (it fits the padding): p2c draws need not read Hot
  };
  using Heap = std::vector<HeapItem>;
  struct Record {  // an assignment hold (since = when placed) or a warming entry (since = start)
    std::uint32_t slot;
    std::uint32_t generation;
    std::int64_t since;
  };

  // Written under mu, read lock-free by the choice: the minimum key of each heap, and how many
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

  // --- Entries (registration paths, defined in registry_shard.cc) ---

  // Places a new entry in a free slot and returns the slot. It warms when slow start is on and
  // it registered empty (a msg_server re-registering with its users is no cold process); `clock`
  // is read only then.
  std::uint32_t Insert(MsgServerInfo info, EntryMeta meta, bool draining, const Clock& clock);
  // Replaces a live entry's info (a second IMMsgServInfo) and warning; `draining` as judged by
  // its new names.
  void Update(std::uint32_t slot, MsgServerInfo info, std::string warning, bool draining);
  // Frees a live entry's slot; its hold and warming records go stale with its generation.
  void Erase(std::uint32_t slot);
  // The entry's info with the counts it has now.
  MsgServerInfo InfoOf(std::uint32_t slot) const;
  // Applies new routing options: holds and warmings switched off end, windows that shrank run
  // out, and a new policy or hold window re-keys every entry.
  void SetRouting(const RoutingOptions& options, const Clock& clock);

  // --- Counts and flags (update and choice paths) ---

  // Sets a live entry's count. An increment reports a user the msg_server really has, so up to
  // `increments` of the entry's holds are settled (the oldest records then expire uncounted).
  void SetCount(std::uint32_t slot, std::uint32_t count, std::uint64_t increments) {
    Hot& h = hot[slot];
    if (increments > 0 && h.held > 0) {
      const auto settle = static_cast<std::uint32_t>(std::min<std::uint64_t>(increments, h.held));
      h.held -= settle;
      h.settled += settle;
    }
    h.cur = count;
    Refresh(slot);
    Publish();
  }

  // Counts a login handed to a live entry as its provisional user for the hold window, when
  // holds are on and the shard has room for one more (the bound keeps memory flat under a flood).
  void Hold(std::uint32_t slot, const Clock& clock) {
    if (routing.assignment_hold_ms <= 0 || holds.size() >= kMaxHoldsPerShard) return;
    Hot& h = hot[slot];
    ++h.held;  // at most kMaxHoldsPerShard: cannot overflow
    holds.push_back(Record{slot, h.generation, NowMs(clock)});
    Refresh(slot);
    Publish();
  }

  // Sets a live entry's draining flag; true when it changed (the caller publishes).
  bool SetDraining(std::uint32_t slot, bool draining) {
    if (hot[slot].draining == draining) return false;
    hot[slot].draining = draining;
    Refresh(slot);
    return true;
  }

  void SetWarming(std::uint32_t slot, bool warming) {
    if (hot[slot].warming == warming) return;
    Unheap(slot);
    hot[slot].warming = warming;
    Refresh(slot);
  }

  bool HasTimedState() const { return !holds.empty() || !warmings.empty(); }

  // Ends the holds and slow start windows that ran out by `now` (the caller publishes).
  void Expire(std::int64_t now) {
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

  // Expire() and Publish() when the shard has holds or warmings; the clock is read only then.
  void ExpireDue(const Clock& clock) {
    if (!HasTimedState()) return;
    Expire(NowMs(clock));
    Publish();
  }

  void Publish() {
    best_warm.store(heaps[0].empty() ? kNoCandidate : heaps[0][0].key, std::memory_order_release);
    best_warming.store(heaps[1].empty() ? kNoCandidate : heaps[1][0].key,
                       std::memory_order_release);
    eligible.store(static_cast<std::uint32_t>(heaps[0].size() + heaps[1].size()),
                   std::memory_order_release);
  }

  // --- The indexed heaps ---

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
    if (h.heap_pos == kNotInHeap) {
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

  void Unheap(std::uint32_t slot) {
    Hot& h = hot[slot];
    if (h.heap_pos == kNotInHeap) return;
    Heap& heap = heaps[h.warming ? 1 : 0];
    const std::size_t pos = h.heap_pos;
    h.heap_pos = kNotInHeap;
    const HeapItem last = heap.back();
    heap.pop_back();
    if (pos == heap.size()) return;
    Put(heap, pos, last);
    SiftDown(heap, pos);
    SiftUp(heap, hot[last.slot].heap_pos);
  }

  // Empties both heaps; Refresh() of every slot then rebuilds them (a re-key).
  void ClearHeaps() {
    for (Heap& heap : heaps) {
      for (const HeapItem& item : heap)
        hot[item.slot].heap_pos = kNotInHeap;
      heap.clear();
    }
  }

 private:
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
};

}  // namespace ttlogin::registry
