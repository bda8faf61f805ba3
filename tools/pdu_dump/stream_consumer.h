// What a reassembled byte stream (one direction of one TCP connection, a raw file, one side of a
// proxied connection) is handed to. The reassembler and the proxy know only this interface, so
// each can be tested with a consumer that just records what it got.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "tools/pdu_dump/endpoint.h"

namespace ttlogin::tools::pdu_dump {

// Microseconds since the Unix epoch; captures carry microsecond stamps.
using TimestampUs = std::int64_t;

// Who a stream belongs to, fixed when it opens. The labels are formatted once here because every
// PDU line repeats them.
struct StreamInfo {
  std::uint64_t id = 0;  // unique per direction, in order of appearance
  Endpoint src;
  Endpoint dst;
  std::string src_label;  // "10.0.0.1:40000", or the input's name for a raw stream
  std::string dst_label;
  bool has_endpoints = true;  // false for --raw/--hex, which know no addresses or times
  // True when the stream's start was seen (a SYN, a raw file, a proxied connection); false when
  // the capture began mid-connection and the first PDU header has to be found.
  bool from_start = true;
  // The formatter's per-stream pieces of output, built on the stream's first line and reused for
  // every PDU after it (the labels never change).
  mutable std::string text_cache;
  mutable std::string json_cache;
};

class StreamConsumer {
 public:
  virtual ~StreamConsumer() = default;
  // Next in-order bytes of the stream.
  virtual void OnData(std::span<const std::uint8_t> bytes, TimestampUs ts) = 0;
  // `bytes` of the stream will never be seen (lost from the capture); `why` says how we know.
  virtual void OnGap(std::uint64_t bytes, TimestampUs ts, const std::string& why) = 0;
  // The stream ended (FIN, RST, end of input); no call follows.
  virtual void OnEnd(TimestampUs ts) = 0;
};

}  // namespace ttlogin::tools::pdu_dump
