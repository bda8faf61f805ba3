#include "tools/pdu_dump/pdu_stream_decoder.h"

#include <gtest/gtest.h>

#include "common/protocol.h"
#include "test/pdu_dump/fixtures.h"

namespace ttlogin::tools::pdu_dump {
namespace {

using testing::Heartbeat;
using testing::RawPdu;
using testing::ServInfo;
using testing::UserCnt;

struct Seen {
  std::uint64_t offset;
  common::PduHeader header;
  std::string body;
};

class RecordingSink : public PduSink {
 public:
  void OnPdu(const StreamInfo&, const PduEvent& pdu) override {
    pdus.push_back({pdu.offset, pdu.header, std::string(pdu.body.begin(), pdu.body.end())});
  }
  void OnStreamError(const StreamInfo&, std::uint64_t offset, TimestampUs,
                     std::string_view reason) override {
    errors.emplace_back(offset, std::string(reason));
  }
  void OnStreamEnd(const StreamInfo&, TimestampUs, std::uint64_t skipped) override {
    ended = true;
    skipped_at_end = skipped;
  }
  std::vector<Seen> pdus;
  std::vector<std::pair<std::uint64_t, std::string>> errors;
  bool ended = false;
  std::uint64_t skipped_at_end = 0;
};

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

StreamInfo Info(bool from_start = true) {
  StreamInfo info;
  info.from_start = from_start;
  return info;
}

std::string ThreePdus() {
  return ServInfo(1, "10.0.0.1", "10.0.1.1", 8000, 100, 0, "msg-a") + UserCnt(2, 1, 5001) +
         Heartbeat(3);
}

TEST(PduStreamDecoder, DecodesEveryWayOfSplittingTheStreamInTwoAndThree) {
  const std::string stream = ThreePdus();
  for (std::size_t a = 0; a <= stream.size(); ++a) {
    for (std::size_t b = a; b <= stream.size(); b += 7) {
      RecordingSink sink;
      PduStreamDecoder d(Info(), sink);
      d.OnData(Bytes(stream).subspan(0, a), 1);
      d.OnData(Bytes(stream).subspan(a, b - a), 2);
      d.OnData(Bytes(stream).subspan(b), 3);
      d.OnEnd(4);
      ASSERT_EQ(sink.pdus.size(), 3u) << a << "/" << b;
      EXPECT_TRUE(sink.errors.empty());
      EXPECT_EQ(sink.pdus[0].offset, 0u);
      EXPECT_EQ(sink.pdus[1].header.command_id, common::kCidOtherUserCntUpdate);
      EXPECT_EQ(sink.pdus[1].offset, sink.pdus[0].header.length);
      EXPECT_EQ(sink.pdus[2].header.seq_num, 3);
      EXPECT_EQ(d.position(), stream.size());
    }
  }
}

TEST(PduStreamDecoder, DecodesByteByByte) {
  const std::string stream = ThreePdus();
  RecordingSink sink;
  PduStreamDecoder d(Info(), sink);
  for (std::size_t i = 0; i < stream.size(); ++i)
    d.OnData(Bytes(stream).subspan(i, 1), 0);
  ASSERT_EQ(sink.pdus.size(), 3u);
  EXPECT_EQ(sink.pdus[1].body, UserCnt(2, 1, 5001).substr(16));
}

TEST(PduStreamDecoder, ReportsABadLengthWithItsOffsetAndResynchronises) {
  const std::string good1 = UserCnt(1, 1, 7);
  const std::string bad = RawPdu(5, 7, 0x070b, 2, "");  // length 5 < 16
  const std::string good2 = UserCnt(3, 2, 7);
  RecordingSink sink;
  PduStreamDecoder d(Info(), sink);
  d.OnData(Bytes(good1 + bad + good2), 0);
  d.OnEnd(0);
  ASSERT_EQ(sink.errors.size(), 1u);
  EXPECT_EQ(sink.errors[0].first, good1.size());
  EXPECT_NE(sink.errors[0].second.find("below the 16-byte header"), std::string::npos);
  ASSERT_EQ(sink.pdus.size(), 2u);
  EXPECT_EQ(sink.pdus[1].header.seq_num, 3);
  EXPECT_EQ(sink.pdus[1].offset, good1.size() + bad.size());
  EXPECT_EQ(sink.skipped_at_end, bad.size());
}

TEST(PduStreamDecoder, ReportsALengthAboveTheMaximum) {
  RecordingSink sink;
  PduStreamDecoder d(Info(), sink, 1024);
  d.OnData(Bytes(RawPdu(5000, 7, 0x070b, 1, "")), 0);
  ASSERT_EQ(sink.errors.size(), 1u);
  EXPECT_EQ(sink.errors[0].first, 0u);
  EXPECT_NE(sink.errors[0].second.find("exceeds the maximum of 1024"), std::string::npos);
}

TEST(PduStreamDecoder, MidStreamStartSkipsToTheFirstPlausibleHeader) {
  const std::string tail_of_previous = UserCnt(9, 1, 42).substr(5);  // 17 bytes of a cut PDU
  const std::string stream = tail_of_previous + ThreePdus();
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    RecordingSink sink;
    PduStreamDecoder d(Info(/*from_start=*/false), sink);
    d.OnData(Bytes(stream).first(split), 0);
    d.OnData(Bytes(stream).subspan(split), 0);
    d.OnEnd(0);
    ASSERT_EQ(sink.pdus.size(), 3u) << split;
    EXPECT_TRUE(sink.errors.empty()) << "a mid-stream start is not an error";
    EXPECT_EQ(sink.pdus[0].offset, tail_of_previous.size());
    EXPECT_EQ(sink.skipped_at_end, tail_of_previous.size());
  }
}

TEST(PduStreamDecoder, AGapDropsThePartialPduAndResynchronises) {
  const std::string a = UserCnt(1, 1, 1);
  const std::string b = UserCnt(2, 1, 2);
  const std::string c = UserCnt(3, 1, 3);
  RecordingSink sink;
  PduStreamDecoder d(Info(), sink);
  d.OnData(Bytes(a + b.substr(0, 10)), 0);
  d.OnGap(b.size() - 10, 0, "lost");  // the rest of b never arrives
  d.OnData(Bytes(c), 0);
  d.OnEnd(0);
  ASSERT_EQ(sink.pdus.size(), 2u);
  EXPECT_EQ(sink.pdus[1].header.seq_num, 3);
  EXPECT_EQ(sink.pdus[1].offset, a.size() + b.size());
  ASSERT_EQ(sink.errors.size(), 1u);
  EXPECT_EQ(sink.errors[0].first, a.size() + 10);
  EXPECT_NE(sink.errors[0].second.find("partial PDU of 10 bytes"), std::string::npos);
}

TEST(PduStreamDecoder, AStreamEndingInsideAPduIsAnError) {
  const std::string a = UserCnt(1, 1, 1);
  RecordingSink sink;
  PduStreamDecoder d(Info(), sink);
  d.OnData(Bytes(a + a.substr(0, 7)), 0);
  d.OnEnd(0);
  ASSERT_EQ(sink.pdus.size(), 1u);
  ASSERT_EQ(sink.errors.size(), 1u);
  EXPECT_EQ(sink.errors[0].first, a.size());
  EXPECT_NE(sink.errors[0].second.find("7 of 20 bytes"), std::string::npos);
  EXPECT_TRUE(sink.ended);
}

TEST(PduStreamDecoder, GarbageNeverMakesAPduOrHoldsMoreThanAHeader) {
  std::string garbage;
  std::uint32_t x = 12345;
  for (int i = 0; i < 100000; ++i) {
    x = x * 1103515245 + 12345;
    garbage += static_cast<char>(x >> 24);
  }
  RecordingSink sink;
  PduStreamDecoder d(Info(/*from_start=*/false), sink);
  for (std::size_t i = 0; i < garbage.size(); i += 1000) {
    d.OnData(Bytes(garbage).subspan(i, 1000), 0);
  }
  d.OnData(Bytes(Heartbeat(77)), 0);
  d.OnEnd(0);
  // Random bytes almost never pass the plausibility test (version 1, zero flag and reserved, known
  // service); the real PDU after them must be found.
  ASSERT_FALSE(sink.pdus.empty());
  EXPECT_EQ(sink.pdus.back().header.seq_num, 77);
}

}  // namespace
}  // namespace ttlogin::tools::pdu_dump
