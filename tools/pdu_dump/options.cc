#include "tools/pdu_dump/options.h"

#include <string_view>
#include <tuple>

#include "common/command_line.h"
#include "tools/pdu_dump/pdu_filter.h"

namespace ttlogin::tools::pdu_dump {
namespace {

static_assert(kExitUsage == common::kExitUsageError);

// --help and the man page pdu_dump(1); the options are defined in ParseCommandLine.
common::ToolDoc Doc() {
  common::ToolDoc doc;
  doc.name = "pdu_dump";
  doc.summary = "print the TeamTalk PDUs of captures, raw streams, live traffic or a proxy";
  doc.synopsis = {"[OPTIONS] CAPTURE...", "[OPTIONS] --raw FILE|-", "[OPTIONS] --hex FILE|-",
                  "[OPTIONS] -i IFACE [BPF FILTER]",
                  "[OPTIONS] --proxy [LISTEN_ADDR:]LISTEN_PORT:HOST:PORT"};
  doc.description =
      "Prints every TeamTalk PDU (16-byte header + protobuf body) one per line. Captures are "
      "reassembled per TCP stream (reordering, retransmissions, PDUs split or merged across "
      "segments, IPv4/IPv6; Ethernet, Linux cooked v1/v2, loopback/null, raw IP link types).";
  doc.sections = {{"Inputs",
                   "",
                   {{"CAPTURE...", "pcap/pcapng files (\"-\" reads stdin)"},
                    {"--raw FILE|-", "bytes of one direction of a connection"},
                    {"--hex FILE|-", "the same as hex text (whitespace ignored)"},
                    {"-i IFACE [BPF FILTER]", "live capture (needs capture rights)"},
                    {"--proxy [LISTEN_ADDR:]LISTEN_PORT:HOST:PORT",
                     "relay TCP byte for byte, printing every PDU"}}}};
  doc.exit_status = {
      "Exit codes",
      "",
      {{"0", "every PDU decoded cleanly"},
       {"1",
        "some PDUs, streams or capture records were broken (each is reported where it is; "
        "decoding went on past it), or a live capture dropped packets"},
       {"2", "usage error (bad option, bad filter, bad BPF expression)"},
       {"3",
        "an input cannot be opened (missing file, not a capture, unsupported link type, no "
        "such interface, proxy cannot listen or resolve)"},
       {"4", "no permission to capture live (run as root or grant cap_net_raw,cap_net_admin)"}}};
  doc.see_also = {"login_server(8)", "load_replay(1)", "tshark(1)"};
  return doc;
}

// Reports a value's error as a usage error naming the option (the messages below do).
void Check(const std::string& error) {
  if (!error.empty()) throw CLI::ValidationError(error);
}

// "auto" in the list turns on decoding of PDU-looking streams on any port; a list of only
// "auto" keeps the watched ports as they are, since it asks for more, not for others.
std::string AddPorts(std::string_view value, Options& o, bool& replaced) {
  const bool add = !value.empty() && value.front() == '+';
  if (add) value.remove_prefix(1);
  if (value.empty()) return "--port needs a port list";
  std::vector<std::uint16_t> ports;
  bool automatic = false;
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    const std::string_view item = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    if (item == "auto") {
      automatic = true;
      continue;
    }
    const auto port = ParseNumber(item, 65535);
    if (!port || *port == 0) return "--port: '" + std::string(item) + "' is not a port";
    ports.push_back(static_cast<std::uint16_t>(*port));
  }
  if (automatic) o.capture.auto_ports = true;
  if (ports.empty()) return {};
  if (!add && !replaced) {
    o.capture.ports.clear();
    replaced = true;
  }
  o.capture.ports.insert(o.capture.ports.end(), ports.begin(), ports.end());
  return {};
}

}  // namespace

std::optional<int> ParseCommandLine(int argc, char** argv, Options& o) {
  bool ports_replaced = false;
  int inputs_chosen = 0;
  std::vector<std::string> positional;
  bool json = false;
  common::CommandLine cli(Doc());
  CLI::App& app = cli.app();
  app.add_flag("--json", json, "one JSON object per PDU per line (schema in docs/PDU_DUMP.md)");
  app.add_option_function<std::vector<std::string>>(
         "--port",
         [&](const std::vector<std::string>& values) {
           for (const std::string& v : values)
             Check(AddPorts(v, o, ports_replaced));
         },
         "TCP ports to decode in captures (default 8008,8100); a plain list replaces the "
         "defaults, a leading + adds to them; repeatable. \"auto\" also decodes every "
         "connection on any port whose start looks like a PDU stream. Without it, such streams "
         "on other ports are named on stderr at the end")
      ->type_name("[+]N[,N..]")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option_function<std::vector<std::string>>(
         "--filter",
         [&](const std::vector<std::string>& values) {
           for (const std::string& v : values)
             Check(o.dump.filter.Add(v));
         },
         "show only matching PDUs; EXPR is service=LIST, command=LIST or port=LIST (numbers, 0x "
         "hex or names such as SID_OTHER, OTHER, CID_OTHER_HEARTBEAT); terms of one key are "
         "alternatives, different keys must all match; repeatable")
      ->type_name("EXPR")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--stats", o.stats,
               "print a summary to stderr at the end (PDUs per command, bytes, streams, errors)");
  cli.Files(app.add_option("--trace", o.trace_path,
                           "write the msg_server load reports as a load-replay trace (JSON Lines)")
                ->type_name("FILE"));
  app.add_option_function<std::string>(
         "-c,--count",
         [&](const std::string& v) {
           const auto n = ParseNumber(v, 0xffffffffu);
           if (!n || *n == 0) Check("--count: '" + v + "' is not a positive number");
           o.dump.max_pdus = *n;
         },
         "stop after N shown PDUs")
      ->type_name("N");
  app.add_flag("-q,--quiet", o.dump.quiet, "no per-PDU lines (error lines still show)");
  app.add_option_function<std::string>(
         "--max-pdu",
         [&](const std::string& v) {
           const auto n = ParseNumber(v, 16 * 1024 * 1024);
           if (!n || *n < common::kPduHeaderSize) Check("--max-pdu must be 16..16777216");
           o.capture.max_pdu_size = *n;
           o.proxy.max_pdu_size = *n;
         },
         "largest valid PDU (default 65536); longer lengths are errors")
      ->type_name("BYTES");
  app.add_option_function<std::string>(
         "--max-buffer",
         [&](const std::string& v) {
           const auto n = ParseNumber(v, 1024u * 1024 * 1024);
           if (!n || *n == 0) Check("--max-buffer must be 1..1073741824");
           o.capture.max_out_of_order_bytes = *n;
         },
         "out-of-order data held per TCP stream before a hole is declared lost (default "
         "4194304)")
      ->type_name("BYTES");
  app.add_option_function<std::string>(
         "-B,--buffer-size",
         [&](const std::string& v) {
           const auto n = ParseNumber(v, 4u * 1024 * 1024);
           if (!n || *n < 256) Check("--buffer-size: '" + v + "' is not 256..4194304 (KiB)");
           o.live.buffer_kib = *n;
         },
         "live capture: the kernel's capture buffer in KiB (default 65536). Packets that arrive "
         "while it is full are dropped; pdu_dump then says how many and exits 1")
      ->type_name("KIB");
  for (const auto& [name, mode, what] :
       {std::tuple{"--raw", InputMode::kRaw, "read the bytes of one direction of a connection"},
        std::tuple{"--hex", InputMode::kHex, "read the same as hex text (whitespace ignored)"}}) {
    cli.Files(app.add_option_function<std::string>(
                     name,
                     [&o, &inputs_chosen, mode = mode](const std::string& v) {
                       o.raw_path = v;
                       o.mode = mode;
                       ++inputs_chosen;
                     },
                     std::string(what) + " from FILE (\"-\": stdin)")
                  ->type_name("FILE|-"));
  }
  app.add_option_function<std::string>(
         "-i,--interface",
         [&](const std::string& v) {
           o.live.interface = v;
           o.mode = InputMode::kLive;
           ++inputs_chosen;
         },
         "capture live on IFACE; the arguments after the options are a BPF filter")
      ->type_name("IFACE");
  app.add_option_function<std::string>(
         "--proxy",
         [&](const std::string& v) {
           Check(ParseProxySpec(v, o.proxy));
           o.mode = InputMode::kProxy;
           ++inputs_chosen;
         },
         "listen on LISTEN_PORT (0: any free port, printed on stderr), relay each connection "
         "to HOST:PORT byte for byte and print every PDU")
      ->type_name("[LISTEN_ADDR:]LISTEN_PORT:HOST:PORT");
  cli.Files(app.add_option("CAPTURE", positional,
                           "capture files (\"-\" reads stdin); with -i, the words of a BPF "
                           "filter"));
  if (const std::optional<int> exit_code = cli.Parse(argc, argv)) return exit_code;
  if (json) o.dump.format = OutputFormat::kJson;

  if (inputs_chosen > 1) return cli.UsageError("choose one of --raw, --hex, -i and --proxy");
  if (o.mode == InputMode::kLive) {
    for (const std::string& word : positional)
      o.live.bpf += (o.live.bpf.empty() ? "" : " ") + word;
  } else if (o.mode == InputMode::kCapture) {
    if (positional.empty()) {
      return cli.UsageError("no input: give a capture file, --raw, --hex, -i or --proxy");
    }
    o.captures = positional;
  } else if (!positional.empty()) {
    return cli.UsageError("unexpected argument '" + positional.front() + "'");
  }
  if ((o.mode == InputMode::kRaw || o.mode == InputMode::kHex) && o.dump.filter.has_port_terms()) {
    return cli.UsageError(
        "--filter port=... cannot apply to --raw/--hex input, which has no ports");
  }
  if (o.mode != InputMode::kCapture && o.mode != InputMode::kLive &&
      (ports_replaced || o.capture.auto_ports)) {
    return cli.UsageError("--port applies to captures only");
  }
  return std::nullopt;
}

}  // namespace ttlogin::tools::pdu_dump
