#include "tools/pdu_dump/capture_writer.h"

#include <algorithm>

#include "common/pdu_header.h"
#include "tools/pdu_dump/link_layer_parser.h"

namespace ttlogin::tools::pdu_dump {
namespace {

void PutLe16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v & 0xff);
  out += static_cast<char>(v >> 8);
}
void PutLe32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out += static_cast<char>((v >> (8 * i)) & 0xff);
}
void PutBe16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}
void PutBe32(std::string& out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i)
    out += static_cast<char>((v >> (8 * i)) & 0xff);
}

constexpr std::uint32_t kPcapMagicMicros = 0xa1b2c3d4;
constexpr std::uint32_t kPcapngSectionHeader = 0x0a0d0d0a;
constexpr std::uint32_t kPcapngInterfaceDescription = 1;
constexpr std::uint32_t kPcapngEnhancedPacket = 6;
constexpr std::uint32_t kPcapngByteOrderMagic = 0x1a2b3c4d;
constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr std::uint16_t kArphrdEther = 1;
constexpr std::uint8_t kIpProtoTcp = 6;
// AF_INET is 2 everywhere; AF_INET6 differs per OS, these are the BSD values that DLT_NULL and
// DLT_LOOP captures from those systems carry.
constexpr std::uint32_t kAfInet = 2;
constexpr std::uint32_t kAfInet6Bsd = 24;

std::uint16_t Ipv4Checksum(const std::string& header) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < header.size(); i += 2) {
    sum += (std::uint32_t{static_cast<std::uint8_t>(header[i])} << 8) |
           static_cast<std::uint8_t>(header[i + 1]);
  }
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

std::string BuildIpPacket(const SegmentSpec& s) {
  std::string tcp;
  PutBe16(tcp, s.src.port);
  PutBe16(tcp, s.dst.port);
  PutBe32(tcp, s.seq);
  PutBe32(tcp, s.ack);
  tcp += static_cast<char>(5 << 4);  // 20-byte header, no options
  tcp += static_cast<char>(s.flags);
  PutBe16(tcp, s.window);
  PutBe16(tcp, 0);  // checksum (offloaded)
  PutBe16(tcp, 0);  // urgent pointer
  tcp.append(reinterpret_cast<const char*>(s.payload.data()), s.payload.size());

  std::string ip;
  if (!s.src.ipv6) {
    ip += static_cast<char>(0x45);
    ip += '\0';
    PutBe16(ip, static_cast<std::uint16_t>(20 + tcp.size()));
    PutBe16(ip, 0);       // identification
    PutBe16(ip, 0x4000);  // don't fragment
    ip += static_cast<char>(64);
    ip += static_cast<char>(kIpProtoTcp);
    PutBe16(ip, 0);
    ip.append(reinterpret_cast<const char*>(s.src.address.data()), 4);
    ip.append(reinterpret_cast<const char*>(s.dst.address.data()), 4);
    const std::uint16_t sum = Ipv4Checksum(ip);
    ip[10] = static_cast<char>(sum >> 8);
    ip[11] = static_cast<char>(sum & 0xff);
  } else {
    PutBe32(ip, 0x60000000);
    PutBe16(ip, static_cast<std::uint16_t>(tcp.size()));
    ip += static_cast<char>(kIpProtoTcp);
    ip += static_cast<char>(64);
    ip.append(reinterpret_cast<const char*>(s.src.address.data()), 16);
    ip.append(reinterpret_cast<const char*>(s.dst.address.data()), 16);
  }
  return ip + tcp;
}

}  // namespace

CaptureWriter::CaptureWriter(CaptureFormat format, int link_type, std::uint32_t snaplen)
    : format_(format), snaplen_(snaplen) {
  if (format_ == CaptureFormat::kPcap) {
    PutLe32(out_, kPcapMagicMicros);
    PutLe16(out_, 2);
    PutLe16(out_, 4);
    PutLe32(out_, 0);  // thiszone
    PutLe32(out_, 0);  // sigfigs
    PutLe32(out_, snaplen_);
    PutLe32(out_, static_cast<std::uint32_t>(link_type));
    return;
  }
  PutLe32(out_, kPcapngSectionHeader);
  PutLe32(out_, 28);
  PutLe32(out_, kPcapngByteOrderMagic);
  PutLe16(out_, 1);
  PutLe16(out_, 0);
  PutLe32(out_, 0xffffffff);  // section length unknown (-1 as 64 bits)
  PutLe32(out_, 0xffffffff);
  PutLe32(out_, 28);
  PutLe32(out_, kPcapngInterfaceDescription);
  PutLe32(out_, 20);
  PutLe16(out_, static_cast<std::uint16_t>(link_type));
  PutLe16(out_, 0);
  PutLe32(out_, snaplen_);
  PutLe32(out_, 20);  // no options: the default resolution is microseconds
}

void CaptureWriter::AddFrame(TimestampUs ts, std::span<const std::uint8_t> frame) {
  const auto wire = static_cast<std::uint32_t>(frame.size());
  const std::uint32_t captured = std::min(wire, snaplen_);
  if (format_ == CaptureFormat::kPcap) {
    PutLe32(out_, static_cast<std::uint32_t>(ts / 1000000));
    PutLe32(out_, static_cast<std::uint32_t>(ts % 1000000));
    PutLe32(out_, captured);
    PutLe32(out_, wire);
    out_.append(reinterpret_cast<const char*>(frame.data()), captured);
    return;
  }
  const std::uint32_t padded = (captured + 3) & ~3u;
  const std::uint32_t block = 32 + padded;
  const auto units = static_cast<std::uint64_t>(ts);
  PutLe32(out_, kPcapngEnhancedPacket);
  PutLe32(out_, block);
  PutLe32(out_, 0);  // interface id
  PutLe32(out_, static_cast<std::uint32_t>(units >> 32));
  PutLe32(out_, static_cast<std::uint32_t>(units & 0xffffffff));
  PutLe32(out_, captured);
  PutLe32(out_, wire);
  out_.append(reinterpret_cast<const char*>(frame.data()), captured);
  out_.append(padded - captured, '\0');
  PutLe32(out_, block);
}

std::string CaptureWriter::TakeBytes() {
  std::string taken;
  taken.swap(out_);
  out_.reserve(taken.capacity());
  return taken;
}

std::string BuildFrame(int link_type, const SegmentSpec& segment) {
  const std::string ip = BuildIpPacket(segment);
  const std::uint16_t ether_type = segment.src.ipv6 ? kEtherTypeIpv6 : kEtherTypeIpv4;
  std::string out;
  switch (link_type) {
    case kLinkTypeEthernet:
      out.append("\x02\x00\x00\x00\x00\x02", 6);  // locally administered MACs
      out.append("\x02\x00\x00\x00\x00\x01", 6);
      PutBe16(out, ether_type);
      break;
    case kLinkTypeLinuxSll:
      PutBe16(out, 0);  // packet type: to us
      PutBe16(out, kArphrdEther);
      PutBe16(out, 6);
      out.append("\x02\x00\x00\x00\x00\x01\x00\x00", 8);
      PutBe16(out, ether_type);
      break;
    case kLinkTypeLinuxSll2:
      PutBe16(out, ether_type);
      PutBe16(out, 0);  // reserved
      PutBe32(out, 1);  // interface index
      PutBe16(out, kArphrdEther);
      out += '\0';  // packet type
      out += static_cast<char>(6);
      out.append("\x02\x00\x00\x00\x00\x01\x00\x00", 8);
      break;
    case kLinkTypeNull:
      PutLe32(out, segment.src.ipv6 ? kAfInet6Bsd : kAfInet);
      break;
    case kLinkTypeLoop:
      PutBe32(out, segment.src.ipv6 ? kAfInet6Bsd : kAfInet);
      break;
    default:  // raw IP
      break;
  }
  return out + ip;
}

}  // namespace ttlogin::tools::pdu_dump
