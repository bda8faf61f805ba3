// Capture fixtures for the pdu_dump tests, built in memory: PDUs, TCP conversations with their
// sequence numbers, and whole pcap/pcapng files. Every test states its scenario in a few lines
// of these, so a reader sees exactly which segments a fixture holds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tools/pdu_dump/capture_writer.h"
#include "tools/pdu_dump/endpoint.h"
#include "tools/pdu_dump/link_layer_parser.h"

namespace ttlogin::tools::pdu_dump::testing {

// PDUs with a chosen seq_num (test/support's builders always use 0).
std::string ServInfo(std::uint16_t seq, const std::string& ip1, const std::string& ip2,
                     std::uint32_t port, std::uint32_t max, std::uint32_t cur,
                     const std::string& host);
std::string UserCnt(std::uint16_t seq, std::uint32_t action, std::uint32_t user_id);
std::string Heartbeat(std::uint16_t seq);
std::string MsgServReq(std::uint16_t seq);
std::string MsgServRsp(std::uint16_t seq, int result, const std::string& prior,
                       const std::string& backup, std::uint32_t port);
// A PDU with any header values and body bytes, for unknown and broken cases.
std::string RawPdu(std::uint32_t length, std::uint16_t service, std::uint16_t command,
                   std::uint16_t seq, std::string_view body);

Endpoint V4(const char* address, std::uint16_t port);
Endpoint V6(const char* address, std::uint16_t port);

enum class Side { kClient, kServer };

// One TCP connection; hands out frames with the right sequence numbers for the chosen link type.
class Conversation {
 public:
  Conversation(int link_type, Endpoint client, Endpoint server, std::uint32_t client_isn = 1000,
               std::uint32_t server_isn = 5000);

  std::vector<std::string> Handshake();
  // A data segment carrying `payload` at the side's next sequence number, advancing it.
  std::string Data(Side side, std::string_view payload);
  // A data segment at an explicit offset into the side's stream (retransmissions, overlaps);
  // does not advance anything.
  std::string DataAt(Side side, std::uint32_t stream_offset, std::string_view payload);
  std::string Fin(Side side);
  std::string Rst(Side side);
  std::string Ack(Side side);

  const Endpoint& client() const { return client_; }
  const Endpoint& server() const { return server_; }

 private:
  std::string Segment(Side side, std::uint32_t seq, std::uint8_t flags, std::string_view payload);

  int link_type_;
  Endpoint client_;
  Endpoint server_;
  std::uint32_t isn_[2];
  std::uint32_t next_[2];  // next stream offset per side
  bool fin_sent_[2] = {false, false};
};

// A capture file of `frames`, stamped 1 ms apart from 2023-11-14T22:13:20Z.
inline constexpr std::int64_t kFixtureStartUs = 1700000000LL * 1000000;
std::string MakeCapture(CaptureFormat format, int link_type, const std::vector<std::string>& frames,
                        std::uint32_t snaplen = 262144);

// Splits `s` into pieces of the given sizes (the last piece takes the rest).
std::vector<std::string> Split(const std::string& s, const std::vector<std::size_t>& sizes);

std::string WriteTempFile(const std::string& name, const std::string& bytes);

}  // namespace ttlogin::tools::pdu_dump::testing

namespace ttlogin::tools::pdu_dump::testing {

// The scenario most tests decode: a msg_server registering and reporting on port 8100 and a
// client asking on port 8008, with the awkward TCP cases mixed in: a PDU split inside its header,
// three PDUs in one segment, two segments in reverse order, a retransmission, traffic both ways,
// FIN on both connections.
struct Scenario {
  std::vector<std::string> frames;
  // The PDUs as "command@seq" in the order pdu_dump must print them.
  std::vector<std::string> expected;
};
Scenario LoginTierScenario(int link_type, bool ipv6);

}  // namespace ttlogin::tools::pdu_dump::testing
