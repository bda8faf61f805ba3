// The in-memory form of a load-replay trace (the JSON Lines format of docs/REPLAY.md).
//
// A trace can hold millions of events, so an event is a small fixed-size record: msg_server names
// are interned once into Trace::names, and the rare bulky parts (a registration's fields, a
// query's explicit expectation) live in side tables that the event points into.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace ttlogin::tools::replay {

enum class EventKind : std::uint8_t { kRegister, kInc, kDec, kHeartbeat, kClose, kQuery };
enum class QueryVia : std::uint8_t { kHttp, kPdu };

// "register", "inc", ... as written in a trace.
const char* EventKindName(EventKind kind);
const char* QueryViaName(QueryVia via);

// Index into Trace::names; also the identity of one msg_server connection slot.
using MsId = std::uint32_t;
inline constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

// The IMMsgServInfo a "register" event sends.
struct ServerInfo {
  std::string ip1;
  std::string ip2;
  std::uint32_t port = 0;
  std::uint32_t max = 0;
  std::uint32_t cur = 0;
  std::string host;
};

// Result codes of the choice: IM.BaseDefine.ResultType (docs/PROTOCOL.md, "Fields").
inline constexpr std::uint32_t kCodeOk = 0;
inline constexpr std::uint32_t kCodeNoMsgServer = 1;
inline constexpr std::uint32_t kCodeAllFull = 2;

// A query's explicit "expect". For code 0, `ms` lists the acceptable answers; empty means the
// trace only pins the code.
struct Expectation {
  std::uint32_t code = kCodeOk;
  std::vector<MsId> ms;
};

struct Event {
  std::uint64_t t_ms = 0;
  std::uint32_t line = 0;  // 1-based line in the trace file
  EventKind kind = EventKind::kHeartbeat;
  QueryVia via = QueryVia::kHttp;  // queries only
  MsId ms = kNone;                 // every kind but query
  std::uint32_t n = 1;             // inc / dec: how many IMUserCntUpdate PDUs
  // register: index into Trace::infos; query: index into Trace::expects, or kNone.
  std::uint32_t payload = kNone;
  std::uint16_t ls = 0;  // queries of a cluster trace: which login server is asked
};

// A cluster trace (docs/REPLAY.md, "Cluster traces") declares, on a "cluster" line, several
// login servers that every msg_server reports to, each report arriving after a latency; its
// queries name the login server they ask ("ls"). Run with load_replay --simulate.
inline constexpr std::uint32_t kMaxLoginServers = 64;
struct ClusterParams {
  std::uint32_t login_servers = 1;
  std::uint32_t update_latency_ms = 0;  // msg_server report -> every login server
  std::uint32_t connect_delay_ms = 0;   // answer -> the client's connect to the msg_server
};

struct Trace {
  // Set when the trace has a "cluster" line.
  std::optional<ClusterParams> cluster;
  std::vector<std::string> names;
  std::unordered_map<std::string, MsId> ids;
  std::vector<Event> events;
  std::vector<ServerInfo> infos;
  std::vector<Expectation> expects;
  std::uint32_t lines = 0;  // lines read, blank ones included

  MsId Intern(const std::string& name);
  // kNone when the trace never mentions `name`.
  MsId Find(const std::string& name) const;
  std::size_t query_count() const;
};

}  // namespace ttlogin::tools::replay
