#include "common/frame_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "IM.Server.pb.h"
#include "common/protocol.h"

namespace ttlogin::common {
namespace {

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string UpdatePdu(std::uint32_t user, std::uint16_t seq) {
  IM::Server::IMUserCntUpdate m;
  m.set_user_action(1);
  m.set_user_id(user);
  return MakePdu(kSidOther, kCidOtherUserCntUpdate, seq, m);
}

std::string LengthOnly(std::uint32_t length) {
  std::string s(kPduHeaderSize, '\0');
  StoreBe32(reinterpret_cast<std::uint8_t*>(s.data()), length);
  return s;
}

struct Collected {
  std::vector<PduHeader> headers;
  std::vector<std::string> bodies;
};

FrameError FeedAll(FrameDecoder& d, const std::string& bytes, Collected& out) {
  return d.Feed(Bytes(bytes), [&](const DecodedFrame& f) {
    out.headers.push_back(f.header);
    out.bodies.emplace_back(reinterpret_cast<const char*>(f.body.data()), f.body.size());
    return true;
  });
}

TEST(DecodeFrameTest, NeedsMoreUntilTheWholeFrameIsThere) {
  const std::string pdu = UpdatePdu(5001, 3);
  for (std::size_t n = 0; n < pdu.size(); ++n) {
    EXPECT_EQ(DecodeFrame(Bytes(pdu.substr(0, n)), kDefaultMaxPduSize).status,
              DecodeStatus::kNeedMore)
        << n;
  }
  const DecodeResult r = DecodeFrame(Bytes(pdu), kDefaultMaxPduSize);
  ASSERT_EQ(r.status, DecodeStatus::kFrame);
  EXPECT_EQ(r.consumed, pdu.size());
  EXPECT_EQ(r.frame.header.command_id, kCidOtherUserCntUpdate);
  EXPECT_EQ(r.frame.header.seq_num, 3);
  IM::Server::IMUserCntUpdate m;
  ASSERT_TRUE(m.ParseFromArray(r.frame.body.data(), static_cast<int>(r.frame.body.size())));
  EXPECT_EQ(m.user_id(), 5001u);
}

TEST(DecodeFrameTest, RejectsLengthsBelowTheHeaderAsSoonAsTheLengthIsKnown) {
  for (std::uint32_t len : {0u, 5u, 15u}) {
    const DecodeResult r = DecodeFrame(Bytes(LengthOnly(len).substr(0, 4)), kDefaultMaxPduSize);
    EXPECT_EQ(r.status, DecodeStatus::kError) << len;
    EXPECT_EQ(r.error, FrameError::kLengthBelowHeader) << len;
    EXPECT_EQ(r.error_text(), "PDU length " + std::to_string(len) + " is below the 16-byte header");
  }
}

TEST(DecodeFrameTest, RejectsLengthsAboveTheMaximumWithoutWaitingForTheBody) {
  const DecodeResult r = DecodeFrame(Bytes(LengthOnly(0x7fffffff).substr(0, 4)), 65536);
  EXPECT_EQ(r.status, DecodeStatus::kError);
  EXPECT_EQ(r.error, FrameError::kLengthAboveMax);
  EXPECT_EQ(r.error_text(), "PDU length 2147483647 exceeds the maximum of 65536");
  EXPECT_EQ(DecodeFrame(Bytes(LengthOnly(65537)), 65536).error, FrameError::kLengthAboveMax);
  // Exactly the maximum is allowed (and waits for its body).
  EXPECT_EQ(DecodeFrame(Bytes(LengthOnly(65536)), 65536).status, DecodeStatus::kNeedMore);
}

TEST(DecodeFrameTest, AcceptsAnEmptyBody) {
  const DecodeResult r = DecodeFrame(Bytes(LengthOnly(16)), kDefaultMaxPduSize);
  ASSERT_EQ(r.status, DecodeStatus::kFrame);
  EXPECT_TRUE(r.frame.body.empty());
}

TEST(FrameDecoderTest, ManyPdusInOneRead) {
  std::string stream;
  for (int i = 0; i < 100; ++i)
    stream += UpdatePdu(1000 + i, static_cast<std::uint16_t>(i));
  FrameDecoder d;
  Collected c;
  EXPECT_EQ(FeedAll(d, stream, c), FrameError::kNone);
  ASSERT_EQ(c.headers.size(), 100u);
  EXPECT_EQ(c.headers[42].seq_num, 42);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameDecoderTest, EverySplitPointGivesTheSameFrames) {
  const std::string stream = UpdatePdu(1, 1) + UpdatePdu(2, 2) + UpdatePdu(3, 3);
  for (std::size_t cut1 = 0; cut1 <= stream.size(); ++cut1) {
    for (std::size_t cut2 = cut1; cut2 <= stream.size(); cut2 += 3) {
      FrameDecoder d;
      Collected c;
      ASSERT_EQ(FeedAll(d, stream.substr(0, cut1), c), FrameError::kNone);
      ASSERT_EQ(FeedAll(d, stream.substr(cut1, cut2 - cut1), c), FrameError::kNone);
      ASSERT_EQ(FeedAll(d, stream.substr(cut2), c), FrameError::kNone);
      ASSERT_EQ(c.headers.size(), 3u) << cut1 << "," << cut2;
      EXPECT_EQ(c.headers[0].seq_num, 1);
      EXPECT_EQ(c.headers[2].seq_num, 3);
      EXPECT_EQ(c.bodies[1], stream.substr(stream.size() / 3 + 16, stream.size() / 3 - 16));
      EXPECT_EQ(d.buffered(), 0u);
    }
  }
}

TEST(FrameDecoderTest, OneByteAtATime) {
  const std::string stream = UpdatePdu(7, 9) + UpdatePdu(8, 10);
  FrameDecoder d;
  Collected c;
  for (char ch : stream)
    ASSERT_EQ(FeedAll(d, std::string(1, ch), c), FrameError::kNone);
  ASSERT_EQ(c.headers.size(), 2u);
  EXPECT_EQ(c.headers[1].seq_num, 10);
}

TEST(FrameDecoderTest, BadLengthBreaksTheStreamAndStaysBroken) {
  FrameDecoder d(1024);
  Collected c;
  const std::string stream = UpdatePdu(1, 1) + LengthOnly(5) + UpdatePdu(2, 2);
  EXPECT_EQ(FeedAll(d, stream, c), FrameError::kLengthBelowHeader);
  EXPECT_EQ(c.headers.size(), 1u);  // the good frame before the error was delivered
  EXPECT_TRUE(d.broken());
  EXPECT_EQ(d.error_text(), "PDU length 5 is below the 16-byte header");
  // Later input is ignored, and the stream's error is reported again.
  EXPECT_EQ(FeedAll(d, UpdatePdu(3, 3), c), FrameError::kLengthBelowHeader);
  EXPECT_EQ(c.headers.size(), 1u);
}

TEST(FrameDecoderTest, OversizedLengthSplitInsideTheLengthFieldIsRejected) {
  FrameDecoder d(1024);
  Collected c;
  const std::string big = LengthOnly(0x7fffffff);
  EXPECT_EQ(FeedAll(d, big.substr(0, 2), c), FrameError::kNone);
  EXPECT_FALSE(d.broken());
  EXPECT_EQ(d.error_text(), "");
  EXPECT_EQ(FeedAll(d, big.substr(2), c), FrameError::kLengthAboveMax);
  EXPECT_EQ(d.error_text(), "PDU length 2147483647 exceeds the maximum of 1024");
  // Never buffered more than the header bytes it saw.
  EXPECT_LE(d.buffered(), 4u);
}

TEST(FrameDecoderTest, NeverBuffersMoreThanOneMaximumFrame) {
  const std::uint32_t max = 2048;
  FrameDecoder d(max);
  Collected c;
  std::string frame = LengthOnly(max);
  frame.resize(max, 'x');
  for (int i = 0; i < 3; ++i) {
    for (std::size_t off = 0; off < frame.size(); off += 100) {
      ASSERT_EQ(FeedAll(d, frame.substr(off, 100), c), FrameError::kNone);
      EXPECT_LE(d.buffered(), max);
    }
  }
  EXPECT_EQ(c.headers.size(), 3u);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameDecoderTest, ALengthAloneReservesNoMoreThanTheBytesThatArrived) {
  // A peer declaring a maximum frame and sending only its first bytes must cost those bytes, not
  // the frame: thousands of such peers each reserved MaxPduSize before.
  const std::uint32_t max = 1024 * 1024;
  FrameDecoder d(max);
  Collected c;
  std::string frame = LengthOnly(max);
  frame.resize(max, 'x');
  ASSERT_EQ(FeedAll(d, frame.substr(0, 4), c), FrameError::kNone);
  EXPECT_EQ(d.buffered(), 4u);
  EXPECT_LE(d.capacity(), 64u);
  // Dribbled on, storage stays within twice what arrived, never beyond the frame.
  std::size_t fed = 4;
  for (std::size_t step = 100; fed < frame.size(); step *= 2) {
    const std::size_t n = std::min(step, frame.size() - fed);
    ASSERT_EQ(FeedAll(d, frame.substr(fed, n), c), FrameError::kNone);
    fed += n;
    if (fed < frame.size()) {
      EXPECT_EQ(d.buffered(), fed);
      EXPECT_LE(d.capacity(), std::max<std::size_t>(2 * fed, 64));
      EXPECT_LE(d.capacity(), max);
    }
  }
  ASSERT_EQ(c.headers.size(), 1u);
  EXPECT_EQ(c.bodies[0].size(), max - kPduHeaderSize);
  EXPECT_EQ(d.capacity(), 0u);  // released once the frame is out
}

TEST(FrameDecoderTest, StopsWhenTheCallbackSaysSo) {
  FrameDecoder d;
  int seen = 0;
  const std::string stream = UpdatePdu(1, 1) + UpdatePdu(2, 2);
  EXPECT_EQ(d.Feed(Bytes(stream),
                   [&](const DecodedFrame&) {
                     ++seen;
                     return false;
                   }),
            FrameError::kNone);
  EXPECT_EQ(seen, 1);
}

// A length split from a previous read is checked as it completes, with the same code as a length
// read whole.
TEST(FrameDecoderTest, ABadLengthCompletedFromThePendingTailHasItsCode) {
  for (const auto& [length, code] : {std::pair{7u, FrameError::kLengthBelowHeader},
                                     std::pair{1025u, FrameError::kLengthAboveMax}}) {
    FrameDecoder d(1024);
    Collected c;
    const std::string bytes = LengthOnly(length);
    EXPECT_EQ(FeedAll(d, bytes.substr(0, 3), c), FrameError::kNone) << length;
    EXPECT_EQ(FeedAll(d, bytes.substr(3), c), code) << length;
    EXPECT_EQ(d.capacity(), 0u) << length;  // nothing kept for a broken stream
  }
}

TEST(FrameDecoderTest, EachErrorMapsToItsOwnCloseReason) {
  EXPECT_EQ(CloseReasonOf(FrameError::kNone), CloseReason::kNone);
  EXPECT_EQ(CloseReasonOf(FrameError::kLengthBelowHeader), CloseReason::kPduLengthBelowHeader);
  EXPECT_EQ(CloseReasonOf(FrameError::kLengthAboveMax), CloseReason::kPduLengthAboveMax);
  EXPECT_EQ(FrameErrorText(FrameError::kNone, 0, 1024), "");
}

}  // namespace
}  // namespace ttlogin::common
