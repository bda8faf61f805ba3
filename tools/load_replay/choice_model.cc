#include "tools/load_replay/choice_model.h"

#include <algorithm>
#include <limits>
#include <set>

#include <fmt/format.h>

namespace ttlogin::tools::replay {

std::string_view ModelPolicyName(ModelPolicy policy) {
  switch (policy) {
    case ModelPolicy::kLeastCount:
      return "least_count";
    case ModelPolicy::kLeastRatio:
      return "least_ratio";
    case ModelPolicy::kP2c:
      return "p2c";
  }
  return "?";
}

std::optional<ModelPolicy> ParseModelPolicy(std::string_view name) {
  for (ModelPolicy p : {ModelPolicy::kLeastCount, ModelPolicy::kLeastRatio, ModelPolicy::kP2c}) {
    if (ModelPolicyName(p) == name) return p;
  }
  return std::nullopt;
}

ModelServer& ChoiceModel::At(MsId ms) {
  if (ms >= servers_.size()) servers_.resize(ms + 1);
  return servers_[ms];
}

void ChoiceModel::SetNow(std::int64_t now_ms) {
  now_ = std::max(now_, now_ms);
}

void ChoiceModel::DropLapsed(ModelServer& s) const {
  // A hold lapses hold_ms after it was placed: at now >= placed + hold_ms it no longer counts.
  while (!s.holds.empty() && s.holds.front() + routing_.assignment_hold_ms <= now_) {
    s.holds.pop_front();
  }
}

std::uint32_t ChoiceModel::Held(MsId ms) const {
  if (ms >= servers_.size()) return 0;
  // Holds are placed in time order, so the lapsed ones are a prefix.
  const std::deque<std::int64_t>& holds = servers_[ms].holds;
  std::size_t lapsed = 0;
  while (lapsed < holds.size() && holds[lapsed] + routing_.assignment_hold_ms <= now_)
    ++lapsed;
  return static_cast<std::uint32_t>(holds.size() - lapsed);
}

bool ChoiceModel::Eligible(MsId ms) const {
  if (ms >= servers_.size()) return false;
  const ModelServer& s = servers_[ms];
  return s.registered && s.info.cur < s.info.max;
}

void ChoiceModel::Register(MsId ms, const ServerInfo& info) {
  ModelServer& s = At(ms);
  s.connected = true;
  // A second IMMsgServInfo replaces the info and the count; the logins handed out to this
  // msg_server are still on their way, so its holds stay.
  if (!s.registered) s.holds.clear();
  s.registered = true;
  s.info = info;
}

void ChoiceModel::Adjust(MsId ms, std::int64_t delta) {
  ModelServer& s = At(ms);
  s.connected = true;
  if (!s.registered) return;
  if (delta > 0) {
    // An arriving user is most likely one we handed out: it settles the oldest live holds.
    DropLapsed(s);
    const auto settle = std::min<std::size_t>(s.holds.size(), static_cast<std::size_t>(delta));
    s.holds.erase(s.holds.begin(), s.holds.begin() + static_cast<std::ptrdiff_t>(settle));
  }
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
  s.holds.clear();
}

void ChoiceModel::Assign(MsId ms) {
  if (routing_.assignment_hold_ms <= 0 || ms >= servers_.size()) return;
  ModelServer& s = servers_[ms];
  if (!s.registered) return;
  DropLapsed(s);
  s.holds.push_back(now_);
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

int ChoiceModel::CompareKeys(MsId a, MsId b) const {
  const std::uint64_t ka = std::uint64_t{servers_[a].info.cur} + Held(a);
  const std::uint64_t kb = std::uint64_t{servers_[b].info.cur} + Held(b);
  if (routing_.policy == ModelPolicy::kLeastCount) return ka < kb ? -1 : ka > kb ? 1 : 0;
  // ka/max_a against kb/max_b, exactly: both sides are below 2^33 * 2^32, well inside 128 bits.
  const unsigned __int128 left = static_cast<unsigned __int128>(ka) * servers_[b].info.max;
  const unsigned __int128 right = static_cast<unsigned __int128>(kb) * servers_[a].info.max;
  return left < right ? -1 : left > right ? 1 : 0;
}

ModelAnswer ChoiceModel::Expect() const {
  ModelAnswer answer;
  bool any_registered = false;
  for (MsId id = 0; id < servers_.size(); ++id) {
    if (!servers_[id].registered) continue;
    any_registered = true;
    if (!Eligible(id)) continue;
    if (routing_.randomised() || answer.acceptable.empty()) {
      answer.acceptable.push_back(id);
      continue;
    }
    const int c = CompareKeys(id, answer.acceptable.front());
    if (c < 0) answer.acceptable.clear();
    if (c <= 0) answer.acceptable.push_back(id);
  }
  if (!answer.acceptable.empty()) {
    answer.code = kCodeOk;
  } else {
    answer.code = any_registered ? kCodeAllFull : kCodeNoMsgServer;
  }
  return answer;
}

std::string ChoiceModel::CheckCandidates(MsId chosen, const std::vector<MsId>& candidates,
                                         std::size_t extra) const {
  std::size_t eligible_others = 0;
  for (MsId id = 0; id < servers_.size(); ++id) {
    eligible_others += Eligible(id) && id != chosen ? 1 : 0;
  }
  const std::size_t want = std::min(extra, eligible_others);
  if (candidates.size() != want) {
    return fmt::format("{} candidates listed, {} expected ({} asked, {} other eligible)",
                       candidates.size(), want, extra, eligible_others);
  }
  std::set<MsId> seen;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const MsId id = candidates[i];
    if (id == chosen) return fmt::format("candidate {} is the chosen msg_server", i + 1);
    if (!Eligible(id)) return fmt::format("candidate {} is not eligible", i + 1);
    if (!seen.insert(id).second) return fmt::format("candidate {} is listed twice", i + 1);
    if (i > 0 && CompareKeys(candidates[i - 1], id) > 0) {
      return fmt::format("candidate {} has a smaller load key than candidate {}", i + 1, i);
    }
  }
  if (candidates.empty()) return {};
  // Whatever the policy (p2c and slow start randomise the choice, not the list): nobody left out
  // may be strictly better than the last one listed.
  for (MsId id = 0; id < servers_.size(); ++id) {
    if (!Eligible(id) || id == chosen || seen.count(id) != 0) continue;
    if (CompareKeys(id, candidates.back()) < 0) {
      return fmt::format("a better eligible msg_server was left out of the candidates");
    }
  }
  return {};
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
