// The values the registry and its parts (load keys, shards, choice) speak in: what a msg_server
// reported, how an entry is named from outside, the routing policy and what a choice answers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttlogin::registry {

// The largest user count the registry holds: counts are clamped to [0, kMaxCount], as the
// msg_server's own counter is a uint32. The session's batching sums a run of updates only while
// every step stays inside this range, so a summed run clamps exactly as the single updates would.
inline constexpr std::uint32_t kMaxCount = std::numeric_limits<std::uint32_t>::max();

// How many candidates a choice lists besides the chosen msg_server, at most.
inline constexpr std::size_t kMaxExtraCandidates = 8;

// Assignment holds alive at once per shard (16 bytes each): beyond it a login is handed out
// without a hold, so a flood with a long hold window cannot grow memory without bound.
inline constexpr std::size_t kMaxHoldsPerShard = 65536;

// A monotonic clock in ms; slow start and holds read it. Injected by tests and simulations; an
// empty one means steady_clock.
using Clock = std::function<std::int64_t()>;

inline std::int64_t NowMs(const Clock& clock) {
  if (clock) return clock();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct MsgServerInfo {
  std::string ip1;
  std::string ip2;
  std::uint32_t port = 0;
  std::uint32_t max_conn_cnt = 0;
  std::uint32_t cur_conn_cnt = 0;
  std::string host_name;
};

// What the registry keeps about an entry besides what the msg_server reported: for operators.
struct EntryMeta {
  std::string peer;                // "ip:port" of the msg_server's connection
  std::int64_t registered_ms = 0;  // Unix time of the registration, in ms
  std::int64_t last_heard_ms = 0;  // Unix time the connection last sent something (coarse)
  std::string warning;             // e.g. a loopback address advertised; empty when none
  // The order in which the registering connection was accepted (1, 2, ...; 0 when unknown): of
  // two links from one address, the later one is the msg_server's current link.
  std::uint64_t link = 0;
};

// Identifies one registration. The generation makes a handle to a removed entry harmless even
// after its slot is reused.
struct ServerHandle {
  std::uint32_t shard = 0;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;  // 0 = no entry
  bool valid() const { return generation != 0; }
  friend bool operator==(const ServerHandle&, const ServerHandle&) = default;
};

enum class ChooseCode : std::uint32_t {
  kOk = 0,           // REFUSE_REASON_NONE
  kNoMsgServer = 1,  // REFUSE_REASON_NO_MSG_SERVER
  kAllFull = 2,      // REFUSE_REASON_MSG_SERVER_FULL
};

// How a choice ranks eligible msg_servers (config key Policy).
enum class Policy : std::uint8_t {
  kLeastCount,  // least_count: smallest cur (the classic rule, the default)
  kLeastRatio,  // least_ratio: smallest cur/max, for msg_servers of different sizes
  kP2c,         // p2c: two eligible entries drawn at random, the one with the smaller cur/max
};
std::string_view PolicyName(Policy policy);
std::optional<Policy> ParsePolicy(std::string_view name);

struct RoutingOptions {
  Policy policy = Policy::kLeastCount;
  // Slow start window, ms (0 = off): how long the share of a msg_server that registered empty
  // (cur 0) ramps up. One registering with users (e.g. after this server restarted) does not warm.
  std::int64_t slow_start_ms = 0;
  // Its share at the start of the window, percent of what the policy alone would give it (1-100).
  std::uint32_t slow_start_min_percent = 10;
  // Assignment hold, ms (0 = off): how long a handed-out login counts as a provisional user of
  // the chosen msg_server when no increment from it arrives first.
  std::int64_t assignment_hold_ms = 0;
  friend bool operator==(const RoutingOptions&, const RoutingOptions&) = default;
};

// One acceptable msg_server in a choice.
struct Candidate {
  std::string ip1;
  std::string ip2;
  std::uint32_t port = 0;
  ServerHandle handle;
};

struct Choice {
  ChooseCode code = ChooseCode::kNoMsgServer;
  std::string ip1;
  std::string ip2;
  std::uint32_t port = 0;
  ServerHandle handle;
  // More acceptable msg_servers, best first, without the chosen one (ChooseOptions::extra).
  std::vector<Candidate> candidates;
};

}  // namespace ttlogin::registry
