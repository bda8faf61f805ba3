#include "tools/pdu_dump/capture_decoder.h"

#include <algorithm>

namespace ttlogin::tools::pdu_dump {

CaptureDecoder::CaptureDecoder(CaptureConfig config, PduDumper& dumper)
    : config_(std::move(config)),
      dumper_(dumper),
      reassembler_(*this, config_.max_out_of_order_bytes),
      watched_(65536, false) {
  for (const std::uint16_t p : config_.ports)
    watched_[p] = true;
}

CaptureDecoder::~CaptureDecoder() = default;

bool CaptureDecoder::Watched(std::uint16_t port) const {
  return watched_[port];
}

void CaptureDecoder::OnFrame(int link_type, TimestampUs ts, std::span<const std::uint8_t> frame,
                             std::uint32_t wire_length) {
  DumpStats& stats = dumper_.stats();
  ++stats.frames;
  last_ts_ = std::max(last_ts_, ts);
  const ParsedFrame parsed = ParseFrame(link_type, frame, wire_length);
  if (parsed.status == ParseStatus::kNotTcp) {
    ++stats.frames_not_tcp;
    return;
  }
  if (parsed.status == ParseStatus::kMalformed) {
    ++stats.frames_malformed;
    if (first_malformed_.empty()) {
      first_malformed_ = std::string(parsed.reason);
      first_malformed_frame_ = stats.frames;
    }
    return;
  }
  const TcpSegment& s = parsed.segment;
  if (!Watched(s.src.port) && !Watched(s.dst.port)) return;
  ++stats.segments_on_ports;
  reassembler_.OnSegment(s, ts);
}

void CaptureDecoder::Finish() {
  reassembler_.Finish(last_ts_);
  DumpStats& stats = dumper_.stats();
  const ReassemblyStats& r = reassembler_.stats();
  stats.connections = r.connections;
  stats.retransmitted_segments = r.retransmitted_segments;
  stats.out_of_order_segments = r.out_of_order_segments;
  stats.gaps = r.gaps;
  stats.gap_bytes = r.gap_bytes;
  stats.peak_buffered_bytes = r.peak_out_of_order_bytes;
}

std::unique_ptr<StreamConsumer> CaptureDecoder::OpenStream(const StreamInfo& info) {
  dumper_.OnStreamOpened();
  return std::make_unique<PduStreamDecoder>(info, dumper_, config_.max_pdu_size);
}

void CaptureDecoder::OnConnectionClosed(const Endpoint& from, const Endpoint& to, TimestampUs ts) {
  dumper_.OnConnectionClosed(FormatEndpoint(from), FormatEndpoint(to), ts);
}

}  // namespace ttlogin::tools::pdu_dump
