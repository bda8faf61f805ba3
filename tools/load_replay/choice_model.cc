#include "tools/load_replay/choice_model.h"

#include <limits>

namespace ttlogin::tools::replay {

ModelServer& ChoiceModel::At(MsId ms) {
  if (ms >= servers_.size()) servers_.resize(ms + 1);
  return servers_[ms];
}

void ChoiceModel::Register(MsId ms, const ServerInfo& info) {
  ModelServer& s = At(ms);
  s.connected = true;
  s.registered = true;
  s.info = info;
}

void ChoiceModel::Adjust(MsId ms, std::int64_t delta) {
  ModelServer& s = At(ms);
  s.connected = true;
  if (!s.registered) return;
  constexpr std::int64_t kTop = std::numeric_limits<std::uint32_t>::max();
  std::int64_t next = static_cast<std::int64_t>(s.info.cur) + delta;
  if (next < 0) next = 0;
  if (next > kTop) next = kTop;
  s.info.cur = static_cast<std::uint32_t>(next);
}

void ChoiceModel::Touch(MsId ms) {
  At(ms).connected = true;
}

void ChoiceModel::Close(MsId ms) {
  ModelServer& s = At(ms);
  s.connected = false;
  s.registered = false;
  s.info = ServerInfo{};
}

void ChoiceModel::Apply(const Event& event, const Trace& trace) {
  switch (event.kind) {
    case EventKind::kRegister:
      Register(event.ms, trace.infos[event.payload]);
      break;
    case EventKind::kInc:
      Adjust(event.ms, event.n);
      break;
    case EventKind::kDec:
      Adjust(event.ms, -static_cast<std::int64_t>(event.n));
      break;
    case EventKind::kHeartbeat:
      Touch(event.ms);
      break;
    case EventKind::kClose:
      Close(event.ms);
      break;
    case EventKind::kQuery:
      break;
  }
}

ModelAnswer ChoiceModel::Expect() const {
  ModelAnswer answer;
  bool any_registered = false;
  std::uint32_t best = 0;
  for (MsId id = 0; id < servers_.size(); ++id) {
    const ModelServer& s = servers_[id];
    if (!s.registered) continue;
    any_registered = true;
    if (s.info.cur >= s.info.max) continue;
    if (answer.acceptable.empty() || s.info.cur < best) {
      best = s.info.cur;
      answer.acceptable.clear();
    }
    if (s.info.cur == best) answer.acceptable.push_back(id);
  }
  if (!answer.acceptable.empty()) {
    answer.code = kCodeOk;
  } else {
    answer.code = any_registered ? kCodeAllFull : kCodeNoMsgServer;
  }
  return answer;
}

std::vector<MsId> ChoiceModel::NamesWithAddress(const std::string& ip1, const std::string& ip2,
                                                std::uint32_t port) const {
  std::vector<MsId> out;
  for (MsId id = 0; id < servers_.size(); ++id) {
    const ModelServer& s = servers_[id];
    if (s.registered && s.info.port == port && s.info.ip1 == ip1 && s.info.ip2 == ip2) {
      out.push_back(id);
    }
  }
  return out;
}

}  // namespace ttlogin::tools::replay
