#include "tools/pdu_dump/capture_decoder.h"

#include <algorithm>

namespace ttlogin::tools::pdu_dump {

CaptureDecoder::CaptureDecoder(CaptureConfig config, PduDumper& dumper)
    : config_(std::move(config)),
      dumper_(dumper),
      reassembler_(*this, config_.max_out_of_order_bytes),
      unwatched_(config_.max_pdu_size),
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
  if (!Watched(s.src.port) && !Watched(s.dst.port)) {
    OnUnwatchedSegment(s, ts);
    return;
  }
  ++stats.segments_on_ports;
  reassembler_.OnSegment(s, ts);
}

void CaptureDecoder::OnUnwatchedSegment(const TcpSegment& s, TimestampUs ts) {
  DumpStats& stats = dumper_.stats();
  if (config_.auto_ports && reassembler_.Tracks(s.src, s.dst)) {
    ++stats.segments_on_ports;
    reassembler_.OnSegment(s, ts);
    return;
  }
  const UnwatchedVerdict verdict = unwatched_.OnSegment(s);
  if (!verdict.looks_like_pdu) return;
  stats.CountUnwatchedPduStream(verdict.port);
  if (!config_.auto_ports) return;
  // The client's SYN goes first, as on the wire, so stream ids follow the connection's order.
  const bool this_is_client =
      verdict.this_side.syn_seen && (verdict.this_side.syn_flags & kTcpAck) == 0;
  if (this_is_client) ReplayStart(verdict.this_side, s.src, s.dst, ts);
  ReplayStart(verdict.other_side, s.dst, s.src, ts);
  if (!this_is_client) ReplayStart(verdict.this_side, s.src, s.dst, ts);
  ++stats.segments_on_ports;
  reassembler_.OnSegment(s, ts);
}

void CaptureDecoder::ReplayStart(const StreamStart& start, const Endpoint& src, const Endpoint& dst,
                                 TimestampUs ts) {
  if (!start.syn_seen) return;
  TcpSegment syn;
  syn.src = src;
  syn.dst = dst;
  syn.seq = start.syn_seq;
  syn.flags = start.syn_flags;
  reassembler_.OnSegment(syn, ts);
  if (start.prefix_size == 0) return;
  TcpSegment data = syn;
  data.seq = start.syn_seq + 1;
  data.flags = kTcpAck;
  data.payload = std::span<const std::uint8_t>(start.prefix.data(), start.prefix_size);
  reassembler_.OnSegment(data, ts);
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
