// CaptureWriter and BuildFrame: write pcap and pcapng files of synthetic TCP traffic.
//
// pdu_dump itself only reads captures; this lives next to the reader because the test suite
// builds its fixtures with it and the benchmark generates its gigabyte of traffic with it, and
// both must produce exactly what tcpdump would (tshark reads the same files in the tests).
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>

#include "tools/pdu_dump/endpoint.h"
#include "tools/pdu_dump/stream_consumer.h"

namespace ttlogin::tools::pdu_dump {

enum class CaptureFormat { kPcap, kPcapng };

class CaptureWriter {
 public:
  // Records accumulate in bytes(); call TakeBytes() to stream a large capture out in pieces.
  CaptureWriter(CaptureFormat format, int link_type, std::uint32_t snaplen = 262144);

  // Adds one record; a frame longer than the snaplen is cut, keeping its wire length.
  void AddFrame(TimestampUs ts, std::span<const std::uint8_t> frame);
  void AddFrame(TimestampUs ts, const std::string& frame) {
    AddFrame(ts, {reinterpret_cast<const std::uint8_t*>(frame.data()), frame.size()});
  }

  const std::string& bytes() const { return out_; }
  // Returns what was written so far and starts an empty buffer (the file header stays sent).
  std::string TakeBytes();

 private:
  CaptureFormat format_;
  std::uint32_t snaplen_;
  std::string out_;
};

struct SegmentSpec {
  Endpoint src;
  Endpoint dst;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = 0x18;  // PSH|ACK, what a peer's data segment carries
  std::uint16_t window = 65535;
  std::span<const std::uint8_t> payload;
};

// Link header + IPv4/IPv6 (from the endpoints' family) + TCP + payload, for one of the link
// types of link_layer_parser.h. IPv4 header checksums are correct; TCP checksums are left zero,
// as on captures taken with checksum offload.
std::string BuildFrame(int link_type, const SegmentSpec& segment);

}  // namespace ttlogin::tools::pdu_dump
