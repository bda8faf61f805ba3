// Writes the seed corpora of the fuzz targets into test/fuzz/corpus/<target>/seed-*.
//
// Run by hand when a target's input layout changes: `fuzz_corpus_generator <corpus folder>`.
// Seeds are small, well-formed starting points laid out as each target reads its input (see the
// comment at the top of each *_fuzz.cc), so the fuzzer starts from real protocol traffic instead
// of having to discover a 16-byte header with a matching length by chance.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/state_file.h"
#include "server/registry/msg_server_registry.h"
#include "server/warm_start.h"
#include "tools/common/peer_pdu.h"
#include "tools/pdu_dump/capture_writer.h"
#include "tools/pdu_dump/link_layer_parser.h"

namespace {

namespace fs = std::filesystem;
using namespace ttlogin;
using namespace std::string_literals;  // seeds with NUL bytes in them

std::string ServInfo(const std::string& ip1, std::uint32_t port, std::uint32_t max,
                     std::uint32_t cur, const std::string& host) {
  return peer::ServInfoPdu(peer::MsgServerInfo{ip1, ip1, port, max, cur, host}, 1);
}

std::string Update(std::uint32_t action, std::uint32_t user) {
  return peer::UserCntUpdatePdu(action, user, 2);
}

std::string Heartbeat() {
  return peer::HeartbeatPdu(3);
}

std::string Request(std::uint16_t seq) {
  return peer::MsgServReqPdu(seq);
}

std::string Header(std::uint32_t length, std::uint16_t sid, std::uint16_t cid) {
  return peer::RawPdu(length, sid, cid);
}

std::string Byte(int b) {
  return std::string(1, static_cast<char>(b));
}

// A length-prefixed string as FuzzInput::String reads it.
std::string Str(const std::string& s) {
  return Byte(static_cast<int>(s.size())) + s;
}

// RegisterFromInput's layout: count, then per server ip1, ip2, port(2), max, cur, host.
std::string Servers(int n) {
  std::string s = Byte(n);
  for (int i = 0; i < n; ++i) {
    s += Str("10.0.0." + std::to_string(i + 1)) + Str("10.0.1." + std::to_string(i + 1));
    s += Byte(0x1f) + Byte(0x40 + i) + Byte(100) + Byte(10 * i) + Str("msg-" + std::to_string(i));
  }
  return s;
}

void Write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / ("seed-" + name), std::ios::binary) << bytes;
}

void FrameDecoder(const fs::path& dir) {
  const std::string traffic = ServInfo("10.0.0.1", 8000, 100, 3, "msg-a") + Update(1, 7) +
                              Update(2, 7) + Heartbeat() + Request(9);
  // [max-size index][chunk count][chunk sizes][stream]
  Write(dir, "whole", Byte(4) + Byte(0) + traffic);
  Write(dir, "split-1-7", Byte(4) + Byte(2) + Byte(1) + Byte(7) + traffic);
  Write(dir, "length-15", Byte(4) + Byte(0) + Header(15, 7, 0x0701));
  Write(dir, "length-too-big", Byte(3) + Byte(1) + Byte(3) + Header(1025, 7, 0x0701) + "xx");
  Write(dir, "exactly-max", Byte(0) + Byte(0) + Header(16, 7, 0x0701) + Header(16, 1, 0x0101));
  Write(dir, "partial-tail", Byte(4) + Byte(1) + Byte(5) + traffic + traffic.substr(0, 9));
}

void MsgServerSession(const fs::path& dir) {
  // ops: low 2 bits = session, (op >> 2) % 8 = kind (see msg_server_session_fuzz.cc)
  auto op = [](int session, int kind) { return Byte((kind << 2) | session); };
  // ServInfo op fields: ip1, ip2, port(2), mode, max, cur, host, seq(2); then the split size.
  auto reg = [&](int s, int max, int cur, const std::string& host) {
    return op(s, 1) + Str("10.0.0." + std::to_string(s)) + Str("10.1.0.1") + Byte(0x1f) +
           Byte(0x40) + Byte(0) + Byte(max) + Byte(cur) + Str(host) + Byte(0) + Byte(1) + Byte(0);
  };
  const std::string inc = Byte(9) + Byte(0);  // user id, split size
  Write(dir, "register-inc-dec",
        Byte(0x01) + reg(0, 5, 1, "a") + op(0, 2) + inc + op(0, 3) + inc + op(0, 3) + inc);
  Write(dir, "two-servers-choice",
        Byte(0x21) + reg(0, 7, 0, "a") + reg(1, 7, 3, "b") + op(0, 2) + inc + op(1, 3) + inc +
            op(1, 6) + op(0, 7));
  Write(dir, "burst-split",
        Byte(0x00) + reg(2, 7, 2, "c") + op(2, 4) + Byte(40) + Byte(0x5a) + Byte(0x0f) +
            Byte(0xf0) + Byte(0x33) + Byte(3) + Byte(5) + op(2, 5) + Byte(3));
  Write(dir, "registry-full",
        Byte(0x08) + reg(0, 5, 0, "a") + reg(1, 5, 0, "b") + reg(1, 6, 2, "b2") + op(3, 2) + inc);
  const std::string raw = ServInfo("192.168.1.150", 8000, 3, 0, "raw") + Update(1, 1) +
                          Update(2, 1) + Update(2, 1) + Update(7, 1) + Header(3, 7, 0x070b);
  Write(dir, "raw-bytes", Byte(0x01) + op(1, 0) + Byte(static_cast<int>(raw.size())) + raw);
  Write(dir, "update-before-registration",
        Byte(0x01) + op(0, 3) + inc + op(0, 2) + inc + reg(0, 2, 0, "late") + op(0, 2) + inc +
            op(0, 2) + inc + op(0, 2) + inc);
}

void ClientSession(const fs::path& dir) {
  // [max-size][servers][chunk count][chunk sizes][stream]
  Write(dir, "request", Byte(1) + Servers(2) + Byte(0) + Request(7));
  Write(dir, "no-server", Byte(1) + Servers(0) + Byte(0) + Request(8));
  Write(dir, "heartbeat-then-split-request",
        Byte(1) + Servers(3) + Byte(2) + Byte(0) + Byte(4) + Heartbeat() + Request(0x1234));
  Write(dir, "bad-length", Byte(0) + Servers(1) + Byte(0) + Header(8, 1, 0x0101));
  Write(dir, "unknown-then-request",
        Byte(1) + Servers(1) + Byte(0) + Header(20, 3, 0x0301) + "abcd" + Request(1) + Request(2));
  // Heartbeats, then a request dribbled a byte per read (the connection's deadline bounds this
  // in time; the session must still answer it whole).
  Write(dir, "heartbeats-then-dribbled-request",
        Byte(1) + Servers(1) + Byte(1) + Byte(0) + Heartbeat() + Heartbeat() + Heartbeat() +
            Request(0x0b0b));
}

void HttpSession(const fs::path& dir) {
  // [limits][servers][chunk count][chunk sizes][request bytes]
  const std::string get = "GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n";
  Write(dir, "get-keepalive-pipelined",
        Byte(2) + Servers(2) + Byte(0) + get + get +
            "GET /msg_server?a=b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  Write(dir, "split", Byte(2) + Servers(1) + Byte(3) + Byte(0) + Byte(4) + Byte(9) + get);
  Write(dir, "head-post-chunked",
        Byte(8) + Servers(1) + Byte(0) + "HEAD /msg_server HTTP/1.1\r\nHost: x\r\n\r\n" +
            "POST /msg_server HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
            "POST /msg_server HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
            "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  Write(dir, "404-405",
        Byte(2) + Servers(0) + Byte(0) + "GET /other HTTP/1.1\r\nHost: x\r\n\r\n" +
            "DELETE /msg_server HTTP/1.1\r\nHost: x\r\n\r\n");
  Write(dir, "http10", Byte(2) + Servers(1) + Byte(0) + "GET /msg_server HTTP/1.0\r\n\r\n");
  Write(dir, "garbage", Byte(2) + Servers(0) + Byte(0) + "\x16\x03\x01\x02\x00\x01\x00"s);
  Write(dir, "big-head",
        Byte(0) + Servers(0) + Byte(0) +
            "GET /msg_server HTTP/1.1\r\nHost: x\r\nX: " + std::string(300, 'a') + "\r\n\r\n");
  Write(dir, "big-body",
        Byte(3) + Servers(0) + Byte(0) +
            "POST /msg_server HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n" +
            std::string(40, 'b'));
  Write(dir, "half-request", Byte(2) + Servers(1) + Byte(0) + "GET /msg_server HTTP/1.1\r\nHo");
  // Strictness: each is a 400 before the handler sees the request.
  Write(dir, "obs-fold",
        Byte(2) + Servers(1) + Byte(0) + get +
            "POST /msg_server HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"
            "0\r\n\r\n");
  Write(dir, "obs-fold-split",
        Byte(2) + Servers(1) + Byte(2) + Byte(0) + Byte(2) +
            "GET /msg_server HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n");
  Write(dir, "duplicate-authorization",
        Byte(2) + Servers(1) + Byte(0) +
            "GET /msg_server HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\n"
            "authorization: Bearer a\r\n\r\n");
  Write(dir, "missing-host",
        Byte(2) + Servers(1) + Byte(0) + "GET /msg_server HTTP/1.1\r\nX-Host: x\r\n\r\n");
  Write(dir, "duplicate-host",
        Byte(2) + Servers(1) + Byte(0) + "GET /msg_server HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  Write(dir, "dot-segments",
        Byte(2) + Servers(1) + Byte(0) + get +
            "GET /msg_server/../x?y=/../z HTTP/1.1\r\nHost: x\r\n\r\n");
  Write(dir, "encoded-dot-segments",
        Byte(2) + Servers(1) + Byte(1) + Byte(6) +
            "GET /msg_server/%2e%2E/x HTTP/1.1\r\nHost: x\r\n\r\n");
  Write(dir, "path-spellings",
        Byte(2) + Servers(1) + Byte(0) + "GET /msg_server?a=/../b%2e HTTP/1.1\r\nHost: x\r\n\r\n" +
            "GET //msg%5Fserver/%2F\\# HTTP/1.1\r\nHost: x\r\n\r\n");
  // Blank lines before a request: part of its head, so a timeout answers 408.
  Write(dir, "blank-lines", Byte(2) + Servers(1) + Byte(1) + Byte(1) + "\r\n\r\n\n\r\n");
}

void Config(const fs::path& dir, const fs::path& shipped) {
  std::ifstream in(shipped, std::ios::binary);
  Write(dir, "shipped", std::string(std::istreambuf_iterator<char>(in), {}));
  const std::string minimal =
      "ClientListenIP=127.0.0.1\nClientPort=8008\nHttpListenIP=127.0.0.1;::1\nHttpPort=8080\n"
      "MsgServerListenIP=0.0.0.0\nMsgServerPort=8100\nmsfs=http://x/\ndiscovery=http://y/\n";
  Write(dir, "minimal", minimal);
  Write(dir, "every-key",
        minimal +
            "IoThreads=2\nMaxPduSize=1024\nHeartbeatInterval=1\nMsgServerTimeout=2\n"
            "ClientTimeout=5 # comment\nHttpTimeout=6\nMaxHttpHeadSize=256\nMaxHttpBodySize=0\n"
            "HttpRequestTimeout=3\nMaxMsgServers=1\nMaxMsgServerConnections=1\n"
            "MaxClientConnections=2\nMaxHttpConnections=3\nLogLevel=warning\nLogFile=\n");
  Write(dir, "errors",
        "ClientListenIP=300.1.1.1\nClientPort=70000\n=x\nnovalue\nMaxPduSize=1\n"
        "HeartbeatInterval=40\nLogLevel=loud\nA\0B=1\r\nClientPort=8008\n"s);
  // The comment rule: '#' inside a value, after a blank, touching its text, emptying a value;
  // and the admin reach rules.
  Write(dir, "comments",
        minimal +
            "  # indented comment\n\t#AdminToken=x\nAdminToken=#Kx9fQ2\ndiscovery=http://h/#f\n"
            "msfs=http://x/ #cut\nLogFile= # empty\nAdminListenIP=0.0.0.0\nAdminPort=0\n"
            "AdminAllowInsecure=1\nAdminToken=Kx9#fQ2\t# tab comment\n");
}

void CaptureReader(const fs::path& dir) {
  using namespace ttlogin::tools::pdu_dump;
  auto v4 = [](std::uint8_t last, std::uint16_t port) {
    Endpoint e;
    e.address = {10, 0, 0, last};
    e.port = port;
    return e;
  };
  const Endpoint ms = v4(2, 40000), login = v4(1, 8100), client = v4(3, 40001),
                 client_port = v4(1, 8008);
  for (const auto format : {CaptureFormat::kPcap, CaptureFormat::kPcapng}) {
    CaptureWriter w(format, kLinkTypeEthernet, 65535);
    std::int64_t ts = 1700000000LL * 1000000;
    auto add = [&](const Endpoint& src, const Endpoint& dst, std::uint32_t seq, std::uint8_t flags,
                   const std::string& payload) {
      SegmentSpec s;
      s.src = src;
      s.dst = dst;
      s.seq = seq;
      s.flags = flags;
      s.payload = {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()};
      w.AddFrame(ts += 1000, BuildFrame(kLinkTypeEthernet, s));
    };
    const std::string reg = ServInfo("10.0.0.2", 8000, 100, 0, "msg-a");
    add(ms, login, 1000, kTcpSyn, "");
    add(login, ms, 5000, kTcpSyn | kTcpAck, "");
    add(ms, login, 1001, 0x18, reg.substr(0, 10));  // split inside the header
    add(ms, login, 1011, 0x18, reg.substr(10) + Update(1, 1));
    add(login, ms, 5001, 0x18, Heartbeat());
    add(client, client_port, 7000, kTcpSyn, "");
    add(client, client_port, 7001, 0x18, Request(5));
    add(ms, login, 1001 + static_cast<std::uint32_t>(reg.size() + Update(1, 1).size()), kTcpRst,
        "");
    const std::string name = format == CaptureFormat::kPcap ? "pcap" : "pcapng";
    // [mode][capture]: mode bit 0 selects JSON output, bit 3 --port auto, bit 4 watches none of
    // these ports (so every stream is an unwatched one).
    Write(dir, name + "-text", Byte(0) + w.bytes());
    Write(dir, name + "-json", Byte(1) + w.bytes());
    Write(dir, name + "-unwatched", Byte(16) + w.bytes());
    Write(dir, name + "-auto-json", Byte(8 | 16 | 1) + w.bytes());
  }
}

}  // namespace

// Snapshots as the server's writer produces them (server::SnapshotOf, common::EncodeStateFile),
// and one bare body: the target also reads each input as a body inside a correct frame.
void StateSnapshot(const fs::path& dir) {
  constexpr std::int64_t kT0 = 1'700'000'000'000;
  registry::MsgServerRegistry live(4);
  for (int i = 0; i < 3; ++i) {
    const std::string ip = "10.0.0." + std::to_string(i + 1);
    (void)live.Claim(registry::MsgServerInfo{ip, "192.168.0.1", 8000u + i, 1000, 10u * i,
                                             "msg-" + std::to_string(i)},
                     registry::EntryMeta{ip + ":4000", kT0, kT0, {}, 1},
                     registry::ClaimRule{ip, kT0, 10'000});
  }
  (void)live.Drain("msg-1:8001", true);
  const state::StateSnapshot three = server::SnapshotOf(live, kT0, "0.1.0");
  Write(dir, "three-servers-one-drained", common::EncodeStateFile(three));
  Write(dir, "three-servers-body", three.SerializeAsString());
  registry::MsgServerRegistry restored(4);
  (void)restored.AddProvisional(
      {registry::ProvisionalEntry{
          registry::MsgServerInfo{"10.0.0.9", "10.0.0.9", 8009, 500, 42, "msg-9"}, kT0, kT0}},
      {"gone:8000"}, 40'000);
  Write(dir, "provisional",
        common::EncodeStateFile(server::SnapshotOf(restored, kT0 + 5'000, "0.1.0")));
  Write(dir, "empty", common::EncodeStateFile(state::StateSnapshot()));
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <corpus folder> <etc/loginserver.conf>\n", argv[0]);
    return 2;
  }
  const fs::path root(argv[1]);
  FrameDecoder(root / "frame_decoder");
  MsgServerSession(root / "msg_server_session");
  ClientSession(root / "client_session");
  HttpSession(root / "http_session");
  Config(root / "config", argv[2]);
  CaptureReader(root / "capture_reader");
  StateSnapshot(root / "state_snapshot");
  std::printf("seeds written under %s\n", root.c_str());
  return 0;
}
