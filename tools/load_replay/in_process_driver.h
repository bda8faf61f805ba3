// InProcessDriver: replays straight into a MsgServerRegistry, with no sockets.
//
// It plays the part of the server's msg_server connections (first IMMsgServInfo registers, a later
// one replaces, updates before it are ignored, a close removes) so that the registry and the choice
// rule are checked at memory speed, and at the end compares the whole registry with the model.
#pragma once

#include <memory>
#include <vector>

#include "server/registry/msg_server_registry.h"
#include "tools/load_replay/replay_driver.h"

namespace ttlogin::tools::replay {

// Where the registry's injected clock starts: trace time 0 maps to this many ms, so the registry
// never sees the small clock values a real steady_clock does not produce either.
inline constexpr std::int64_t kInProcessClockOrigin = 1'000'000'000;

class InProcessDriver : public ReplayDriver {
 public:
  explicit InProcessDriver(
      std::size_t shard_count = registry::MsgServerRegistry::kDefaultShardCount);
  // Routed: the registry applies `routing`, reads the trace time as its clock, and lists `extra`
  // candidates with each answer; `seed` seeds this thread's random source (p2c, slow start).
  InProcessDriver(const registry::RoutingOptions& routing, std::size_t extra, std::uint64_t seed,
                  std::size_t shard_count = registry::MsgServerRegistry::kDefaultShardCount);

  std::string Describe() const override { return "the in-process registry"; }
  std::string Send(const Event& event, const ServerInfo* info) override;
  // Moves the registry's clock and, when it moved, ends what ran out (Expire()): the server's
  // 100 ms timer at its finest, so that the registry's answers are exact in trace time.
  void SetTime(std::int64_t t_ms) override;
  std::string Flush() override { return {}; }
  std::string Query(QueryVia via, ServerAnswer& answer) override;
  bool eventually_consistent() const override { return false; }
  DriverNotes Finish(const ChoiceModel& model, const Trace& trace) override;

  registry::MsgServerRegistry& registry() { return *registry_; }

 private:
  std::int64_t now_ms_ = kInProcessClockOrigin;  // read by the registry's clock
  std::size_t extra_ = 0;
  std::unique_ptr<registry::MsgServerRegistry> registry_;
  std::vector<registry::ServerHandle> handles_;  // by MsId; invalid = not registered
};

}  // namespace ttlogin::tools::replay
