// UnwatchedStreams: notices TCP streams on ports pdu_dump does not watch that start like a PDU
// stream, so a capture of a login server on an unusual port is not silently empty. It judges each
// direction of a connection once, on its first bytes, and tells the caller what it saw so the
// caller can print a hint at the end or, with `--port auto`, decode the connection from there on.
//
// Memory is fixed whatever the capture holds: at most `capacity` directions are remembered, in a
// ring, and a new one takes the place of the oldest. A capture with a million connections on
// other ports costs the same as one with `capacity`; the price is that a direction whose first
// bytes arrive after `capacity` newer directions have started is judged as if seen mid-way.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/pdu_header.h"
#include "tools/pdu_dump/endpoint.h"
#include "tools/pdu_dump/link_layer_parser.h"

namespace ttlogin::tools::pdu_dump {

// Enough for every connection a busy host opens between two of a login server's heartbeats, at
// about 100 bytes each.
inline constexpr std::size_t kMaxTrackedUnwatchedStreams = 4096;
// A direction whose start was not captured gets this many data segments to show a PDU header
// that lines up; after that it is judged not to be a PDU stream.
inline constexpr int kMidStreamSegmentsTried = 4;

// Stricter than IsPlausibleHeader: besides a sane length (16..max_pdu_size), version 1, flag 0
// and reserved 0, the (service, command) pair must be one of the login tier's commands
// (docs/PROTOCOL.md, "Commands"). HTTP ("GET "), TLS (0x16 0x03...) and random bytes fail on the
// length or the version word long before the command is looked at.
bool LooksLikePduStart(std::span<const std::uint8_t, common::kPduHeaderSize> bytes,
                       std::uint32_t max_pdu_size);

// The captured start of one direction, as far as it is needed to replay it into a reassembler.
struct StreamStart {
  bool syn_seen = false;  // false: the capture began after the connect
  std::uint8_t syn_flags = 0;
  std::uint32_t syn_seq = 0;
  // Payload bytes of earlier segments, from stream offset 0 (a header split across segments).
  std::array<std::uint8_t, common::kPduHeaderSize> prefix{};
  std::size_t prefix_size = 0;
};

struct UnwatchedVerdict {
  bool looks_like_pdu = false;  // this segment's direction was just judged a PDU stream
  std::uint16_t port = 0;       // the listening side's port
  StreamStart this_side;
  // The reverse direction, when it started in the capture and everything it sent so far is in
  // `prefix` (otherwise syn_seen is false and it is picked up mid-way).
  StreamStart other_side;
};

class UnwatchedStreams {
 public:
  explicit UnwatchedStreams(std::uint32_t max_pdu_size,
                            std::size_t capacity = kMaxTrackedUnwatchedStreams);

  // One segment of a connection on unwatched ports. Returns looks_like_pdu once per direction
  // that starts like a PDU stream, on the segment that decided it.
  UnwatchedVerdict OnSegment(const TcpSegment& segment);

  std::size_t tracked() const { return entries_.size(); }

 private:
  struct Key {
    Endpoint src;
    Endpoint dst;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  struct Entry {
    std::size_t ring_slot = 0;
    bool judged = false;
    bool from_start = false;
    std::uint8_t syn_flags = 0;
    std::uint32_t syn_seq = 0;
    int tries_left = kMidStreamSegmentsTried;
    std::uint64_t contiguous = 0;  // stream bytes seen without a hole, from offset 0
    std::array<std::uint8_t, common::kPduHeaderSize> head{};
  };
  using Map = std::unordered_map<Key, Entry, KeyHash>;

  Map::iterator Insert(const Key& key);
  void Erase(const Key& key);
  // Whether a segment from a direction whose start was not seen begins with a header whose
  // length leads exactly to the segment's end or to another such header.
  bool LinesUp(std::span<const std::uint8_t> payload) const;
  static StreamStart StartOf(const Entry& e, std::size_t prefix_size);

  std::uint32_t max_pdu_size_;
  std::size_t capacity_;
  Map entries_;
  std::vector<Key> ring_;  // ring_[slot] is the key that took the slot last
  std::size_t next_slot_ = 0;
};

}  // namespace ttlogin::tools::pdu_dump
