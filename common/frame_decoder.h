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
#include "common/session_verdict.h"

namespace ttlogin::common {

enum class DecodeStatus {
  kNeedMore,  // not enough bytes yet for a whole frame
  kFrame,     // one whole frame is available
  kError,     // the stream is broken (bad length); it cannot be resynchronised
};

// Why a stream is broken. Values, not text, so a connection's metrics can count each kind; the
// text for a log line is FrameErrorText's.
enum class FrameError : std::uint8_t {
  kNone,
  kLengthBelowHeader,  // the declared length is smaller than the 16-byte header
  kLengthAboveMax,     // the declared length exceeds MaxPduSize
};

// The session verdict's reason for a broken stream.
constexpr CloseReason CloseReasonOf(FrameError e) {
  return e == FrameError::kLengthBelowHeader ? CloseReason::kPduLengthBelowHeader
         : e == FrameError::kLengthAboveMax  ? CloseReason::kPduLengthAboveMax
                                             : CloseReason::kNone;
}

// "PDU length 5 is below the 16-byte header", "PDU length 70000 exceeds the maximum of 65536":
// the text logs, tools and their tests have always shown.
[[nodiscard]] std::string FrameErrorText(FrameError error, std::uint32_t length,
                                         std::uint32_t max_pdu_size);

struct DecodedFrame {
  PduHeader header;
  std::span<const std::uint8_t> body;  // view into the caller's bytes
};

struct DecodeResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  DecodedFrame frame;                    // valid when status == kFrame
  std::size_t consumed = 0;              // bytes the frame occupies (kFrame only)
  FrameError error = FrameError::kNone;  // kError only
  std::uint32_t length = 0;              // the declared length (kError only)
  std::uint32_t max_pdu_size = 0;        // the bound it was checked against (kError only)

  std::string error_text() const { return FrameErrorText(error, length, max_pdu_size); }
};

// Looks at the start of `bytes`: rejects a length below the header size or above `max_pdu_size`
// as soon as the 4 length bytes are there, without waiting for the rest.
[[nodiscard]] DecodeResult DecodeFrame(std::span<const std::uint8_t> bytes,
                                       std::uint32_t max_pdu_size);

class FrameDecoder {
 public:
  explicit FrameDecoder(std::uint32_t max_pdu_size = kDefaultMaxPduSize)
      : max_pdu_size_(max_pdu_size) {}

  // Feeds one read's worth of bytes and calls `on_frame(const DecodedFrame&)` for each whole frame,
  // in order. `on_frame` returns false to stop early (the rest of the input is dropped). Returns
  // kNone on success, or why the stream is broken; after an error the decoder stays broken,
  // further input is ignored and every Feed returns that error again.
  template <typename OnFrame>
  [[nodiscard]] FrameError Feed(std::span<const std::uint8_t> input, OnFrame&& on_frame);
  // The broken stream's error as a log line's text (empty while not broken).
  std::string error_text() const;

  // Bytes held for a frame that has not completed yet.
  std::size_t buffered() const { return pending_.size(); }
  // Those bytes (a live upgrade carries them; feeding them to a new decoder restores it).
  std::span<const std::uint8_t> pending() const { return pending_; }
  // Storage held for it: grows with the bytes received (at most twice them, and never beyond the
  // declared length), not with the length a peer declares.
  std::size_t capacity() const { return pending_.capacity(); }
  bool broken() const { return error_ != FrameError::kNone; }

 private:
  // Moves bytes from `input` into pending_ until it holds one whole frame (or input runs out).
  // Returns the number of input bytes taken; breaks the stream (Break) on a bad length.
  std::size_t FillPending(std::span<const std::uint8_t> input);
  void ReleasePending();
  FrameError Break(const DecodeResult& r) {
    error_ = r.error;
    error_length_ = r.length;
    return error_;
  }

  std::uint32_t max_pdu_size_;
  std::vector<std::uint8_t> pending_;
  FrameError error_ = FrameError::kNone;
  std::uint32_t error_length_ = 0;  // the declared length that broke the stream
};

template <typename OnFrame>
FrameError FrameDecoder::Feed(std::span<const std::uint8_t> input, OnFrame&& on_frame) {
  if (broken()) return error_;
  if (!pending_.empty()) {
    input = input.subspan(FillPending(input));
    if (broken()) {
      ReleasePending();
      return error_;
    }
    DecodeResult r = DecodeFrame(pending_, max_pdu_size_);
    if (r.status == DecodeStatus::kNeedMore) return FrameError::kNone;
    // FillPending stops exactly at a frame boundary, so this is the whole of pending_.
    const bool go_on = on_frame(r.frame);
    ReleasePending();
    if (!go_on) return FrameError::kNone;
  }
  while (!input.empty()) {
    DecodeResult r = DecodeFrame(input, max_pdu_size_);
    if (r.status == DecodeStatus::kError) return Break(r);
    if (r.status == DecodeStatus::kNeedMore) {
      (void)FillPending(input);  // a partial frame: always fits, never an error here
      return FrameError::kNone;
    }
    if (!on_frame(r.frame)) return FrameError::kNone;
    input = input.subspan(r.consumed);
  }
  return FrameError::kNone;
}

}  // namespace ttlogin::common
