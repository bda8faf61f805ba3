#include "tools/load_replay/trace_annotator.h"

#include <nlohmann/json.hpp>

#include "tools/load_replay/replay_engine.h"

namespace ttlogin::tools::replay {

std::string WriteAnnotated(std::istream& in, const Trace& trace, std::ostream& out,
                           const ModelRouting& routing) {
  const std::vector<ModelAnswer> answers = ModelAnswers(trace, routing);
  std::size_t next_query = 0;  // index into answers
  std::size_t next_event = 0;  // first event not yet passed
  auto advance = [&] {         // to the next query event
    while (next_event < trace.events.size() && trace.events[next_event].kind != EventKind::kQuery) {
      ++next_event;
    }
  };
  advance();
  std::string line;
  std::uint32_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (next_event >= trace.events.size() || trace.events[next_event].line != number) {
      out << line << '\n';
      continue;
    }
    // Field order is kept so a diff against the original shows only the expectations.
    auto j = nlohmann::ordered_json::parse(line, nullptr, false);
    if (j.is_discarded()) return "line " + std::to_string(number) + " changed while annotating";
    const ModelAnswer& a = answers[next_query++];
    nlohmann::ordered_json expect;
    expect["code"] = a.code;
    if (a.code == kCodeOk) {
      if (a.acceptable.size() == 1) {
        expect["ms"] = trace.names[a.acceptable[0]];
      } else {
        auto& list = expect["ms"] = nlohmann::ordered_json::array();
        for (MsId id : a.acceptable)
          list.push_back(trace.names[id]);
      }
    }
    j["expect"] = std::move(expect);
    out << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
    ++next_event;
    advance();
  }
  if (next_query != answers.size()) return "the trace file changed while annotating";
  return out ? std::string() : std::string("cannot write the annotated trace");
}

}  // namespace ttlogin::tools::replay
