// TcpReassembler: rebuilds the two byte streams of every TCP connection in a capture.
//
// Segments arrive in capture order, which is not stream order: they may be reordered,
// retransmitted (wholly or overlapping), cut short by the snaplen, or missing. Each direction keeps
// the next expected sequence number and a map of segments that arrived early. In-order data (the
// common case) goes straight from the frame to the consumer without a copy; early data is copied
// once and released as soon as the hole before it fills.
//
// Memory is bounded per open stream: when a direction's early data exceeds
// `max_out_of_order_bytes`, the hole is declared lost (reported as a gap) rather than waited for.
// A connection's state is dropped when both directions have finished (FIN or RST).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "tools/pdu_dump/endpoint.h"
#include "tools/pdu_dump/link_layer_parser.h"
#include "tools/pdu_dump/stream_consumer.h"

namespace ttlogin::tools::pdu_dump {

// Big enough for a full receive window of a busy link, small enough that thousands of damaged
// streams do not exhaust memory.
inline constexpr std::size_t kDefaultMaxOutOfOrderBytes = 4 * 1024 * 1024;

// Creates the consumer of each new stream and hears about connection closes.
class StreamFactory {
 public:
  virtual ~StreamFactory() = default;
  virtual std::unique_ptr<StreamConsumer> OpenStream(const StreamInfo& info) = 0;
  // The first FIN or RST of a connection was seen (`from` sent it).
  virtual void OnConnectionClosed(const Endpoint& /*from*/, const Endpoint& /*to*/,
                                  TimestampUs /*ts*/) {}
};

struct ReassemblyStats {
  std::uint64_t connections = 0;
  std::uint64_t streams = 0;
  std::uint64_t retransmitted_segments = 0;  // carried only bytes already delivered
  std::uint64_t out_of_order_segments = 0;   // arrived ahead of a hole
  std::uint64_t gaps = 0;
  std::uint64_t gap_bytes = 0;
  std::uint64_t overflows = 0;              // holes given up because early data hit the bound
  std::size_t peak_out_of_order_bytes = 0;  // across all streams at once
};

class TcpReassembler {
 public:
  explicit TcpReassembler(StreamFactory& factory,
                          std::size_t max_out_of_order_bytes = kDefaultMaxOutOfOrderBytes);
  ~TcpReassembler();
  TcpReassembler(const TcpReassembler&) = delete;
  TcpReassembler& operator=(const TcpReassembler&) = delete;

  void OnSegment(const TcpSegment& segment, TimestampUs ts);
  // End of input: every open stream gives up its holes (reported as gaps) and ends.
  void Finish(TimestampUs ts);

  std::size_t open_connections() const { return connections_.size(); }
  // Whether the connection between `x` and `y` (either way round) is being reassembled.
  bool Tracks(const Endpoint& x, const Endpoint& y) const {
    return connections_.find(MakeKey(x, y)) != connections_.end();
  }
  std::size_t buffered_bytes() const { return buffered_bytes_; }
  const ReassemblyStats& stats() const { return stats_; }

 private:
  struct Direction {
    std::unique_ptr<StreamConsumer> consumer;  // null until this side sends a SYN or data
    std::uint64_t id = 0;
    bool ended = false;
    bool fin_seen = false;
    std::uint32_t syn_seq = 0;
    bool syn_seen = false;
    std::uint32_t base_seq = 0;    // sequence number of stream offset 0
    std::uint64_t delivered = 0;   // stream offset of the next byte the consumer expects
    std::uint64_t fin_offset = 0;  // stream offset where the FIN sits
    std::map<std::uint64_t, std::vector<std::uint8_t>> early;  // keyed by stream offset
    std::size_t early_bytes = 0;
  };
  struct Connection {
    std::uint64_t order = 0;
    Endpoint a;  // the side that appeared first
    Endpoint b;
    Direction dirs[2];
    bool close_reported = false;
  };
  struct Key {
    Endpoint lo;
    Endpoint hi;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };

  static Key MakeKey(const Endpoint& x, const Endpoint& y);
  void StartDirection(Connection& c, int side, const TcpSegment& s, bool from_start);
  void AcceptData(Direction& d, const TcpSegment& s, std::uint32_t data_seq, TimestampUs ts);
  void Deliver(Direction& d, std::span<const std::uint8_t> bytes, TimestampUs ts);
  void DrainEarly(Direction& d, TimestampUs ts);
  void GiveUpFirstHole(Direction& d, TimestampUs ts, const std::string& why);
  void EndDirection(Direction& d, TimestampUs ts, const char* why);
  void MaybeEnd(Direction& d, TimestampUs ts);
  void ReportClose(Connection& c, const Endpoint& from, const Endpoint& to, TimestampUs ts);
  void AddEarly(Direction& d, std::uint64_t offset, std::span<const std::uint8_t> bytes);

  StreamFactory& factory_;
  std::size_t max_out_of_order_bytes_;
  std::unordered_map<Key, std::unique_ptr<Connection>, KeyHash> connections_;
  std::uint64_t next_connection_order_ = 0;
  std::uint64_t next_stream_id_ = 0;
  std::size_t buffered_bytes_ = 0;
  ReassemblyStats stats_;
};

}  // namespace ttlogin::tools::pdu_dump
