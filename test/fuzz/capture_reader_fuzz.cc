// Fuzz target: pdu_dump's capture reader, a pcap or pcapng file in memory -> libpcap ->
// link-layer parsing -> TCP reassembly -> PDU decoding -> formatted output.
//
// Input: [format][capture bytes]. The capture is read through fmemopen (the reader's stream entry
// point, as for stdin). It must never crash, and in JSON mode every output line must be a JSON
// object, since scripts consume that output line by line.
#include <cstdio>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/login_server_config.h"
#include "test/fuzz/fuzz_input.h"
#include "tools/pdu_dump/capture_decoder.h"
#include "tools/pdu_dump/capture_reader.h"
#include "tools/pdu_dump/pdu_dumper.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ttlogin;
  using namespace ttlogin::tools::pdu_dump;
  fuzz::FuzzInput in(data, size);
  const std::uint8_t mode = in.U8();
  const auto capture = in.Rest();
  if (capture.empty()) return 0;  // fmemopen refuses a zero-sized buffer

  DumpConfig dump;
  dump.format = (mode & 1) != 0 ? OutputFormat::kJson : OutputFormat::kText;
  CaptureConfig config;
  // A small reassembly window makes the out-of-order limit reachable.
  if ((mode & 2) != 0) config.max_out_of_order_bytes = 512;
  if ((mode & 4) != 0) config.max_pdu_size = common::kMinMaxPduSize;
  // Streams on other ports go through the unwatched-stream detector, and with auto into the
  // reassembler mid-connection; watching no usual port sends every stream that way.
  if ((mode & 8) != 0) config.auto_ports = true;
  if ((mode & 16) != 0) config.ports = {1};
  std::string output;
  {
    PduDumper dumper(dump, nullptr);
    CaptureDecoder decoder(config, dumper);
    std::string copy(reinterpret_cast<const char*>(capture.data()), capture.size());
    std::FILE* f = fmemopen(copy.data(), copy.size(), "rb");
    FUZZ_CHECK(f != nullptr);
    const InputResult result = ReadCaptureStream(f, "fuzz", decoder, dumper);
    FUZZ_CHECK((result.status == InputStatus::kOk) == result.message.empty());
    output = dumper.output();
    // The hint is built from whatever the capture held; it must stay one line.
    const std::string hint = UnwatchedPortsHint(dumper.stats());
    FUZZ_CHECK(hint.find('\n') == std::string::npos);
  }
  if (dump.format == OutputFormat::kJson) {
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      FUZZ_CHECK(nlohmann::json::parse(line, nullptr, false).is_object());
    }
  }
  return 0;
}
