#include "tools/load_replay/trace_reader.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace ttlogin::tools::replay {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxU32 = std::numeric_limits<std::uint32_t>::max();

bool IsBlank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// Why a value is not an unsigned integer in [lo, hi], or empty when it is one.
std::string CheckUnsigned(const json& v, std::uint64_t lo, std::uint64_t hi) {
  if (v.is_number_unsigned()) {
    const std::uint64_t x = v.get<std::uint64_t>();
    if (x < lo || x > hi) {
      return "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", not " +
             std::to_string(x);
    }
    return {};
  }
  if (v.is_number_integer()) return "must not be negative";
  if (v.is_number()) return "must be a whole number";
  return std::string("must be a number, not ") + v.type_name();
}

struct KindName {
  std::string_view name;
  EventKind kind;
};
constexpr KindName kKinds[] = {
    {"register", EventKind::kRegister}, {"inc", EventKind::kInc},
    {"dec", EventKind::kDec},           {"heartbeat", EventKind::kHeartbeat},
    {"close", EventKind::kClose},       {"query", EventKind::kQuery},
};

}  // namespace

std::string TraceError::ToString() const {
  if (line == 0) return message;
  return "line " + std::to_string(line) + ": " + message;
}

bool TraceReader::Fail(std::string message) {
  error_ = TraceError{trace_.lines, std::move(message)};
  return false;
}

bool TraceReader::AddLine(std::string_view text) {
  if (error_) return false;
  ++trace_.lines;
  if (IsBlank(text)) return true;

  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    // nlohmann's text starts with "[json.exception.parse_error.101] "; the rest is the useful part.
    std::string what = e.what();
    const auto pos = what.find("] ");
    return Fail("not valid JSON: " + (pos == std::string::npos ? what : what.substr(pos + 2)));
  }
  if (!j.is_object())
    return Fail(std::string("an event must be a JSON object, not ") + j.type_name());

  Event ev;
  ev.line = trace_.lines;

  const auto t = j.find("t");
  if (t == j.end()) return Fail("missing \"t\"");
  if (std::string why = CheckUnsigned(*t, 0, std::numeric_limits<std::int64_t>::max());
      !why.empty()) {
    return Fail("\"t\" " + why);
  }
  ev.t_ms = t->get<std::uint64_t>();
  if (ev.t_ms < last_t_) {
    return Fail("\"t\" goes backwards: " + std::to_string(ev.t_ms) + " after " +
                std::to_string(last_t_));
  }

  const auto evk = j.find("ev");
  if (evk == j.end()) return Fail("missing \"ev\"");
  if (!evk->is_string()) return Fail("\"ev\" must be a string");
  const std::string& kind_text = evk->get_ref<const std::string&>();
  if (kind_text == "cluster") return AddCluster(j);
  bool known = false;
  for (const KindName& k : kKinds) {
    if (k.name == kind_text) {
      ev.kind = k.kind;
      known = true;
    }
  }
  if (!known) return Fail("unknown event \"" + kind_text.substr(0, 40) + "\"");

  // Every event but a query belongs to one msg_server connection.
  if (ev.kind != EventKind::kQuery) {
    const auto ms = j.find("ms");
    if (ms == j.end()) return Fail("\"" + kind_text + "\" needs \"ms\"");
    if (!ms->is_string()) return Fail("\"ms\" must be a string");
    const std::string& name = ms->get_ref<const std::string&>();
    if (name.empty() || name.size() > kMaxNameLength) {
      return Fail("\"ms\" must have 1 to " + std::to_string(kMaxNameLength) + " characters");
    }
    ev.ms = trace_.Intern(name);
  }

  // Reads an unsigned field; `def` when absent, unless required.
  auto number = [&](const char* key, bool required, std::uint64_t lo, std::uint64_t hi,
                    std::uint64_t def, std::uint32_t& out) {
    const auto it = j.find(key);
    if (it == j.end()) {
      if (required) return Fail("\"" + kind_text + "\" needs \"" + key + "\"");
      out = static_cast<std::uint32_t>(def);
      return true;
    }
    if (std::string why = CheckUnsigned(*it, lo, hi); !why.empty()) {
      return Fail("\"" + std::string(key) + "\" " + why);
    }
    out = static_cast<std::uint32_t>(it->get<std::uint64_t>());
    return true;
  };
  auto text_field = [&](const char* key, bool required, const std::string& def, std::string& out) {
    const auto it = j.find(key);
    if (it == j.end()) {
      if (required) return Fail("\"" + kind_text + "\" needs \"" + key + "\"");
      out = def;
      return true;
    }
    if (!it->is_string()) return Fail("\"" + std::string(key) + "\" must be a string");
    out = it->get<std::string>();
    return true;
  };

  switch (ev.kind) {
    case EventKind::kRegister: {
      ServerInfo info;
      if (!text_field("ip1", true, "", info.ip1) || !text_field("ip2", true, "", info.ip2) ||
          !number("port", true, 0, kMaxU32, 0, info.port) ||
          !number("max", true, 0, kMaxU32, 0, info.max) ||
          !number("cur", false, 0, kMaxU32, 0, info.cur) ||
          !text_field("host", false, trace_.names[ev.ms], info.host)) {
        return false;
      }
      ev.payload = static_cast<std::uint32_t>(trace_.infos.size());
      trace_.infos.push_back(std::move(info));
      break;
    }
    case EventKind::kInc:
    case EventKind::kDec:
      if (!number("n", false, 1, kMaxCountPerEvent, 1, ev.n)) return false;
      break;
    case EventKind::kHeartbeat:
    case EventKind::kClose:
      break;
    case EventKind::kQuery: {
      const auto via = j.find("via");
      if (via == j.end()) return Fail("\"query\" needs \"via\" (\"http\" or \"pdu\")");
      if (const auto ls = j.find("ls"); ls != j.end()) {
        if (!trace_.cluster) return Fail("\"ls\" needs a \"cluster\" line before it");
        if (std::string why = CheckUnsigned(*ls, 0, trace_.cluster->login_servers - 1);
            !why.empty()) {
          return Fail("\"ls\" " + why);
        }
        ev.ls = static_cast<std::uint16_t>(ls->get<std::uint32_t>());
      }
      if (*via == "http") {
        ev.via = QueryVia::kHttp;
      } else if (*via == "pdu") {
        ev.via = QueryVia::kPdu;
      } else {
        return Fail("\"via\" must be \"http\" or \"pdu\"");
      }
      const auto expect = j.find("expect");
      if (expect == j.end()) break;
      if (!expect->is_object()) return Fail("\"expect\" must be an object");
      Expectation x;
      const auto code = expect->find("code");
      if (code == expect->end()) return Fail("\"expect\" needs \"code\"");
      if (std::string why = CheckUnsigned(*code, kCodeOk, kCodeAllFull); !why.empty()) {
        return Fail("\"expect\".\"code\" " + why);
      }
      x.code = code->get<std::uint32_t>();
      const auto ms = expect->find("ms");
      if (ms != expect->end()) {
        if (x.code != kCodeOk) return Fail("\"expect\" names an \"ms\" with a failure code");
        auto add = [&](const json& name) {
          if (!name.is_string() || name.get_ref<const std::string&>().empty()) {
            return Fail("\"expect\".\"ms\" must be a name or a list of names");
          }
          x.ms.push_back(trace_.Intern(name.get<std::string>()));
          return true;
        };
        if (ms->is_array()) {
          if (ms->empty()) return Fail("\"expect\".\"ms\" must not be an empty list");
          for (const json& name : *ms) {
            if (!add(name)) return false;
          }
        } else if (!add(*ms)) {
          return false;
        }
      }
      ev.payload = static_cast<std::uint32_t>(trace_.expects.size());
      trace_.expects.push_back(std::move(x));
      break;
    }
  }
  last_t_ = ev.t_ms;
  trace_.events.push_back(ev);
  return true;
}

bool TraceReader::AddCluster(const nlohmann::json& j) {
  if (trace_.cluster) return Fail("a second \"cluster\" line");
  if (!trace_.events.empty()) return Fail("the \"cluster\" line must come before every event");
  ClusterParams c;
  struct Field {
    const char* key;
    std::uint64_t lo, hi;
    std::uint32_t& out;
  };
  for (const Field& f : {Field{"login_servers", 1, kMaxLoginServers, c.login_servers},
                         Field{"update_latency_ms", 0, 3'600'000, c.update_latency_ms},
                         Field{"connect_delay_ms", 0, 3'600'000, c.connect_delay_ms}}) {
    const auto it = j.find(f.key);
    if (it == j.end()) return Fail(std::string("\"cluster\" needs \"") + f.key + "\"");
    if (std::string why = CheckUnsigned(*it, f.lo, f.hi); !why.empty()) {
      return Fail("\"" + std::string(f.key) + "\" " + why);
    }
    f.out = it->get<std::uint32_t>();
  }
  trace_.cluster = c;
  return true;
}

ReadResult ReadTrace(std::istream& in) {
  TraceReader reader;
  std::string line;
  while (std::getline(in, line)) {
    if (!reader.AddLine(line)) break;
  }
  ReadResult result;
  result.error = reader.error();
  result.trace = std::move(reader.trace());
  return result;
}

ReadResult ReadTraceString(std::string_view text) {
  std::istringstream in{std::string(text)};
  return ReadTrace(in);
}

ReadResult ReadTraceFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    ReadResult result;
    result.error = TraceError{0, "cannot open trace " + path};
    return result;
  }
  return ReadTrace(in);
}

}  // namespace ttlogin::tools::replay
