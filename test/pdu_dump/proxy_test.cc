// --proxy: bytes are forwarded unchanged both ways (checked against a recording upstream, and on
// the wire in front of the real login_server), and every relayed PDU is printed.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <deque>
#include <random>
#include <string_view>
#include <thread>

#include "test/pdu_dump/decode_helpers.h"
#include "test/pdu_dump/fixtures.h"
#include "test/pdu_dump/tool_process.h"
#include "test/support/fake_peers.h"
#include "test/support/server_process.h"
#include "tools/common/socket_io.h"
#include "tools/pdu_dump/tcp_reassembler.h"

namespace ttlogin::tools::pdu_dump {
namespace {

using namespace testing;  // NOLINT: the fixture helpers
using std::chrono::milliseconds;
using std::chrono::seconds;

// Reads until EOF or `timeout`.
std::string ReadToEof(int fd, milliseconds timeout) {
  std::string out;
  const peer::Deadline deadline = peer::DeadlineIn(timeout);
  char buf[65536];
  std::size_t got = 0;
  while (peer::ReadSome(fd, buf, sizeof buf, deadline, got).ok())
    out.append(buf, got);
  return out;
}

std::string RandomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s)
    c = static_cast<char>(rng());
  return s;
}

// Starts pdu_dump --proxy in front of `upstream_port` and returns the port it listens on.
std::uint16_t StartProxy(ToolProcess& proxy) {
  if (!proxy.WaitForStderr("proxy listening on", seconds(10))) return 0;
  // Parsed by hand: GCC 12's sanitizer builds fail on <regex> with -Werror.
  const std::string err = proxy.err();
  constexpr std::string_view kPrefix = "listening on 127.0.0.1:";
  const std::size_t at = err.find(kPrefix);
  if (at == std::string::npos) return 0;
  std::size_t i = at + kPrefix.size();
  std::uint32_t port = 0;
  std::size_t digits = 0;
  for (; i < err.size() && err[i] >= '0' && err[i] <= '9' && digits < 5; ++i, ++digits) {
    port = port * 10 + static_cast<std::uint32_t>(err[i] - '0');
  }
  if (digits == 0 || port > 65535) return 0;
  return static_cast<std::uint16_t>(port);
}

std::vector<std::string> ProxyArgs(std::uint16_t upstream) {
  return {"--json", "--proxy", "127.0.0.1:0:127.0.0.1:" + std::to_string(upstream)};
}

TEST(Proxy, ForwardsEveryByteBothWaysEvenMalformedPdus) {
  ttlogin::test::LoopbackListener upstream;
  ToolProcess proxy(ProxyArgs(upstream.port()));
  const std::uint16_t port = StartProxy(proxy);
  ASSERT_NE(port, 0) << proxy.err();

  test::TcpClient client(port);
  ASSERT_TRUE(client.connected());
  const int up = upstream.Accept(seconds(5));
  ASSERT_GE(up, 0);
  const std::string head =
      ServInfo(1, "10.0.0.5", "10.0.1.5", 8000, 100, 0, "msg-a") + UserCnt(2, 1, 5001);
  const std::string to_server =
      head + RawPdu(3, 7, 0x070b, 3, "") + RandomBytes(300000, 1) + UserCnt(4, 2, 5001);
  const std::string to_client = Heartbeat(1) + RandomBytes(200000, 2) + Heartbeat(2);
  // Both directions at once, each half-closed at the end: the proxy must pass the FINs on.
  std::thread a([&] {
    EXPECT_TRUE(client.Send(to_server));
    shutdown(client.fd(), SHUT_WR);
  });
  std::thread b([&] {
    EXPECT_TRUE(peer::SendAll(up, to_client, peer::DeadlineIn(seconds(10))).ok());
    shutdown(up, SHUT_WR);
  });
  const std::string got_by_server = ReadToEof(up, seconds(10));
  const std::string got_by_client = ReadToEof(client.fd(), seconds(10));
  a.join();
  b.join();
  close(up);
  EXPECT_TRUE(got_by_server == to_server)
      << "sizes " << got_by_server.size() << " vs " << to_server.size();
  EXPECT_TRUE(got_by_client == to_client)
      << "sizes " << got_by_client.size() << " vs " << to_client.size();

  proxy.Signal(SIGTERM);
  EXPECT_EQ(proxy.Wait(seconds(5)), 1) << "the malformed PDU makes the exit code 1";
  const auto lines = ParseLines(proxy.out());
  ASSERT_GE(lines.size(), 4u);
  // The first PDUs of each direction, and the malformed length reported where it was.
  std::vector<std::string> first_to_server;
  bool error_seen = false;
  for (const auto& j : lines) {
    if (j.contains("error") && j["offset"] == head.size()) {
      error_seen =
          j["error"].get<std::string>().find("below the 16-byte header") != std::string::npos;
    }
    if (!j["command"].is_null() &&
        j["dst"].get<std::string>().ends_with(":" + std::to_string(upstream.port()))) {
      first_to_server.push_back(std::to_string(j["command"].get<int>()) + "@" +
                                std::to_string(j["seq"].get<int>()));
    }
  }
  EXPECT_TRUE(error_seen) << proxy.out().substr(0, 2000);
  ASSERT_GE(first_to_server.size(), 2u);
  EXPECT_EQ(first_to_server[0], "1801@1");
  EXPECT_EQ(first_to_server[1], "1803@2");
}

// Captures loopback traffic on one TCP port and rebuilds each direction's bytes with the
// reassembler under test; used to see exactly what reached the real server.
class LoopbackRecorder : public StreamFactory {
 public:
  explicit LoopbackRecorder(std::uint16_t port) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_ = pcap_create("lo", errbuf);
    if (pcap_ == nullptr) return;
    pcap_set_snaplen(pcap_, 262144);
    pcap_set_immediate_mode(pcap_, 1);
    pcap_set_timeout(pcap_, 10);
    if (pcap_activate(pcap_) < 0) {
      pcap_close(pcap_);
      pcap_ = nullptr;
      return;
    }
    bpf_program prog{};
    const std::string filter = "tcp port " + std::to_string(port);
    pcap_compile(pcap_, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN);
    pcap_setfilter(pcap_, &prog);
    pcap_freecode(&prog);
    pcap_setnonblock(pcap_, 1, errbuf);
  }
  ~LoopbackRecorder() override {
    if (pcap_ != nullptr) pcap_close(pcap_);
  }
  bool ok() const { return pcap_ != nullptr; }

  // Reads what was captured so far (until `timeout`, or `done` holds).
  void Drain(milliseconds timeout, const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline && !done()) {
      pcap_dispatch(
          pcap_, -1,
          [](u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
            auto* self = reinterpret_cast<LoopbackRecorder*>(user);
            const ParsedFrame f =
                ParseFrame(pcap_datalink(self->pcap_), {bytes, h->caplen}, h->len);
            if (f.status == ParseStatus::kTcp) self->reassembler_.OnSegment(f.segment, 0);
          },
          reinterpret_cast<u_char*>(this));
      std::this_thread::sleep_for(milliseconds(5));
    }
  }
  // Everything delivered so far on streams towards `dst_port`, in stream order.
  std::string BytesTo(std::uint16_t dst_port) const {
    std::string out;
    for (const auto& s : streams_) {
      if (s->info.dst.port == dst_port) out += s->data;
    }
    return out;
  }

 private:
  struct Stream {
    StreamInfo info;
    std::string data;
  };
  class Consumer : public StreamConsumer {
   public:
    explicit Consumer(Stream& s) : s_(s) {}
    void OnData(std::span<const std::uint8_t> b, TimestampUs) override {
      s_.data.append(b.begin(), b.end());
    }
    void OnGap(std::uint64_t, TimestampUs, const std::string&) override { s_.data += "<GAP>"; }
    void OnEnd(TimestampUs) override {}

   private:
    Stream& s_;
  };
  std::unique_ptr<StreamConsumer> OpenStream(const StreamInfo& info) override {
    streams_.push_back(std::make_unique<Stream>());
    streams_.back()->info = info;
    return std::make_unique<Consumer>(*streams_.back());
  }

  pcap_t* pcap_ = nullptr;
  TcpReassembler reassembler_{*this};
  std::vector<std::unique_ptr<Stream>> streams_;
};

TEST(Proxy, SitsBetweenAFakeMsgServerAndTheRealLoginServer) {
  test::ServerProcess server("HeartbeatInterval=1");
  ASSERT_TRUE(server.started()) << server.log();
  // On loopback as root, record what actually reaches the server's MsgServer port.
  LoopbackRecorder recorder(server.ports().msg_server);

  ToolProcess ms_proxy(ProxyArgs(server.ports().msg_server));
  ToolProcess client_proxy(ProxyArgs(server.ports().client));
  const std::uint16_t ms_port = StartProxy(ms_proxy);
  const std::uint16_t client_port = StartProxy(client_proxy);
  ASSERT_NE(ms_port, 0) << ms_proxy.err();
  ASSERT_NE(client_port, 0) << client_proxy.err();

  test::TcpClient ms(ms_port);
  ASSERT_TRUE(ms.connected());
  const std::string sent = ServInfo(0, "10.9.9.9", "10.9.9.8", 8123, 100, 0, "proxied") +
                           UserCnt(0, 1, 1) + UserCnt(0, 1, 2) + UserCnt(0, 1, 3) +
                           UserCnt(0, 2, 3);
  ASSERT_TRUE(ms.Send(sent));
  // The server got the bytes intact: its choice reflects the registration and the counts.
  ASSERT_TRUE(test::Eventually([&] {
    const auto choice = test::AskClientPort(server.ports().client, 11);
    return choice && choice->result_code == 0 && choice->port == 8123 &&
           choice->prior_ip == "10.9.9.9";
  }));
  // Server -> msg_server through the proxy: the login server's heartbeat (1 s interval).
  const auto heartbeat = test::ReadPdu(ms, milliseconds(5000));
  ASSERT_TRUE(heartbeat.has_value());
  EXPECT_EQ(heartbeat->header.command_id, 0x0701);

  // Client port: the reply through the proxy is byte for byte the reply without it.
  auto ask_raw = [](std::uint16_t port) {
    test::TcpClient c(port);
    c.Send(MsgServReq(42));
    bool closed = false;
    return c.ReadUntilClose(milliseconds(5000), &closed);
  };
  const std::string direct = ask_raw(server.ports().client);
  const std::string proxied = ask_raw(client_port);
  EXPECT_FALSE(direct.empty());
  EXPECT_EQ(proxied, direct);

  if (recorder.ok()) {
    const std::uint16_t server_port = server.ports().msg_server;
    recorder.Drain(seconds(3), [&] { return recorder.BytesTo(server_port).size() >= sent.size(); });
    EXPECT_EQ(recorder.BytesTo(server_port), sent)
        << "what reached the login server on the wire differs from what the msg_server sent";
  } else {
    ADD_FAILURE() << "no capture rights on lo: the on-the-wire byte comparison needs root or "
                     "CAP_NET_RAW (the other checks above ran)";
  }

  ms.Close();
  ms_proxy.Signal(SIGTERM);
  client_proxy.Signal(SIGTERM);
  EXPECT_EQ(ms_proxy.Wait(seconds(5)), 0) << ms_proxy.err();
  EXPECT_EQ(client_proxy.Wait(seconds(5)), 0) << client_proxy.err();
  std::vector<std::string> ms_view;
  for (const auto& j : ParseLines(ms_proxy.out())) {
    ms_view.push_back(std::to_string(j["command"].get<int>()));
  }
  ASSERT_GE(ms_view.size(), 6u);
  EXPECT_EQ(std::vector<std::string>(ms_view.begin(), ms_view.begin() + 5),
            (std::vector<std::string>{"1801", "1803", "1803", "1803", "1803"}));
  EXPECT_EQ(ms_view[5], "1793") << "the server's heartbeat, relayed the other way";
  const auto client_lines = ParseLines(client_proxy.out());
  ASSERT_EQ(client_lines.size(), 2u);
  EXPECT_EQ(client_lines[1]["seq"], 42);
  EXPECT_EQ(client_lines[1]["body"]["port"], 8123);
}

}  // namespace
}  // namespace ttlogin::tools::pdu_dump
