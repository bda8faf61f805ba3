// Streaming PDU frame decoder: splits a byte stream into whole PDUs without copying them.
//
// Two pieces, so that both the server and the tools share one notion of "a frame":
//  - DecodeFrame() looks at a contiguous byte range and answers need-more / frame / error. It is
//    stateless and never copies; a frame's body is a view into the caller's bytes.
//  - FrameDecoder keeps the unfinished tail of a stream between reads. Complete frames inside a
//    fresh read are handed out straight from the read buffer; only a frame split across reads is
//    copied into the decoder's own storage, which grows only as its bytes arrive and is released
//    once it drains. So an idle stream holds no buffer, a stream holds at most twice the bytes of
//    its partial frame, and never more than one maximum frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/pdu_header.h"

namespace ttlogin::common {

enum class DecodeStatus {
  kNeedMore,  // not enough bytes yet for a whole frame
  kFrame,     // one whole frame is available
  kError,     // the stream is broken (bad length); it cannot be resynchronised
};

struct DecodedFrame {
  PduHeader header;
  std::span<const std::uint8_t> body;  // view into the caller's bytes
};

struct DecodeResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  DecodedFrame frame;        // valid when status == kFrame
  std::size_t consumed = 0;  // bytes the frame occupies (kFrame only)
  std::string error;         // reason (kError only)
};

// Looks at the start of `bytes`: rejects a length below the header size or above `max_pdu_size`
// as soon as the 4 length bytes are there, without waiting for the rest.
DecodeResult DecodeFrame(std::span<const std::uint8_t> bytes, std::uint32_t max_pdu_size);

class FrameDecoder {
 public:
  explicit FrameDecoder(std::uint32_t max_pdu_size = kDefaultMaxPduSize)
      : max_pdu_size_(max_pdu_size) {}

  // Feeds one read's worth of bytes and calls `on_frame(const DecodedFrame&)` for each whole frame,
  // in order. `on_frame` returns false to stop early (the rest of the input is dropped). Returns
  // an empty string on success, or the reason the stream is broken; after an error the decoder
  // stays broken and further input is ignored.
  template <typename OnFrame>
  std::string Feed(std::span<const std::uint8_t> input, OnFrame&& on_frame);

  // Bytes held for a frame that has not completed yet.
  std::size_t buffered() const { return pending_.size(); }
  // Storage held for it: grows with the bytes received (at most twice them, and never beyond the
  // declared length), not with the length a peer declares.
  std::size_t capacity() const { return pending_.capacity(); }
  bool broken() const { return broken_; }

 private:
  // Moves bytes from `input` into pending_ until it holds one whole frame (or input runs out).
  // Returns the number of input bytes taken, or sets `error`.
  std::size_t FillPending(std::span<const std::uint8_t> input, std::string& error);
  void ReleasePending();

  std::uint32_t max_pdu_size_;
  std::vector<std::uint8_t> pending_;
  bool broken_ = false;
};

template <typename OnFrame>
std::string FrameDecoder::Feed(std::span<const std::uint8_t> input, OnFrame&& on_frame) {
  if (broken_) return "stream already broken";
  std::string error;
  if (!pending_.empty()) {
    input = input.subspan(FillPending(input, error));
    if (!error.empty()) {
      broken_ = true;
      ReleasePending();
      return error;
    }
    DecodeResult r = DecodeFrame(pending_, max_pdu_size_);
    if (r.status == DecodeStatus::kNeedMore) return {};
    // FillPending stops exactly at a frame boundary, so this is the whole of pending_.
    const bool go_on = on_frame(r.frame);
    ReleasePending();
    if (!go_on) return {};
  }
  while (!input.empty()) {
    DecodeResult r = DecodeFrame(input, max_pdu_size_);
    if (r.status == DecodeStatus::kError) {
      broken_ = true;
      return r.error;
    }
    if (r.status == DecodeStatus::kNeedMore) {
      FillPending(input, error);  // a partial frame: always fits, never an error here
      return {};
    }
    if (!on_frame(r.frame)) return {};
    input = input.subspan(r.consumed);
  }
  return {};
}

}  // namespace ttlogin::common
