#include "tools/pdu_dump/pdu_stream_decoder.h"

#include <algorithm>

#include "common/frame_decoder.h"
#include "common/protocol.h"

namespace ttlogin::tools::pdu_dump {

using common::kPduHeaderSize;

bool IsPlausibleHeader(std::span<const std::uint8_t, kPduHeaderSize> bytes,
                       std::uint32_t max_pdu_size) {
  const common::PduHeader h = common::DecodePduHeader(bytes);
  return h.length >= kPduHeaderSize && h.length <= max_pdu_size &&
         h.version == common::kPduVersion && h.flag == 0 && h.reserved == 0 &&
         !common::ServiceName(h.service_id).empty();
}

PduStreamDecoder::PduStreamDecoder(StreamInfo info, PduSink& sink, std::uint32_t max_pdu_size)
    : info_(std::move(info)), sink_(sink), max_pdu_size_(max_pdu_size), synced_(info_.from_start) {}

std::size_t PduStreamDecoder::PendingWants() const {
  const std::size_t have = pending_.size();
  if (have < kPduHeaderSize) return kPduHeaderSize - have;
  const std::uint32_t length = common::LoadBe32(pending_.data());
  if (!synced_) {
    const auto head =
        std::span<const std::uint8_t, kPduHeaderSize>(pending_.data(), kPduHeaderSize);
    if (!IsPlausibleHeader(head, max_pdu_size_)) return 0;
  } else if (length < kPduHeaderSize || length > max_pdu_size_) {
    return 0;  // Process reports it
  }
  return length > have ? length - have : 0;
}

std::size_t PduStreamDecoder::Process(std::span<const std::uint8_t> bytes, TimestampUs ts) {
  const std::size_t size = bytes.size();
  std::size_t pos = 0;
  while (true) {
    if (!synced_) {
      std::size_t i = pos;
      bool found = false;
      for (; i + kPduHeaderSize <= size; ++i) {
        // The version word (0x0001) is the cheapest strong filter, so test it before the rest.
        if (bytes[i + 4] != 0 || bytes[i + 5] != common::kPduVersion) continue;
        if (IsPlausibleHeader(bytes.subspan(i).first<kPduHeaderSize>(), max_pdu_size_)) {
          found = true;
          break;
        }
      }
      if (!found) {
        // The last 15 bytes may be the start of a header that the next read completes.
        const std::size_t keep_from =
            std::max(pos, size >= kPduHeaderSize - 1 ? size - (kPduHeaderSize - 1) : 0);
        skipped_ += keep_from - pos;
        pos = keep_from;
        break;
      }
      skipped_ += i - pos;
      pos = i;
      synced_ = true;
    }
    const common::DecodeResult r = common::DecodeFrame(bytes.subspan(pos), max_pdu_size_);
    if (r.status == common::DecodeStatus::kNeedMore) break;
    if (r.status == common::DecodeStatus::kError) {
      sink_.OnStreamError(info_, position_ + pos, ts, r.error_text());
      // A bad length field leaves no way to find the next boundary but to search for it.
      synced_ = false;
      ++pos;
      ++skipped_;
      continue;
    }
    PduEvent event;
    event.ts = ts;
    event.offset = position_ + pos;
    event.header = r.frame.header;
    event.body = r.frame.body;
    sink_.OnPdu(info_, event);
    pos += r.consumed;
  }
  position_ += pos;
  return pos;
}

void PduStreamDecoder::OnData(std::span<const std::uint8_t> bytes, TimestampUs ts) {
  if (ended_) return;
  while (!bytes.empty()) {
    if (pending_.empty()) {
      const std::size_t used = Process(bytes, ts);
      pending_.assign(bytes.begin() + static_cast<std::ptrdiff_t>(used), bytes.end());
      return;
    }
    // Top pending_ up only to the end of the PDU in progress, so the rest of `bytes` can still be
    // decoded in place.
    const std::size_t take = std::min(PendingWants(), bytes.size());
    pending_.insert(pending_.end(), bytes.begin(),
                    bytes.begin() + static_cast<std::ptrdiff_t>(take));
    bytes = bytes.subspan(take);
    const std::size_t used = Process(pending_, ts);
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(used));
    // PendingWants() and Process() agree, so one of them always moves; this guards a fuzzed
    // input against a hang should they ever disagree.
    if (take == 0 && used == 0) return;
  }
}

void PduStreamDecoder::OnGap(std::uint64_t bytes, TimestampUs ts, const std::string& why) {
  if (ended_) return;
  std::string reason = std::to_string(bytes) + " bytes missing from the capture (" + why + ")";
  if (synced_ && !pending_.empty()) {
    reason += "; a partial PDU of " + std::to_string(pending_.size()) + " bytes is lost";
  }
  sink_.OnStreamError(info_, position(), ts, reason);
  skipped_ += pending_.size();
  position_ += pending_.size() + bytes;
  pending_.clear();
  synced_ = false;
}

void PduStreamDecoder::OnEnd(TimestampUs ts) {
  if (ended_) return;
  ended_ = true;
  if (!pending_.empty()) {
    if (synced_) {
      std::string reason = "stream ended inside a PDU: " + std::to_string(pending_.size());
      if (pending_.size() >= 4) {
        reason += " of " + std::to_string(common::LoadBe32(pending_.data()));
      }
      reason += " bytes present";
      sink_.OnStreamError(info_, position_, ts, reason);
    }
    skipped_ += pending_.size();
    position_ += pending_.size();
    pending_.clear();
  }
  sink_.OnStreamEnd(info_, ts, skipped_);
}

}  // namespace ttlogin::tools::pdu_dump
