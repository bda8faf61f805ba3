#include "tools/pdu_dump/link_layer_parser.h"

#include <algorithm>
#include <cstring>

#include "common/pdu_header.h"

namespace ttlogin::tools::pdu_dump {
namespace {

using common::LoadBe16;
using common::LoadBe32;

constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr std::uint16_t kEtherTypeVlan = 0x8100;
constexpr std::uint16_t kEtherTypeQinQ = 0x88a8;
constexpr std::size_t kEthernetHeaderSize = 14;
constexpr std::size_t kVlanTagSize = 4;
// Stacked VLAN tags beyond this are not a real network, just garbage; refusing bounds the loop.
constexpr int kMaxVlanTags = 4;
constexpr std::size_t kSllHeaderSize = 16;
constexpr std::size_t kSll2HeaderSize = 20;
constexpr std::size_t kNullHeaderSize = 4;
constexpr std::size_t kIpv4MinHeaderSize = 20;
constexpr std::size_t kIpv6HeaderSize = 40;
constexpr std::size_t kTcpMinHeaderSize = 20;
constexpr std::uint8_t kIpProtoTcp = 6;
// IPv6 extension headers that may sit before TCP; a fragment header (44) ends the walk because
// fragments are not reassembled (TCP peers avoid IP fragmentation in practice).
constexpr std::uint8_t kIpv6HopByHop = 0;
constexpr std::uint8_t kIpv6Routing = 43;
constexpr std::uint8_t kIpv6Fragment = 44;
constexpr std::uint8_t kIpv6DestOptions = 60;
constexpr int kMaxIpv6ExtensionHeaders = 8;

ParsedFrame Malformed(std::string_view reason) {
  ParsedFrame f;
  f.status = ParseStatus::kMalformed;
  f.reason = reason;
  return f;
}

ParsedFrame NotTcp(std::string_view reason = {}) {
  ParsedFrame f;
  f.status = ParseStatus::kNotTcp;
  f.reason = reason;
  return f;
}

// `ip_payload_announced` is what the IP header says follows it; `captured` what we actually have.
ParsedFrame ParseTcp(std::span<const std::uint8_t> captured, std::size_t ip_payload_announced,
                     ParsedFrame frame) {
  if (ip_payload_announced < kTcpMinHeaderSize) return Malformed("TCP header shorter than 20");
  if (captured.size() < kTcpMinHeaderSize) return Malformed("TCP header cut off by the capture");
  const std::uint8_t* p = captured.data();
  const std::size_t header_size = std::size_t{static_cast<std::uint8_t>(p[12] >> 4)} * 4;
  if (header_size < kTcpMinHeaderSize || header_size > ip_payload_announced) {
    return Malformed("bad TCP data offset");
  }
  if (captured.size() < header_size) return Malformed("TCP options cut off by the capture");
  TcpSegment& s = frame.segment;
  s.src.port = LoadBe16(p);
  s.dst.port = LoadBe16(p + 2);
  s.seq = LoadBe32(p + 4);
  s.flags = p[13];
  const std::size_t announced = ip_payload_announced - header_size;
  const std::size_t have = std::min(announced, captured.size() - header_size);
  s.payload = captured.subspan(header_size, have);
  s.missing_payload = static_cast<std::uint32_t>(announced - have);
  frame.status = ParseStatus::kTcp;
  return frame;
}

ParsedFrame ParseIpv4(std::span<const std::uint8_t> ip, std::uint32_t wire_ip_length) {
  if (ip.size() < kIpv4MinHeaderSize) return Malformed("IPv4 header cut off");
  const std::uint8_t* p = ip.data();
  if ((p[0] >> 4) != 4) return Malformed("IPv4 version field is not 4");
  const std::size_t header_size = std::size_t{static_cast<std::uint8_t>(p[0] & 0x0f)} * 4;
  std::size_t total = LoadBe16(p + 2);
  if (header_size < kIpv4MinHeaderSize || ip.size() < header_size) {
    return Malformed("bad IPv4 header length");
  }
  // TSO/GRO captures on the sending host carry total length 0; trust the frame length then.
  if (total == 0) total = wire_ip_length;
  if (total < header_size) return Malformed("IPv4 total length below its header");
  if (p[9] != kIpProtoTcp) return NotTcp();
  const std::uint16_t frag = LoadBe16(p + 6);
  if ((frag & 0x3fff) != 0) return NotTcp("IP fragment (not reassembled)");
  ParsedFrame frame;
  std::memcpy(frame.segment.src.address.data(), p + 12, 4);
  std::memcpy(frame.segment.dst.address.data(), p + 16, 4);
  // The captured bytes may be longer than `total` (Ethernet padding) or shorter (snaplen).
  const std::size_t captured = std::min(ip.size(), total);
  return ParseTcp(ip.subspan(header_size, captured - header_size), total - header_size, frame);
}

ParsedFrame ParseIpv6(std::span<const std::uint8_t> ip, std::uint32_t wire_ip_length) {
  if (ip.size() < kIpv6HeaderSize) return Malformed("IPv6 header cut off");
  const std::uint8_t* p = ip.data();
  if ((p[0] >> 4) != 6) return Malformed("IPv6 version field is not 6");
  std::size_t payload_length = LoadBe16(p + 4);
  if (payload_length == 0) {  // jumbogram or TSO: fall back to the frame length
    if (wire_ip_length < kIpv6HeaderSize) return Malformed("IPv6 frame shorter than its header");
    payload_length = wire_ip_length - kIpv6HeaderSize;
  }
  ParsedFrame frame;
  frame.segment.src.ipv6 = true;
  frame.segment.dst.ipv6 = true;
  std::memcpy(frame.segment.src.address.data(), p + 8, 16);
  std::memcpy(frame.segment.dst.address.data(), p + 24, 16);
  std::uint8_t next = p[6];
  std::span<const std::uint8_t> rest =
      ip.subspan(kIpv6HeaderSize, std::min(ip.size() - kIpv6HeaderSize, payload_length));
  std::size_t announced = payload_length;
  for (int i = 0; i < kMaxIpv6ExtensionHeaders; ++i) {
    if (next == kIpProtoTcp) return ParseTcp(rest, announced, frame);
    if (next == kIpv6Fragment) return NotTcp("IP fragment (not reassembled)");
    if (next != kIpv6HopByHop && next != kIpv6Routing && next != kIpv6DestOptions) return NotTcp();
    if (rest.size() < 8) return Malformed("IPv6 extension header cut off");
    const std::size_t ext_size = (std::size_t{rest[1]} + 1) * 8;
    if (ext_size > rest.size() || ext_size > announced) {
      return Malformed("IPv6 extension header overruns the packet");
    }
    next = rest[0];
    rest = rest.subspan(ext_size);
    announced -= ext_size;
  }
  return Malformed("too many IPv6 extension headers");
}

ParsedFrame ParseByEtherType(std::uint16_t ether_type, std::span<const std::uint8_t> ip,
                             std::uint32_t wire_ip_length) {
  if (ether_type == kEtherTypeIpv4) return ParseIpv4(ip, wire_ip_length);
  if (ether_type == kEtherTypeIpv6) return ParseIpv6(ip, wire_ip_length);
  return NotTcp();
}

// Raw IP and the loopback families: the version nibble is the only reliable tag.
ParsedFrame ParseByVersion(std::span<const std::uint8_t> ip, std::uint32_t wire_ip_length) {
  if (ip.empty()) return Malformed("empty IP packet");
  const int version = ip[0] >> 4;
  if (version == 4) return ParseIpv4(ip, wire_ip_length);
  if (version == 6) return ParseIpv6(ip, wire_ip_length);
  return NotTcp();
}

std::uint32_t WireRemainder(std::uint32_t wire_length, std::size_t header) {
  return wire_length > header ? static_cast<std::uint32_t>(wire_length - header) : 0;
}

}  // namespace

bool IsSupportedLinkType(int link_type) {
  switch (link_type) {
    case kLinkTypeNull:
    case kLinkTypeEthernet:
    case kLinkTypeRaw:
    case kDltRaw:
    case kDltRawOpenBsd:
    case kLinkTypeLoop:
    case kLinkTypeLinuxSll:
    case kLinkTypeLinuxSll2:
      return true;
    default:
      return false;
  }
}

ParsedFrame ParseFrame(int link_type, std::span<const std::uint8_t> frame,
                       std::uint32_t wire_length) {
  wire_length = std::max<std::uint32_t>(wire_length, static_cast<std::uint32_t>(frame.size()));
  switch (link_type) {
    case kLinkTypeEthernet: {
      if (frame.size() < kEthernetHeaderSize) return Malformed("Ethernet header cut off");
      std::size_t offset = 12;
      std::uint16_t ether_type = LoadBe16(frame.data() + offset);
      int tags = 0;
      while (ether_type == kEtherTypeVlan || ether_type == kEtherTypeQinQ) {
        if (++tags > kMaxVlanTags) return Malformed("too many VLAN tags");
        offset += kVlanTagSize;
        if (frame.size() < offset + 2) return Malformed("VLAN tag cut off");
        ether_type = LoadBe16(frame.data() + offset);
      }
      offset += 2;
      return ParseByEtherType(ether_type, frame.subspan(offset),
                              WireRemainder(wire_length, offset));
    }
    case kLinkTypeLinuxSll:
      if (frame.size() < kSllHeaderSize) return Malformed("Linux cooked header cut off");
      return ParseByEtherType(LoadBe16(frame.data() + 14), frame.subspan(kSllHeaderSize),
                              WireRemainder(wire_length, kSllHeaderSize));
    case kLinkTypeLinuxSll2:
      if (frame.size() < kSll2HeaderSize) return Malformed("Linux cooked v2 header cut off");
      return ParseByEtherType(LoadBe16(frame.data()), frame.subspan(kSll2HeaderSize),
                              WireRemainder(wire_length, kSll2HeaderSize));
    case kLinkTypeNull:
    case kLinkTypeLoop:
      // The family value differs per OS (AF_INET6 is 10, 24, 28 or 30) and, for DLT_NULL, its
      // byte order is the capturing host's; the IP version nibble answers the same question
      // without that table.
      if (frame.size() < kNullHeaderSize) return Malformed("loopback header cut off");
      return ParseByVersion(frame.subspan(kNullHeaderSize),
                            WireRemainder(wire_length, kNullHeaderSize));
    case kLinkTypeRaw:
    case kDltRaw:
    case kDltRawOpenBsd:
      return ParseByVersion(frame, wire_length);
    default:
      return Malformed("unsupported link type");
  }
}

}  // namespace ttlogin::tools::pdu_dump
