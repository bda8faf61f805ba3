// Writes a trace back with the model's "expect" in every query: turns a recording (or a generated
// trace) into a self-describing test case whose answers can be read without running anything.
#pragma once

#include <istream>
#include <ostream>
#include <string>

#include "tools/load_replay/choice_model.h"
#include "tools/load_replay/trace_event.h"

namespace ttlogin::tools::replay {

// `in` is the text `trace` was read from. Query lines get "expect" set (replacing any there);
// every other line, unknown fields included, is copied unchanged. Returns an empty string or an
// error. `routing` must be deterministic and without holds (the model's answers then depend on
// the trace alone).
std::string WriteAnnotated(std::istream& in, const Trace& trace, std::ostream& out,
                           const ModelRouting& routing = {});

}  // namespace ttlogin::tools::replay
