// TraceWriter: turns the msg_server load reports seen on the wire into a load-replay trace
// (JSON Lines, the format of docs/REPLAY.md), so production traffic can be replayed in tests.
//
// Each msg_server connection is named after its own address ("10.0.0.7:40312"); a later
// connection from the same address and port gets "#2", "#3"... so that a replay never confuses a
// reconnect with the old connection. Times are milliseconds from the first event, forced to be
// non-decreasing because reassembly may complete a PDU slightly after a later one.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>

#include "tools/pdu_dump/body_decoder.h"
#include "tools/pdu_dump/pdu_stream_decoder.h"

namespace ttlogin::tools::pdu_dump {

class TraceWriter {
 public:
  explicit TraceWriter(std::FILE* out) : out_(out) {}

  void OnPdu(const StreamInfo& stream, const PduEvent& pdu, const DecodedBody& body);
  // `a` and `b` are the two endpoint labels of a connection that closed.
  void OnConnectionClosed(const std::string& a, const std::string& b, TimestampUs ts);

  std::uint64_t events() const { return events_; }

 private:
  // The current name of the msg_server connection at `label`, creating one when `create`.
  const std::string* NameFor(const std::string& label, bool create);
  void StartLine(TimestampUs ts);
  void EndLine();

  std::FILE* out_;
  std::string line_;
  bool started_ = false;
  TimestampUs first_ts_ = 0;
  std::int64_t last_t_ = 0;
  std::uint64_t events_ = 0;
  std::unordered_map<std::string, std::string> names_;  // label -> name of the open connection
  std::unordered_map<std::string, int> generations_;    // label -> connections seen so far
};

}  // namespace ttlogin::tools::pdu_dump
