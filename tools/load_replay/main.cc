// load_replay: replays a msg_server load trace against a login server (or the registry in
// process), checks every answer against an independent model, and generates synthetic traces.
// See docs/REPLAY.md.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "tools/load_replay/in_process_driver.h"
#include "tools/load_replay/network_driver.h"
#include "tools/load_replay/replay_engine.h"
#include "tools/load_replay/trace_annotator.h"
#include "tools/load_replay/trace_generator.h"
#include "tools/load_replay/trace_reader.h"

namespace {

using namespace ttlogin::tools::replay;

// Exit codes (docs/REPLAY.md).
constexpr int kExitOk = 0;
constexpr int kExitMismatch = 1;
constexpr int kExitError = 2;

void PrintUsage(std::ostream& out) {
  out << R"(usage:
  load_replay [--fast | --speed X] --http HOST:PORT --client HOST:PORT --msg-server HOST:PORT
              [--retry-ms N] [--max-mismatches N] [--list N] [--annotate OUT] TRACE
  load_replay --in-process [--fast | --speed X] [--annotate OUT] TRACE
  load_replay --annotate OUT TRACE
  load_replay --generate KIND [--seed N] [--events N] [--servers N] [--with-expect] -o OUT

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

int Run(const Args& a) {
  const ReadResult read = ReadTraceFile(a.trace);
  if (!read.ok()) {
    std::cerr << "load_replay: " << a.trace << ": " << read.error->ToString() << "\n";
    return kExitError;
  }
  const Trace& trace = read.trace;

  if (a.annotate) {
    std::ifstream in(a.trace);
    std::ofstream out(*a.annotate, std::ios::trunc);
    if (!out) {
      std::cerr << "load_replay: cannot write " << *a.annotate << "\n";
      return kExitError;
    }
    if (std::string err = WriteAnnotated(in, trace, out); !err.empty()) {
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

  std::unique_ptr<ReplayDriver> driver;
  if (a.in_process) {
    driver = std::make_unique<InProcessDriver>();
  } else {
    NetworkTargets targets;
    auto resolve = [](const std::optional<std::string>& text, Endpoint& ep, bool& has) {
      if (!text) return std::string();
      has = true;
      return ResolveEndpoint(*text, ep);
    };
    for (std::string err : {resolve(a.msg_server, targets.msg_server, targets.has_msg_server),
                            resolve(a.http, targets.http, targets.has_http),
                            resolve(a.client, targets.client, targets.has_client)}) {
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
  return args.generate ? Generate(args) : Run(args);
}
