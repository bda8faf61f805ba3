// PduDumper: where every input mode sends what it decodes. It decodes bodies, applies --filter,
// formats lines into one output buffer, counts --stats and feeds --trace. Inputs differ only in
// how they produce bytes; everything an operator sees is decided here, once.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "tools/pdu_dump/body_decoder.h"
#include "tools/pdu_dump/dump_stats.h"
#include "tools/pdu_dump/pdu_filter.h"
#include "tools/pdu_dump/pdu_formatter.h"
#include "tools/pdu_dump/pdu_stream_decoder.h"
#include "tools/pdu_dump/trace_writer.h"

namespace ttlogin::tools::pdu_dump {

struct DumpConfig {
  OutputFormat format = OutputFormat::kText;
  bool quiet = false;          // no per-PDU lines (errors still show)
  std::uint64_t max_pdus = 0;  // stop after this many shown PDUs; 0 = no limit
  PduFilter filter;
};

class PduDumper final : public PduSink {
 public:
  // Lines go to `out`; when `out` is null they accumulate in output() (tests).
  PduDumper(DumpConfig config, std::FILE* out, TraceWriter* trace = nullptr);
  ~PduDumper() override;

  void OnPdu(const StreamInfo& stream, const PduEvent& pdu) override;
  void OnStreamError(const StreamInfo& stream, std::uint64_t offset, TimestampUs ts,
                     std::string_view reason) override;
  void OnStreamEnd(const StreamInfo& stream, TimestampUs ts, std::uint64_t skipped_bytes) override;
  void OnStreamOpened() { ++stats_.streams; }
  void OnConnectionClosed(const std::string& a, const std::string& b, TimestampUs ts);
  // A problem with the input as a whole (truncated capture...): counted; the caller says it.
  void OnInputError() { ++stats_.input_errors; }

  // Writes buffered lines out. Live inputs call it after each read so lines appear promptly.
  void Flush();
  bool limit_reached() const {
    return config_.max_pdus != 0 && stats_.pdus_shown >= config_.max_pdus;
  }
  DumpStats& stats() { return stats_; }
  const std::string& output() const { return buffer_; }

 private:
  void MaybeFlush();

  DumpConfig config_;
  std::FILE* out_;
  TraceWriter* trace_;
  BodyDecoder bodies_;
  PduFormatter formatter_;
  DumpStats stats_;
  std::string buffer_;
};

}  // namespace ttlogin::tools::pdu_dump
