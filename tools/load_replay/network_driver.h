// NetworkDriver: replays a trace against a running login server over the real wire.
//
// One TCP connection per trace msg_server name to the MsgServer port, opened at that name's first
// event and closed by its "close" event; PDUs of one name go out in trace order on its connection.
// Bytes are buffered per connection and written before every query and every pause, so a --fast
// replay costs a few syscalls per batch instead of one per PDU, while the server still sees every
// update before the query that depends on it is asked.
// Queries go over HTTP (one keep-alive connection, reopened when the server closes it) or the
// Client port (one connection per query: the server closes it after answering).
// Every socket operation is bounded by kIoTimeout.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/load_replay/replay_driver.h"

namespace ttlogin::tools::replay {

inline constexpr std::chrono::milliseconds kIoTimeout{5000};

struct Endpoint {
  std::string text;  // as given: "127.0.0.1:8080"
  std::string host;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
};

// Parses and resolves "HOST:PORT" ("[::1]:PORT" for IPv6). Returns an empty string or the reason.
std::string ResolveEndpoint(const std::string& text, Endpoint& out);

struct NetworkTargets {
  Endpoint msg_server;
  Endpoint http;
  Endpoint client;
  bool has_msg_server = false;
  bool has_http = false;
  bool has_client = false;
  Endpoint admin;  // optional: GET /servers tells when the server has applied every update
  bool has_admin = false;
};

// How long Sync() waits for the server to show the model's counts.
inline constexpr std::chrono::milliseconds kSyncBound{5000};

class NetworkDriver : public ReplayDriver {
 public:
  NetworkDriver(const Trace& trace, NetworkTargets targets);
  ~NetworkDriver() override;
  NetworkDriver(const NetworkDriver&) = delete;
  NetworkDriver& operator=(const NetworkDriver&) = delete;

  std::string Describe() const override;
  std::string Send(const Event& event, const ServerInfo* info) override;
  std::string Flush() override;
  // Polls the admin port until the server has read every update sent (with holds) and GET
  // /servers shows every registered msg_server with the model's count, bounded by kSyncBound.
  std::string Sync(const ChoiceModel& model) override;
  std::string Query(QueryVia via, ServerAnswer& answer) override;
  bool eventually_consistent() const override { return true; }
  DriverNotes Finish(const ChoiceModel& model, const Trace& trace) override;

  // Checks that each listener the trace needs accepts a connection, before anything is sent.
  std::string Probe(bool need_msg_server, bool need_http, bool need_client);

 private:
  struct MsConnection {
    int fd = -1;
    std::string out;  // PDUs not written yet
    bool dirty = false;
    std::uint32_t next_user = 1;
  };

  std::string WritePending(MsId ms);
  void DrainIncoming();
  std::optional<std::uint64_t> UpdatesApplied(std::string& error);
  std::string QueryHttp(ServerAnswer& answer);
  std::string HttpExchange(ServerAnswer& answer, bool& retry_on_fresh);
  std::string QueryPdu(ServerAnswer& answer);

  const Trace& trace_;
  NetworkTargets targets_;
  std::vector<MsConnection> conns_;
  std::vector<MsId> dirty_;
  int http_fd_ = -1;
  std::uint16_t next_seq_ = 1;
  std::chrono::steady_clock::time_point next_drain_;
  std::vector<std::string> warnings_;
  std::uint64_t updates_sent_ = 0;  // user count update PDUs written or queued
};

}  // namespace ttlogin::tools::replay
