// ChoiceModel: an independent model of what the login server must answer, event by event.
//
// It deliberately shares no code with server/registry: the registry is the thing under test, and a
// checker that called it would agree with every one of its bugs. So this is the plainest possible
// restatement of the rule in docs/PROTOCOL.md and docs/ROUTING.md plus the server behaviour we
// decided on:
//  - eligible: registered, cur < max (holds never change eligibility);
//  - least_count (the classic rule, the default): the smallest cur + held wins; every server tied
//    at that key is an acceptable answer;
//  - least_ratio: the smallest (cur + held) / max, compared exactly (cross-multiplied, no floats);
//  - p2c, and any policy while slow start is on: the choice is random, so every eligible server is
//    acceptable (only eligibility and the code are checked);
//  - assignment holds: each answer the server gave places one provisional user on the answered
//    server (Assign), an increment of +d first settles up to d of them (oldest first), and an
//    unsettled one lapses hold_ms after it was placed. The model's clock is the trace's `t`;
//  - none registered: code 1; all registered ones full: code 2;
//  - counts stay within [0, 2^32-1] (clamped, unlike the classic unsigned wrap);
//  - an update or heartbeat opens the connection, but updates before IMMsgServInfo are ignored;
//  - a second IMMsgServInfo on one connection replaces that entry, counts included (its holds
//    stay: the logins handed out are still on their way);
//  - a closed connection takes its entry and all its users with it, at once.
// A query is a linear scan over the connections: traces hold tens of msg_servers, and a scan is
// obviously right, which is what a model is for.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/load_replay/trace_event.h"

namespace ttlogin::tools::replay {

// The routing policies the model knows (the server's config key Policy).
enum class ModelPolicy : std::uint8_t { kLeastCount, kLeastRatio, kP2c };
std::string_view ModelPolicyName(ModelPolicy policy);
std::optional<ModelPolicy> ParseModelPolicy(std::string_view name);

// What the model must know of the server's routing configuration.
struct ModelRouting {
  ModelPolicy policy = ModelPolicy::kLeastCount;
  std::int64_t slow_start_ms = 0;       // > 0: entries registered now warm up (random choice)
  std::int64_t assignment_hold_ms = 0;  // > 0: answers count as provisional users
  // Check only that answers are eligible, whatever the policy (a caller that cannot follow the
  // registry's timing exactly).
  bool eligibility_only = false;
  // Whether only eligibility is checked: the choice is random, or the caller asked for it.
  bool randomised() const {
    return policy == ModelPolicy::kP2c || slow_start_ms > 0 || eligibility_only;
  }
};

struct ModelServer {
  bool connected = false;   // a TCP connection for this name is open
  bool registered = false;  // it has sent IMMsgServInfo since it connected
  ServerInfo info;          // info.cur is the live count
  // When each unsettled assignment hold was placed (model time, ms), oldest first.
  std::deque<std::int64_t> holds;
};

// What a query must return: the code and, for code 0, every acceptable msg_server.
struct ModelAnswer {
  std::uint32_t code = kCodeNoMsgServer;
  std::vector<MsId> acceptable;  // sorted by id
};

class ChoiceModel {
 public:
  explicit ChoiceModel(std::size_t names = 0, ModelRouting routing = {})
      : servers_(names), routing_(routing) {}

  // The model's clock (ms, the trace's `t`): holds lapse by it. Never goes backwards.
  void SetNow(std::int64_t now_ms);
  std::int64_t now() const { return now_; }

  void Register(MsId ms, const ServerInfo& info);
  // Applies `n` user arrivals (delta > 0) or departures (delta < 0).
  void Adjust(MsId ms, std::int64_t delta);
  void Touch(MsId ms);  // any PDU opens the connection
  void Close(MsId ms);
  // Applies one non-query trace event.
  void Apply(const Event& event, const Trace& trace);
  // The server answered `ms` to a login: one provisional user when holds are on.
  void Assign(MsId ms);

  ModelAnswer Expect() const;

  // Live (not lapsed) assignment holds of `ms` now.
  std::uint32_t Held(MsId ms) const;
  // Eligible: registered and cur < max.
  bool Eligible(MsId ms) const;
  // Checks a list of further candidates the server gave with its answer `chosen`, asked for
  // `extra` of them: distinct, eligible, not the chosen one, as many as there are (up to
  // `extra`), ordered by the policy's key (the ratio for p2c), and the best ones by that key
  // (for every policy: only the choice itself is random). Returns an empty string, or what is
  // wrong.
  std::string CheckCandidates(MsId chosen, const std::vector<MsId>& candidates,
                              std::size_t extra) const;

  // Registered msg_servers that advertise this address (usually one; the answer of a server is
  // mapped back to trace names through it).
  std::vector<MsId> NamesWithAddress(const std::string& ip1, const std::string& ip2,
                                     std::uint32_t port) const;

  const std::vector<ModelServer>& servers() const { return servers_; }
  const ModelRouting& routing() const { return routing_; }

 private:
  ModelServer& At(MsId ms);
  void DropLapsed(ModelServer& s) const;
  // -1, 0, 1: how the load keys of a and b compare under the policy.
  int CompareKeys(MsId a, MsId b) const;

  std::vector<ModelServer> servers_;
  ModelRouting routing_;
  std::int64_t now_ = 0;
};

}  // namespace ttlogin::tools::replay
