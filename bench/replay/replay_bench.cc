// replay_bench: how many trace events per second a replay sustains, in process and against the
// real login_server over loopback (--fast), on a generated trace (1,000,000 events by default).
//
//   replay_bench [--events N] [--kind KIND] [--servers N] [--seed N] [--in-process-only]
//
// Two traces are replayed: the generated one (load reports and queries), and the same with the
// queries left out (load reports only), because a query costs a round trip and reports do not.
// Every replay is also checked: the benchmark fails if any answer mismatched.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "tools/load_replay/in_process_driver.h"
#include "tools/load_replay/network_driver.h"
#include "tools/load_replay/replay_engine.h"
#include "tools/load_replay/trace_generator.h"
#include "tools/load_replay/trace_reader.h"

#ifdef REPLAY_BENCH_WITH_SERVER
#include "test/support/server_process.h"
#endif

namespace {

using namespace ttlogin::tools::replay;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

Trace WithoutQueries(const Trace& trace) {
  Trace out = trace;
  out.events.clear();
  for (const Event& e : trace.events) {
    if (e.kind != EventKind::kQuery) out.events.push_back(e);
  }
  return out;
}

// Appends a barrier that ends only when the server has applied every report of every connection.
// Reports are written to sockets long before the server applies them, so without it a
// reports-only replay would measure the kernel's buffers. Each connection processes its bytes in
// order, so it is enough to see each connection's last PDU take effect:
//  1. every open connection re-registers with cur 1, max 2 (all tied);
//  2. one at a time, a connection re-registers with cur 0: the model's only answer is that one
//     (the ones before it are out, see 3), and the query is asked until the server agrees, which
//     it can only do once that connection's whole stream is applied;
//  3. that connection re-registers with max 0 and leaves the choice.
void AppendBarrier(Trace& trace) {
  ChoiceModel model(trace.names.size());
  for (const Event& e : trace.events)
    model.Apply(e, trace);
  const std::uint64_t t = trace.events.empty() ? 0 : trace.events.back().t_ms;
  std::vector<MsId> open;
  std::vector<ServerInfo> address;
  for (MsId id = 0; id < model.servers().size(); ++id) {
    if (!model.servers()[id].connected) continue;
    open.push_back(id);
    ServerInfo info = model.servers()[id].info;
    if (!model.servers()[id].registered) {
      info = ServerInfo{"barrier-" + std::to_string(id), "barrier", 1, 0, 0, "barrier"};
    }
    address.push_back(info);
  }
  auto reg = [&](std::size_t k, std::uint32_t cur, std::uint32_t max) {
    ServerInfo info = address[k];
    info.cur = cur;
    info.max = max;
    trace.infos.push_back(info);
    trace.events.push_back(Event{t, ++trace.lines, EventKind::kRegister, QueryVia::kHttp, open[k],
                                 1, static_cast<std::uint32_t>(trace.infos.size() - 1)});
  };
  for (std::size_t k = 0; k < open.size(); ++k)
    reg(k, 1, 2);
  for (std::size_t k = 0; k < open.size(); ++k) {
    reg(k, 0, 2);
    trace.events.push_back(
        Event{t, ++trace.lines, EventKind::kQuery, QueryVia::kHttp, kNone, 1, kNone});
    reg(k, 0, 0);
  }
}

bool Report(const std::string& what, const Trace& trace, const ReplayReport& r) {
  const double eps = r.elapsed_s > 0 ? static_cast<double>(r.events) / r.elapsed_s : 0;
  std::cout << fmt::format(
      "{:<32} {:>8} events {:>7.3f} s {:>10.0f} events/s  ({} queries incl. the barrier's, {} "
      "re-asked, {} mismatches{})\n",
      what, r.events, r.elapsed_s, eps, r.queries, r.retried_queries,
      r.mismatches.size() + r.contradictions.size() + r.notes.failures.size(),
      r.transport_error.empty() ? "" : "; stopped: " + r.transport_error);
  if (ExitCode(r) != 0) PrintReport(std::cout, r, trace, what, 5);
  return ExitCode(r) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  GeneratorOptions gen;
  gen.kind = "diurnal";
  gen.events = 1'000'000;
  gen.servers = 16;
  bool in_process_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--events" && has_value) {
      gen.events = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--kind" && has_value) {
      gen.kind = argv[++i];
    } else if (arg == "--servers" && has_value) {
      gen.servers = static_cast<std::uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    } else if (arg == "--seed" && has_value) {
      gen.seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--in-process-only") {
      in_process_only = true;
    } else {
      std::cerr << "usage: replay_bench [--events N] [--kind KIND] [--servers N] [--seed N] "
                   "[--in-process-only]\n";
      return 2;
    }
  }

  auto start = Clock::now();
  std::ostringstream text;
  if (std::string err = GenerateTrace(gen, text); !err.empty()) {
    std::cerr << "replay_bench: " << err << "\n";
    return 2;
  }
  const std::string trace_text = text.str();
  std::cout << fmt::format("generated {} {} events over {} msg_servers: {:.1f} MiB in {:.2f} s\n",
                           gen.events, gen.kind, gen.servers, trace_text.size() / 1048576.0,
                           Seconds(start));
  start = Clock::now();
  const ReadResult read = ReadTraceString(trace_text);
  if (!read.ok()) {
    std::cerr << "replay_bench: " << read.error->ToString() << "\n";
    return 2;
  }
  const double parse_s = Seconds(start);
  std::cout << fmt::format("parsed in {:.2f} s ({:.0f} lines/s)\n", parse_s,
                           static_cast<double>(read.trace.events.size()) / parse_s);
  Trace full = read.trace;
  Trace reports = WithoutQueries(full);
  std::cout << fmt::format(
      "queries: {} of {} events ({:.1f}%)\n", full.query_count(), full.events.size(),
      100.0 * static_cast<double>(full.query_count()) / static_cast<double>(full.events.size()));

  AppendBarrier(full);
  AppendBarrier(reports);

  ReplayOptions options;
  options.fast = true;
  // The barrier query waits for the server to apply a backlog of up to a million reports.
  options.retry_bound = std::chrono::seconds(120);
  bool ok = true;
  {
    InProcessDriver driver;
    ok &= Report("in-process, reports + queries", full, ReplayEngine(full, driver, options).Run());
  }
  {
    InProcessDriver driver;
    ok &= Report("in-process, reports only", reports, ReplayEngine(reports, driver, options).Run());
  }
#ifdef REPLAY_BENCH_WITH_SERVER
  if (!in_process_only) {
    for (const Trace* trace : {&full, &reports}) {
      // A fresh server per run, logging warnings only: debug logging of every update would
      // measure the logger.
      ttlogin::test::ServerProcess server("LogLevel=warn\n");
      if (!server.started()) {
        std::cerr << "replay_bench: login_server did not start\n" << server.log();
        return 2;
      }
      NetworkTargets targets;
      const auto& p = server.ports();
      ResolveEndpoint("127.0.0.1:" + std::to_string(p.msg_server), targets.msg_server);
      ResolveEndpoint("127.0.0.1:" + std::to_string(p.http), targets.http);
      ResolveEndpoint("127.0.0.1:" + std::to_string(p.client), targets.client);
      targets.has_msg_server = targets.has_http = targets.has_client = true;
      NetworkDriver driver(*trace, std::move(targets));
      ok &=
          Report(trace == &full ? "login_server, reports + queries" : "login_server, reports only",
                 *trace, ReplayEngine(*trace, driver, options).Run());
    }
  }
#else
  if (!in_process_only) std::cout << "(built without the test support: no server runs)\n";
#endif
  return ok ? 0 : 1;
}
