// load_replay: replays a msg_server load trace against a login server (or the registry in
// process), checks every answer against an independent model, and generates synthetic traces.
// See docs/REPLAY.md.
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "common/command_line.h"
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
using ttlogin::common::DocSection;

// Exit codes (docs/REPLAY.md).
constexpr int kExitOk = 0;
constexpr int kExitMismatch = 1;
constexpr int kExitError = ttlogin::common::kExitUsageError;

// --help and the man page load_replay(1); the options are defined in ParseArgs.
ttlogin::common::ToolDoc Doc() {
  ttlogin::common::ToolDoc doc;
  doc.name = "load_replay";
  doc.summary = "replay msg_server load traces against a login server and check every answer";
  doc.synopsis = {
      "[--fast | --speed X] --http HOST:PORT --client HOST:PORT --msg-server HOST:PORT "
      "[--admin HOST:PORT] [ROUTING] [--retry-ms N] [--max-mismatches N] [--list N] "
      "[--annotate OUT] TRACE",
      "--in-process [--fast | --speed X] [ROUTING] [--seed N] [--annotate OUT] TRACE",
      "--annotate OUT [--policy P] TRACE",
      "--generate KIND [--seed N] [--events N] [--servers N] [--with-expect] -o OUT",
      "--simulate flash-crowd|CLUSTER_TRACE [ROUTING] [--seed N] [SCENARIO] "
      "[--write-scenario OUT] [--record OUT] [--markdown-row LABEL]"};
  doc.description =
      "Replays TRACE (JSON Lines, docs/REPLAY.md) and checks every query against the model of "
      "the choice rule. Only the listeners the trace uses are needed.\n\n"
      "ROUTING options describe the server under test as it is configured (docs/ROUTING.md). "
      "The cluster simulation runs several login servers, each with its own registry, the "
      "msg_servers' updates reaching them after a latency, and prints the load spread; "
      "SCENARIO options shape the generated flash crowd.";
  DocSection kinds{"Trace generators (--generate KIND)", "", {}};
  for (const GeneratorKind& k : GeneratorKinds()) {
    kinds.items.emplace_back(std::string(k.name), std::string(k.description) +
                                                      " (default --servers " +
                                                      std::to_string(k.default_servers) + ")");
  }
  doc.sections = {std::move(kinds)};
  doc.exit_status = {"Exit status",
                     "",
                     {{"0", "every answer matched"},
                      {"1",
                       "mismatches or contradicting expects (--simulate: invariant "
                       "violations)"},
                      {"2", "bad usage, a bad trace, or an unreachable server"}}};
  doc.see_also = {"login_server(8)", "pdu_dump(1)"};
  return doc;
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

// Reports a value's error as a usage error naming the option.
void Check(bool ok, const std::string& error) {
  if (!ok) throw CLI::ValidationError(error);
}

// Defines the options into `cli`, parses, and checks how they combine. Returns the status to exit
// with when the program should stop here (help printed, or a usage error printed).
std::optional<int> ParseArgs(int argc, char** argv, Args& a) {
  ttlogin::common::CommandLine cli(Doc());
  CLI::App& app = cli.app();
  // A whole number in [lo, hi], stored by `set`.
  auto whole = [&](const std::string& name, std::uint64_t lo, std::uint64_t hi,
                   std::function<void(std::uint64_t)> set, const std::string& what,
                   const std::string& group) {
    return app
        .add_option_function<std::string>(
            name,
            [name, lo, hi, set](const std::string& v) {
              std::uint64_t n = 0;
              Check(ParseNumber(v, n), name + " needs a whole number");
              Check(n >= lo && n <= hi, name + " is out of range");
              set(n);
            },
            what)
        ->type_name("N")
        ->group(group);
  };
  auto text = [&](const std::string& name, std::optional<std::string>& slot,
                  const std::string& type, const std::string& what, const std::string& group) {
    return app
        .add_option_function<std::string>(
            name, [&slot](const std::string& v) { slot = v; }, what)
        ->type_name(type)
        ->group(group);
  };
  const std::string replay = "Replay";
  const std::string routing = "ROUTING";
  const std::string sim = "Cluster simulation (SCENARIO)";
  const std::string gen = "Trace generation";
  constexpr std::uint64_t kNoLimit = ~std::uint64_t{0};

  app.add_flag("--fast", a.fast,
               "send as fast as possible (order per msg_server kept); default: recorded timing")
      ->group(replay);
  app.add_option_function<std::string>(
         "--speed",
         [&](const std::string& v) {
           char* end = nullptr;
           a.speed = std::strtod(v.c_str(), &end);
           Check(end != v.c_str() && *end == '\0' && a.speed > 0 && a.speed <= 1e9,
                 "--speed needs a positive number");
           a.speed_given = true;
         },
         "recorded timing scaled by X (2 = twice as fast)")
      ->type_name("X")
      ->group(replay);
  text("--http", a.http, "HOST:PORT", "the login server's HTTP port (queries \"via\":\"http\")",
       replay);
  text("--client", a.client, "HOST:PORT",
       "the login server's Client port (queries \"via\":\"pdu\")", replay);
  text("--msg-server", a.msg_server, "HOST:PORT", "the login server's MsgServer port", replay);
  app.add_flag("--in-process", a.in_process,
               "replay into an in-process registry instead (no sockets)")
      ->group(replay);
  whole(
      "--retry-ms", 0, 3'600'000, [&](std::uint64_t n) { a.retry_ms = n; },
      "how long a disagreeing answer is asked again before it is a mismatch (default 2000; "
      "updates and queries travel on different connections)",
      replay);
  whole(
      "--max-mismatches", 0, kNoLimit, [&](std::uint64_t n) { a.max_mismatches = n; },
      "stop after N mismatches (default: never)", replay);
  whole(
      "--list", 0, kNoLimit, [&](std::uint64_t n) { a.list = n; },
      "mismatches listed in the summary (default 20)", replay);
  cli.Files(text("--annotate", a.annotate, "OUT",
                 "write the trace to OUT with the model's \"expect\" in every query", replay));

  app.add_option_function<std::string>(
         "--policy",
         [&](const std::string& v) {
           const auto p = ParseModelPolicy(v);
           Check(p.has_value(), "--policy must be least_count, least_ratio or p2c, not " + v);
           a.routing.policy = *p;
           a.routing_given = true;
         },
         "least_count (default), least_ratio or p2c (config Policy)")
      ->type_name("P")
      ->group(routing);
  cli.Words(app.get_option("--policy"), {"least_count", "least_ratio", "p2c"});
  whole(
      "--slow-start", 0, 3600,
      [&](std::uint64_t n) {
        a.routing.slow_start_ms = static_cast<std::int64_t>(n) * 1000;
        a.routing_given = true;
      },
      "slow start window, seconds (config SlowStart; 0 = off)", routing)
      ->type_name("S");
  whole(
      "--slow-start-min-share", 1, 100,
      [&](std::uint64_t n) { a.slow_start_min_share = static_cast<std::uint32_t>(n); },
      "share at the start of the window (config SlowStartMinShare, 10)", routing)
      ->type_name("PCT");
  whole(
      "--hold", 0, 3'600'000,
      [&](std::uint64_t n) {
        a.routing.assignment_hold_ms = static_cast<std::int64_t>(n);
        a.routing_given = true;
      },
      "assignment hold, ms (config AssignmentHold; 0 = off); against a server it needs "
      "--admin and must outlast the trace",
      routing)
      ->type_name("MS");
  whole(
      "--candidates", 0, 8, [&](std::uint64_t n) { a.candidates = n; },
      "further candidates asked for and checked (config Candidates; HTTP only)", routing);
  text("--admin", a.admin, "HOST:PORT",
       "the server's admin port: each query first waits until GET /servers shows the model's "
       "counts, so answers are exact (needed by --hold, --candidates)",
       routing);
  whole(
      "--seed", 0, kNoLimit, [&](std::uint64_t n) { a.gen.seed = n; },
      "seed of the in-process registry's random choices, of the generator and of the "
      "simulation (default 1)",
      routing);

  cli.Files(text("--simulate", a.simulate, "flash-crowd|FILE",
                 "generate the scenario (options below) or read a cluster trace", sim));
  constexpr std::uint64_t kScenarioMax = 100'000'000;
  whole(
      "--login-servers", 0, kScenarioMax,
      [&](std::uint64_t n) { a.scenario.login_servers = static_cast<std::uint32_t>(n); },
      "login servers (default 4)", sim);
  whole(
      "--msg-servers", 0, kScenarioMax,
      [&](std::uint64_t n) { a.scenario.msg_servers = static_cast<std::uint32_t>(n); },
      "msg_servers (default 50)", sim);
  whole(
      "--late-joiners", 0, kScenarioMax,
      [&](std::uint64_t n) { a.scenario.late_joiners = static_cast<std::uint32_t>(n); },
      "msg_servers that join during the crowd (default 3)", sim);
  whole(
      "--logins", 0, kScenarioMax, [&](std::uint64_t n) { a.scenario.logins = n; },
      "logins of the crowd (default 100000)", sim);
  whole(
      "--crowd-ms", 0, kScenarioMax,
      [&](std::uint64_t n) { a.scenario.crowd_ms = static_cast<std::uint32_t>(n); },
      "how long the crowd lasts, ms (default 10000)", sim);
  whole(
      "--update-latency-ms", 0, 3'600'000,
      [&](std::uint64_t n) { a.scenario.update_latency_ms = static_cast<std::uint32_t>(n); },
      "how long a msg_server's update takes to reach the login servers, ms (default 200)", sim);
  whole(
      "--connect-delay-ms", 0, 3'600'000,
      [&](std::uint64_t n) { a.scenario.connect_delay_ms = static_cast<std::uint32_t>(n); },
      "from an answer to the user's connect to the msg_server, ms (default 50)", sim);
  cli.Files(text("--write-scenario", a.write_scenario, "OUT",
                 "write the generated scenario (the simulation's input) to OUT", sim));
  cli.Files(text("--record", a.record, "OUT",
                 "write what happened (answers, the connects as increments) to OUT", sim));
  text("--markdown-row", a.markdown_row, "LABEL", "end with one row of the docs/ROUTING.md table",
       sim);

  std::vector<std::string> kinds;
  for (const GeneratorKind& k : GeneratorKinds())
    kinds.emplace_back(k.name);
  cli.Words(text("--generate", a.generate, "KIND",
                 "write a synthetic trace of KIND (listed above) to -o OUT", gen),
            kinds);
  cli.Files(text("-o", a.output, "OUT", "where --generate writes (\"-\" for stdout)", gen));
  whole(
      "--events", 0, kNoLimit, [&](std::uint64_t n) { a.gen.events = n; },
      "trace lines to generate (default 10000)", gen);
  whole(
      "--servers", 0, kMaxGeneratedServers,
      [&](std::uint64_t n) { a.gen.servers = static_cast<std::uint32_t>(n); },
      "msg_servers in the generated trace", gen);
  app.add_flag("--with-expect", a.gen.with_expect,
               "write the model's \"expect\" into generated queries")
      ->group(gen);
  std::vector<std::string> traces;
  cli.Files(app.add_option("TRACE", traces, "the trace to replay or annotate (JSON Lines)"));

  if (const std::optional<int> exit_code = cli.Parse(argc, argv)) return exit_code;
  if (traces.size() > 1) return cli.UsageError("more than one trace given");
  if (!traces.empty()) a.trace = traces.front();
  if (a.fast && a.speed_given) return cli.UsageError("--fast and --speed exclude each other");
  if (a.simulate) {
    if (a.in_process || a.http || a.client || a.msg_server || a.generate || a.annotate) {
      return cli.UsageError(
          "--simulate runs on its own: no replay, --generate or --annotate with it");
    }
    if (!a.trace.empty()) {
      return cli.UsageError("--simulate takes its scenario as its value, not a trace");
    }
    return std::nullopt;
  }
  if (a.generate) {
    if (!a.output) return cli.UsageError("--generate needs -o OUT");
    return std::nullopt;
  }
  if (a.trace.empty()) return cli.UsageError("no trace given");
  const bool network = a.http || a.client || a.msg_server;
  if (a.in_process && network) return cli.UsageError("--in-process takes no server addresses");
  if (!a.in_process && !network && !a.annotate) {
    return cli.UsageError("nothing to do: give the server's addresses, --in-process or --annotate");
  }
  return std::nullopt;
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
  if (const std::optional<int> exit_code = ParseArgs(argc, argv, args)) return *exit_code;
  if (args.simulate) return Simulate(args);
  return args.generate ? Generate(args) : Run(args);
}
