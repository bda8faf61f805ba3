#include "tools/load_replay/trace_event.h"

namespace ttlogin::tools::replay {

const char* EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kRegister:
      return "register";
    case EventKind::kInc:
      return "inc";
    case EventKind::kDec:
      return "dec";
    case EventKind::kHeartbeat:
      return "heartbeat";
    case EventKind::kClose:
      return "close";
    case EventKind::kQuery:
      return "query";
  }
  return "?";
}

const char* QueryViaName(QueryVia via) {
  return via == QueryVia::kHttp ? "http" : "pdu";
}

MsId Trace::Intern(const std::string& name) {
  const auto [it, inserted] = ids.try_emplace(name, static_cast<MsId>(names.size()));
  if (inserted) names.push_back(name);
  return it->second;
}

MsId Trace::Find(const std::string& name) const {
  const auto it = ids.find(name);
  return it == ids.end() ? kNone : it->second;
}

std::size_t Trace::query_count() const {
  std::size_t n = 0;
  for (const Event& e : events)
    n += e.kind == EventKind::kQuery ? 1 : 0;
  return n;
}

}  // namespace ttlogin::tools::replay
