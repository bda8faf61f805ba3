// CaptureDecoder: frames in, PDUs out. Link-layer parsing, the port selection and TCP reassembly
// wired to one PduStreamDecoder per stream. It never touches a file or a socket, so tests and
// the fuzzer drive it with frames built in memory; CaptureReader feeds it from libpcap.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tools/pdu_dump/pdu_dumper.h"
#include "tools/pdu_dump/tcp_reassembler.h"
#include "tools/pdu_dump/unwatched_streams.h"

namespace ttlogin::tools::pdu_dump {

// The classic deployment's Client port and MsgServer port (docs/PROTOCOL.md, "Ports").
inline constexpr std::uint16_t kDefaultClientPort = 8008;
inline constexpr std::uint16_t kDefaultMsgServerPort = 8100;

struct CaptureConfig {
  std::vector<std::uint16_t> ports = {kDefaultClientPort, kDefaultMsgServerPort};
  std::uint32_t max_pdu_size = common::kDefaultMaxPduSize;
  std::size_t max_out_of_order_bytes = kDefaultMaxOutOfOrderBytes;
  // `--port auto`: also decode connections on any other port whose start looks like a PDU stream.
  bool auto_ports = false;
};

class CaptureDecoder final : private StreamFactory {
 public:
  CaptureDecoder(CaptureConfig config, PduDumper& dumper);
  ~CaptureDecoder() override;

  // One captured frame; `wire_length` is its length on the wire (> frame.size() when cut short).
  void OnFrame(int link_type, TimestampUs ts, std::span<const std::uint8_t> frame,
               std::uint32_t wire_length);
  // End of input: flush every stream, fold the reassembly figures into the dumper's stats.
  void Finish();

  // The first malformed frame's reason, for the error message at the end.
  const std::string& first_malformed_reason() const { return first_malformed_; }
  std::uint64_t first_malformed_frame() const { return first_malformed_frame_; }

 private:
  std::unique_ptr<StreamConsumer> OpenStream(const StreamInfo& info) override;
  void OnConnectionClosed(const Endpoint& from, const Endpoint& to, TimestampUs ts) override;
  bool Watched(std::uint16_t port) const;
  void OnUnwatchedSegment(const TcpSegment& s, TimestampUs ts);
  // Feeds the reassembler the start of a direction that UnwatchedStreams saw before the
  // connection was adopted, so it is decoded from offset 0 as if it had been watched all along.
  void ReplayStart(const StreamStart& start, const Endpoint& src, const Endpoint& dst,
                   TimestampUs ts);

  CaptureConfig config_;
  PduDumper& dumper_;
  TcpReassembler reassembler_;
  UnwatchedStreams unwatched_;
  // One bit per port: the check runs for every frame, so it must be a single load.
  std::vector<bool> watched_;
  TimestampUs last_ts_ = 0;
  std::string first_malformed_;
  std::uint64_t first_malformed_frame_ = 0;
};

}  // namespace ttlogin::tools::pdu_dump
