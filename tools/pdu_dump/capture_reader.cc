#include "tools/pdu_dump/capture_reader.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <vector>

namespace ttlogin::tools::pdu_dump {
namespace {

// A pcapng timestamp can exceed what microseconds since 1970 fit in 64 bits; clamp rather than
// overflow (the fuzzer finds such files).
constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / 1000000 - 1;
// Large enough for any frame on a 64 KiB-MTU loopback, so live PDUs are never cut short.
constexpr int kLiveSnaplen = 262144;
constexpr std::size_t kReadBufferSize = 1 << 20;
// pcap_dispatch returns at least this often, so a stop request is seen promptly.
constexpr int kLiveReadTimeoutMs = 100;

std::atomic<pcap_t*> g_live_handle{nullptr};

TimestampUs ToMicros(const timeval& tv) {
  const std::int64_t sec = std::clamp<std::int64_t>(tv.tv_sec, -kMaxSeconds, kMaxSeconds);
  return sec * 1000000 + tv.tv_usec;
}

struct DispatchContext {
  CaptureDecoder* decoder;
  int link_type;
};

void OnLivePacket(u_char* user, const pcap_pkthdr* header, const u_char* bytes) {
  auto* ctx = reinterpret_cast<DispatchContext*>(user);
  ctx->decoder->OnFrame(ctx->link_type, ToMicros(header->ts), {bytes, header->caplen}, header->len);
}

std::string LinkTypeText(int link_type) {
  const char* name = pcap_datalink_val_to_name(link_type);
  return std::to_string(link_type) + (name != nullptr ? std::string(" (") + name + ")" : "");
}

InputResult ReadOpened(pcap_t* p, const std::string& name, CaptureDecoder& decoder,
                       PduDumper& dumper) {
  InputResult result;
  const int link_type = pcap_datalink(p);
  if (!IsSupportedLinkType(link_type)) {
    pcap_close(p);
    return {InputStatus::kCannotOpen, name + ": unsupported link type " + LinkTypeText(link_type) +
                                          " (supported: Ethernet, Linux cooked v1/v2, "
                                          "loopback/null, raw IP)"};
  }
  std::uint64_t records = 0;
  while (true) {
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    const int rc = pcap_next_ex(p, &header, &data);
    if (rc == 1) {
      ++records;
      decoder.OnFrame(link_type, ToMicros(header->ts), {data, header->caplen}, header->len);
      if (dumper.limit_reached()) break;
      continue;
    }
    if (rc == PCAP_ERROR_BREAK) break;  // end of file
    // The FILE position is where libpcap stopped reading: the damaged record starts before it.
    std::FILE* f = pcap_file(p);
    const long offset = f != nullptr ? std::ftell(f) : -1;
    dumper.OnInputError();
    result.status = InputStatus::kDamaged;
    result.message = name + ": damaged capture after record " + std::to_string(records) +
                     (offset >= 0 ? ", reading stopped at file offset " + std::to_string(offset)
                                  : std::string()) +
                     ": " + pcap_geterr(p) + "; decoded what came before";
    break;
  }
  decoder.Finish();
  if (dumper.stats().frames_malformed != 0 && result.status == InputStatus::kOk) {
    result.status = InputStatus::kDamaged;
    result.message = name + ": " + std::to_string(dumper.stats().frames_malformed) +
                     " malformed frame(s), the first (frame " +
                     std::to_string(decoder.first_malformed_frame()) +
                     "): " + decoder.first_malformed_reason();
  }
  pcap_close(p);
  return result;
}

}  // namespace

InputResult ReadCaptureFile(const std::string& path, CaptureDecoder& decoder, PduDumper& dumper) {
  if (path == "-") return ReadCaptureStream(stdin, "stdin", decoder, dumper);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return {InputStatus::kCannotOpen, path + ": cannot open: " + std::strerror(errno)};
  }
  return ReadCaptureStream(f, path, decoder, dumper);
}

InputResult ReadCaptureStream(std::FILE* file, const std::string& name, CaptureDecoder& decoder,
                              PduDumper& dumper) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  // libpcap reads each record with two small freads; a large stdio buffer turns them into a few
  // big read(2)s, which matters on gigabyte captures (and more so under virtualisation). glibc
  // ignores the size unless it is given the buffer, which must outlive the FILE: pcap_close()
  // below closes it before this function returns.
  std::vector<char> buffer(kReadBufferSize);
  std::setvbuf(file, buffer.data(), _IOFBF, buffer.size());
  pcap_t* p = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
  if (p == nullptr) {
    if (file != stdin) std::fclose(file);
    return {InputStatus::kCannotOpen, name + ": not a readable pcap/pcapng capture: " + errbuf};
  }
  return ReadOpened(p, name, decoder, dumper);
}

InputResult RunLiveCapture(const LiveOptions& options, const std::vector<std::uint16_t>& ports,
                           CaptureDecoder& decoder, PduDumper& dumper) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  const std::string& iface = options.interface;
  pcap_t* p = pcap_create(iface.c_str(), errbuf);
  if (p == nullptr) return {InputStatus::kCannotOpen, iface + ": " + errbuf};
  pcap_set_snaplen(p, kLiveSnaplen);
  pcap_set_promisc(p, 0);
  pcap_set_timeout(p, kLiveReadTimeoutMs);
  pcap_set_immediate_mode(p, 1);
  pcap_set_buffer_size(
      p, static_cast<int>(std::min<std::uint64_t>(std::uint64_t{options.buffer_kib} * 1024,
                                                  std::numeric_limits<int>::max())));
  const int rc = pcap_activate(p);
  if (rc < 0) {
    const std::string why = pcap_geterr(p);
    pcap_close(p);
    if (rc == PCAP_ERROR_PERM_DENIED) {
      return {InputStatus::kPermissionDenied,
              "no permission to capture on " + iface + " (" + why +
                  "); run as root, or grant the binary the rights once: "
                  "sudo setcap cap_net_raw,cap_net_admin=eip $(command -v pdu_dump)"};
    }
    return {InputStatus::kCannotOpen,
            "cannot capture on " + iface + ": " + (why.empty() ? pcap_statustostr(rc) : why)};
  }
  if (rc > 0) std::fprintf(stderr, "pdu_dump: warning: %s: %s\n", iface.c_str(), pcap_geterr(p));
  const int link_type = pcap_datalink(p);
  if (!IsSupportedLinkType(link_type)) {
    pcap_close(p);
    return {InputStatus::kCannotOpen, iface + ": unsupported link type " + LinkTypeText(link_type)};
  }
  std::string bpf = options.bpf;
  if (bpf.empty() && ports.empty()) {
    bpf = "tcp";
  } else if (bpf.empty()) {
    bpf = "tcp and (";
    for (std::size_t i = 0; i < ports.size(); ++i) {
      bpf += (i == 0 ? "port " : " or port ") + std::to_string(ports[i]);
    }
    bpf += ")";
  }
  bpf_program program{};
  if (pcap_compile(p, &program, bpf.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0 ||
      pcap_setfilter(p, &program) != 0) {
    const std::string why = pcap_geterr(p);
    pcap_freecode(&program);
    pcap_close(p);
    return {InputStatus::kBadFilter, "BPF filter '" + bpf + "': " + why};
  }
  pcap_freecode(&program);
  g_live_handle.store(p);
  std::fprintf(stderr, "pdu_dump: listening on %s, filter '%s'\n", iface.c_str(), bpf.c_str());
  std::fflush(stderr);
  if (options.on_ready != nullptr) options.on_ready();

  InputResult result;
  DispatchContext ctx{&decoder, link_type};
  while (options.stop == nullptr || !options.stop->load()) {
    const int n = pcap_dispatch(p, -1, OnLivePacket, reinterpret_cast<u_char*>(&ctx));
    dumper.Flush();
    if (n == PCAP_ERROR) {
      dumper.OnInputError();
      result = {InputStatus::kDamaged, iface + ": capture failed: " + pcap_geterr(p)};
      break;
    }
    if (dumper.limit_reached()) break;
  }
  g_live_handle.store(nullptr);
  decoder.Finish();
  dumper.Flush();
  // Say so when the capture is incomplete: PDUs of the dropped packets are missing from the
  // output, and streams with a gap resynchronise at the next PDU header.
  pcap_stat stats{};
  if (pcap_stats(p, &stats) == 0 && stats.ps_drop > 0) {
    std::fprintf(stderr,
                 "pdu_dump: %s: the kernel dropped %u packets: pdu_dump fell behind and the "
                 "capture buffer (-B, %u KiB) filled; PDUs in them are missing from the output\n",
                 iface.c_str(), stats.ps_drop, options.buffer_kib);
    dumper.OnInputError();
  }
  pcap_close(p);
  return result;
}

void BreakLiveCapture() {
  if (pcap_t* p = g_live_handle.load()) pcap_breakloop(p);
}

}  // namespace ttlogin::tools::pdu_dump
