// Helpers shared by the registry's tests: a numbered msg_server and a random-operation driver
// checked against a brute-force model.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "server/registry/msg_server_registry.h"

namespace ttlogin::registry::testing_support {

// msg_server number `port`: ip1 10.0.0.<port % 250>, ip2 10.1.0.<port % 250>, host "h<port>".
inline MsgServerInfo NumberedInfo(std::uint32_t port, std::uint32_t cur, std::uint32_t max) {
  return MsgServerInfo{"10.0.0." + std::to_string(port % 250),
                       "10.1.0." + std::to_string(port % 250),
                       port,
                       max,
                       cur,
                       "h" + std::to_string(port)};
}

// A policy's load order on (cur, max) pairs: < 0 when a is less loaded than b, 0 when they tie.
using LoadOrder = std::function<int(std::uint32_t cur_a, std::uint32_t max_a, std::uint32_t cur_b,
                                    std::uint32_t max_b)>;

struct RandomRun {
  std::uint32_t seed = 1;
  int steps = 20000;
  std::uint32_t max_below = 20;  // registered max_conn_cnt in [0, max_below)
  std::uint32_t cur_below = 25;  // registered cur_conn_cnt in [0, cur_below)
};

// Random steps on `r`: register (1 in 10, or when empty), remove (1 in 10), else one user more or
// less on a random entry. After each step, AdjustCount's count and Choose() are checked against a
// brute-force model: the answer must tie the model's least loaded eligible entry under `order`,
// or be the right refusal. At the end the totals must match. Use with ASSERT_NO_FATAL_FAILURE.
inline void RunRandomOperationsAgainstAModel(MsgServerRegistry& r, const RandomRun& run,
                                             const LoadOrder& order) {
  struct Model {
    ServerHandle handle;
    std::uint32_t cur;
    std::uint32_t max;
  };
  std::mt19937 rng(run.seed);
  std::vector<Model> live;
  for (int step = 0; step < run.steps; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op == 0 || live.empty()) {
      const std::uint32_t max = rng() % run.max_below;
      const std::uint32_t cur = rng() % run.cur_below;
      const auto port = static_cast<std::uint32_t>(step);
      live.push_back({r.Register(NumberedInfo(port, cur, max)), cur, max});
      ASSERT_TRUE(live.back().handle.valid()) << step;
    } else if (op == 1) {
      const std::size_t i = rng() % live.size();
      ASSERT_TRUE(r.Remove(live[i].handle)) << step;
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      Model& m = live[rng() % live.size()];
      const std::int64_t delta = (rng() % 2 == 0) ? 1 : -1;
      const auto adjusted = r.AdjustCount(m.handle, delta);
      ASSERT_TRUE(adjusted) << step;
      m.cur = static_cast<std::uint32_t>(std::max<std::int64_t>(0, m.cur + delta));
      ASSERT_EQ(adjusted->count, m.cur) << step;
    }
    const Model* best = nullptr;
    for (const Model& m : live) {
      if (m.cur >= m.max) continue;
      if (best == nullptr || order(m.cur, m.max, best->cur, best->max) < 0) best = &m;
    }
    const Choice c = r.Choose();
    if (live.empty()) {
      ASSERT_EQ(c.code, ChooseCode::kNoMsgServer) << step;
    } else if (best == nullptr) {
      ASSERT_EQ(c.code, ChooseCode::kAllFull) << step;
    } else {
      ASSERT_EQ(c.code, ChooseCode::kOk) << step;
      const auto info = r.Get(c.handle);
      ASSERT_TRUE(info) << step;
      ASSERT_LT(info->cur_conn_cnt, info->max_conn_cnt) << step;
      ASSERT_EQ(order(info->cur_conn_cnt, info->max_conn_cnt, best->cur, best->max), 0)
          << step << ": answered " << info->cur_conn_cnt << "/" << info->max_conn_cnt
          << ", the model's best is " << best->cur << "/" << best->max;
    }
  }
  std::uint64_t users = 0;
  for (const Model& m : live)
    users += m.cur;
  EXPECT_EQ(r.Stats().users, users);
  EXPECT_EQ(r.Stats().registered, live.size());
}

}  // namespace ttlogin::registry::testing_support
