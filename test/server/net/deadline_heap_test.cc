// DeadlineHeap as a plain data structure: no socket, no io_context.
#include "server/net/deadline_heap.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <random>
#include <vector>

namespace ttlogin::server {
namespace {

using std::chrono::milliseconds;

struct Item {
  int id = 0;
  DeadlineSlot slot;
};

using Heap = DeadlineHeap<Item, &Item::slot>;

const Clock::time_point kT0 = Clock::time_point{} + std::chrono::hours(1);

Clock::time_point At(int ms) {
  return kT0 + milliseconds(ms);
}

// Pops everything due at `now`, in order.
std::vector<int> PopAll(Heap& heap, Clock::time_point now) {
  std::vector<int> out;
  while (Item* item = heap.PopDue(now))
    out.push_back(item->id);
  return out;
}

TEST(DeadlineHeapTest, PopsInDeadlineOrderAndOnlyWhenDue) {
  std::deque<Item> items;
  Heap heap;
  for (int ms : {50, 10, 40, 30, 20}) {
    items.push_back(Item{ms, {}});
    heap.Set(items.back(), At(ms));
  }
  EXPECT_EQ(heap.size(), 5u);
  EXPECT_EQ(heap.earliest(), At(10));
  EXPECT_EQ(heap.top().id, 10);
  EXPECT_EQ(heap.PopDue(At(9)), nullptr);
  EXPECT_EQ(PopAll(heap, At(30)), (std::vector<int>{10, 20, 30}));
  EXPECT_EQ(PopAll(heap, At(100)), (std::vector<int>{40, 50}));
  EXPECT_TRUE(heap.empty());
  for (const Item& item : items)
    EXPECT_FALSE(item.slot.queued());
}

TEST(DeadlineHeapTest, ReArmEarlierAndLaterMovesTheEntry) {
  Item a{1, {}}, b{2, {}}, c{3, {}};
  Heap heap;
  heap.Set(a, At(10));
  heap.Set(b, At(20));
  heap.Set(c, At(30));
  heap.Set(c, At(5));  // earlier: now first
  EXPECT_EQ(heap.top().id, 3);
  heap.Set(c, At(25));         // later again: between b and where it was
  heap.Set(a, At(40));         // the first one moves to the back
  EXPECT_EQ(heap.size(), 3u);  // re-arming never adds a second entry
  EXPECT_EQ(PopAll(heap, At(100)), (std::vector<int>{2, 3, 1}));
}

TEST(DeadlineHeapTest, RemoveTakesOutAnyEntryAndIsSafeTwice) {
  std::deque<Item> items;
  Heap heap;
  for (int i = 0; i < 7; ++i) {
    items.push_back(Item{i, {}});
    heap.Set(items.back(), At(10 * i));
  }
  heap.Remove(items[0]);  // the top
  heap.Remove(items[6]);  // the last slot of the vector
  heap.Remove(items[3]);  // one in the middle
  heap.Remove(items[3]);  // not queued any more: nothing happens
  EXPECT_FALSE(items[3].slot.queued());
  EXPECT_EQ(heap.size(), 4u);
  EXPECT_EQ(PopAll(heap, At(1000)), (std::vector<int>{1, 2, 4, 5}));
}

TEST(DeadlineHeapTest, EqualDeadlinesAllPopAndClearUnlinksEverything) {
  Item a{1, {}}, b{2, {}}, c{3, {}};
  Heap heap;
  heap.Set(a, At(10));
  heap.Set(b, At(10));
  heap.Set(c, At(10));
  std::vector<int> popped = PopAll(heap, At(10));
  std::sort(popped.begin(), popped.end());
  EXPECT_EQ(popped, (std::vector<int>{1, 2, 3}));

  heap.Set(a, At(1));
  heap.Set(b, At(2));
  heap.Clear();
  EXPECT_TRUE(heap.empty());
  EXPECT_FALSE(a.slot.queued());
  EXPECT_FALSE(b.slot.queued());
  heap.Set(b, At(3));  // usable again after Clear
  EXPECT_EQ(PopAll(heap, At(3)), (std::vector<int>{2}));
}

// Random sets, re-arms, removes and pops against a model (id -> deadline), checking after every
// step that the heap holds exactly the model's items and deadlines, and that pops come in
// deadline order and leave nothing due behind.
TEST(DeadlineHeapTest, ManyEntriesMatchASortedModel) {
  constexpr int kItems = 500;
  constexpr int kSteps = 20000;
  std::vector<Item> items(kItems);
  for (int i = 0; i < kItems; ++i)
    items[static_cast<std::size_t>(i)].id = i;
  Heap heap;
  std::map<int, Clock::time_point> model;
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> pick(0, kItems - 1);
  std::uniform_int_distribution<int> when(0, 100000);
  std::uniform_int_distribution<int> op(0, 9);
  int now_ms = 0;
  for (int step = 0; step < kSteps; ++step) {
    const int o = op(rng);
    Item& item = items[static_cast<std::size_t>(pick(rng))];
    if (o < 6) {
      const Clock::time_point d = At(now_ms + when(rng));
      heap.Set(item, d);
      model[item.id] = d;
    } else if (o < 8) {
      heap.Remove(item);
      model.erase(item.id);
    } else {
      now_ms += when(rng) / 10;
      Clock::time_point last{};
      while (Item* due = heap.PopDue(At(now_ms))) {
        const auto it = model.find(due->id);
        ASSERT_NE(it, model.end()) << "popped an item that is not queued";
        ASSERT_LE(it->second, At(now_ms));
        ASSERT_GE(it->second, last) << "popped out of order";
        last = it->second;
        model.erase(it);
      }
      for (const auto& [id, deadline] : model)
        ASSERT_GT(deadline, At(now_ms)) << "item " << id << " was due but not popped";
    }
    ASSERT_EQ(heap.size(), model.size());
    for (const Item& i : items) {
      ASSERT_EQ(i.slot.queued(), model.count(i.id) == 1);
      if (i.slot.queued()) {
        ASSERT_EQ(i.slot.deadline, model[i.id]);
      }
    }
    if (!model.empty()) {
      const auto earliest =
          std::min_element(model.begin(), model.end(),
                           [](const auto& x, const auto& y) { return x.second < y.second; });
      ASSERT_EQ(heap.earliest(), earliest->second);
    }
  }
}

}  // namespace
}  // namespace ttlogin::server
