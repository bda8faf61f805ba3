// The whole capture path on files built by the tests: libpcap reading pcap/pcapng, every link
// type, IPv4 and IPv6, TCP reassembly, PDU decoding, and what happens with broken files.
#include <gtest/gtest.h>

#include "test/pdu_dump/decode_helpers.h"
#include "test/pdu_dump/fixtures.h"

namespace ttlogin::tools::pdu_dump {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

struct Case {
  int link_type;
  bool ipv6;
  CaptureFormat format;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  const char* link = c.link_type == kLinkTypeEthernet    ? "Ethernet"
                     : c.link_type == kLinkTypeLinuxSll  ? "LinuxSll"
                     : c.link_type == kLinkTypeLinuxSll2 ? "LinuxSll2"
                     : c.link_type == kLinkTypeNull      ? "Null"
                     : c.link_type == kLinkTypeLoop      ? "Loop"
                                                         : "RawIp";
  return std::string(link) + (c.ipv6 ? "Ipv6" : "Ipv4") +
         (c.format == CaptureFormat::kPcap ? "Pcap" : "Pcapng");
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (int link : {kLinkTypeEthernet, kLinkTypeLinuxSll, kLinkTypeLinuxSll2, kLinkTypeNull,
                   kLinkTypeLoop, kLinkTypeRaw}) {
    for (bool v6 : {false, true}) {
      for (CaptureFormat f : {CaptureFormat::kPcap, CaptureFormat::kPcapng}) {
        cases.push_back({link, v6, f});
      }
    }
  }
  return cases;
}

class ScenarioOnEveryLink : public ::testing::TestWithParam<Case> {};

TEST_P(ScenarioOnEveryLink, DecodesEveryPduInStreamOrder) {
  const Case c = GetParam();
  const Scenario s = LoginTierScenario(c.link_type, c.ipv6);
  const DecodeOutcome out = DecodeCapture(MakeCapture(c.format, c.link_type, s.frames));
  EXPECT_EQ(out.input.status, InputStatus::kOk) << out.input.message;
  const auto lines = ParseLines(out.output);
  EXPECT_EQ(CommandSeqs(lines), s.expected);
  EXPECT_EQ(out.stats.errors(), 0u);
  EXPECT_EQ(out.stats.connections, 2u);
  EXPECT_EQ(out.stats.streams, 4u);
  EXPECT_EQ(out.stats.retransmitted_segments, 1u);
  EXPECT_EQ(out.stats.out_of_order_segments, 1u);
  // Direction and addresses: the register came from the msg_server, the heartbeat went back.
  const std::string ms = c.ipv6 ? "[2001:db8::5]:40000" : "10.0.0.5:40000";
  const std::string login = c.ipv6 ? "[2001:db8::1]:8100" : "10.0.0.1:8100";
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0]["src"], ms);
  EXPECT_EQ(lines[0]["dst"], login);
  EXPECT_EQ(lines[1]["src"], login);
  EXPECT_EQ(lines[0]["body"]["host_name"], "msg-a");
}

INSTANTIATE_TEST_SUITE_P(AllLinks, ScenarioOnEveryLink, ::testing::ValuesIn(AllCases()), CaseName);

TEST(Capture, TruncatedFileNamesTheOffsetAndKeepsWhatCameBefore) {
  const Scenario s = LoginTierScenario(kLinkTypeEthernet, false);
  const std::string full = MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, s.frames);
  // Cut in the middle of the 9th record's data, then inside a record header.
  for (std::size_t cut : {full.size() - 30, full.size() - 70 - 5}) {
    const DecodeOutcome out = DecodeCapture(full.substr(0, cut));
    EXPECT_EQ(out.input.status, InputStatus::kDamaged);
    EXPECT_NE(out.input.message.find("file offset"), std::string::npos) << out.input.message;
    EXPECT_NE(out.input.message.find("truncated"), std::string::npos) << out.input.message;
    EXPECT_EQ(out.stats.input_errors, 1u);
    const auto seqs = CommandSeqs(ParseLines(out.output));
    ASSERT_GE(seqs.size(), 8u) << "everything before the damage is decoded";
    EXPECT_EQ(std::vector<std::string>(seqs.begin(), seqs.begin() + 8),
              std::vector<std::string>(s.expected.begin(), s.expected.begin() + 8));
  }
}

TEST(Capture, TruncatedPcapngIsReportedToo) {
  const Scenario s = LoginTierScenario(kLinkTypeLinuxSll2, true);
  const std::string full = MakeCapture(CaptureFormat::kPcapng, kLinkTypeLinuxSll2, s.frames);
  const DecodeOutcome out = DecodeCapture(full.substr(0, full.size() - 10));
  EXPECT_EQ(out.input.status, InputStatus::kDamaged);
  EXPECT_NE(out.input.message.find("file offset"), std::string::npos) << out.input.message;
  EXPECT_FALSE(ParseLines(out.output).empty());
}

TEST(Capture, NotACaptureCannotBeOpened) {
  EXPECT_EQ(DecodeCapture("this is not a capture file at all").input.status,
            InputStatus::kCannotOpen);
  EXPECT_EQ(DecodeCapture("").input.status, InputStatus::kCannotOpen);
  const std::string header_only = MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, {});
  EXPECT_EQ(DecodeCapture(header_only.substr(0, 10)).input.status, InputStatus::kCannotOpen);
  // An empty but valid capture is fine.
  EXPECT_EQ(DecodeCapture(header_only).input.status, InputStatus::kOk);
}

TEST(Capture, UnsupportedLinkTypeIsRefusedByName) {
  const std::string wifi = MakeCapture(CaptureFormat::kPcap, 105, {std::string(40, 'x')});
  const DecodeOutcome out = DecodeCapture(wifi);
  EXPECT_EQ(out.input.status, InputStatus::kCannotOpen);
  EXPECT_NE(out.input.message.find("unsupported link type 105"), std::string::npos)
      << out.input.message;
}

TEST(Capture, BadLengthInOneStreamLeavesTheOthersAlone) {
  Conversation bad(kLinkTypeEthernet, V4("10.0.0.5", 40000), V4("10.0.0.1", 8100));
  Conversation good(kLinkTypeEthernet, V4("10.0.0.6", 40001), V4("10.0.0.1", 8100));
  std::vector<std::string> frames;
  for (const auto& f : bad.Handshake())
    frames.push_back(f);
  for (const auto& f : good.Handshake())
    frames.push_back(f);
  frames.push_back(bad.Data(Side::kClient, UserCnt(1, 1, 1)));
  frames.push_back(good.Data(Side::kClient, UserCnt(1, 1, 2)));
  frames.push_back(bad.Data(Side::kClient, RawPdu(3, 7, 0x070b, 2, "")));  // length 3
  frames.push_back(good.Data(Side::kClient, UserCnt(2, 1, 3)));
  frames.push_back(bad.Data(Side::kClient, UserCnt(3, 1, 4)));
  frames.push_back(good.Data(Side::kClient, UserCnt(3, 1, 5)));
  const DecodeOutcome out =
      DecodeCapture(MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, frames));
  const auto lines = ParseLines(out.output);
  int good_pdus = 0;
  int errors = 0;
  for (const auto& j : lines) {
    if (j.contains("error")) {
      ++errors;
      EXPECT_EQ(j["src"], "10.0.0.5:40000");
      EXPECT_EQ(j["offset"], 20);  // after one 20-byte update (user_id 1 is a 1-byte varint)
      EXPECT_NE(j["error"].get<std::string>().find("below the 16-byte header"), std::string::npos);
    } else if (j["src"] == "10.0.0.6:40001") {
      ++good_pdus;
    }
  }
  EXPECT_EQ(good_pdus, 3);
  EXPECT_EQ(errors, 1);
  EXPECT_EQ(out.stats.stream_errors, 1u);
  // The broken stream resynchronises on the next PDU (seq 3).
  EXPECT_EQ(CommandSeqs(lines),
            (std::vector<std::string>{"70b@1", "70b@1", "70b@2", "70b@3", "70b@3"}));
}

TEST(Capture, MidConnectionStartDecodesFromTheFirstPlausibleHeader) {
  Conversation a(kLinkTypeEthernet, V4("10.0.0.5", 40000), V4("10.0.0.1", 8100));
  const std::string u1 = UserCnt(1, 1, 1);
  a.Data(Side::kClient, u1.substr(0, 9));  // before the capture started
  std::vector<std::string> frames = {
      a.Data(Side::kClient, u1.substr(9) + UserCnt(2, 1, 2)),
      a.Data(Side::kClient, Heartbeat(3)),
  };
  const DecodeOutcome out =
      DecodeCapture(MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, frames));
  EXPECT_EQ(CommandSeqs(ParseLines(out.output)), (std::vector<std::string>{"70b@2", "701@3"}));
  EXPECT_EQ(out.stats.errors(), 0u);
  EXPECT_EQ(out.stats.skipped_bytes, u1.size() - 9);
}

TEST(Capture, PortsCanBeReplaced) {
  Conversation a(kLinkTypeEthernet, V4("10.0.0.5", 40000), V4("10.0.0.1", 9100));
  std::vector<std::string> frames = a.Handshake();
  frames.push_back(a.Data(Side::kClient, Heartbeat(1)));
  const std::string cap = MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, frames);
  EXPECT_TRUE(DecodeCapture(cap).output.empty()) << "9100 is not a default port";
  CaptureConfig config;
  config.ports = {9100};
  EXPECT_EQ(CommandSeqs(ParseLines(DecodeCapture(cap, OutputFormat::kJson, config).output)),
            std::vector<std::string>{"701@1"});
}

TEST(Capture, MalformedFramesAreCountedAsDamage) {
  Conversation a(kLinkTypeEthernet, V4("10.0.0.5", 40000), V4("10.0.0.1", 8100));
  std::vector<std::string> frames = a.Handshake();
  frames.push_back(a.Data(Side::kClient, Heartbeat(1)));
  std::string broken = a.Data(Side::kClient, Heartbeat(2));
  broken[14] = 0x4f;  // IPv4 header length 60 in a 56-byte packet
  frames.push_back(broken);
  const DecodeOutcome out =
      DecodeCapture(MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, frames));
  EXPECT_EQ(out.input.status, InputStatus::kDamaged);
  EXPECT_NE(out.input.message.find("frame 5"), std::string::npos) << out.input.message;
  EXPECT_EQ(out.stats.frames_malformed, 1u);
}

TEST(Capture, SnaplenCutSegmentIsReportedAndTheStreamRecovers) {
  Conversation a(kLinkTypeEthernet, V4("10.0.0.5", 40000), V4("10.0.0.1", 8100));
  std::vector<std::string> frames = a.Handshake();
  frames.push_back(a.Data(
      Side::kClient, ServInfo(1, "10.0.0.5", "10.0.1.5", 8000, 1000, 0, std::string(200, 'h'))));
  frames.push_back(a.Data(Side::kClient, Heartbeat(2)));
  // 54 bytes of headers + 16 bytes of PDU header: the register's body is cut off.
  const DecodeOutcome out =
      DecodeCapture(MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, frames, 100));
  const auto lines = ParseLines(out.output);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0]["error"].get<std::string>().find("snaplen"), std::string::npos);
  EXPECT_EQ(lines[1]["command"], 0x0701);
  EXPECT_EQ(lines[1]["seq"], 2);
}

}  // namespace
}  // namespace ttlogin::tools::pdu_dump
