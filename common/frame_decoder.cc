#include "common/frame_decoder.h"

#include <algorithm>

namespace ttlogin::common {

std::string FrameErrorText(FrameError error, std::uint32_t length, std::uint32_t max_pdu_size) {
  switch (error) {
    case FrameError::kNone:
      break;
    case FrameError::kLengthBelowHeader:
      return "PDU length " + std::to_string(length) + " is below the 16-byte header";
    case FrameError::kLengthAboveMax:
      return "PDU length " + std::to_string(length) + " exceeds the maximum of " +
             std::to_string(max_pdu_size);
  }
  return {};
}

std::string FrameDecoder::error_text() const {
  return FrameErrorText(error_, error_length_, max_pdu_size_);
}

DecodeResult DecodeFrame(std::span<const std::uint8_t> bytes, std::uint32_t max_pdu_size) {
  DecodeResult r;
  if (bytes.size() < 4) return r;
  const std::uint32_t length = LoadBe32(bytes.data());
  if (length < kPduHeaderSize || length > max_pdu_size) {
    r.status = DecodeStatus::kError;
    r.error =
        length < kPduHeaderSize ? FrameError::kLengthBelowHeader : FrameError::kLengthAboveMax;
    r.length = length;
    r.max_pdu_size = max_pdu_size;
    return r;
  }
  if (bytes.size() < length) return r;
  r.status = DecodeStatus::kFrame;
  r.frame.header = DecodePduHeader(bytes.first<kPduHeaderSize>());
  r.frame.body = bytes.subspan(kPduHeaderSize, length - kPduHeaderSize);
  r.consumed = length;
  return r;
}

std::size_t FrameDecoder::FillPending(std::span<const std::uint8_t> input) {
  std::size_t taken = 0;
  auto take = [&](std::size_t want) {
    const std::size_t n = std::min(want, input.size() - taken);
    // Storage grows with the bytes that arrived, never to the length the peer declared: a 4-byte
    // length alone must not reserve a whole frame (thousands of peers could each send one). The
    // growth is geometric, so a frame dribbled in small reads is still copied O(1) times a byte.
    if (pending_.size() + n > pending_.capacity()) {
      std::size_t grown = std::max(pending_.size() + n, 2 * pending_.capacity());
      if (pending_.size() >= 4) grown = std::min<std::size_t>(grown, LoadBe32(pending_.data()));
      pending_.reserve(std::max(grown, pending_.size() + n));
    }
    pending_.insert(pending_.end(), input.begin() + static_cast<std::ptrdiff_t>(taken),
                    input.begin() + static_cast<std::ptrdiff_t>(taken + n));
    taken += n;
  };
  if (pending_.size() < 4) {
    take(4 - pending_.size());
    if (pending_.size() < 4) return taken;
  }
  const DecodeResult probe = DecodeFrame(pending_, max_pdu_size_);
  if (probe.status == DecodeStatus::kError) {
    Break(probe);
    return taken;
  }
  const std::uint32_t length = LoadBe32(pending_.data());
  if (pending_.size() < length) take(length - pending_.size());
  return taken;
}

void FrameDecoder::ReleasePending() {
  // Give the memory back: an idle connection should not keep a frame-sized buffer.
  std::vector<std::uint8_t>().swap(pending_);
}

}  // namespace ttlogin::common
