// Turns one captured frame into a TCP segment: link layer (Ethernet, Linux cooked v1/v2,
// loopback/null, raw IP), then IPv4 or IPv6, then the TCP header. No state, no allocation, so it
// can be fed any bytes (the fuzzer does) and tested without a capture file.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "tools/pdu_dump/endpoint.h"

namespace ttlogin::tools::pdu_dump {

// libpcap link-layer type numbers (LINKTYPE_* of the pcap spec) this parser understands.
inline constexpr int kLinkTypeNull = 0;  // BSD loopback: 4-byte host-order family
inline constexpr int kLinkTypeEthernet = 1;
inline constexpr int kLinkTypeRaw = 101;  // bare IPv4/IPv6, as written in files
// libpcap hands raw-IP captures back as the platform's DLT_RAW (12, or 14 on OpenBSD) rather than
// LINKTYPE_RAW, so the parser accepts those numbers too.
inline constexpr int kDltRaw = 12;
inline constexpr int kDltRawOpenBsd = 14;
inline constexpr int kLinkTypeLoop = 108;       // OpenBSD loopback: 4-byte network-order family
inline constexpr int kLinkTypeLinuxSll = 113;   // `tcpdump -i any` before libpcap 1.10
inline constexpr int kLinkTypeLinuxSll2 = 276;  // `tcpdump -i any` since libpcap 1.10

// Whether this parser knows `link_type` at all (so the reader can refuse a capture up front).
bool IsSupportedLinkType(int link_type);

inline constexpr std::uint8_t kTcpFin = 0x01;
inline constexpr std::uint8_t kTcpSyn = 0x02;
inline constexpr std::uint8_t kTcpRst = 0x04;
inline constexpr std::uint8_t kTcpAck = 0x10;

struct TcpSegment {
  Endpoint src;
  Endpoint dst;
  std::uint32_t seq = 0;
  std::uint8_t flags = 0;
  std::span<const std::uint8_t> payload;  // the captured part, a view into the frame
  // Payload bytes the IP header announces but the capture cut off (snaplen). The reassembler must
  // treat them as a hole, not pretend the stream continues right after the captured part.
  std::uint32_t missing_payload = 0;
};

enum class ParseStatus {
  kTcp,        // `segment` is filled
  kNotTcp,     // a well-formed frame of something else (ARP, UDP, an IP fragment...): skip quietly
  kMalformed,  // the headers contradict themselves or are cut short: count it
};

struct ParsedFrame {
  ParseStatus status = ParseStatus::kNotTcp;
  TcpSegment segment;
  std::string_view reason;  // static text, for kMalformed and for skipped fragments
};

// `wire_length` is the frame's original length; when it exceeds frame.size() the capture was
// truncated by its snaplen.
ParsedFrame ParseFrame(int link_type, std::span<const std::uint8_t> frame,
                       std::uint32_t wire_length);

}  // namespace ttlogin::tools::pdu_dump
