#include "tools/pdu_dump/link_layer_parser.h"

#include <gtest/gtest.h>

#include "test/pdu_dump/fixtures.h"
#include "tools/pdu_dump/capture_writer.h"

namespace ttlogin::tools::pdu_dump {
namespace {

using testing::V4;
using testing::V6;

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

SegmentSpec Spec(const Endpoint& src, const Endpoint& dst, const std::string& payload) {
  SegmentSpec s;
  s.src = src;
  s.dst = dst;
  s.seq = 0xfffffff0;
  s.flags = kTcpAck | kTcpFin;
  s.payload = Bytes(payload);
  return s;
}

class EveryLinkType : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(EveryLinkType, FindsTheTcpSegment) {
  const auto [link_type, ipv6] = GetParam();
  const Endpoint src = ipv6 ? V6("2001:db8::5", 40000) : V4("10.0.0.5", 40000);
  const Endpoint dst = ipv6 ? V6("2001:db8::1", 8100) : V4("10.0.0.1", 8100);
  const std::string payload = "hello login tier";
  const std::string frame = BuildFrame(link_type, Spec(src, dst, payload));
  const ParsedFrame parsed =
      ParseFrame(link_type, Bytes(frame), static_cast<std::uint32_t>(frame.size()));
  ASSERT_EQ(parsed.status, ParseStatus::kTcp) << parsed.reason;
  EXPECT_EQ(parsed.segment.src, src);
  EXPECT_EQ(parsed.segment.dst, dst);
  EXPECT_EQ(parsed.segment.seq, 0xfffffff0u);
  EXPECT_EQ(parsed.segment.flags, kTcpAck | kTcpFin);
  EXPECT_EQ(std::string(parsed.segment.payload.begin(), parsed.segment.payload.end()), payload);
  EXPECT_EQ(parsed.segment.missing_payload, 0u);
}

INSTANTIATE_TEST_SUITE_P(LinkTypes, EveryLinkType,
                         ::testing::Combine(::testing::Values(kLinkTypeEthernet, kLinkTypeLinuxSll,
                                                              kLinkTypeLinuxSll2, kLinkTypeNull,
                                                              kLinkTypeLoop, kLinkTypeRaw),
                                            ::testing::Bool()));

TEST(LinkLayerParser, IgnoresEthernetPaddingAfterTheIpPacket) {
  // A 2-byte payload makes a frame below Ethernet's 60-byte minimum; the NIC pads it with zeros
  // that are not TCP data.
  std::string frame =
      BuildFrame(kLinkTypeEthernet, Spec(V4("1.1.1.1", 1), V4("2.2.2.2", 8008), "ab"));
  frame.append(60 - frame.size(), '\0');
  const ParsedFrame parsed = ParseFrame(kLinkTypeEthernet, Bytes(frame), 60);
  ASSERT_EQ(parsed.status, ParseStatus::kTcp);
  EXPECT_EQ(parsed.segment.payload.size(), 2u);
}

TEST(LinkLayerParser, ReadsThroughVlanTags) {
  std::string frame =
      BuildFrame(kLinkTypeEthernet, Spec(V4("1.1.1.1", 1), V4("2.2.2.2", 8008), "xyz"));
  frame.insert(12, std::string("\x81\x00\x00\x64", 4));  // 802.1Q, VLAN 100
  const ParsedFrame parsed =
      ParseFrame(kLinkTypeEthernet, Bytes(frame), static_cast<std::uint32_t>(frame.size()));
  ASSERT_EQ(parsed.status, ParseStatus::kTcp);
  EXPECT_EQ(parsed.segment.payload.size(), 3u);
}

TEST(LinkLayerParser, ReportsPayloadCutBySnaplen) {
  const std::string frame =
      BuildFrame(kLinkTypeEthernet, Spec(V4("1.1.1.1", 1), V4("2.2.2.2", 8008), "0123456789"));
  const std::size_t keep = frame.size() - 4;
  const ParsedFrame parsed = ParseFrame(kLinkTypeEthernet, Bytes(frame).first(keep),
                                        static_cast<std::uint32_t>(frame.size()));
  ASSERT_EQ(parsed.status, ParseStatus::kTcp);
  EXPECT_EQ(parsed.segment.payload.size(), 6u);
  EXPECT_EQ(parsed.segment.missing_payload, 4u);
}

TEST(LinkLayerParser, SkipsIpFragmentsAndOtherProtocols) {
  std::string frame = BuildFrame(kLinkTypeRaw, Spec(V4("1.1.1.1", 1), V4("2.2.2.2", 8008), "abc"));
  std::string fragment = frame;
  fragment[6] = 0x20;  // more fragments
  EXPECT_EQ(ParseFrame(kLinkTypeRaw, Bytes(fragment), 0).status, ParseStatus::kNotTcp);
  std::string udp = frame;
  udp[9] = 17;
  EXPECT_EQ(ParseFrame(kLinkTypeRaw, Bytes(udp), 0).status, ParseStatus::kNotTcp);
  const std::string arp = std::string(12, '\x02') + "\x08\x06" + std::string(28, '\0');
  EXPECT_EQ(ParseFrame(kLinkTypeEthernet, Bytes(arp), 0).status, ParseStatus::kNotTcp);
}

TEST(LinkLayerParser, WalksIpv6ExtensionHeaders) {
  std::string frame = BuildFrame(kLinkTypeRaw, Spec(V6("::1", 1), V6("::2", 8100), "payload"));
  // Insert an 8-byte hop-by-hop header between the IPv6 header and TCP.
  std::string hop = std::string("\x06\x00", 2) + std::string(6, '\0');
  frame.insert(40, hop);
  frame[6] = 0;  // next header: hop-by-hop
  const std::uint16_t len = static_cast<std::uint16_t>(frame.size() - 40);
  frame[4] = static_cast<char>(len >> 8);
  frame[5] = static_cast<char>(len & 0xff);
  const ParsedFrame parsed = ParseFrame(kLinkTypeRaw, Bytes(frame), 0);
  ASSERT_EQ(parsed.status, ParseStatus::kTcp) << parsed.reason;
  EXPECT_EQ(std::string(parsed.segment.payload.begin(), parsed.segment.payload.end()), "payload");
}

TEST(LinkLayerParser, RejectsEveryTruncationOfAFrameWithoutCrashing) {
  const std::string frame =
      BuildFrame(kLinkTypeEthernet, Spec(V6("::1", 1), V6("::2", 8100), "some payload"));
  // Cut inside the headers: malformed; cut inside the payload: a segment with missing bytes.
  const std::size_t headers = 14 + 40 + 20;
  for (std::size_t n = 0; n < frame.size(); ++n) {
    const ParsedFrame parsed = ParseFrame(kLinkTypeEthernet, Bytes(frame).first(n),
                                          static_cast<std::uint32_t>(frame.size()));
    if (n < headers) {
      EXPECT_EQ(parsed.status, ParseStatus::kMalformed) << n;
      EXPECT_FALSE(parsed.reason.empty());
    } else {
      ASSERT_EQ(parsed.status, ParseStatus::kTcp) << n;
      EXPECT_EQ(parsed.segment.payload.size() + parsed.segment.missing_payload, 12u);
    }
  }
}

TEST(LinkLayerParser, RejectsContradictoryHeaders) {
  std::string frame = BuildFrame(kLinkTypeRaw, Spec(V4("1.1.1.1", 1), V4("2.2.2.2", 8008), "abc"));
  std::string bad_ihl = frame;
  bad_ihl[0] = 0x43;  // header length 12
  EXPECT_EQ(ParseFrame(kLinkTypeRaw, Bytes(bad_ihl), 0).status, ParseStatus::kMalformed);
  std::string bad_offset = frame;
  bad_offset[20 + 12] = static_cast<char>(0xf0);  // TCP header of 60 bytes in a 23-byte segment
  EXPECT_EQ(ParseFrame(kLinkTypeRaw, Bytes(bad_offset), 0).status, ParseStatus::kMalformed);
  EXPECT_EQ(ParseFrame(12345, Bytes(frame), 0).status, ParseStatus::kMalformed);
  EXPECT_FALSE(IsSupportedLinkType(12345));
}

}  // namespace
}  // namespace ttlogin::tools::pdu_dump
