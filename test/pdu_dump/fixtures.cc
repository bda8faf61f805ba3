#include "test/pdu_dump/fixtures.h"

#include <arpa/inet.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "common/pdu_header.h"
#include "tools/common/peer_pdu.h"

namespace ttlogin::tools::pdu_dump::testing {

std::string ServInfo(std::uint16_t seq, const std::string& ip1, const std::string& ip2,
                     std::uint32_t port, std::uint32_t max, std::uint32_t cur,
                     const std::string& host) {
  return peer::ServInfoPdu(peer::MsgServerInfo{ip1, ip2, port, max, cur, host}, seq);
}

std::string UserCnt(std::uint16_t seq, std::uint32_t action, std::uint32_t user_id) {
  return peer::UserCntUpdatePdu(action, user_id, seq);
}

std::string Heartbeat(std::uint16_t seq) {
  return peer::HeartbeatPdu(seq);
}

std::string MsgServReq(std::uint16_t seq) {
  return peer::MsgServReqPdu(seq);
}

std::string MsgServRsp(std::uint16_t seq, int result, const std::string& prior,
                       const std::string& backup, std::uint32_t port) {
  return peer::MsgServRspPdu(seq, static_cast<std::uint32_t>(result), prior, backup, port);
}

std::string RawPdu(std::uint32_t length, std::uint16_t service, std::uint16_t command,
                   std::uint16_t seq, std::string_view body) {
  return peer::RawPdu(length, service, command, seq, body);
}

Endpoint V4(const char* address, std::uint16_t port) {
  Endpoint e;
  if (inet_pton(AF_INET, address, e.address.data()) != 1) throw std::invalid_argument(address);
  e.port = port;
  return e;
}

Endpoint V6(const char* address, std::uint16_t port) {
  Endpoint e;
  if (inet_pton(AF_INET6, address, e.address.data()) != 1) throw std::invalid_argument(address);
  e.ipv6 = true;
  e.port = port;
  return e;
}

Conversation::Conversation(int link_type, Endpoint client, Endpoint server,
                           std::uint32_t client_isn, std::uint32_t server_isn)
    : link_type_(link_type),
      client_(client),
      server_(server),
      isn_{client_isn, server_isn},
      next_{0, 0} {}

std::string Conversation::Segment(Side side, std::uint32_t seq, std::uint8_t flags,
                                  std::string_view payload) {
  const int s = side == Side::kClient ? 0 : 1;
  SegmentSpec spec;
  spec.src = s == 0 ? client_ : server_;
  spec.dst = s == 0 ? server_ : client_;
  spec.seq = seq;
  spec.ack = isn_[1 - s] + 1 + next_[1 - s];
  spec.flags = flags;
  spec.payload = {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()};
  return BuildFrame(link_type_, spec);
}

std::vector<std::string> Conversation::Handshake() {
  return {Segment(Side::kClient, isn_[0], kTcpSyn, {}),
          Segment(Side::kServer, isn_[1], kTcpSyn | kTcpAck, {}),
          Segment(Side::kClient, isn_[0] + 1, kTcpAck, {})};
}

std::string Conversation::Data(Side side, std::string_view payload) {
  const int s = side == Side::kClient ? 0 : 1;
  std::string frame = DataAt(side, next_[s], payload);
  next_[s] += static_cast<std::uint32_t>(payload.size());
  return frame;
}

std::string Conversation::DataAt(Side side, std::uint32_t stream_offset, std::string_view payload) {
  const int s = side == Side::kClient ? 0 : 1;
  return Segment(side, isn_[s] + 1 + stream_offset, kTcpAck | 0x08, payload);
}

std::string Conversation::Fin(Side side) {
  const int s = side == Side::kClient ? 0 : 1;
  fin_sent_[s] = true;
  return Segment(side, isn_[s] + 1 + next_[s], kTcpFin | kTcpAck, {});
}

std::string Conversation::Rst(Side side) {
  const int s = side == Side::kClient ? 0 : 1;
  return Segment(side, isn_[s] + 1 + next_[s], kTcpRst, {});
}

std::string Conversation::Ack(Side side) {
  const int s = side == Side::kClient ? 0 : 1;
  return Segment(side, isn_[s] + 1 + next_[s] + (fin_sent_[s] ? 1 : 0), kTcpAck, {});
}

std::string MakeCapture(CaptureFormat format, int link_type, const std::vector<std::string>& frames,
                        std::uint32_t snaplen) {
  CaptureWriter writer(format, link_type, snaplen);
  std::int64_t ts = kFixtureStartUs;
  for (const std::string& f : frames) {
    writer.AddFrame(ts, f);
    ts += 1000;
  }
  return writer.bytes();
}

std::vector<std::string> Split(const std::string& s, const std::vector<std::size_t>& sizes) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  for (std::size_t i = 0; i < sizes.size() && pos < s.size(); ++i) {
    out.push_back(s.substr(pos, sizes[i]));
    pos += sizes[i];
  }
  if (pos < s.size()) out.push_back(s.substr(pos));
  return out;
}

namespace {

// One directory per test process, removed when the process exits.
struct TempDir {
  std::string path;
  TempDir() {
    path = (std::filesystem::temp_directory_path() / "pdu_dump_test-XXXXXX").string();
    if (mkdtemp(path.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

std::string WriteTempFile(const std::string& name, const std::string& bytes) {
  static const TempDir dir;
  const std::string path = dir.path + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

}  // namespace ttlogin::tools::pdu_dump::testing

namespace ttlogin::tools::pdu_dump::testing {

Scenario LoginTierScenario(int link_type, bool ipv6) {
  const Endpoint ms = ipv6 ? V6("2001:db8::5", 40000) : V4("10.0.0.5", 40000);
  const Endpoint login = ipv6 ? V6("2001:db8::1", 8100) : V4("10.0.0.1", 8100);
  const Endpoint client = ipv6 ? V6("2001:db8::9", 51000) : V4("10.0.0.9", 51000);
  const Endpoint login_client_port = ipv6 ? V6("2001:db8::1", 8008) : V4("10.0.0.1", 8008);
  Conversation a(link_type, ms, login, 4294967000u, 1000);  // crosses the 32-bit wrap
  Conversation b(link_type, client, login_client_port, 777, 888);
  Scenario s;
  auto add = [&s](const std::string& f) { s.frames.push_back(f); };
  for (const auto& f : a.Handshake())
    add(f);
  // Register, split inside the header (5 bytes), then in the body.
  for (const auto& piece :
       Split(ServInfo(1, "10.0.0.5", "10.0.1.5", 8000, 1000, 0, "msg-a"), {5, 20})) {
    add(a.Data(Side::kClient, piece));
  }
  add(a.Data(Side::kServer, Heartbeat(1)));
  // Three PDUs in one segment.
  add(a.Data(Side::kClient, UserCnt(2, 1, 5001) + UserCnt(3, 1, 5002) + Heartbeat(4)));
  // Two segments in reverse order, the first of them retransmitted; the later one also ends in
  // the middle of a PDU that the next segment completes.
  const std::string u5 = UserCnt(5, 2, 5001);
  const std::string u6 = UserCnt(6, 1, 5003);
  const std::string seg1 = a.Data(Side::kClient, u5);
  const std::string seg2 = a.Data(Side::kClient, u6 + u5.substr(0, 3));
  add(seg2);
  add(seg1);
  add(seg1);
  add(a.Data(Side::kClient, u5.substr(3)));
  for (const auto& f : b.Handshake())
    add(f);
  add(b.Data(Side::kClient, MsgServReq(7)));
  add(b.Data(Side::kServer, MsgServRsp(7, 0, "10.0.0.5", "10.0.1.5", 8000)));
  add(b.Fin(Side::kServer));
  add(b.Fin(Side::kClient));
  add(a.Fin(Side::kClient));
  add(a.Fin(Side::kServer));
  s.expected = {"709@1", "701@1", "70b@2", "70b@3", "701@4",
                "70b@5", "70b@6", "70b@5", "101@7", "102@7"};
  return s;
}

}  // namespace ttlogin::tools::pdu_dump::testing
