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

class InProcessDriver : public ReplayDriver {
 public:
  explicit InProcessDriver(
      std::size_t shard_count = registry::MsgServerRegistry::kDefaultShardCount);

  std::string Describe() const override { return "the in-process registry"; }
  std::string Send(const Event& event, const ServerInfo* info) override;
  std::string Flush() override { return {}; }
  std::string Query(QueryVia via, ServerAnswer& answer) override;
  bool eventually_consistent() const override { return false; }
  DriverNotes Finish(const ChoiceModel& model, const Trace& trace) override;

  registry::MsgServerRegistry& registry() { return *registry_; }

 private:
  std::unique_ptr<registry::MsgServerRegistry> registry_;
  std::vector<registry::ServerHandle> handles_;  // by MsId; invalid = not registered
};

}  // namespace ttlogin::tools::replay
