// PDU streams on ports pdu_dump does not watch: the hint naming their ports, `--port auto`
// decoding them, the test that tells a PDU stream from HTTP, TLS and noise, and the bound on what
// is remembered about other ports' streams.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <random>
#include <thread>

#include "test/pdu_dump/decode_helpers.h"
#include "test/pdu_dump/fixtures.h"
#include "test/pdu_dump/tool_process.h"
#include "test/support/fake_peers.h"
#include "tools/pdu_dump/unwatched_streams.h"

namespace ttlogin::tools::pdu_dump {
namespace {

using namespace testing;  // NOLINT: the fixture helpers
using std::chrono::seconds;

constexpr std::uint32_t kMaxPdu = common::kDefaultMaxPduSize;

std::string RandomBytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s)
    c = static_cast<char>(rng() & 0xff);
  return s;
}

std::span<const std::uint8_t, common::kPduHeaderSize> Head(const std::string& s) {
  return std::span<const std::uint8_t, common::kPduHeaderSize>(
      reinterpret_cast<const std::uint8_t*>(s.data()), common::kPduHeaderSize);
}

const std::string kHttpRequest =
    "GET /msg_server HTTP/1.1\r\nHost: login.example\r\nAccept: */*\r\n\r\n";
const std::string kHttpResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
// The start of a TLS 1.2 ClientHello record, then noise.
const std::string kTlsHello =
    std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + RandomBytes(500, 7);

// Connections on ports pdu_dump does not watch by default: a msg_server on 28101 (its
// registration split inside the header, as a slow peer may send it), a client query on 28102,
// and HTTP, TLS and random bytes on three more ports. With `with_pdus` false only the last three.
std::vector<std::string> MixedPortFrames(bool with_pdus) {
  std::vector<std::string> frames;
  auto add = [&frames](const std::vector<std::string>& more) {
    frames.insert(frames.end(), more.begin(), more.end());
  };
  const int link = kLinkTypeEthernet;
  if (with_pdus) {
    Conversation ms(link, V4("10.0.0.5", 40001), V4("10.0.0.1", 28101));
    add(ms.Handshake());
    for (const auto& piece :
         Split(ServInfo(1, "10.0.0.5", "10.0.1.5", 8000, 1000, 0, "msg-a"), {5, 20})) {
      add({ms.Data(Side::kClient, piece)});
    }
    add({ms.Data(Side::kServer, Heartbeat(1)), ms.Data(Side::kClient, UserCnt(2, 1, 5001)),
         ms.Fin(Side::kClient), ms.Fin(Side::kServer)});

    Conversation query(link, V4("10.0.0.6", 40002), V4("10.0.0.1", 28102));
    add(query.Handshake());
    add({query.Data(Side::kClient, MsgServReq(7)),
         query.Data(Side::kServer, MsgServRsp(7, 0, "10.0.0.5", "10.0.1.5", 8000)),
         query.Fin(Side::kServer), query.Fin(Side::kClient)});
  }
  Conversation http(link, V4("10.0.0.7", 40003), V4("10.0.0.1", 8080));
  add(http.Handshake());
  add({http.Data(Side::kClient, kHttpRequest), http.Data(Side::kServer, kHttpResponse),
       http.Fin(Side::kServer), http.Fin(Side::kClient)});

  Conversation tls(link, V4("10.0.0.8", 40004), V4("10.0.0.1", 8443));
  add(tls.Handshake());
  add({tls.Data(Side::kClient, kTlsHello), tls.Rst(Side::kServer)});

  Conversation noise(link, V4("10.0.0.9", 40005), V4("10.0.0.1", 9000));
  add(noise.Handshake());
  for (std::uint32_t i = 0; i < 8; ++i) {
    add({noise.Data(Side::kClient, RandomBytes(700, 100 + i)),
         noise.Data(Side::kServer, RandomBytes(300, 200 + i))});
  }
  return frames;
}

std::string MixedPortCapture(bool with_pdus = true) {
  return MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, MixedPortFrames(with_pdus));
}

std::string MixedPortFile() {
  return WriteTempFile("mixed_ports.pcap", MixedPortCapture());
}

std::vector<std::string> Ports(const std::vector<nlohmann::json>& lines) {
  std::vector<std::string> out;
  for (const auto& line : lines) {
    const std::string src = line["src"];
    const std::string dst = line["dst"];
    out.push_back(src.substr(src.rfind(':') + 1) + ">" + dst.substr(dst.rfind(':') + 1));
  }
  return out;
}

TEST(UnwatchedPorts, HeaderTestAcceptsEveryLoginTierPduAndNothingElse) {
  for (const std::string& pdu :
       {ServInfo(1, "10.0.0.5", "10.0.1.5", 8000, 1000, 0, "msg-a"), UserCnt(2, 1, 5001),
        Heartbeat(3), MsgServReq(4), MsgServRsp(5, 0, "10.0.0.5", "10.0.1.5", 8000)}) {
    EXPECT_TRUE(LooksLikePduStart(Head(pdu), kMaxPdu));
  }
  // A known service with a command outside the login tier, version 2, a flag, a length over the
  // bound: each alone is enough to say no.
  EXPECT_FALSE(LooksLikePduStart(Head(RawPdu(16, 0x0007, 0x0799, 1, "")), kMaxPdu));
  std::string v2 = Heartbeat(1);
  v2[5] = 2;
  EXPECT_FALSE(LooksLikePduStart(Head(v2), kMaxPdu));
  std::string flagged = Heartbeat(1);
  flagged[7] = 1;
  EXPECT_FALSE(LooksLikePduStart(Head(flagged), kMaxPdu));
  EXPECT_FALSE(LooksLikePduStart(Head(RawPdu(kMaxPdu + 1, 0x0007, 0x0701, 1, "")), kMaxPdu));
  EXPECT_FALSE(LooksLikePduStart(Head(kHttpRequest), kMaxPdu));
  EXPECT_FALSE(LooksLikePduStart(Head(kHttpResponse), kMaxPdu));
  EXPECT_FALSE(LooksLikePduStart(Head(kTlsHello), kMaxPdu));
  // A million 16-byte windows of random bytes, none of them taken for a PDU header.
  const std::string noise = RandomBytes(1'000'000 + common::kPduHeaderSize, 42);
  int accepted = 0;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(noise.data());
  for (std::size_t i = 0; i < 1'000'000; ++i) {
    const std::span<const std::uint8_t, common::kPduHeaderSize> head(bytes + i,
                                                                     common::kPduHeaderSize);
    accepted += LooksLikePduStart(head, kMaxPdu) ? 1 : 0;
  }
  EXPECT_EQ(accepted, 0);
}

TEST(UnwatchedPorts, HintNamesExactlyThePortsWithPduStreams) {
  const ToolRun r = RunPduDump({MixedPortFile()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "") << "nothing is on a watched port";
  // Two connections, each with PDUs both ways: four streams.
  EXPECT_NE(r.err.find("pdu_dump: 4 streams on unwatched ports look like PDUs: 28101,28102; "
                       "add --port +28101,28102\n"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("8080"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("8443"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("9000"), std::string::npos) << r.err;
  // -q hides PDU lines, not the hint.
  const ToolRun quiet = RunPduDump({"-q", MixedPortFile()});
  EXPECT_NE(quiet.err.find("look like PDUs: 28101,28102"), std::string::npos) << quiet.err;
}

TEST(UnwatchedPorts, NoHintWhenNothingUnwatchedLooksLikeAPdu) {
  const std::string path =
      WriteTempFile("no_pdus_elsewhere.pcap", MixedPortCapture(/*with_pdus=*/false));
  const ToolRun r = RunPduDump({path});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find("unwatched"), std::string::npos) << r.err;
  // Nor for the watched ports' own traffic.
  const Scenario s = LoginTierScenario(kLinkTypeEthernet, false);
  const ToolRun watched = RunPduDump({WriteTempFile(
      "watched_only.pcap", MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, s.frames))});
  EXPECT_EQ(watched.code, 0) << watched.err;
  EXPECT_EQ(watched.err.find("unwatched"), std::string::npos) << watched.err;
}

TEST(UnwatchedPorts, PortAutoDecodesBothPduStreamsFromTheirFirstByte) {
  CaptureConfig config;
  config.auto_ports = true;
  const DecodeOutcome out = DecodeCapture(MixedPortCapture(), OutputFormat::kJson, config);
  EXPECT_EQ(out.input.status, InputStatus::kOk) << out.input.message;
  const auto lines = ParseLines(out.output);
  EXPECT_EQ(CommandSeqs(lines),
            (std::vector<std::string>{"709@1", "701@1", "70b@2", "101@7", "102@7"}));
  EXPECT_EQ(Ports(lines), (std::vector<std::string>{"40001>28101", "28101>40001", "40001>28101",
                                                    "40002>28102", "28102>40002"}));
  // The registration whose header was split across segments starts at offset 0: the stream was
  // decoded from its start, not picked up mid-way.
  EXPECT_EQ(lines[0]["offset"], 0);
  EXPECT_EQ(lines[0]["body"]["host_name"], "msg-a");
  EXPECT_EQ(out.stats.errors(), 0u);
  EXPECT_EQ(out.stats.skipped_bytes, 0u);
  EXPECT_EQ(out.stats.connections, 2u) << "HTTP, TLS and noise are not decoded";
  EXPECT_EQ(out.stats.streams, 4u);
}

TEST(UnwatchedPorts, PortAutoOnTheCommandLine) {
  const ToolRun r = RunPduDump({"--json", "--port", "auto", MixedPortFile()});
  EXPECT_EQ(r.code, 0) << r.err;
  const auto lines = ParseLines(r.out);
  EXPECT_EQ(lines.size(), 5u) << r.out;
  EXPECT_EQ(r.err.find("unwatched"), std::string::npos) << "auto needs no hint: " << r.err;
  // auto keeps the default ports watched.
  const Scenario s = LoginTierScenario(kLinkTypeEthernet, false);
  const ToolRun defaults =
      RunPduDump({"--port", "auto",
                  WriteTempFile("auto_defaults.pcap",
                                MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, s.frames))});
  EXPECT_EQ(defaults.code, 0) << defaults.err;
  EXPECT_EQ(std::count(defaults.out.begin(), defaults.out.end(), '\n'),
            static_cast<std::ptrdiff_t>(s.expected.size()));
}

TEST(UnwatchedPorts, PortPlusOneDecodesThatOneAndHintsAtTheOther) {
  const ToolRun r = RunPduDump({"--json", "--port", "+28101", MixedPortFile()});
  EXPECT_EQ(r.code, 0) << r.err;
  const auto lines = ParseLines(r.out);
  EXPECT_EQ(Ports(lines), (std::vector<std::string>{"40001>28101", "28101>40001", "40001>28101"}));
  EXPECT_NE(r.err.find("2 streams on unwatched ports look like PDUs: 28102; add --port +28102\n"),
            std::string::npos)
      << r.err;
}

TEST(UnwatchedPorts, PortAutoIsRefusedWhereThereAreNoPorts) {
  const ToolRun r = RunPduDump({"--raw", "-", "--port", "auto"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--port applies to captures only"), std::string::npos) << r.err;
  EXPECT_EQ(RunPduDump({"--port", "+auto,x", "x.pcap"}).code, 2);
}

TcpSegment Seg(const Endpoint& src, const Endpoint& dst, std::uint32_t seq, std::uint8_t flags,
               const std::string& payload = {}) {
  TcpSegment s;
  s.src = src;
  s.dst = dst;
  s.seq = seq;
  s.flags = flags;
  s.payload = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(payload.data()),
                                            payload.size());
  return s;
}

// Without the SYN, the first bytes seen are wherever the capture began: a header only counts
// when its length leads exactly to the segment's end or to a second header.
TEST(UnwatchedPorts, AStreamSeenMidWayCountsOnlyWhenAHeaderLinesUp) {
  const Endpoint client = V4("10.0.0.5", 40001);
  const Endpoint server = V4("10.0.0.1", 28103);
  const std::string pdu = UserCnt(2, 1, 5001);
  {
    UnwatchedStreams streams(kMaxPdu);
    // A header whose PDU runs past the segment proves nothing.
    EXPECT_FALSE(
        streams.OnSegment(Seg(client, server, 77, kTcpAck, pdu.substr(0, 20))).looks_like_pdu);
    // The tail of a PDU, then whole PDUs: the next segment lines up.
    EXPECT_FALSE(
        streams.OnSegment(Seg(client, server, 97, kTcpAck, pdu.substr(20))).looks_like_pdu);
    const UnwatchedVerdict v = streams.OnSegment(Seg(client, server, 200, kTcpAck, pdu + pdu));
    EXPECT_TRUE(v.looks_like_pdu);
    EXPECT_EQ(v.port, 28103) << "the lower port, without a SYN to say who listens";
    EXPECT_FALSE(v.this_side.syn_seen);
    // Judged once: later PDUs do not count the stream again.
    EXPECT_FALSE(streams.OnSegment(Seg(client, server, 300, kTcpAck, pdu)).looks_like_pdu);
  }
  {
    // A header followed by noise where the next one should be: no.
    UnwatchedStreams streams(kMaxPdu);
    EXPECT_FALSE(streams.OnSegment(Seg(client, server, 1, kTcpAck, pdu + RandomBytes(40, 3)))
                     .looks_like_pdu);
  }
  {
    // A direction gets a few segments to line up, then it is judged not to be PDUs.
    UnwatchedStreams streams(kMaxPdu);
    for (int i = 0; i < kMidStreamSegmentsTried; ++i) {
      EXPECT_FALSE(streams
                       .OnSegment(Seg(client, server, 1000u * static_cast<std::uint32_t>(i),
                                      kTcpAck, RandomBytes(100, i)))
                       .looks_like_pdu);
    }
    EXPECT_FALSE(streams.OnSegment(Seg(client, server, 9000, kTcpAck, pdu)).looks_like_pdu);
  }
}

TEST(UnwatchedPorts, AStreamWithItsSynIsJudgedOnItsFirstSixteenBytes) {
  const Endpoint client = V4("10.0.0.5", 40001);
  const Endpoint server = V4("10.0.0.1", 28101);
  const std::string pdu = Heartbeat(1);
  UnwatchedStreams streams(kMaxPdu);
  EXPECT_FALSE(streams.OnSegment(Seg(client, server, 99, kTcpSyn)).looks_like_pdu);
  // Bytes ahead of a hole are not looked at; the first 16 bytes in order decide.
  EXPECT_FALSE(streams.OnSegment(Seg(client, server, 110, kTcpAck, pdu.substr(10))).looks_like_pdu);
  EXPECT_FALSE(
      streams.OnSegment(Seg(client, server, 100, kTcpAck, pdu.substr(0, 7))).looks_like_pdu);
  const UnwatchedVerdict v = streams.OnSegment(Seg(client, server, 107, kTcpAck, pdu.substr(7)));
  ASSERT_TRUE(v.looks_like_pdu);
  EXPECT_EQ(v.port, 28101);
  EXPECT_TRUE(v.this_side.syn_seen);
  EXPECT_EQ(v.this_side.syn_seq, 99u);
  EXPECT_EQ(v.this_side.prefix_size, 7u);
  EXPECT_EQ(std::string(v.this_side.prefix.begin(), v.this_side.prefix.begin() + 7),
            pdu.substr(0, 7));
  // The listening side is the one that answered the SYN, whichever direction decides.
  UnwatchedStreams reply(kMaxPdu);
  EXPECT_FALSE(reply.OnSegment(Seg(server, client, 500, kTcpSyn | kTcpAck)).looks_like_pdu);
  const UnwatchedVerdict r = reply.OnSegment(Seg(server, client, 501, kTcpAck, pdu));
  ASSERT_TRUE(r.looks_like_pdu);
  EXPECT_EQ(r.port, 28101);
  // A stream that starts with HTTP is judged once and never counted.
  UnwatchedStreams http(kMaxPdu);
  EXPECT_FALSE(http.OnSegment(Seg(client, server, 1, kTcpSyn)).looks_like_pdu);
  EXPECT_FALSE(http.OnSegment(Seg(client, server, 2, kTcpAck, kHttpRequest)).looks_like_pdu);
  EXPECT_FALSE(
      http.OnSegment(Seg(client, server, 2 + static_cast<std::uint32_t>(kHttpRequest.size()),
                         kTcpAck, pdu))
          .looks_like_pdu);
}

// A hostile capture: a million connections on other ports, each opened and never closed. What is
// remembered stays at the bound, the count of PDU-looking streams stays exact, and the distinct
// ports kept for the hint stay capped.
TEST(UnwatchedPorts, AMillionStreamsOnOtherPortsUseBoundedMemory) {
  const std::string pdu = Heartbeat(1);
  UnwatchedStreams streams(kMaxPdu);
  std::size_t peak = 0;
  for (std::uint32_t i = 0; i < 1'000'000; ++i) {
    Endpoint client = V4("10.0.0.0", static_cast<std::uint16_t>(1024 + i % 60000));
    client.address[1] = static_cast<std::uint8_t>(i >> 16);
    client.address[2] = static_cast<std::uint8_t>(i >> 8);
    client.address[3] = static_cast<std::uint8_t>(i);
    const Endpoint server = V4("10.1.0.1", 28101);
    (void)streams.OnSegment(Seg(client, server, i, kTcpSyn));
    peak = std::max(peak, streams.tracked());
  }
  EXPECT_EQ(peak, kMaxTrackedUnwatchedStreams);
  // The newest streams are still judged from their start.
  Endpoint last = V4("10.0.0.0", static_cast<std::uint16_t>(1024 + 999'999 % 60000));
  last.address[1] = static_cast<std::uint8_t>(999'999 >> 16);
  last.address[2] = static_cast<std::uint8_t>(999'999 >> 8);
  last.address[3] = static_cast<std::uint8_t>(999'999);
  const UnwatchedVerdict v =
      streams.OnSegment(Seg(last, V4("10.1.0.1", 28101), 999'999 + 1, kTcpAck, pdu));
  EXPECT_TRUE(v.looks_like_pdu);
  EXPECT_TRUE(v.this_side.syn_seen);

  // Through the whole decoder: PDU-looking streams on 20,000 distinct ports.
  DumpConfig dump;
  dump.quiet = true;
  PduDumper dumper(dump, nullptr);
  CaptureDecoder decoder(CaptureConfig{}, dumper);
  constexpr std::uint32_t kStreams = 20'000;
  for (std::uint32_t i = 0; i < kStreams; ++i) {
    Conversation c(kLinkTypeRaw, V4("10.0.0.5", 40000),
                   V4("10.0.0.1", static_cast<std::uint16_t>(10000 + i)));
    for (const std::string& frame : c.Handshake()) {
      decoder.OnFrame(kLinkTypeRaw, 0,
                      std::span(reinterpret_cast<const std::uint8_t*>(frame.data()), frame.size()),
                      static_cast<std::uint32_t>(frame.size()));
    }
    const std::string data = c.Data(Side::kClient, pdu);
    decoder.OnFrame(kLinkTypeRaw, 0,
                    std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()),
                    static_cast<std::uint32_t>(data.size()));
  }
  decoder.Finish();
  EXPECT_EQ(dumper.stats().unwatched_pdu_streams, kStreams);
  EXPECT_EQ(dumper.stats().unwatched_pdu_ports.size(), kMaxUnwatchedHintPorts);
  const std::string hint = UnwatchedPortsHint(dumper.stats());
  EXPECT_NE(hint.find("20000 streams on unwatched ports look like PDUs: "), std::string::npos)
      << hint;
  EXPECT_NE(hint.find(" and more ports; add --port +"), std::string::npos) << hint;
  EXPECT_NE(hint.find(" or --port auto"), std::string::npos) << hint;
}

// Live capture ends at SIGINT; the hint comes then. The watched connection's PDU is sent last:
// once its line is out, pdu_dump has read every packet before it.
TEST(UnwatchedPorts, LiveCaptureGivesTheHintAtSigint) {
  if (geteuid() != 0) GTEST_SKIP() << "live capture needs root or CAP_NET_RAW";
  // Connections are never accepted: the kernel completes them, which is all the capture needs.
  struct Listener {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    std::uint16_t port = 0;
    Listener() {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof a;
      if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
          listen(fd, 8) == 0 && getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        port = ntohs(a.sin_port);
      }
    }
    ~Listener() {
      if (fd >= 0) close(fd);
    }
  };
  const Listener other_listener;
  const Listener watched_listener;
  const std::uint16_t unwatched = other_listener.port;
  const std::uint16_t watched = watched_listener.port;
  ASSERT_NE(unwatched, 0);
  ASSERT_NE(watched, 0);
  const std::string u = std::to_string(unwatched);
  const std::string w = std::to_string(watched);
  ToolProcess dump({"--json", "--port", w, "-i", "lo", "tcp port " + u + " or tcp port " + w});
  ASSERT_TRUE(dump.WaitForStderr("listening on lo", seconds(10))) << dump.err();
  {
    test::TcpClient other(unwatched);
    ASSERT_TRUE(other.connected());
    ASSERT_TRUE(other.Send(MsgServReq(1)));
    test::TcpClient mine(watched);
    ASSERT_TRUE(mine.connected());
    ASSERT_TRUE(mine.Send(MsgServReq(2)));
    const auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while (dump.out().find("CID_LOGIN_REQ_MSGSERVER") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_NE(dump.out().find("CID_LOGIN_REQ_MSGSERVER"), std::string::npos) << dump.err();
  }
  dump.Signal(SIGINT);
  EXPECT_EQ(dump.Wait(seconds(10)), 0) << dump.err();
  EXPECT_NE(dump.err().find("1 stream on unwatched ports looks like PDUs: " + u + "; add --port +" +
                            u + "\n"),
            std::string::npos)
      << dump.err();
  EXPECT_EQ(ParseLines(dump.out()).size(), 1u) << dump.out();
}

}  // namespace
}  // namespace ttlogin::tools::pdu_dump
