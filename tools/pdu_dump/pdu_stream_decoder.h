// PduStreamDecoder: cuts one direction's byte stream into PDUs, survives damage, and says where.
//
// It reuses common::DecodeFrame for "need more / frame / bad length" and adds what an inspector
// needs on top of the server's decoder:
//  - positions: every PDU and error carries its byte offset in the stream;
//  - synchronisation: a stream seen from the middle, or one whose length field was garbage, is
//    scanned for the next *plausible* header (see IsPlausibleHeader) instead of being abandoned;
//  - gaps: bytes the capture lost drop the partial PDU in progress and trigger a resync.
// Whole PDUs inside one OnData() call are handed out as views into the caller's bytes; only a PDU
// split across calls is copied, so `pending_` never exceeds one maximum-size PDU.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/pdu_header.h"
#include "tools/pdu_dump/stream_consumer.h"

namespace ttlogin::tools::pdu_dump {

struct PduEvent {
  TimestampUs ts = 0;
  std::uint64_t offset = 0;  // stream position of the PDU's first header byte
  common::PduHeader header;
  std::span<const std::uint8_t> body;  // valid only during the callback
};

// Receives what the decoders find. One sink serves every stream of a run.
class PduSink {
 public:
  virtual ~PduSink() = default;
  virtual void OnPdu(const StreamInfo& stream, const PduEvent& pdu) = 0;
  // Something in the stream itself is wrong at `offset` (bad length, missing bytes, a PDU cut
  // short by the end of the stream). Decoding goes on after it.
  virtual void OnStreamError(const StreamInfo& stream, std::uint64_t offset, TimestampUs ts,
                             std::string_view reason) = 0;
  // The stream is over; `skipped_bytes` were passed over while hunting for headers.
  virtual void OnStreamEnd(const StreamInfo& /*stream*/, TimestampUs /*ts*/,
                           std::uint64_t /*skipped_bytes*/) {}
};

// A header a real peer could have sent: sane length, version 1, zero flag and reserved words, and
// a known service. Used only when hunting for a PDU boundary, where a false match would derail
// the stream; in a synchronised stream any length-valid header is decoded and shown as is.
bool IsPlausibleHeader(std::span<const std::uint8_t, common::kPduHeaderSize> bytes,
                       std::uint32_t max_pdu_size);

class PduStreamDecoder final : public StreamConsumer {
 public:
  PduStreamDecoder(StreamInfo info, PduSink& sink,
                   std::uint32_t max_pdu_size = common::kDefaultMaxPduSize);

  void OnData(std::span<const std::uint8_t> bytes, TimestampUs ts) override;
  void OnGap(std::uint64_t bytes, TimestampUs ts, const std::string& why) override;
  void OnEnd(TimestampUs ts) override;

  const StreamInfo& info() const { return info_; }
  // Bytes passed over while looking for a header (after a gap, an error, or a mid-stream start).
  std::uint64_t skipped_bytes() const { return skipped_; }
  std::uint64_t position() const { return position_ + pending_.size(); }
  bool synchronised() const { return synced_; }

 private:
  // Decodes as much of `bytes` as it can; returns how many leading bytes are done with.
  std::size_t Process(std::span<const std::uint8_t> bytes, TimestampUs ts);
  // How many more bytes pending_ needs before Process can make progress on it.
  std::size_t PendingWants() const;

  StreamInfo info_;
  PduSink& sink_;
  std::uint32_t max_pdu_size_;
  bool synced_;
  bool ended_ = false;
  std::uint64_t position_ = 0;  // stream offset of the first byte not yet consumed
  std::uint64_t skipped_ = 0;
  std::vector<std::uint8_t> pending_;  // unconsumed bytes starting at position_
};

}  // namespace ttlogin::tools::pdu_dump
