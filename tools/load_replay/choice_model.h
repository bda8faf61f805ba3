// ChoiceModel: an independent model of what the login server must answer, event by event.
//
// It deliberately shares no code with server/registry: the registry is the thing under test, and a
// checker that called it would agree with every one of its bugs. So this is the plainest possible
// restatement of the rule in PROTOCOL.md (classic least_count) plus the server behaviour the
// project decided on:
//  - among registered msg_servers with cur < max, the smallest cur wins; every server tied at that
//    count is an acceptable answer;
//  - none registered: code 1; all registered ones full: code 2;
//  - counts stay within [0, 2^32-1] (clamped, unlike the classic unsigned wrap);
//  - an update or heartbeat opens the connection, but updates before IMMsgServInfo are ignored;
//  - a second IMMsgServInfo on one connection replaces that entry, counts included;
//  - a closed connection takes its entry and all its users with it, at once.
// A query is a linear scan over the connections: traces hold tens of msg_servers, and a scan is
// obviously right, which is what a model is for.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tools/load_replay/trace_event.h"

namespace ttlogin::tools::replay {

struct ModelServer {
  bool connected = false;   // a TCP connection for this name is open
  bool registered = false;  // it has sent IMMsgServInfo since it connected
  ServerInfo info;          // info.cur is the live count
};

// What a query must return: the code and, for code 0, every acceptable msg_server.
struct ModelAnswer {
  std::uint32_t code = kCodeNoMsgServer;
  std::vector<MsId> acceptable;  // sorted by id
};

class ChoiceModel {
 public:
  explicit ChoiceModel(std::size_t names = 0) : servers_(names) {}

  void Register(MsId ms, const ServerInfo& info);
  // Applies `n` user arrivals (delta > 0) or departures (delta < 0).
  void Adjust(MsId ms, std::int64_t delta);
  void Touch(MsId ms);  // any PDU opens the connection
  void Close(MsId ms);
  // Applies one non-query trace event.
  void Apply(const Event& event, const Trace& trace);

  ModelAnswer Expect() const;

  // Registered msg_servers that advertise this address (usually one; the answer of a server is
  // mapped back to trace names through it).
  std::vector<MsId> NamesWithAddress(const std::string& ip1, const std::string& ip2,
                                     std::uint32_t port) const;

  const std::vector<ModelServer>& servers() const { return servers_; }

 private:
  ModelServer& At(MsId ms);

  std::vector<ModelServer> servers_;
};

}  // namespace ttlogin::tools::replay
