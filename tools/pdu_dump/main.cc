// pdu_dump: prints every TeamTalk PDU in a capture, a raw stream, live traffic or a proxied
// connection. See docs/PDU_DUMP.md and `pdu_dump --help`.
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include <asio.hpp>

#include "tools/pdu_dump/capture_reader.h"
#include "tools/pdu_dump/options.h"
#include "tools/pdu_dump/raw_input.h"

namespace ttlogin::tools::pdu_dump {
namespace {

std::atomic<bool> g_stop{false};

void OnStopSignal(int) {
  g_stop.store(true);
  BreakLiveCapture();
}

// Worse outcomes win: an input that could not be read outranks damage inside one that could.
int Severity(InputStatus s) {
  switch (s) {
    case InputStatus::kOk:
      return 0;
    case InputStatus::kDamaged:
      return 1;
    case InputStatus::kBadFilter:
      return 2;
    case InputStatus::kCannotOpen:
      return 3;
    case InputStatus::kPermissionDenied:
      return 4;
  }
  return 0;
}

int ExitCodeFor(InputStatus worst, const DumpStats& stats) {
  switch (worst) {
    case InputStatus::kPermissionDenied:
      return kExitNoPermission;
    case InputStatus::kCannotOpen:
      return kExitCannotOpen;
    case InputStatus::kBadFilter:
      return kExitUsage;
    default:
      return stats.errors() != 0 || worst == InputStatus::kDamaged ? kExitDecodeErrors : kExitOk;
  }
}

InputResult RunProxy(const Options& options, PduDumper& dumper) {
  asio::io_context io;
  PduProxy proxy(io, options.proxy, dumper);
  if (std::string error = proxy.Start(); !error.empty()) {
    return {InputStatus::kCannotOpen, "proxy: " + error};
  }
  const auto local = proxy.local_endpoint();
  // Tests and scripts read the bound port from this line (LISTEN_PORT may be 0).
  std::fprintf(stderr, "pdu_dump: proxy listening on %s:%u -> %s:%u\n",
               local.address().to_string().c_str(), local.port(),
               options.proxy.upstream_host.c_str(), options.proxy.upstream_port);
  std::fflush(stderr);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const std::error_code& ec, int) {
    if (!ec) proxy.Stop();
  });
  io.run();
  return {};
}

int Main(int argc, char** argv) {
  Options options;
  if (const std::optional<int> exit_code = ParseCommandLine(argc, argv, options)) {
    return *exit_code;
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> trace_file(nullptr, &std::fclose);
  std::unique_ptr<TraceWriter> trace;
  if (!options.trace_path.empty()) {
    trace_file.reset(std::fopen(options.trace_path.c_str(), "w"));
    if (!trace_file) {
      std::fprintf(stderr, "pdu_dump: cannot write trace %s: %s\n", options.trace_path.c_str(),
                   std::strerror(errno));
      return kExitCannotOpen;
    }
    trace = std::make_unique<TraceWriter>(trace_file.get());
  }
  PduDumper dumper(options.dump, stdout, trace.get());

  InputStatus worst = InputStatus::kOk;
  auto note = [&](const InputResult& r) {
    if (!r.message.empty()) std::fprintf(stderr, "pdu_dump: %s\n", r.message.c_str());
    if (Severity(r.status) > Severity(worst)) worst = r.status;
  };
  switch (options.mode) {
    case InputMode::kCapture:
      for (const std::string& path : options.captures) {
        // Each file is its own set of connections; streams never continue across files.
        CaptureDecoder decoder(options.capture, dumper);
        note(ReadCaptureFile(path, decoder, dumper));
        if (dumper.limit_reached()) break;
      }
      break;
    case InputMode::kRaw:
    case InputMode::kHex:
      note(ReadRawInput(options.raw_path, options.mode == InputMode::kHex, dumper,
                        options.capture.max_pdu_size));
      break;
    case InputMode::kLive: {
      struct sigaction sa {};
      sa.sa_handler = OnStopSignal;
      sigemptyset(&sa.sa_mask);
      sigaction(SIGINT, &sa, nullptr);
      sigaction(SIGTERM, &sa, nullptr);
      CaptureDecoder decoder(options.capture, dumper);
      LiveOptions live = options.live;
      live.stop = &g_stop;
      // With --port auto any port may carry PDUs, so the kernel must hand over all of TCP.
      note(RunLiveCapture(
          live, options.capture.auto_ports ? std::vector<std::uint16_t>{} : options.capture.ports,
          decoder, dumper));
      break;
    }
    case InputMode::kProxy:
      note(RunProxy(options, dumper));
      break;
  }
  dumper.Flush();
  if (trace_file) std::fflush(trace_file.get());
  const DumpStats& stats = dumper.stats();
  if (options.stats) stats.Print(stderr);
  // Said even with -q: an empty output must not pass for "no PDUs" when there were some elsewhere.
  if (!options.capture.auto_ports) {
    if (const std::string hint = UnwatchedPortsHint(stats); !hint.empty()) {
      std::fprintf(stderr, "pdu_dump: %s\n", hint.c_str());
    }
  }
  if (stats.errors() != 0) {
    std::fprintf(stderr,
                 "pdu_dump: %llu error(s): %llu in streams, %llu in bodies, %llu in the input "
                 "(see the ERROR lines)\n",
                 static_cast<unsigned long long>(stats.errors()),
                 static_cast<unsigned long long>(stats.stream_errors),
                 static_cast<unsigned long long>(stats.body_errors),
                 static_cast<unsigned long long>(stats.input_errors + stats.frames_malformed));
  }
  return ExitCodeFor(worst, stats);
}

}  // namespace
}  // namespace ttlogin::tools::pdu_dump

int main(int argc, char** argv) {
  return ttlogin::tools::pdu_dump::Main(argc, argv);
}
