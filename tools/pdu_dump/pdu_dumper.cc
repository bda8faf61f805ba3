#include "tools/pdu_dump/pdu_dumper.h"

namespace ttlogin::tools::pdu_dump {
namespace {

// Large enough that write(2) calls are rare next to the formatting work, small enough to stay in
// cache.
constexpr std::size_t kFlushThreshold = 256 * 1024;

}  // namespace

PduDumper::PduDumper(DumpConfig config, std::FILE* out, TraceWriter* trace)
    : config_(std::move(config)), out_(out), trace_(trace), formatter_(config_.format) {
  buffer_.reserve(kFlushThreshold + 4096);
}

PduDumper::~PduDumper() {
  Flush();
}

void PduDumper::Flush() {
  if (out_ == nullptr || buffer_.empty()) return;
  std::fwrite(buffer_.data(), 1, buffer_.size(), out_);
  std::fflush(out_);
  buffer_.clear();
}

void PduDumper::MaybeFlush() {
  if (out_ != nullptr && buffer_.size() >= kFlushThreshold) Flush();
}

void PduDumper::OnPdu(const StreamInfo& stream, const PduEvent& pdu) {
  ++stats_.pdus;
  stats_.pdu_bytes += pdu.header.length;
  const DecodedBody& body = bodies_.Decode(pdu.header.service_id, pdu.header.command_id, pdu.body);
  if (!body.error.empty()) ++stats_.body_errors;
  if (trace_ != nullptr) trace_->OnPdu(stream, pdu, body);
  if (limit_reached() || !config_.filter.Matches(stream, pdu.header)) return;
  ++stats_.pdus_shown;
  CommandCount& count =
      stats_.per_command[(std::uint32_t{pdu.header.service_id} << 16) | pdu.header.command_id];
  ++count.pdus;
  count.bytes += pdu.header.length;
  if (config_.quiet) return;
  formatter_.AppendPdu(stream, pdu, body, buffer_);
  MaybeFlush();
}

void PduDumper::OnStreamError(const StreamInfo& stream, std::uint64_t offset, TimestampUs ts,
                              std::string_view reason) {
  ++stats_.stream_errors;
  // Errors are shown whatever --filter or --quiet say: neither may hide that data was lost.
  formatter_.AppendStreamError(stream, offset, ts, reason, buffer_);
  MaybeFlush();
}

void PduDumper::OnStreamEnd(const StreamInfo& /*stream*/, TimestampUs /*ts*/,
                            std::uint64_t skipped_bytes) {
  stats_.skipped_bytes += skipped_bytes;
}

void PduDumper::OnConnectionClosed(const std::string& a, const std::string& b, TimestampUs ts) {
  if (trace_ != nullptr) trace_->OnConnectionClosed(a, b, ts);
}

}  // namespace ttlogin::tools::pdu_dump
