// loadgen: the load generator of the benchmark. One thread, one epoll loop, optionally
// pinned to one core; see scenarios.h for what each scenario measures and prints.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "tools/loadgen/net.h"
#include "tools/loadgen/scenarios.h"

namespace {

constexpr std::string_view kUsage = R"(Usage: loadgen SCENARIO [options]

Scenarios (each prints one "RESULT key=value ..." line on stdout):
  http     GET the path on --conns connections for --duration s (keep-alive, or --close)
  pdu      Client port: connect, CID_LOGIN_REQ_MSGSERVER, reply, close; --conns at a time
  updates  --conns msg_servers each pipeline --updates IMUserCntUpdate PDUs; timed until an
           HTTP query proves the last one applied (needs --ms-port and --http-port, and no
           other msg_server registered)
  mixed    HTTP keep-alive on --conns connections while --ms-conns msg_servers stream
           --updates each (needs --ms-port and --http-port, no other msg_server registered)
  idle     open --conns idle connections (--kind client: Client port; --kind http: one
           keep-alive request each) and report the RSS of --server-pid per connection
  hold     register one msg_server on --ms-port and keep it (heartbeats) until SIGTERM

Options:
  --host IP            server address (default 127.0.0.1)
  --http-port N        HTTP port        --client-port N   Client port
  --ms-port N          MsgServer port
  --conns N            connections (default 64)    --ms-conns N  (mixed; default 64)
  --duration S         measured seconds (default 5) --warmup S   (default 1)
  --close              HTTP: Connection: close, a new connection per request
  --path P             HTTP path (default /msg_server)
  --updates N          updates per msg_server connection (default 1000000)
  --timeout S          bound on each wait (default 300)
  --server-pid PID     report the server's CPU (and, for idle, its RSS)
  --kind client|http   idle connections' kind (default client)
  --settle S           idle: pause before reading the RSS (default 1)
  --hold S             idle: keep the connections open this long after measuring (default 0)
  --max-seconds S      hold: give up after this long (default 7200)
  --cpu N              pin this process to CPU N
  --label TEXT         echoed in the RESULT line

HTTPS (http, and idle --kind http; --http-port is then the HTTPS port):
  --tls                speak TLS 1.2 or 1.3 (ALPN http/1.1), verifying the server's certificate
  --cafile FILE        PEM CA certificates to verify with (default: the system's)
  --servername NAME    SNI, and the name the certificate must carry (default: --host as an IP)
  --tls-version V      1.2 or 1.3 only (default: either, as agreed with the server)
  --tls-resume         each connection offers the session of its previous one (tickets or ids)
  The RESULT line adds handshakes and handshakes_per_s (measured window), full and reused (and
  the same over the whole run: full_total, reused_total), handshake_p50_us and handshake_p99_us
  (TCP connect to handshake done). A failed handshake or verification exits 1 naming the cause.
)";

[[noreturn]] void Usage(const std::string& error) {
  std::fprintf(stderr, "loadgen: %s\n%.*s", error.c_str(), static_cast<int>(kUsage.size()),
               kUsage.data());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  namespace lg = ttlogin::tools::loadgen;
  if (argc < 2) Usage("missing scenario");
  const std::string scenario = argv[1];
  if (scenario == "-h" || scenario == "--help") {
    std::printf("%.*s", static_cast<int>(kUsage.size()), kUsage.data());
    return 0;
  }
  lg::Options o;
  int cpu = -1;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(arg + " needs a value");
      return argv[++i];
    };
    auto number = [&]() -> double {
      const std::string v = value();
      char* end = nullptr;
      const double d = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || d < 0) Usage("bad value for " + arg + ": " + v);
      return d;
    };
    auto port = [&]() -> std::uint16_t {
      const double d = number();
      if (d < 1 || d > 65535) Usage("bad port for " + arg);
      return static_cast<std::uint16_t>(d);
    };
    if (arg == "--host") {
      o.host = value();
    } else if (arg == "--http-port") {
      o.http_port = port();
    } else if (arg == "--client-port") {
      o.client_port = port();
    } else if (arg == "--ms-port") {
      o.ms_port = port();
    } else if (arg == "--conns") {
      o.conns = static_cast<int>(number());
    } else if (arg == "--ms-conns") {
      o.ms_conns = static_cast<int>(number());
    } else if (arg == "--duration") {
      o.duration_s = number();
    } else if (arg == "--warmup") {
      o.warmup_s = number();
    } else if (arg == "--close") {
      o.close = true;
    } else if (arg == "--path") {
      o.path = value();
    } else if (arg == "--updates") {
      o.updates = static_cast<std::uint64_t>(number());
    } else if (arg == "--timeout") {
      o.timeout_s = number();
    } else if (arg == "--server-pid") {
      o.server_pid = static_cast<int>(number());
    } else if (arg == "--kind") {
      o.kind = value();
    } else if (arg == "--settle") {
      o.settle_s = number();
    } else if (arg == "--hold") {
      o.hold_s = number();
    } else if (arg == "--max-seconds") {
      o.max_seconds = number();
    } else if (arg == "--cpu") {
      cpu = static_cast<int>(number());
    } else if (arg == "--label") {
      o.label = value();
    } else if (arg == "--tls") {
      o.tls = true;
    } else if (arg == "--cafile") {
      o.cafile = value();
    } else if (arg == "--servername") {
      o.servername = value();
    } else if (arg == "--tls-version") {
      o.tls_version = value();
      if (o.tls_version != "1.2" && o.tls_version != "1.3")
        Usage("--tls-version must be 1.2 or 1.3");
    } else if (arg == "--tls-resume") {
      o.tls_resume = true;
    } else {
      Usage("unknown option " + arg);
    }
  }
  if (o.conns < 1 || o.ms_conns < 1) Usage("--conns and --ms-conns must be at least 1");
  const bool tls_option =
      o.tls_resume || !o.cafile.empty() || !o.servername.empty() || !o.tls_version.empty();
  if (tls_option && !o.tls)
    Usage("--cafile, --servername, --tls-version and --tls-resume need --tls");
  if (o.tls && scenario != "http" && !(scenario == "idle" && o.kind == "http")) {
    Usage("--tls applies to the http scenario and to idle --kind http only");
  }
  // A TLS write to a connection the server already closed raises SIGPIPE (OpenSSL writes with
  // write(), not send(MSG_NOSIGNAL)); the failed write is handled as a closed connection.
  std::signal(SIGPIPE, SIG_IGN);
  if (cpu >= 0 && !lg::PinToCpu(cpu)) std::fprintf(stderr, "loadgen: cannot pin to CPU %d\n", cpu);
  lg::RaiseOpenFilesLimit();
  const bool need_http = scenario == "http" || scenario == "updates" || scenario == "mixed" ||
                         (scenario == "idle" && o.kind == "http");
  if (need_http && o.http_port == 0) Usage(scenario + " needs --http-port");
  if ((scenario == "pdu" || (scenario == "idle" && o.kind == "client")) && o.client_port == 0) {
    Usage(scenario + " needs --client-port");
  }
  if ((scenario == "updates" || scenario == "mixed" || scenario == "hold") && o.ms_port == 0) {
    Usage(scenario + " needs --ms-port");
  }
  try {
    if (scenario == "http") return lg::RunHttp(o);
    if (scenario == "pdu") return lg::RunPdu(o);
    if (scenario == "updates") return lg::RunUpdates(o);
    if (scenario == "mixed") return lg::RunMixed(o);
    if (scenario == "idle") return lg::RunIdle(o);
    if (scenario == "hold") return lg::RunHold(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen %s: %s\n", scenario.c_str(), e.what());
    return 1;
  }
  Usage("unknown scenario " + scenario);
}
