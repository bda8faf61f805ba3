// pdu_dump_bench: generates a capture of msg_server traffic of a chosen size and measures how fast
// the pdu_dump binary decodes it (text and JSON, output to /dev/null), and its peak RSS.
//
//   pdu_dump_bench [--size-mb N] [--out PATH] [--keep]
//
// The capture is written at run time (default 1024 MB in /tmp) and deleted afterwards unless
// --keep. Traffic model, chosen to look like a busy login tier rather than to flatter the tool:
// 64 msg_servers on port 8100 sending IMUserCntUpdate PDUs in segments of 1 PDU (60 %),
// 2-4 (30 %) or 5-20 (10 %, a burst of logins coalesced by Nagle), heartbeats both ways, the
// login server's pure ACKs, and 1 % client-port queries (handshake, request, reply, FINs) on 8008.
// Every run also checks that pdu_dump decoded exactly the PDUs generated, so the figure is never
// the speed of skipping data.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "common/protocol.h"
#include "tools/common/peer_pdu.h"
#include "tools/pdu_dump/capture_writer.h"
#include "tools/pdu_dump/link_layer_parser.h"

namespace ttlogin::tools::pdu_dump {
namespace {

constexpr int kMsgServers = 64;
constexpr std::int64_t kPacketSpacingUs = 20;
constexpr std::size_t kFlushBytes = 8 << 20;

Endpoint Ip(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint16_t port) {
  Endpoint e;
  e.address[0] = a;
  e.address[1] = b;
  e.address[2] = c;
  e.address[3] = d;
  e.port = port;
  return e;
}

struct Side {
  Endpoint self;
  Endpoint peer;
  std::uint32_t seq;
};

class Generator {
 public:
  Generator(const std::string& path, std::uint64_t target_bytes)
      : out_(std::fopen(path.c_str(), "wb")),
        target_(target_bytes),
        writer_(CaptureFormat::kPcap, kLinkTypeEthernet),
        rng_(20231114) {}
  ~Generator() { Close(); }
  // The capture must be complete on disk before pdu_dump reads it.
  void Close() {
    if (out_ != nullptr) std::fclose(out_);
    out_ = nullptr;
  }
  bool ok() const { return out_ != nullptr; }

  void Run() {
    const Endpoint login = Ip(10, 0, 0, 1, 8100);
    for (int i = 0; i < kMsgServers; ++i) {
      Side ms{Ip(10, 0, 1, static_cast<std::uint8_t>(i + 1), static_cast<std::uint16_t>(40000 + i)),
              login, 1000u * static_cast<std::uint32_t>(i)};
      Side ls{login, ms.self, 7000000u + static_cast<std::uint32_t>(i)};
      Handshake(ms, ls);
      const peer::MsgServerInfo info{
          "10.0.1." + std::to_string(i + 1), "192.168.1." + std::to_string(i + 1), 8000, 100000, 0,
          "msg-" + std::to_string(i)};
      Data(ms, ls, peer::ServInfoPdu(info), 1);
      ms_.push_back(ms);
      ls_.push_back(ls);
    }
    std::uint32_t user = 1;
    while (written_ + writer_.bytes().size() < target_) {
      const int i = static_cast<int>(rng_() % kMsgServers);
      const unsigned roll = rng_() % 100;
      if (roll == 0) {
        Query();
        continue;
      }
      if (roll < 3) {
        Data(roll == 1 ? ms_[i] : ls_[i], roll == 1 ? ls_[i] : ms_[i], peer::HeartbeatPdu(), 1);
        continue;
      }
      const unsigned shape = rng_() % 100;
      const int k = shape < 60   ? 1
                    : shape < 90 ? 2 + static_cast<int>(rng_() % 3)
                                 : 5 + static_cast<int>(rng_() % 16);
      std::string payload;
      for (int n = 0; n < k; ++n) {
        const std::uint32_t action =
            rng_() % 3 == 0 ? common::kUserActionDec : common::kUserActionInc;
        const std::uint32_t id = user++;
        peer::AppendUserCntUpdatePdu(payload, action, id, static_cast<std::uint16_t>(user));
      }
      Data(ms_[i], ls_[i], payload, k);
      if (++segments_ % 2 == 0) Ack(ls_[i], ms_[i]);
    }
    Flush(true);
  }

  std::uint64_t pdus() const { return pdus_; }
  std::uint64_t bytes() const { return written_; }

 private:
  void Emit(const Side& from, std::uint8_t flags, std::uint32_t ack, const std::string& payload) {
    SegmentSpec s;
    s.src = from.self;
    s.dst = from.peer;
    s.seq = from.seq;
    s.ack = ack;
    s.flags = flags;
    s.payload = {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()};
    frame_ = BuildFrame(kLinkTypeEthernet, s);
    writer_.AddFrame(ts_, frame_);
    ts_ += kPacketSpacingUs;
    Flush(false);
  }
  void Handshake(Side& client, Side& server) {
    Emit(client, kTcpSyn, 0, {});
    client.seq += 1;
    Emit(server, kTcpSyn | kTcpAck, client.seq, {});
    server.seq += 1;
    Emit(client, kTcpAck, server.seq, {});
  }
  void Data(Side& from, const Side& to, const std::string& payload, int pdus) {
    Emit(from, 0x18, to.seq, payload);
    from.seq += static_cast<std::uint32_t>(payload.size());
    pdus_ += static_cast<std::uint64_t>(pdus);
  }
  void Ack(const Side& from, const Side& to) { Emit(from, kTcpAck, to.seq, {}); }
  void Query() {
    const auto port = static_cast<std::uint16_t>(50000 + (queries_++ % 10000));
    Side client{Ip(10, 0, 9, 9, port), Ip(10, 0, 0, 1, 8008), 42};
    Side server{client.peer, client.self, 4242};
    Handshake(client, server);
    Data(client, server, peer::MsgServReqPdu(7), 1);
    Data(
        server, client,
        peer::MsgServRspPdu(7, IM::BaseDefine::REFUSE_REASON_NONE, "10.0.1.1", "192.168.1.1", 8000),
        1);
    Emit(server, kTcpFin | kTcpAck, client.seq, {});
    server.seq += 1;
    Emit(client, kTcpFin | kTcpAck, server.seq, {});
    client.seq += 1;
    Emit(server, kTcpAck, client.seq, {});
  }
  void Flush(bool all) {
    if (!all && writer_.bytes().size() < kFlushBytes) return;
    const std::string chunk = writer_.TakeBytes();
    std::fwrite(chunk.data(), 1, chunk.size(), out_);
    written_ += chunk.size();
  }

  std::FILE* out_;
  std::uint64_t target_;
  CaptureWriter writer_;
  std::mt19937 rng_;
  std::vector<Side> ms_;
  std::vector<Side> ls_;
  std::string frame_;
  std::int64_t ts_ = 1700000000LL * 1000000;
  std::uint64_t written_ = 0;
  std::uint64_t pdus_ = 0;
  std::uint64_t segments_ = 0;
  std::uint64_t queries_ = 0;
};

struct Measured {
  int exit_code = -1;
  double seconds = 0;
  double cpu_seconds = 0;
  long max_rss_kb = 0;
  std::uint64_t pdus_decoded = 0;
  std::string stderr_text;
};

Measured RunPduDump(const std::vector<std::string>& args) {
  char err_path[] = "/tmp/pdu_dump_bench_err-XXXXXX";
  const int err_fd = mkstemp(err_path);
  std::vector<std::string> argv_store = {PDU_DUMP_BIN};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    const int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, 1);
    dup2(err_fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  Measured m;
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  m.cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                  static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  m.max_rss_kb = usage.ru_maxrss;
  std::ifstream in(err_path);
  std::stringstream ss;
  ss << in.rdbuf();
  m.stderr_text = ss.str();
  std::smatch match;
  if (std::regex_search(m.stderr_text, match, std::regex("PDUs decoded\\s+(\\d+)"))) {
    m.pdus_decoded = std::stoull(match[1]);
  }
  close(err_fd);
  unlink(err_path);
  return m;
}

int Main(int argc, char** argv) {
  std::uint64_t size_mb = 1024;
  std::string path = "/tmp/pdu_dump_bench.pcap";
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--size-mb" && i + 1 < argc) {
      size_mb = std::stoull(argv[++i]);
    } else if (a == "--out" && i + 1 < argc) {
      path = argv[++i];
    } else if (a == "--keep") {
      keep = true;
    } else {
      std::fprintf(stderr, "usage: pdu_dump_bench [--size-mb N] [--out PATH] [--keep]\n");
      return 2;
    }
  }
  std::printf("generating %llu MB of msg_server traffic into %s ...\n",
              static_cast<unsigned long long>(size_mb), path.c_str());
  std::fflush(stdout);
  // The generator lives in its own scope: a forked child starts with the parent's resident
  // pages, so the parent must be small again before pdu_dump is spawned, or the child's peak RSS
  // would report the generator's buffers instead of pdu_dump's memory.
  std::uint64_t pdus = 0;
  double mb = 0;
  {
    Generator gen(path, size_mb << 20);
    if (!gen.ok()) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return 2;
    }
    const auto g0 = std::chrono::steady_clock::now();
    gen.Run();
    gen.Close();
    const double gen_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - g0).count();
    pdus = gen.pdus();
    mb = static_cast<double>(gen.bytes()) / (1 << 20);
    std::printf("capture: %.1f MB, %llu PDUs (generated in %.1f s)\n", mb,
                static_cast<unsigned long long>(pdus), gen_s);
  }
  int failures = 0;
  for (const char* mode : {"text", "json"}) {
    std::vector<std::string> args = {"--stats", path};
    if (std::strcmp(mode, "json") == 0) args.insert(args.begin(), "--json");
    const Measured m = RunPduDump(args);
    const bool ok = m.exit_code == 0 && m.pdus_decoded == pdus;
    std::printf(
        "%-4s  %7.1f MB/s wall  %7.1f MB/s cpu  %5.2f M PDUs/s  peak RSS %ld KB  (%.2f s, "
        "exit %d, %llu PDUs decoded)%s\n",
        mode, mb / m.seconds, mb / m.cpu_seconds,
        static_cast<double>(m.pdus_decoded) / m.seconds / 1e6, m.max_rss_kb, m.seconds, m.exit_code,
        static_cast<unsigned long long>(m.pdus_decoded), ok ? "" : "  <-- MISMATCH");
    if (!ok) {
      ++failures;
      std::fprintf(stderr, "%s", m.stderr_text.c_str());
    }
  }
  if (!keep) std::remove(path.c_str());
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace ttlogin::tools::pdu_dump

int main(int argc, char** argv) {
  return ttlogin::tools::pdu_dump::Main(argc, argv);
}
