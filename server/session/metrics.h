// Metrics: the server's counters and latency histograms, cheap enough for the hot path.
//
// Each thread writes its own cache-line-aligned block (claimed once per thread), so the io threads
// never contend on a counter; a scrape sums the blocks. A block has a single writer, so a count is
// a relaxed load and store, not an atomic read-modify-write: the locked `fetch_add` cost about as
// much as the registry's mutex on the update path (docs/PERFORMANCE.md). The words stay atomic
// (relaxed) because the scrape reads them from another thread. Threads beyond kBlocks share one
// overflow block and pay a `fetch_add`, so counts stay exact whatever the thread count. Gauges
// that are state, not events (registered msg_servers, users), are read from the registry at
// scrape time instead; so are the listeners' connection counts, which the connection layer keeps
// (the wiring lends them through set_connection_counts).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "common/session_verdict.h"

namespace ttlogin::server {

enum class ListenerKind : std::uint8_t { kMsgServer, kClient, kHttp, kAdmin, kHttps, kCount };
std::string_view ListenerName(ListenerKind l);

enum class Counter : std::uint16_t {
  // answers to "which msg_server?", by listener and result code
  kHttpAnswerOk,
  kHttpAnswerNoMsgServer,
  kHttpAnswerAllFull,
  kPduAnswerOk,
  kPduAnswerNoMsgServer,
  kPduAnswerAllFull,
  kHttpsAnswerOk,
  kHttpsAnswerNoMsgServer,
  kHttpsAnswerAllFull,
  // HTTP error responses
  kHttp400,
  kHttp404,
  kHttp405,
  kHttp408,
  kHttp413,
  kHttp431,
  // PDUs received, by command
  kPduHeartbeat,
  kPduMsgServInfo,
  kPduUserCntUpdate,
  kPduLoginReq,
  kPduOther,
  // protocol errors, by kind
  kErrorBadLength,
  kErrorBadBody,
  kErrorHttpMalformed,
  // msg_server events
  kMsgServerRegistered,
  kMsgServerReplaced,
  kMsgServerRemoved,
  kMsgServerTimedOut,
  kMsgServerRefused,  // over MaxMsgServers
  // registrations refused for their content, by reason (CheckRegistration, Claim)
  kRegistrationBadPort,
  kRegistrationBadHostName,
  kRegistrationBadAddress,
  kRegistrationNameTaken,
  kMsgServerDisplaced,  // an entry replaced by a new registration of its host_name:port
  // MsgServer-port connections closed at once: MsgServerAllowFrom, the per-address cap
  kMsgServerPeerNotAllowed,
  kMsgServerPeerOverAddressLimit,
  kUpdateClamped,
  kUpdateBeforeRegistration,
  kUpdateBadAction,
  kRegistryUpdates,
  kReloads,
  kReloadFailures,
  // warm start snapshots (StateFile) written, and writes that failed
  kStateWrites,
  kStateWriteFailures,
  kUpgrades,         // live upgrades: counted by the new process, once, when it takes over
  kUpgradeFailures,  // counted by the process that serves on
  // TLS handshakes on the HTTPS port: completed (full or resumed), then failed by reason, in the
  // order of tls::HandshakeFailure
  kTlsHandshakeFull,
  kTlsHandshakeResumed,
  kTlsFailProtocolVersion,
  kTlsFailNoSharedCipher,
  kTlsFailCertificateRejected,
  kTlsFailMalformed,
  kTlsFailNotTls,
  kTlsFailPlaintextHttp,
  kTlsFailPeerClosed,
  kTlsFailTimeout,
  kTlsFailOverCapacity,
  kTlsFailOther,
  kCount
};

enum class Histogram : std::uint8_t { kHttpAnswer, kPduAnswer, kHttpsAnswer, kCount };

// Upper bounds of the latency buckets, in microseconds (the last bucket is +Inf).
inline constexpr std::array<std::uint32_t, 12> kLatencyBucketsUs = {
    10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000, 250000};

// The HTTPS port's state at the time it was read (the wiring keeps it).
struct TlsGauges {
  bool enabled = false;  // an HTTPS listener runs
  std::int64_t handshakes_in_progress = 0;
  std::int64_t certificate_not_after = 0;  // Unix time of the served certificate's notAfter
};

// One listener's connection counts at the time they were read.
struct ConnectionCounts {
  std::uint64_t accepted = 0;  // handed to a connection
  std::uint64_t refused = 0;   // closed at accept: the listener was at its limit
  std::uint64_t opened = 0;
  std::uint64_t closed = 0;
  std::int64_t open() const { return static_cast<std::int64_t>(opened - closed); }
};

namespace detail {
// The calling thread's last claimed block (see Metrics::Mine).
struct MetricsThreadCache {
  std::uint64_t id = 0;  // of the Metrics; 0: none (ids start at 1)
  void* block = nullptr;
  bool exclusive = false;
};
}  // namespace detail

class Metrics {
 public:
  // Single-writer blocks; more threads than this share the overflow block (still exact).
  static constexpr std::size_t kBlocks = 16;

  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void Add(Counter c, std::uint64_t n = 1) {
    const Slot slot = Mine();
    Bump(slot, slot.block->counters[static_cast<std::size_t>(c)], n);
  }
  void Observe(Histogram h, std::chrono::nanoseconds latency);

  // Where a scrape reads the listeners' connection counts. Set once, before any scrape; until
  // then (sessions tested without sockets) every count reads 0.
  using ConnectionCountsReader = std::function<ConnectionCounts(ListenerKind)>;
  void set_connection_counts(ConnectionCountsReader reader) {
    connection_counts_ = std::move(reader);
  }
  // A connection the server closed (its session's verdict or its timer), by reason: a counter in
  // the thread's own block like any other, so a flood of bad peers costs no shared write.
  void Closed(ListenerKind l, common::CloseReason r) {
    const Slot slot = Mine();
    Bump(slot, slot.block->closes[CloseIndex(l, r)], 1);
  }

  // The last live upgrade's handover: from the old process's last accept to the new one's first
  // possible accept (set by the new process from the time the old one sent).
  void set_handover_seconds(double s) { handover_seconds_.store(s, std::memory_order_relaxed); }
  double handover_seconds() const { return handover_seconds_.load(std::memory_order_relaxed); }
  // Where a scrape reads the HTTPS port's gauges; unset, they read as "no HTTPS".
  using TlsGaugesReader = std::function<TlsGauges()>;
  void set_tls_gauges(TlsGaugesReader reader) { tls_gauges_ = std::move(reader); }
  TlsGauges Tls() const { return tls_gauges_ ? tls_gauges_() : TlsGauges{}; }

  std::uint64_t Get(Counter c) const;
  std::uint64_t Closes(ListenerKind l, common::CloseReason r) const;
  ConnectionCounts Connections(ListenerKind l) const {
    return connection_counts_ ? connection_counts_(l) : ConnectionCounts{};
  }
  // Cumulative bucket counts (Prometheus style), then the count and the sum in microseconds.
  struct HistogramSnapshot {
    std::array<std::uint64_t, kLatencyBucketsUs.size() + 1> cumulative{};
    std::uint64_t count = 0;
    std::uint64_t sum_us = 0;
  };
  HistogramSnapshot Get(Histogram h) const;

 private:
  static constexpr std::size_t kCounters = static_cast<std::size_t>(Counter::kCount);
  static constexpr std::size_t kHistograms = static_cast<std::size_t>(Histogram::kCount);
  static constexpr std::size_t kBuckets = kLatencyBucketsUs.size() + 1;
  static constexpr std::size_t kListeners = static_cast<std::size_t>(ListenerKind::kCount);
  static constexpr std::size_t kCloseReasons =
      static_cast<std::size_t>(common::CloseReason::kCount);
  static constexpr std::size_t CloseIndex(ListenerKind l, common::CloseReason r) {
    return static_cast<std::size_t>(l) * kCloseReasons + static_cast<std::size_t>(r);
  }

  struct alignas(64) Block {
    std::array<std::atomic<std::uint64_t>, kCounters> counters{};
    std::array<std::array<std::atomic<std::uint64_t>, kBuckets>, kHistograms> buckets{};
    std::array<std::atomic<std::uint64_t>, kHistograms> sum_us{};
    std::array<std::atomic<std::uint64_t>, kListeners * kCloseReasons> closes{};
  };
  // The calling thread's block, and whether the thread is its only writer.
  struct Slot {
    Block* block;
    bool exclusive;
  };
  static void Bump(Slot slot, std::atomic<std::uint64_t>& word, std::uint64_t n) {
    if (slot.exclusive) {
      word.store(word.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    } else {
      word.fetch_add(n, std::memory_order_relaxed);
    }
  }
  Slot Mine() {
    // The common case inline: this thread already holds a block of this Metrics. The cache is
    // keyed by a process-unique id, not the address, so a Metrics built where a destroyed one
    // lived (tests do this) never reuses a block claimed from its predecessor.
    if (cache_.id == id_) return Slot{static_cast<Block*>(cache_.block), cache_.exclusive};
    return Claim();
  }
  Slot Claim();

  // Inline, so every caller sees the constant initialiser and reaches it without a TLS wrapper.
  static inline thread_local detail::MetricsThreadCache cache_{};

  const std::uint64_t id_;
  std::array<Block, kBlocks> blocks_{};
  Block overflow_;  // shared by threads beyond kBlocks: atomic read-modify-write
  std::atomic<std::size_t> next_block_{0};
  ConnectionCountsReader connection_counts_;
  std::atomic<double> handover_seconds_{0};
  TlsGaugesReader tls_gauges_;
};

}  // namespace ttlogin::server
