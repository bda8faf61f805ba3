// Fuzz target: the PDU frame decoder (common/frame_decoder.h).
//
// Input: [max-size choice][n][n chunk sizes][stream bytes]. The stream is decoded twice: by a
// plain reference reading of the whole stream, and by FrameDecoder fed in the chosen chunks.
// Both must give the same frames (header and body bytes) and fail at the same place; DecodeFrame
// on the whole stream must agree with the reference's first step; and the decoder must never
// hold more than one maximum frame, nor storage beyond twice the bytes it holds, nor anything once
// the stream ends on a frame boundary.
#include <array>
#include <cstring>
#include <optional>
#include <vector>

#include "common/frame_decoder.h"
#include "test/fuzz/fuzz_input.h"

namespace ttlogin::fuzz {
namespace {

// Small bounds make the "too long" path as reachable as the normal one.
constexpr std::array<std::uint32_t, 5> kMaxSizes = {16, 17, 64, 1024, common::kDefaultMaxPduSize};

struct RefFrame {
  std::array<std::uint8_t, common::kPduHeaderSize> header;
  std::vector<std::uint8_t> body;
};

struct RefResult {
  std::vector<RefFrame> frames;
  bool error = false;
  bool below_header = false;  // the error's length is below the header (else above the maximum)
  std::uint32_t error_length = 0;
  std::size_t tail = 0;  // bytes of an unfinished frame at the end (no error)
};

RefResult ReferenceDecode(std::span<const std::uint8_t> s, std::uint32_t max_size) {
  RefResult r;
  std::size_t pos = 0;
  while (s.size() - pos >= 4) {
    const std::uint32_t len = Be32(s.data() + pos);
    if (len < common::kPduHeaderSize || len > max_size) {
      r.error = true;
      r.below_header = len < common::kPduHeaderSize;
      r.error_length = len;
      return r;
    }
    if (s.size() - pos < len) break;
    RefFrame f;
    std::memcpy(f.header.data(), s.data() + pos, common::kPduHeaderSize);
    f.body.assign(s.data() + pos + common::kPduHeaderSize, s.data() + pos + len);
    r.frames.push_back(std::move(f));
    pos += len;
  }
  r.tail = s.size() - pos;
  return r;
}

bool SameFrame(const RefFrame& ref, const common::DecodedFrame& got) {
  const auto& h = got.header;
  const std::uint8_t* p = ref.header.data();
  return h.length == Be32(p) && h.version == Be16(p + 4) && h.flag == Be16(p + 6) &&
         h.service_id == Be16(p + 8) && h.command_id == Be16(p + 10) && h.seq_num == Be16(p + 12) &&
         h.reserved == Be16(p + 14) && got.body.size() == ref.body.size() &&
         (ref.body.empty() || std::memcmp(got.body.data(), ref.body.data(), ref.body.size()) == 0);
}

}  // namespace
}  // namespace ttlogin::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ttlogin;
  using namespace ttlogin::fuzz;
  FuzzInput in(data, size);
  const std::uint32_t max_size = kMaxSizes[in.U8() % kMaxSizes.size()];
  std::vector<std::size_t> chunks(in.U8() % 16);
  for (auto& c : chunks)
    c = in.U8();
  const std::span<const std::uint8_t> stream = in.Rest();

  const RefResult ref = ReferenceDecode(stream, max_size);
  const common::FrameError expected_error = !ref.error ? common::FrameError::kNone
                                            : ref.below_header
                                                ? common::FrameError::kLengthBelowHeader
                                                : common::FrameError::kLengthAboveMax;

  // One step of DecodeFrame over the whole stream is the reference's first step.
  const common::DecodeResult first = common::DecodeFrame(stream, max_size);
  if (!ref.frames.empty()) {
    FUZZ_CHECK(first.status == common::DecodeStatus::kFrame);
    FUZZ_CHECK(SameFrame(ref.frames.front(), first.frame));
    FUZZ_CHECK(first.consumed == ref.frames.front().header.size() + ref.frames.front().body.size());
  } else if (ref.error) {
    FUZZ_CHECK(first.status == common::DecodeStatus::kError);
    FUZZ_CHECK(first.error == expected_error);
    FUZZ_CHECK(first.length == ref.error_length);
    FUZZ_CHECK(!first.error_text().empty());
  } else {
    FUZZ_CHECK(first.status == common::DecodeStatus::kNeedMore);
  }

  // The streaming decoder, fed in the chosen pieces, sees exactly the reference's frames.
  common::FrameDecoder decoder(max_size);
  std::size_t seen = 0;
  bool failed = false;
  std::size_t pos = 0;
  std::size_t turn = 0;
  bool any_nonzero = false;
  for (std::size_t c : chunks)
    any_nonzero |= c != 0;
  while (pos < stream.size() && !failed) {
    std::size_t n =
        chunks.empty() || !any_nonzero ? stream.size() - pos : chunks[turn++ % chunks.size()];
    if (n > stream.size() - pos) n = stream.size() - pos;
    const common::FrameError error =
        decoder.Feed(stream.subspan(pos, n), [&](const common::DecodedFrame& f) {
          FUZZ_CHECK(seen < ref.frames.size());
          FUZZ_CHECK(SameFrame(ref.frames[seen], f));
          ++seen;
          return true;
        });
    pos += n;
    if (error != common::FrameError::kNone) {
      failed = true;
      // The same error, whatever the split: the code and the length in its text.
      FUZZ_CHECK(error == expected_error);
      FUZZ_CHECK(decoder.error_text() ==
                 common::FrameErrorText(expected_error, ref.error_length, max_size));
      FUZZ_CHECK(decoder.broken());
      FUZZ_CHECK(decoder.buffered() == 0);
      // A broken stream stays broken, with the same error.
      FUZZ_CHECK(decoder.Feed(stream.subspan(pos), [](const common::DecodedFrame&) {
        FUZZ_CHECK(false);
        return true;
      }) == expected_error);
    } else {
      FUZZ_CHECK(!decoder.broken());
    }
    // Never more than one maximum frame held, whatever the split; storage grows with the bytes
    // received (at most twice them), not with the length a frame declares.
    FUZZ_CHECK(decoder.buffered() <= max_size);
    FUZZ_CHECK(decoder.capacity() <= 2 * decoder.buffered());
    FUZZ_CHECK(decoder.capacity() <= max_size);
  }
  FUZZ_CHECK(seen == ref.frames.size());
  FUZZ_CHECK(failed == ref.error);
  // The unfinished tail is all the decoder holds; a stream ending on a boundary leaves nothing.
  if (!ref.error) FUZZ_CHECK(decoder.buffered() == ref.tail);
  return 0;
}
