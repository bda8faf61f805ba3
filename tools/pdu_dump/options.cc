#include "tools/pdu_dump/options.h"

#include <string_view>

#include "tools/pdu_dump/pdu_filter.h"

namespace ttlogin::tools::pdu_dump {

const char* const kUsageText = R"(Usage:
  pdu_dump [OPTIONS] CAPTURE...             pcap/pcapng files ("-" reads stdin)
  pdu_dump [OPTIONS] --raw FILE|-           bytes of one direction of a connection
  pdu_dump [OPTIONS] --hex FILE|-           the same as hex text (whitespace ignored)
  pdu_dump [OPTIONS] -i IFACE [BPF FILTER]  live capture (needs capture rights)
  pdu_dump [OPTIONS] --proxy [LISTEN_ADDR:]LISTEN_PORT:HOST:PORT
                                            relay TCP byte for byte, printing every PDU

Prints every TeamTalk PDU (16-byte header + protobuf body) one per line. Captures are
reassembled per TCP stream (reordering, retransmissions, PDUs split or merged across
segments, IPv4/IPv6; Ethernet, Linux cooked v1/v2, loopback/null, raw IP link types).

Options:
  --json             one JSON object per PDU per line (schema in docs/PDU_DUMP.md)
  --port [+]N[,N..]  TCP ports to decode in captures (default 8008,8100); a plain list
                     replaces the defaults, a leading + adds to them; repeatable.
                     "auto" also decodes every connection on any port whose start
                     looks like a PDU stream. Without it, such streams on other ports
                     are named on stderr at the end
  --filter EXPR      show only matching PDUs; EXPR is service=LIST, command=LIST or
                     port=LIST (numbers, 0x hex or names such as SID_OTHER, OTHER,
                     CID_OTHER_HEARTBEAT); terms of one key are alternatives, different
                     keys must all match; repeatable
  --stats            print a summary to stderr at the end (PDUs per command, bytes,
                     streams, errors)
  --trace FILE       write the msg_server load reports as a load-replay trace (JSON Lines)
  -c, --count N      stop after N shown PDUs
  -q, --quiet        no per-PDU lines (error lines still show)
  --max-pdu BYTES    largest valid PDU (default 65536); longer lengths are errors
  --max-buffer BYTES out-of-order data held per TCP stream before a hole is declared
                     lost (default 4194304)
  -B, --buffer-size KIB
                     live capture: the kernel's capture buffer in KiB (default 65536).
                     Packets that arrive while it is full are dropped; pdu_dump then
                     says how many and exits 1
  -h, --help         this text

Exit codes:
  0  every PDU decoded cleanly
  1  some PDUs, streams or capture records were broken (each is reported where it is;
     decoding went on past it), or a live capture dropped packets
  2  usage error (bad option, bad filter, bad BPF expression)
  3  an input cannot be opened (missing file, not a capture, unsupported link type,
     no such interface, proxy cannot listen or resolve)
  4  no permission to capture live (run as root or grant cap_net_raw,cap_net_admin)
)";

namespace {

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

std::string ParseCommandLine(int argc, char** argv, Options& o) {
  bool ports_replaced = false;
  int inputs_chosen = 0;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string& out) -> bool {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "-h" || arg == "--help") {
      o.help = true;
    } else if (arg == "--json") {
      o.dump.format = OutputFormat::kJson;
    } else if (arg == "--stats") {
      o.stats = true;
    } else if (arg == "-q" || arg == "--quiet") {
      o.dump.quiet = true;
    } else if (arg == "--port") {
      if (!value(v)) return "--port needs a value";
      if (std::string e = AddPorts(v, o, ports_replaced); !e.empty()) return e;
    } else if (arg == "--filter") {
      if (!value(v)) return "--filter needs a value";
      if (std::string e = o.dump.filter.Add(v); !e.empty()) return e;
    } else if (arg == "--trace") {
      if (!value(o.trace_path)) return "--trace needs a file name";
    } else if (arg == "-c" || arg == "--count") {
      if (!value(v)) return "--count needs a number";
      const auto n = ParseNumber(v, 0xffffffffu);
      if (!n || *n == 0) return "--count: '" + v + "' is not a positive number";
      o.dump.max_pdus = *n;
    } else if (arg == "--max-pdu") {
      if (!value(v)) return "--max-pdu needs a number";
      const auto n = ParseNumber(v, 16 * 1024 * 1024);
      if (!n || *n < common::kPduHeaderSize) return "--max-pdu must be 16..16777216";
      o.capture.max_pdu_size = *n;
      o.proxy.max_pdu_size = *n;
    } else if (arg == "--max-buffer") {
      if (!value(v)) return "--max-buffer needs a number";
      const auto n = ParseNumber(v, 1024u * 1024 * 1024);
      if (!n || *n == 0) return "--max-buffer must be 1..1073741824";
      o.capture.max_out_of_order_bytes = *n;
    } else if (arg == "-B" || arg == "--buffer-size") {
      if (!value(v)) return arg + " needs a size in KiB";
      const auto n = ParseNumber(v, 4u * 1024 * 1024);
      if (!n || *n < 256) return arg + ": '" + v + "' is not 256..4194304 (KiB)";
      o.live.buffer_kib = *n;
    } else if (arg == "--raw" || arg == "--hex") {
      if (!value(o.raw_path)) return arg + " needs a file name or -";
      o.mode = arg == "--raw" ? InputMode::kRaw : InputMode::kHex;
      ++inputs_chosen;
    } else if (arg == "-i" || arg == "--interface") {
      if (!value(o.live.interface)) return "-i needs an interface name";
      o.mode = InputMode::kLive;
      ++inputs_chosen;
    } else if (arg == "--proxy") {
      if (!value(v)) return "--proxy needs LISTEN_PORT:HOST:PORT";
      if (std::string e = ParseProxySpec(v, o.proxy); !e.empty()) return e;
      o.mode = InputMode::kProxy;
      ++inputs_chosen;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return "unknown option '" + arg + "'";
    } else {
      positional.push_back(arg);
    }
  }
  if (o.help) return {};
  if (inputs_chosen > 1) return "choose one of --raw, --hex, -i and --proxy";
  if (o.mode == InputMode::kLive) {
    for (const std::string& word : positional)
      o.live.bpf += (o.live.bpf.empty() ? "" : " ") + word;
  } else if (o.mode == InputMode::kCapture) {
    if (positional.empty()) return "no input: give a capture file, --raw, --hex, -i or --proxy";
    o.captures = positional;
  } else if (!positional.empty()) {
    return "unexpected argument '" + positional.front() + "'";
  }
  if ((o.mode == InputMode::kRaw || o.mode == InputMode::kHex) && o.dump.filter.has_port_terms()) {
    return "--filter port=... cannot apply to --raw/--hex input, which has no ports";
  }
  if (o.mode != InputMode::kCapture && o.mode != InputMode::kLive &&
      (ports_replaced || o.capture.auto_ports)) {
    return "--port applies to captures only";
  }
  return {};
}

}  // namespace ttlogin::tools::pdu_dump
