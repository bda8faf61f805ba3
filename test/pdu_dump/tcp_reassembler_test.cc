#include "tools/pdu_dump/tcp_reassembler.h"

#include <gtest/gtest.h>

#include <deque>

#include "test/pdu_dump/fixtures.h"

namespace ttlogin::tools::pdu_dump {
namespace {

using testing::V4;

// Records what each stream receives, as text: data verbatim, "<gap N>" and "<end>".
struct Recorded {
  StreamInfo info;
  std::string log;
  std::string data;
};

class RecordingConsumer : public StreamConsumer {
 public:
  explicit RecordingConsumer(Recorded& r) : r_(r) {}
  void OnData(std::span<const std::uint8_t> bytes, TimestampUs) override {
    r_.log.append(bytes.begin(), bytes.end());
    r_.data.append(bytes.begin(), bytes.end());
  }
  void OnGap(std::uint64_t bytes, TimestampUs, const std::string&) override {
    r_.log += "<gap " + std::to_string(bytes) + ">";
  }
  void OnEnd(TimestampUs) override { r_.log += "<end>"; }

 private:
  Recorded& r_;
};

class Factory : public StreamFactory {
 public:
  std::unique_ptr<StreamConsumer> OpenStream(const StreamInfo& info) override {
    streams.push_back(std::make_unique<Recorded>());
    streams.back()->info = info;
    return std::make_unique<RecordingConsumer>(*streams.back());
  }
  void OnConnectionClosed(const Endpoint&, const Endpoint&, TimestampUs) override { ++closes; }
  std::vector<std::unique_ptr<Recorded>> streams;
  int closes = 0;
};

// Frames from a Conversation, parsed back into segments (raw IP link type keeps it short).
class ReassemblerTest : public ::testing::Test {
 protected:
  ReassemblerTest()
      : conv_(kLinkTypeRaw, V4("10.0.0.5", 40000), V4("10.0.0.1", 8100), 0xfffffff0, 77) {}

  void Feed(const std::string& frame) {
    frames_.push_back(frame);  // keep the bytes alive while the segment points into them
    const ParsedFrame p = ParseFrame(
        kLinkTypeRaw,
        {reinterpret_cast<const std::uint8_t*>(frames_.back().data()), frames_.back().size()}, 0);
    ASSERT_EQ(p.status, ParseStatus::kTcp);
    reassembler_.OnSegment(p.segment, ++ts_);
  }
  void FeedCut(const std::string& frame, std::size_t cut) {
    frames_.push_back(frame);
    const std::string& f = frames_.back();
    const ParsedFrame p =
        ParseFrame(kLinkTypeRaw, {reinterpret_cast<const std::uint8_t*>(f.data()), f.size() - cut},
                   static_cast<std::uint32_t>(f.size()));
    ASSERT_EQ(p.status, ParseStatus::kTcp);
    reassembler_.OnSegment(p.segment, ++ts_);
  }
  void FeedAll(const std::vector<std::string>& frames) {
    for (const auto& f : frames)
      Feed(f);
  }

  testing::Conversation conv_;  // client ISN near the wrap, so offsets cross 2^32
  Factory factory_;
  TcpReassembler reassembler_{factory_, 64};
  std::deque<std::string> frames_;
  TimestampUs ts_ = 0;
};

TEST_F(ReassemblerTest, InOrderBothDirectionsAcrossTheSequenceWrap) {
  FeedAll(conv_.Handshake());
  Feed(conv_.Data(testing::Side::kClient, "hello "));
  Feed(conv_.Data(testing::Side::kServer, "welcome"));
  Feed(conv_.Data(testing::Side::kClient, "world, past the wrap"));
  Feed(conv_.Fin(testing::Side::kClient));
  Feed(conv_.Fin(testing::Side::kServer));
  ASSERT_EQ(factory_.streams.size(), 2u);
  EXPECT_EQ(factory_.streams[0]->log, "hello world, past the wrap<end>");
  EXPECT_TRUE(factory_.streams[0]->info.from_start);
  EXPECT_EQ(factory_.streams[0]->info.src_label, "10.0.0.5:40000");
  EXPECT_EQ(factory_.streams[1]->log, "welcome<end>");
  EXPECT_EQ(factory_.closes, 1);
  EXPECT_EQ(reassembler_.open_connections(), 0u) << "state dropped after both FINs";
}

TEST_F(ReassemblerTest, ReordersSegments) {
  FeedAll(conv_.Handshake());
  const std::string a = conv_.Data(testing::Side::kClient, "aaaa");
  const std::string b = conv_.Data(testing::Side::kClient, "bbbb");
  const std::string c = conv_.Data(testing::Side::kClient, "cccc");
  Feed(c);
  Feed(b);
  EXPECT_EQ(factory_.streams[0]->data, "");
  EXPECT_EQ(reassembler_.buffered_bytes(), 8u);
  Feed(a);
  EXPECT_EQ(factory_.streams[0]->data, "aaaabbbbcccc");
  EXPECT_EQ(reassembler_.buffered_bytes(), 0u);
  EXPECT_EQ(reassembler_.stats().out_of_order_segments, 2u);
}

TEST_F(ReassemblerTest, DropsRetransmissionsAndKeepsOnlyNewBytesOfOverlaps) {
  FeedAll(conv_.Handshake());
  const std::string a = conv_.Data(testing::Side::kClient, "0123456789");
  Feed(a);
  Feed(a);                                                      // exact duplicate
  Feed(conv_.DataAt(testing::Side::kClient, 5, "56789ABCDE"));  // overlaps 5 old bytes
  Feed(conv_.DataAt(testing::Side::kClient, 12, "CDEF"));       // overlaps, adds F
  Feed(conv_.DataAt(testing::Side::kClient, 20, "KL"));         // early
  Feed(conv_.DataAt(testing::Side::kClient, 20, "KL"));         // early duplicate
  Feed(conv_.DataAt(testing::Side::kClient, 16, "GHIJ"));       // fills the hole
  EXPECT_EQ(factory_.streams[0]->data, "0123456789ABCDEFGHIJKL");
  EXPECT_EQ(reassembler_.stats().retransmitted_segments, 1u);
}

TEST_F(ReassemblerTest, GivesUpAHoleWhenEarlyDataExceedsTheBound) {
  FeedAll(conv_.Handshake());
  conv_.Data(testing::Side::kClient, "lost!");  // never fed
  for (int i = 0; i < 20; ++i)
    Feed(conv_.Data(testing::Side::kClient, "0123456789"));
  // The bound is 64 bytes: the hole is declared lost once 7 segments wait, then data flows.
  EXPECT_LE(reassembler_.buffered_bytes(), 64u);
  EXPECT_EQ(factory_.streams[0]->log.substr(0, 7), "<gap 5>");
  EXPECT_EQ(factory_.streams[0]->data.size(), 200u);
  EXPECT_EQ(reassembler_.stats().overflows, 1u);
  EXPECT_LE(reassembler_.stats().peak_out_of_order_bytes, 64u + 10u);
}

TEST_F(ReassemblerTest, HolesLeftAtTheEndOfTheCaptureAreGaps) {
  FeedAll(conv_.Handshake());
  Feed(conv_.Data(testing::Side::kClient, "head"));
  conv_.Data(testing::Side::kClient, "LOST");
  Feed(conv_.Data(testing::Side::kClient, "tail"));
  reassembler_.Finish(99);
  EXPECT_EQ(factory_.streams[0]->log, "head<gap 4>tail<end>");
}

TEST_F(ReassemblerTest, SnaplenCutSegmentsBecomeGaps) {
  FeedAll(conv_.Handshake());
  FeedCut(conv_.Data(testing::Side::kClient, "0123456789"), 3);
  Feed(conv_.Data(testing::Side::kClient, "next"));
  EXPECT_EQ(factory_.streams[0]->log, "0123456<gap 3>next");
}

TEST_F(ReassemblerTest, StartsMidStreamWithoutAHandshake) {
  conv_.Data(testing::Side::kClient, "before the capture");
  Feed(conv_.Data(testing::Side::kClient, "seen"));
  Feed(conv_.Data(testing::Side::kServer, "reply"));
  ASSERT_EQ(factory_.streams.size(), 2u);
  EXPECT_FALSE(factory_.streams[0]->info.from_start);
  EXPECT_EQ(factory_.streams[0]->data, "seen");
  EXPECT_EQ(factory_.streams[1]->data, "reply");
}

TEST_F(ReassemblerTest, ResetEndsBothDirectionsAndBareAcksCreateNothing) {
  FeedAll(conv_.Handshake());
  Feed(conv_.Data(testing::Side::kClient, "x"));
  Feed(conv_.Rst(testing::Side::kServer));
  EXPECT_EQ(factory_.streams[0]->log, "x<end>");
  EXPECT_EQ(factory_.streams[1]->log, "<end>");
  EXPECT_EQ(factory_.closes, 1);
  EXPECT_EQ(reassembler_.open_connections(), 0u);
  Feed(conv_.Ack(testing::Side::kClient));  // late ACK of a closed connection
  EXPECT_EQ(reassembler_.open_connections(), 0u);
}

TEST_F(ReassemblerTest, ANewSynOnTheSameAddressesStartsANewConnection) {
  FeedAll(conv_.Handshake());
  Feed(conv_.Data(testing::Side::kClient, "first"));
  testing::Conversation again(kLinkTypeRaw, conv_.client(), conv_.server(), 123456, 654321);
  FeedAll(again.Handshake());
  Feed(again.Data(testing::Side::kClient, "second"));
  ASSERT_EQ(factory_.streams.size(), 4u);
  EXPECT_EQ(factory_.streams[0]->log, "first<end>");
  EXPECT_EQ(factory_.streams[2]->data, "second");
}

}  // namespace
}  // namespace ttlogin::tools::pdu_dump
