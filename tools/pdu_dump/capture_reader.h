// CaptureReader: feeds a CaptureDecoder from libpcap, either a capture file (pcap or pcapng) or a
// live interface. Everything that can go wrong with the input is turned into an InputStatus and a
// message naming where (file offset, record number), never an exception or a crash.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>

#include "tools/pdu_dump/capture_decoder.h"

namespace ttlogin::tools::pdu_dump {

enum class InputStatus {
  kOk,
  kDamaged,           // read to the end or to the damage; decoded what was there
  kCannotOpen,        // missing file, not a capture, unknown link type, no such interface
  kPermissionDenied,  // live capture without the rights
  kBadFilter,         // the BPF expression does not compile
};

struct InputResult {
  InputStatus status = InputStatus::kOk;
  std::string message;  // empty when kOk
};

// Reads a whole capture file. `name` is used in messages.
InputResult ReadCaptureFile(const std::string& path, CaptureDecoder& decoder, PduDumper& dumper);
// Same for an already open stream (stdin, or fmemopen() in the fuzzer). Takes ownership of `file`.
InputResult ReadCaptureStream(std::FILE* file, const std::string& name, CaptureDecoder& decoder,
                              PduDumper& dumper);

// The kernel's capture buffer for live captures unless -B says otherwise. In immediate mode every
// packet takes a slot of the interface's MTU (128 KiB each on a 64 KiB-MTU loopback), so libpcap's
// own 2 MiB default holds only 16 loopback packets: a pdu_dump descheduled for a few milliseconds
// on a busy machine lost packets. 64 MiB holds about 500 loopback packets, far more on Ethernet.
inline constexpr std::uint32_t kDefaultLiveBufferKib = 64 * 1024;

struct LiveOptions {
  std::string interface;
  std::string bpf;  // empty: derived from the watched ports (all of TCP when there are none)
  std::uint32_t buffer_kib = kDefaultLiveBufferKib;
  // Set from a signal handler (or a test) to stop; checked between reads.
  std::atomic<bool>* stop = nullptr;
  // Called once the capture is active, so a caller can start traffic only when nothing is missed.
  void (*on_ready)() = nullptr;
};

// Captures until *stop is set or the dumper's PDU limit is reached.
InputResult RunLiveCapture(const LiveOptions& options, const std::vector<std::uint16_t>& ports,
                           CaptureDecoder& decoder, PduDumper& dumper);

// Interrupts a running RunLiveCapture from a signal handler (async-signal-safe).
void BreakLiveCapture();

}  // namespace ttlogin::tools::pdu_dump
