// load_replay: replays a msg_server load trace against a login server (or the registry in
// process), checks every answer against an independent model, and generates synthetic traces.
// See docs/REPLAY.md.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "tools/load_replay/cluster_scenario.h"
#include "tools/load_replay/cluster_sim.h"
#include "tools/load_replay/in_process_driver.h"
#include "tools/load_replay/network_driver.h"
#include "tools/load_replay/replay_engine.h"
#include "tools/load_replay/trace_annotator.h"
#include "tools/load_replay/trace_generator.h"
#include "tools/load_replay/trace_reader.h"

namespace {

using namespace ttlogin::tools::replay;
namespace registry = ttlogin::registry;

// Exit codes (docs/REPLAY.md).
constexpr int kExitOk = 0;
constexpr int kExitMismatch = 1;
constexpr int kExitError = 2;

void PrintUsage(std::ostream& out) {
  out << R"(usage:
  load_replay [--fast | --speed X] --http HOST:PORT --client HOST:PORT --msg-server HOST:PORT
              [--admin HOST:PORT] [ROUTING] [--retry-ms N] [--max-mismatches N] [--list N]
              [--annotate OUT] TRACE
  load_replay --in-process [--fast | --speed X] [ROUTING] [--seed N] [--annotate OUT] TRACE
  load_replay --annotate OUT [--policy P] TRACE
  load_replay --generate KIND [--seed N] [--events N] [--servers N] [--with-expect] -o OUT
  load_replay --simulate flash-crowd|CLUSTER_TRACE [ROUTING] [--seed N] [SCENARIO]
              [--write-scenario OUT] [--record OUT] [--markdown-row LABEL]

Replays TRACE (JSON Lines, docs/REPLAY.md) and checks every query against the model of the
choice rule. Only the listeners the trace uses are needed.

  --fast              send as fast as possible (order per msg_server kept); default: recorded timing
  --speed X           recorded timing scaled by X (2 = twice as fast)
  --http HOST:PORT    the login server's HTTP port (queries "via":"http")
  --client HOST:PORT  the login server's Client port (queries "via":"pdu")
  --msg-server HOST:PORT  the login server's MsgServer port
  --in-process        replay into an in-process registry instead (no sockets)
  --retry-ms N        how long a disagreeing answer is asked again before it is a mismatch
                      (default 2000; updates and queries travel on different connections)
  --max-mismatches N  stop after N mismatches (default: never)
  --list N            mismatches listed in the summary (default 20)
  --annotate OUT      write the trace to OUT with the model's "expect" in every query

ROUTING (as the server under test is configured; docs/ROUTING.md):
  --policy P          least_count (default), least_ratio or p2c (config Policy)
  --slow-start S      slow start window, seconds (config SlowStart; 0 = off)
  --slow-start-min-share PCT  share at the start of the window (config SlowStartMinShare, 10)
  --hold MS           assignment hold, ms (config AssignmentHold; 0 = off); against a server it
                      needs --admin and must outlast the trace
  --candidates N      further candidates asked for and checked (config Candidates; HTTP only)
  --admin HOST:PORT   the server's admin port: each query first waits until GET /servers shows
                      the model's counts, so answers are exact (needed by --hold, --candidates)
  --seed N            seed of the in-process registry's random choices (default 1)

Cluster simulation (docs/ROUTING.md): several login servers, each with its own registry, the
msg_servers' updates reaching them after a latency; prints the load spread.
  --simulate flash-crowd|FILE  generate the scenario (options below) or read a cluster trace
  --login-servers N (4)  --msg-servers N (50)  --late-joiners N (3)  --logins N (100000)
  --crowd-ms N (10000)  --update-latency-ms N (200)  --connect-delay-ms N (50)
  --write-scenario OUT  write the generated scenario (the simulation's input) to OUT
  --record OUT        write what happened (answers, the connects as increments) to OUT
  --markdown-row LABEL  end with one row of the docs/ROUTING.md table
  --generate KIND     write a synthetic trace to -o OUT ("-" for stdout); KIND is one of:
)";
  for (const GeneratorKind& k : GeneratorKinds()) {
    out << "                        " << k.name << ": " << k.description << " (default --servers "
        << k.default_servers << ")\n";
  }
  out << R"(  --seed N            generator seed (default 1)
  --events N          trace lines to generate (default 10000)
  --servers N         msg_servers in the generated trace
  --with-expect       write the model's "expect" into generated queries

exit status: 0 every answer matched; 1 mismatches or contradicting expects; 2 bad usage, a bad
trace, or an unreachable server.
)";
}

struct Args {
  bool fast = false;
  double speed = 1.0;
  bool speed_given = false;
  bool in_process = false;
  std::optional<std::string> http, client, msg_server, annotate, generate, output;
  std::uint64_t retry_ms = kDefaultRetryBound.count();
  std::uint64_t max_mismatches = 0;
  std::uint64_t list = 20;
  GeneratorOptions gen;
  std::string trace;
  ModelRouting routing;
  std::uint32_t slow_start_min_share = 10;
  std::uint64_t candidates = 0;
  std::optional<std::string> admin, simulate, write_scenario, record, markdown_row;
  ClusterScenarioOptions scenario;
  bool routing_given = false;
};

bool ParseNumber(const std::string& text, std::uint64_t& out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  out = std::strtoull(text.c_str(), nullptr, 10);
  return errno == 0;
}

// Returns an error message, or empty.
std::string ParseArgs(int argc, char** argv, Args& a, bool& help) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    std::string v;
    std::uint64_t n = 0;
    if (arg == "--help" || arg == "-h") {
      help = true;
    } else if (arg == "--fast") {
      a.fast = true;
    } else if (arg == "--speed") {
      if (!value(v)) return "--speed needs a value";
      char* end = nullptr;
      a.speed = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || !(a.speed > 0) || a.speed > 1e9) {
        return "--speed needs a positive number";
      }
      a.speed_given = true;
    } else if (arg == "--in-process") {
      a.in_process = true;
    } else if (arg == "--http" || arg == "--client" || arg == "--msg-server" ||
               arg == "--annotate" || arg == "--generate" || arg == "-o") {
      if (!value(v)) return arg + " needs a value";
      auto& slot = arg == "--http"       ? a.http
                   : arg == "--client"   ? a.client
                   : arg == "--annotate" ? a.annotate
                   : arg == "--generate" ? a.generate
                   : arg == "-o"         ? a.output
                                         : a.msg_server;
      slot = v;
    } else if (arg == "--policy") {
      if (!value(v)) return "--policy needs a value";
      const auto p = ParseModelPolicy(v);
      if (!p) return "--policy must be least_count, least_ratio or p2c, not " + v;
      a.routing.policy = *p;
      a.routing_given = true;
    } else if (arg == "--admin" || arg == "--simulate" || arg == "--write-scenario" ||
               arg == "--record" || arg == "--markdown-row") {
      if (!value(v)) return arg + " needs a value";
      auto& slot = arg == "--admin"            ? a.admin
                   : arg == "--simulate"       ? a.simulate
                   : arg == "--write-scenario" ? a.write_scenario
                   : arg == "--record"         ? a.record
                                               : a.markdown_row;
      slot = v;
    } else if (arg == "--slow-start" || arg == "--slow-start-min-share" || arg == "--hold" ||
               arg == "--candidates" || arg == "--login-servers" || arg == "--msg-servers" ||
               arg == "--late-joiners" || arg == "--logins" || arg == "--crowd-ms" ||
               arg == "--update-latency-ms" || arg == "--connect-delay-ms") {
      if (!value(v) || !ParseNumber(v, n)) return arg + " needs a whole number";
      auto bounded = [&](std::uint64_t lo, std::uint64_t hi) { return n >= lo && n <= hi; };
      const std::string range = arg + " is out of range";
      if (arg == "--slow-start") {
        if (!bounded(0, 3600)) return range;
        a.routing.slow_start_ms = static_cast<std::int64_t>(n) * 1000;
        a.routing_given = true;
      } else if (arg == "--slow-start-min-share") {
        if (!bounded(1, 100)) return range;
        a.slow_start_min_share = static_cast<std::uint32_t>(n);
      } else if (arg == "--hold") {
        if (!bounded(0, 3'600'000)) return range;
        a.routing.assignment_hold_ms = static_cast<std::int64_t>(n);
        a.routing_given = true;
      } else if (arg == "--candidates") {
        if (!bounded(0, 8)) return range;
        a.candidates = n;
      } else if (!bounded(0, 100'000'000)) {
        return range;
      } else if (arg == "--login-servers") {
        a.scenario.login_servers = static_cast<std::uint32_t>(n);
      } else if (arg == "--msg-servers") {
        a.scenario.msg_servers = static_cast<std::uint32_t>(n);
      } else if (arg == "--late-joiners") {
        a.scenario.late_joiners = static_cast<std::uint32_t>(n);
      } else if (arg == "--logins") {
        a.scenario.logins = n;
      } else if (arg == "--crowd-ms") {
        a.scenario.crowd_ms = static_cast<std::uint32_t>(n);
      } else if (arg == "--update-latency-ms") {
        if (!bounded(0, 3'600'000)) return range;
        a.scenario.update_latency_ms = static_cast<std::uint32_t>(n);
      } else {
        if (!bounded(0, 3'600'000)) return range;
        a.scenario.connect_delay_ms = static_cast<std::uint32_t>(n);
      }
    } else if (arg == "--retry-ms" || arg == "--max-mismatches" || arg == "--list" ||
               arg == "--seed" || arg == "--events" || arg == "--servers") {
      if (!value(v) || !ParseNumber(v, n)) return arg + " needs a whole number";
      if (arg == "--retry-ms") {
        if (n > 3'600'000) return "--retry-ms must be at most 3600000";
        a.retry_ms = n;
      } else if (arg == "--max-mismatches") {
        a.max_mismatches = n;
      } else if (arg == "--list") {
        a.list = n;
      } else if (arg == "--seed") {
        a.gen.seed = n;
      } else if (arg == "--events") {
        a.gen.events = n;
      } else {
        if (n > kMaxGeneratedServers) return "--servers is too large";
        a.gen.servers = static_cast<std::uint32_t>(n);
      }
    } else if (arg == "--with-expect") {
      a.gen.with_expect = true;
    } else if (!arg.empty() && arg[0] == '-' && arg != "-") {
      return "unknown option " + arg;
    } else if (a.trace.empty()) {
      a.trace = arg;
    } else {
      return "more than one trace given";
    }
  }
  if (help) return {};
  if (a.fast && a.speed_given) return "--fast and --speed exclude each other";
  if (a.simulate) {
    if (a.in_process || a.http || a.client || a.msg_server || a.generate || a.annotate) {
      return "--simulate runs on its own: no replay, --generate or --annotate with it";
    }
    if (!a.trace.empty()) return "--simulate takes its scenario as its value, not a trace";
    return {};
  }
  if (a.generate) {
    if (!a.output) return "--generate needs -o OUT";
    return {};
  }
  if (a.trace.empty()) return "no trace given";
  const bool network = a.http || a.client || a.msg_server;
  if (a.in_process && network) return "--in-process takes no server addresses";
  if (!a.in_process && !network && !a.annotate) {
    return "nothing to do: give the server's addresses, --in-process or --annotate";
  }
  return {};
}

int Generate(const Args& a) {
  GeneratorOptions options = a.gen;
  options.kind = *a.generate;
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (*a.output != "-") {
    file.open(*a.output, std::ios::trunc);
    if (!file) {
      std::cerr << "load_replay: cannot write " << *a.output << "\n";
      return kExitError;
    }
    out = &file;
  }
  const std::string err = GenerateTrace(options, *out);
  out->flush();
  if (!err.empty()) {
    std::cerr << "load_replay: " << err << "\n";
    return kExitError;
  }
  return kExitOk;
}

registry::RoutingOptions RegistryRouting(const Args& a) {
  registry::RoutingOptions r;
  r.policy = a.routing.policy == ModelPolicy::kLeastRatio ? registry::Policy::kLeastRatio
             : a.routing.policy == ModelPolicy::kP2c      ? registry::Policy::kP2c
                                                          : registry::Policy::kLeastCount;
  r.slow_start_ms = a.routing.slow_start_ms;
  r.slow_start_min_percent = a.slow_start_min_share;
  r.assignment_hold_ms = a.routing.assignment_hold_ms;
  return r;
}

int Simulate(const Args& a) {
  ReadResult read;
  const bool generated = *a.simulate == "flash-crowd";
  if (generated) {
    ClusterScenarioOptions options = a.scenario;
    options.seed = a.gen.seed;
    std::stringstream scenario;
    if (std::string err = WriteClusterScenario(options, scenario); !err.empty()) {
      std::cerr << "load_replay: " << err << "\n";
      return kExitError;
    }
    if (a.write_scenario) {
      std::ofstream out(*a.write_scenario, std::ios::trunc);
      out << scenario.str();
      if (!out) {
        std::cerr << "load_replay: cannot write " << *a.write_scenario << "\n";
        return kExitError;
      }
    }
    read = ReadTrace(scenario);
  } else {
    read = ReadTraceFile(*a.simulate);
  }
  if (!read.ok()) {
    std::cerr << "load_replay: " << *a.simulate << ": " << read.error->ToString() << "\n";
    return kExitError;
  }
  if (!read.trace.cluster) {
    std::cerr << "load_replay: " << *a.simulate << " is no cluster trace (no \"cluster\" line)\n";
    return kExitError;
  }
  SimOptions options;
  options.routing = RegistryRouting(a);
  options.seed = a.gen.seed;
  std::ofstream record;
  if (a.record) {
    record.open(*a.record, std::ios::trunc);
    if (!record) {
      std::cerr << "load_replay: cannot write " << *a.record << "\n";
      return kExitError;
    }
    options.record = &record;
  }
  const SimResult result = SimulateCluster(read.trace, options);
  PrintSimResult(std::cout, result, options);
  if (a.markdown_row) std::cout << SimMarkdownRow(*a.markdown_row, result) << "\n";
  return result.violation_count == 0 ? kExitOk : kExitMismatch;
}

int Run(const Args& a) {
  const ReadResult read = ReadTraceFile(a.trace);
  if (!read.ok()) {
    std::cerr << "load_replay: " << a.trace << ": " << read.error->ToString() << "\n";
    return kExitError;
  }
  const Trace& trace = read.trace;
  if (trace.cluster) {
    std::cerr << "load_replay: " << a.trace
              << " is a cluster trace (several login servers): run it with --simulate\n";
    return kExitError;
  }
  const bool network = a.http || a.client || a.msg_server;
  if (network && a.candidates > 0 && !a.admin) {
    std::cerr << "load_replay: against a server, --candidates needs --admin (a list computed "
                 "while updates are in flight cannot be checked)\n";
    return kExitError;
  }
  if (a.routing.assignment_hold_ms > 0 && network) {
    // The server's holds run on its own clock, the model's on the trace's: they agree only while
    // no hold runs out, which the replay cannot arrange at recorded speed, so demand it.
    const std::uint64_t span = trace.events.empty() ? 0 : trace.events.back().t_ms;
    if (static_cast<std::uint64_t>(a.routing.assignment_hold_ms) <= span) {
      std::cerr << "load_replay: against a server, --hold must outlast the trace (" << span
                << " ms), so that no hold runs out on either clock\n";
      return kExitError;
    }
    if (!a.admin) {
      std::cerr << "load_replay: against a server, --hold needs --admin (each query waits until "
                   "the server shows every update applied)\n";
      return kExitError;
    }
  }

  if (a.annotate) {
    if (a.routing.randomised() || a.routing.assignment_hold_ms > 0) {
      std::cerr << "load_replay: --annotate needs a deterministic policy without holds or slow "
                   "start (the answers would depend on the server's)\n";
      return kExitError;
    }
    std::ifstream in(a.trace);
    std::ofstream out(*a.annotate, std::ios::trunc);
    if (!out) {
      std::cerr << "load_replay: cannot write " << *a.annotate << "\n";
      return kExitError;
    }
    if (std::string err = WriteAnnotated(in, trace, out, a.routing); !err.empty()) {
      std::cerr << "load_replay: " << err << "\n";
      return kExitError;
    }
    std::cout << "annotated " << trace.query_count() << " queries into " << *a.annotate << "\n";
    if (!a.in_process && !a.http && !a.client && !a.msg_server) return kExitOk;
  }

  ReplayOptions options;
  options.fast = a.fast;
  options.speed = a.speed;
  options.retry_bound = std::chrono::milliseconds(a.retry_ms);
  options.max_mismatches = a.max_mismatches;
  options.routing = a.routing;
  options.candidates = a.candidates;
  options.sync_before_query = network && a.admin.has_value();

  std::unique_ptr<ReplayDriver> driver;
  if (a.in_process) {
    driver = std::make_unique<InProcessDriver>(RegistryRouting(a), a.candidates, a.gen.seed);
  } else {
    NetworkTargets targets;
    auto resolve = [](const std::optional<std::string>& text, Endpoint& ep, bool& has) {
      if (!text) return std::string();
      has = true;
      return ResolveEndpoint(*text, ep);
    };
    for (std::string err : {resolve(a.msg_server, targets.msg_server, targets.has_msg_server),
                            resolve(a.http, targets.http, targets.has_http),
                            resolve(a.client, targets.client, targets.has_client),
                            resolve(a.admin, targets.admin, targets.has_admin)}) {
      if (!err.empty()) {
        std::cerr << "load_replay: " << err << "\n";
        return kExitError;
      }
    }
    bool need_ms = false;
    bool need_http = false;
    bool need_client = false;
    for (const Event& e : trace.events) {
      if (e.kind != EventKind::kQuery) {
        need_ms = true;
      } else {
        (e.via == QueryVia::kHttp ? need_http : need_client) = true;
      }
    }
    auto net = std::make_unique<NetworkDriver>(trace, std::move(targets));
    if (std::string err = net->Probe(need_ms, need_http, need_client); !err.empty()) {
      std::cerr << "load_replay: " << err << "\n";
      return kExitError;
    }
    driver = std::move(net);
  }

  if (a.routing_given || a.candidates > 0) {
    std::cout << "routing: policy " << ModelPolicyName(a.routing.policy) << ", slow start "
              << a.routing.slow_start_ms / 1000 << " s, assignment hold "
              << a.routing.assignment_hold_ms << " ms, candidates " << a.candidates
              << (a.routing.randomised() ? " (random choice: answers checked for eligibility)" : "")
              << "\n";
  }
  ReplayEngine engine(trace, *driver, options);
  const ReplayReport report = engine.Run();
  PrintReport(std::cout, report, trace, driver->Describe(), a.list);
  std::cout.flush();
  const int code = ExitCode(report);
  return code == 0 ? kExitOk : code == 1 ? kExitMismatch : kExitError;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  bool help = false;
  if (std::string err = ParseArgs(argc, argv, args, help); !err.empty()) {
    std::cerr << "load_replay: " << err << "\n\n";
    PrintUsage(std::cerr);
    return kExitError;
  }
  if (help) {
    PrintUsage(std::cout);
    return kExitOk;
  }
  if (args.simulate) return Simulate(args);
  return args.generate ? Generate(args) : Run(args);
}
