// The load generator's scenarios. Each one runs on one thread and one epoll loop, for a
// bounded time, and prints its figures as one machine-readable line on stdout:
//
//   RESULT scenario=http mode=keepalive conns=64 seconds=5.000 requests=512345 rps=102469.0 ...
//
// (key=value pairs separated by spaces, values without spaces), plus a human summary on stderr.
#pragma once

#include <cstdint>
#include <string>

namespace ttlogin::tools::loadgen {

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t http_port = 0;    // --http-port
  std::uint16_t client_port = 0;  // --client-port
  std::uint16_t ms_port = 0;      // --ms-port (the MsgServer listener)
  int conns = 64;                 // load connections (HTTP, PDU, idle, or msg_server streams)
  int ms_conns = 64;              // msg_server streams of the mixed scenario
  double duration_s = 5;          // measured time of the rate scenarios
  double warmup_s = 1;            // unmeasured load before the measured window
  bool close = false;             // HTTP: send "Connection: close" and reconnect per request
  std::string path = "/msg_server";
  std::uint64_t updates = 1'000'000;  // update PDUs per msg_server connection
  double timeout_s = 300;             // bound on every wait of the update scenarios
  int server_pid = 0;                 // for CPU and memory figures (0: not reported)
  std::string kind = "client";        // idle: "client" or "http"
  double settle_s = 1;                // idle: pause before reading the RSS
  double hold_s = 0;                  // idle: keep the connections this long after measuring
  double max_seconds = 7200;          // hold: exit after this long even without a signal
  std::string label;                  // echoed in the RESULT line (e.g. "ours", "nginx")
  // HTTP over TLS (http, and idle --kind http): --tls, --cafile, --servername, --tls-version,
  // --tls-resume (each connection offers the session of its previous one).
  bool tls = false;
  std::string cafile;
  std::string servername;
  std::string tls_version;
  bool tls_resume = false;
};

// HTTP GET at `conns` connections, keep-alive (one request in flight per connection, like wrk)
// or Connection: close (a new connection per request), over TCP or TLS. Over TLS it also reports
// handshakes per second, full and resumed, and exits 1 naming the cause when a handshake fails.
int RunHttp(const Options& options);
// Client port: connect, send CID_LOGIN_REQ_MSGSERVER, read the reply, close; `conns` at a time.
int RunPdu(const Options& options);
// `conns` msg_server connections each pipelining `updates` IMUserCntUpdate PDUs, timed from the
// first byte until an HTTP query proves that the server has applied every one of them.
int RunUpdates(const Options& options);
// HTTP keep-alive load at `conns` connections while `ms_conns` msg_servers stream updates.
int RunMixed(const Options& options);
// Opens `conns` idle connections (Client port, or HTTP after one keep-alive request) and reports
// the server's RSS and open descriptors per connection beyond the state before.
int RunIdle(const Options& options);
// Registers one msg_server and keeps it registered (heartbeats) until SIGINT/SIGTERM, so that
// HTTP and Client-port answers carry a real msg_server (code 0).
int RunHold(const Options& options);

}  // namespace ttlogin::tools::loadgen
