// PduProxy: stands between two peers (a msg_server and the login server, say), forwards every byte
// both ways unchanged and prints each PDU it relays.
//
// Forwarding never waits on decoding and never depends on it: a chunk is handed to the decoder
// (which only reads it) and then written out as is, with one write in flight per direction, so
// bytes keep their order and nothing is dropped or changed even when the decoder calls a PDU
// malformed. A FIN is passed on as a FIN (half-close), a reset as a reset.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include <asio.hpp>

#include "tools/pdu_dump/pdu_dumper.h"

namespace ttlogin::tools::pdu_dump {

inline constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

struct ProxyConfig {
  std::string listen_host = "0.0.0.0";
  std::uint16_t listen_port = 0;  // 0 picks a free port (tests)
  std::string upstream_host;
  std::uint16_t upstream_port = 0;
  std::uint32_t max_pdu_size = common::kDefaultMaxPduSize;
};

// "[LISTEN_ADDR:]LISTEN_PORT:HOST:PORT"; an error message when malformed.
std::string ParseProxySpec(const std::string& spec, ProxyConfig& config);

class ProxySession;

class PduProxy {
 public:
  PduProxy(asio::io_context& io, ProxyConfig config, PduDumper& dumper);
  ~PduProxy();

  // Resolves the upstream and binds the listener; an error message on failure.
  std::string Start();
  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  // Stops accepting and ends every session (decoders report PDUs left incomplete).
  void Stop();

  std::uint64_t connections() const { return connections_; }

 private:
  friend class ProxySession;
  void Accept();
  void Forget(const std::shared_ptr<ProxySession>& session) { sessions_.erase(session); }

  asio::io_context& io_;
  ProxyConfig config_;
  PduDumper& dumper_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  asio::ip::tcp::resolver::results_type upstream_;
  std::set<std::shared_ptr<ProxySession>> sessions_;
  std::uint64_t connections_ = 0;
  bool stopped_ = false;
};

}  // namespace ttlogin::tools::pdu_dump
