#include "tools/load_replay/in_process_driver.h"

#include <map>
#include <tuple>

#include <fmt/format.h>

namespace ttlogin::tools::replay {

InProcessDriver::InProcessDriver(std::size_t shard_count)
    : registry_(std::make_unique<registry::MsgServerRegistry>(shard_count, 0,
                                                              [this] { return now_ms_; })) {}

InProcessDriver::InProcessDriver(const registry::RoutingOptions& routing, std::size_t extra,
                                 std::uint64_t seed, std::size_t shard_count)
    : InProcessDriver(shard_count) {
  extra_ = extra;
  registry::SeedThreadRandom(seed);
  registry_->SetRouting(routing);
}

void InProcessDriver::SetTime(std::int64_t t_ms) {
  const std::int64_t now = kInProcessClockOrigin + t_ms;
  if (now == now_ms_) return;
  now_ms_ = now;
  registry_->Expire();
}

std::string InProcessDriver::Send(const Event& event, const ServerInfo* info) {
  if (event.ms >= handles_.size()) handles_.resize(event.ms + 1);
  registry::ServerHandle& handle = handles_[event.ms];
  switch (event.kind) {
    case EventKind::kRegister: {
      registry::MsgServerInfo r{info->ip1, info->ip2, info->port, info->max, info->cur, info->host};
      if (handle.valid()) {
        registry_->Replace(handle, std::move(r));
      } else {
        handle = registry_->Register(std::move(r));
      }
      break;
    }
    case EventKind::kInc:
    case EventKind::kDec:
      // One AdjustCount per PDU, as the server does: the registry is exercised at trace volume.
      if (!handle.valid()) break;
      for (std::uint32_t i = 0; i < event.n; ++i) {
        registry_->AdjustCount(handle, event.kind == EventKind::kInc ? 1 : -1);
      }
      break;
    case EventKind::kClose:
      if (handle.valid()) registry_->Remove(handle);
      handle = {};
      break;
    case EventKind::kHeartbeat:
    case EventKind::kQuery:
      break;
  }
  return {};
}

std::string InProcessDriver::Query(QueryVia, ServerAnswer& answer) {
  const registry::Choice choice = registry_->Choose(registry::ChooseOptions{extra_, true});
  answer.code = static_cast<std::uint32_t>(choice.code);
  answer.ip1 = choice.ip1;
  answer.ip2 = choice.ip2;
  answer.port = choice.port;
  answer.has_candidates = true;
  for (const registry::Candidate& c : choice.candidates) {
    answer.candidates.push_back(AnswerAddress{c.ip1, c.ip2, c.port});
  }
  return {};
}

DriverNotes InProcessDriver::Finish(const ChoiceModel& model, const Trace& trace) {
  DriverNotes notes;
  // Compare entry by entry, keyed by the trace name behind each handle.
  // ip1, ip2, port, max, cur, held (live assignment holds)
  using Row = std::tuple<std::string, std::string, std::uint32_t, std::uint32_t, std::uint32_t,
                         std::uint32_t>;
  // Holds that ran out end lazily in the registry; make it end them now, as the model does.
  registry_->Expire();
  std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>, MsId> owners;
  for (MsId id = 0; id < handles_.size(); ++id) {
    const registry::ServerHandle& h = handles_[id];
    if (h.valid()) owners[{h.shard, h.slot, h.generation}] = id;
  }
  std::map<MsId, Row> in_registry;
  for (const registry::ServerSnapshot& snap : registry_->Snapshot()) {
    const auto owner_it =
        owners.find({snap.handle.shard, snap.handle.slot, snap.handle.generation});
    const MsId owner = owner_it == owners.end() ? kNone : owner_it->second;
    if (owner == kNone) {
      notes.failures.push_back(
          fmt::format("the registry holds an entry no connection owns: {}/{}:{}", snap.info.ip1,
                      snap.info.ip2, snap.info.port));
      continue;
    }
    in_registry[owner] = Row{snap.info.ip1,          snap.info.ip2,          snap.info.port,
                             snap.info.max_conn_cnt, snap.info.cur_conn_cnt, snap.held};
  }
  const auto& servers = model.servers();
  for (MsId id = 0; id < servers.size(); ++id) {
    const auto it = in_registry.find(id);
    if (!servers[id].registered) {
      if (it != in_registry.end()) {
        notes.failures.push_back(
            fmt::format("msg_server \"{}\": in the registry but closed", trace.names[id]));
      }
      continue;
    }
    const ServerInfo& m = servers[id].info;
    const Row want{m.ip1, m.ip2, m.port, m.max, m.cur, model.Held(id)};
    if (it == in_registry.end()) {
      notes.failures.push_back(fmt::format(
          "msg_server \"{}\": registered but missing from the registry", trace.names[id]));
    } else if (it->second != want) {
      notes.failures.push_back(fmt::format(
          "msg_server \"{}\": the registry ends with cur {} max {} held {}, the model with "
          "cur {} max {} held {}",
          trace.names[id], std::get<4>(it->second), std::get<3>(it->second),
          std::get<5>(it->second), m.cur, m.max, model.Held(id)));
    }
  }
  handles_.clear();
  return notes;
}

}  // namespace ttlogin::tools::replay
