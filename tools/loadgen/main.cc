// loadgen: the load generator of the benchmark. One thread, one epoll loop, optionally
// pinned to one core; see scenarios.h for what each scenario measures and prints.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "common/command_line.h"
#include "tools/loadgen/net.h"
#include "tools/loadgen/scenarios.h"

namespace {

const std::vector<std::string> kScenarios = {"http", "pdu", "updates", "mixed", "idle", "hold"};

// --help and the man page loadgen(1); the options are defined in main.
ttlogin::common::ToolDoc Doc() {
  ttlogin::common::ToolDoc doc;
  doc.name = "loadgen";
  doc.summary = "load generator of the ttlogin benchmark";
  doc.synopsis = {"SCENARIO [OPTIONS]"};
  doc.description =
      "One thread, one epoll loop, optionally pinned to one core. Each scenario prints one "
      "\"RESULT key=value ...\" line on stdout.";
  doc.sections = {
      {"Scenarios",
       "",
       {{"http", "GET the path on --conns connections for --duration s (keep-alive, or --close)"},
        {"pdu", "Client port: connect, CID_LOGIN_REQ_MSGSERVER, reply, close; --conns at a time"},
        {"updates",
         "--conns msg_servers each pipeline --updates IMUserCntUpdate PDUs; timed until an HTTP "
         "query proves the last one applied (needs --ms-port and --http-port, and no other "
         "msg_server registered)"},
        {"mixed",
         "HTTP keep-alive on --conns connections while --ms-conns msg_servers stream --updates "
         "each (needs --ms-port and --http-port, no other msg_server registered)"},
        {"idle",
         "open --conns idle connections (--kind client: Client port; --kind http: one "
         "keep-alive request each) and report the RSS of --server-pid per connection"},
        {"hold", "register one msg_server on --ms-port and keep it (heartbeats) until SIGTERM"}}},
      {"HTTPS",
       "For http, and idle --kind http; --http-port is then the HTTPS port. The RESULT line adds "
       "handshakes and handshakes_per_s (measured window), full and reused (and the same over "
       "the whole run: full_total, reused_total), handshake_p50_us and handshake_p99_us (TCP "
       "connect to handshake done). A failed handshake or verification exits 1 naming the "
       "cause.",
       {}}};
  doc.exit_status = {"Exit status",
                     "",
                     {{"0", "the scenario ran"},
                      {"1", "the scenario failed (a connection, a handshake or a wait)"},
                      {"2", "bad usage"}}};
  doc.see_also = {"login_server(8)"};
  return doc;
}

}  // namespace

int main(int argc, char** argv) {
  namespace lg = ttlogin::tools::loadgen;
  lg::Options o;
  int cpu = -1;
  std::string scenario;
  ttlogin::common::CommandLine cli(Doc());
  CLI::App& app = cli.app();
  // A non-negative number; ports are 1..65535.
  auto number = [&](const std::string& name, auto& out, const std::string& type,
                    const std::string& what) {
    return app
        .add_option_function<std::string>(
            name,
            [name, &out](const std::string& v) {
              char* end = nullptr;
              const double d = std::strtod(v.c_str(), &end);
              if (end == v.c_str() || *end != '\0' || !(d >= 0)) {
                throw CLI::ValidationError("bad value for " + name + ": " + v);
              }
              using T = std::remove_reference_t<decltype(out)>;
              if constexpr (std::is_same_v<T, std::uint16_t>) {
                if (d < 1 || d > 65535) throw CLI::ValidationError("bad port for " + name);
              }
              out = static_cast<T>(d);
            },
            what)
        ->type_name(type);
  };
  cli.Words(app.add_option("SCENARIO", scenario, "what to measure (listed above)"), kScenarios);
  app.add_option("--host", o.host, "server address (default 127.0.0.1)")->type_name("IP");
  number("--http-port", o.http_port, "N", "HTTP port (the HTTPS port with --tls)");
  number("--client-port", o.client_port, "N", "Client port");
  number("--ms-port", o.ms_port, "N", "MsgServer port");
  number("--conns", o.conns, "N", "connections (default 64)");
  number("--ms-conns", o.ms_conns, "N", "mixed: msg_server streams (default 64)");
  number("--duration", o.duration_s, "S", "measured seconds (default 5)");
  number("--warmup", o.warmup_s, "S", "unmeasured seconds before (default 1)");
  app.add_flag("--close", o.close, "HTTP: Connection: close, a new connection per request");
  app.add_option("--path", o.path, "HTTP path (default /msg_server)")->type_name("P");
  number("--updates", o.updates, "N", "updates per msg_server connection (default 1000000)");
  number("--timeout", o.timeout_s, "S", "bound on each wait (default 300)");
  number("--server-pid", o.server_pid, "PID", "report the server's CPU (and, for idle, its RSS)");
  cli.Words(app.add_option("--kind", o.kind, "idle connections' kind (default client)")
                ->type_name("client|http"),
            {"client", "http"});
  number("--settle", o.settle_s, "S", "idle: pause before reading the RSS (default 1)");
  number("--hold", o.hold_s, "S",
         "idle: keep the connections open this long after measuring (default 0)");
  number("--max-seconds", o.max_seconds, "S", "hold: give up after this long (default 7200)");
  number("--cpu", cpu, "N", "pin this process to CPU N");
  app.add_option("--label", o.label, "echoed in the RESULT line")->type_name("TEXT");
  const std::string https = "HTTPS";
  app.add_flag("--tls", o.tls,
               "speak TLS 1.2 or 1.3 (ALPN http/1.1), verifying the server's certificate")
      ->group(https);
  cli.Files(app.add_option("--cafile", o.cafile,
                           "PEM CA certificates to verify with (default: the system's)")
                ->type_name("FILE")
                ->group(https));
  app.add_option("--servername", o.servername,
                 "SNI, and the name the certificate must carry (default: --host as an IP)")
      ->type_name("NAME")
      ->group(https);
  cli.Words(app.add_option_function<std::string>(
                   "--tls-version",
                   [&](const std::string& v) {
                     if (v != "1.2" && v != "1.3") {
                       throw CLI::ValidationError("--tls-version must be 1.2 or 1.3");
                     }
                     o.tls_version = v;
                   },
                   "1.2 or 1.3 only (default: either, as agreed with the server)")
                ->type_name("V")
                ->group(https),
            {"1.2", "1.3"});
  app.add_flag("--tls-resume", o.tls_resume,
               "each connection offers the session of its previous one (tickets or ids)")
      ->group(https);
  if (const std::optional<int> exit_code = cli.Parse(argc, argv)) return *exit_code;
  auto usage = [&](const std::string& error) { return cli.UsageError(error); };
  if (scenario.empty()) return usage("missing scenario");
  if (std::find(kScenarios.begin(), kScenarios.end(), scenario) == kScenarios.end()) {
    return usage("unknown scenario " + scenario);
  }
  if (o.conns < 1 || o.ms_conns < 1) return usage("--conns and --ms-conns must be at least 1");
  const bool tls_option =
      o.tls_resume || !o.cafile.empty() || !o.servername.empty() || !o.tls_version.empty();
  if (tls_option && !o.tls)
    return usage("--cafile, --servername, --tls-version and --tls-resume need --tls");
  if (o.tls && scenario != "http" && !(scenario == "idle" && o.kind == "http")) {
    return usage("--tls applies to the http scenario and to idle --kind http only");
  }
  // A TLS write to a connection the server already closed raises SIGPIPE (OpenSSL writes with
  // write(), not send(MSG_NOSIGNAL)); the failed write is handled as a closed connection.
  std::signal(SIGPIPE, SIG_IGN);
  if (cpu >= 0 && !lg::PinToCpu(cpu)) std::fprintf(stderr, "loadgen: cannot pin to CPU %d\n", cpu);
  lg::RaiseOpenFilesLimit();
  const bool need_http = scenario == "http" || scenario == "updates" || scenario == "mixed" ||
                         (scenario == "idle" && o.kind == "http");
  if (need_http && o.http_port == 0) return usage(scenario + " needs --http-port");
  if ((scenario == "pdu" || (scenario == "idle" && o.kind == "client")) && o.client_port == 0) {
    return usage(scenario + " needs --client-port");
  }
  if ((scenario == "updates" || scenario == "mixed" || scenario == "hold") && o.ms_port == 0) {
    return usage(scenario + " needs --ms-port");
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
  return usage("unknown scenario " + scenario);
}
