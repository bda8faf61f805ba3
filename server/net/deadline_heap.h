// DeadlineHeap: a binary min-heap of elements keyed by a deadline, each element keeping its own
// place (DeadlineSlot) so that moving or removing it needs no search.
//
// Why a heap and not a timing wheel: a loop's connections re-arm rarely (once per timeout period,
// never per PDU or request), and their deadlines come from several timeouts of very different
// lengths (HTTP request, idle, heartbeat, msg_server silence), which a wheel of one granularity
// serves badly. Setting, moving or removing a deadline costs O(log n) and never allocates once the
// heap's vector has reached its high-water mark. Not thread-safe: one loop owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace ttlogin::server {

using Clock = std::chrono::steady_clock;

// An element's deadline and its position in the heap. Only the heap writes it.
struct DeadlineSlot {
  static constexpr std::uint32_t kNotQueued = std::numeric_limits<std::uint32_t>::max();
  Clock::time_point deadline{};
  std::uint32_t index = kNotQueued;  // position in the heap's vector, or kNotQueued
  bool queued() const { return index != kNotQueued; }
};

// T is the element type and Slot the member where it keeps its place. Elements are held by
// pointer: an element must be removed before it is destroyed.
template <typename T, DeadlineSlot T::*Slot>
class DeadlineHeap {
 public:
  // Inserts `item`, or moves it when it is already queued.
  void Set(T& item, Clock::time_point deadline) {
    DeadlineSlot& slot = item.*Slot;
    slot.deadline = deadline;
    if (!slot.queued()) {
      slot.index = static_cast<std::uint32_t>(heap_.size());
      heap_.push_back(&item);
      SiftUp(slot.index);
    } else if (!SiftUp(slot.index)) {
      SiftDown(slot.index);
    }
  }

  // Takes `item` out; nothing happens when it is not queued.
  void Remove(T& item) {
    DeadlineSlot& slot = item.*Slot;
    const std::uint32_t i = slot.index;
    if (i == DeadlineSlot::kNotQueued) return;
    slot.index = DeadlineSlot::kNotQueued;
    T* last = heap_.back();
    heap_.pop_back();
    if (last == &item) return;
    heap_[i] = last;
    (last->*Slot).index = i;
    if (!SiftUp(i)) SiftDown(i);
  }

  // Removes and returns the element with the earliest deadline when that deadline is at or before
  // `now`; nullptr otherwise.
  T* PopDue(Clock::time_point now) {
    if (heap_.empty() || now < Deadline(0)) return nullptr;
    T* item = heap_.front();
    Remove(*item);
    return item;
  }

  // Takes every element out (their slots say "not queued"); the vector keeps its capacity.
  void Clear() {
    for (T* item : heap_)
      (item->*Slot).index = DeadlineSlot::kNotQueued;
    heap_.clear();
  }

  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  // The element with the earliest deadline; the heap must not be empty.
  T& top() const { return *heap_.front(); }
  Clock::time_point earliest() const { return Deadline(0); }

 private:
  Clock::time_point Deadline(std::uint32_t i) const { return (heap_[i]->*Slot).deadline; }

  // Returns whether the element moved.
  bool SiftUp(std::uint32_t i) {
    bool moved = false;
    while (i > 0) {
      const std::uint32_t parent = (i - 1) / 2;
      if (!(Deadline(i) < Deadline(parent))) break;
      Swap(i, parent);
      i = parent;
      moved = true;
    }
    return moved;
  }

  void SiftDown(std::uint32_t i) {
    const auto n = static_cast<std::uint32_t>(heap_.size());
    for (;;) {
      const std::uint32_t left = 2 * i + 1;
      if (left >= n) return;
      std::uint32_t least = left;
      if (left + 1 < n && Deadline(left + 1) < Deadline(left)) least = left + 1;
      if (!(Deadline(least) < Deadline(i))) return;
      Swap(i, least);
      i = least;
    }
  }

  void Swap(std::uint32_t a, std::uint32_t b) {
    std::swap(heap_[a], heap_[b]);
    (heap_[a]->*Slot).index = a;
    (heap_[b]->*Slot).index = b;
  }

  std::vector<T*> heap_;
};

}  // namespace ttlogin::server
