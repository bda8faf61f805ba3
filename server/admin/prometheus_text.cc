#include "server/admin/prometheus_text.h"

#include <fmt/format.h>

#include <array>
#include <span>
#include <utility>

#include "common/log_rate_limiter.h"

namespace ttlogin::server::admin {
namespace {

class Writer {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                   type);
  }
  template <typename T>
  void Sample(std::string_view name, std::string_view labels, T value) {
    if (labels.empty()) {
      fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
    } else {
      fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels, value);
    }
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

struct Labelled {
  std::string_view labels;
  Counter counter;
};

void CounterFamily(Writer& w, const Metrics& m, std::string_view name, std::string_view help,
                   std::initializer_list<Labelled> samples) {
  w.Family(name, "counter", help);
  for (const Labelled& s : samples)
    w.Sample(name, s.labels, m.Get(s.counter));
}

void LatencyHistogram(Writer& w, const Metrics& m, Histogram h, std::string_view listener) {
  const Metrics::HistogramSnapshot snap = m.Get(h);
  constexpr std::string_view kName = "ttlogin_answer_latency_seconds";
  for (std::size_t i = 0; i < kLatencyBucketsUs.size(); ++i) {
    const std::string labels =
        fmt::format("listener=\"{}\",le=\"{}\"", listener, kLatencyBucketsUs[i] / 1e6);
    w.Sample(std::string(kName) + "_bucket", labels, snap.cumulative[i]);
  }
  w.Sample(std::string(kName) + "_bucket", fmt::format("listener=\"{}\",le=\"+Inf\"", listener),
           snap.count);
  w.Sample(std::string(kName) + "_sum", fmt::format("listener=\"{}\"", listener),
           snap.sum_us / 1e6);
  w.Sample(std::string(kName) + "_count", fmt::format("listener=\"{}\"", listener), snap.count);
}

// The reasons each listener's connections can be closed for: every series that can move is
// written from the start (at 0), and none that cannot.
constexpr common::CloseReason kPduCloseReasons[] = {
    common::CloseReason::kTimeout,
    common::CloseReason::kPduLengthBelowHeader,
    common::CloseReason::kPduLengthAboveMax,
};
constexpr common::CloseReason kClientCloseReasons[] = {
    common::CloseReason::kAnswered,
    common::CloseReason::kBadLoginRequest,
};
constexpr common::CloseReason kMsgServerCloseReasons[] = {
    common::CloseReason::kBadMsgServInfo,      common::CloseReason::kBadUserCntUpdate,
    common::CloseReason::kRegistrationRefused, common::CloseReason::kRegistryFull,
    common::CloseReason::kHostPortTaken,       common::CloseReason::kEntryTakenOver,
};
constexpr common::CloseReason kHttpCloseReasons[] = {
    common::CloseReason::kAnswered,           common::CloseReason::kTimeout,
    common::CloseReason::kHttpMalformed,      common::CloseReason::kHttpHeadTooLarge,
    common::CloseReason::kHttpBodyTooLarge,   common::CloseReason::kHttpObsFold,
    common::CloseReason::kHttpDuplicateHost,  common::CloseReason::kHttpDuplicateAuthorization,
    common::CloseReason::kHttpMissingHost,    common::CloseReason::kHttpBadPath,
    common::CloseReason::kHttpRequestTimeout,
};

void ClosedFamily(Writer& w, const Metrics& m) {
  constexpr std::string_view kName = "ttlogin_connections_closed_total";
  w.Family(kName, "counter",
           "Connections the server closed, by listener and reason (a session's verdict or a "
           "timeout); closes by the peer are not counted.");
  const auto samples = [&](ListenerKind l, std::span<const common::CloseReason> reasons) {
    for (const common::CloseReason r : reasons) {
      w.Sample(
          kName,
          fmt::format("listener=\"{}\",reason=\"{}\"", ListenerName(l), common::CloseReasonName(r)),
          m.Closes(l, r));
    }
  };
  samples(ListenerKind::kMsgServer, kPduCloseReasons);
  samples(ListenerKind::kMsgServer, kMsgServerCloseReasons);
  samples(ListenerKind::kClient, kPduCloseReasons);
  samples(ListenerKind::kClient, kClientCloseReasons);
  samples(ListenerKind::kHttp, kHttpCloseReasons);
  samples(ListenerKind::kAdmin, kHttpCloseReasons);
  samples(ListenerKind::kHttps, kHttpCloseReasons);
}

void TlsFamilies(Writer& w, const Metrics& m) {
  CounterFamily(w, m, "ttlogin_tls_handshakes_total",
                "TLS handshakes completed on the HTTPS port, full or resumed (a session ticket).",
                {{"result=\"full\"", Counter::kTlsHandshakeFull},
                 {"result=\"resumed\"", Counter::kTlsHandshakeResumed}});
  CounterFamily(w, m, "ttlogin_tls_handshake_failures_total",
                "TLS handshakes that failed on the HTTPS port, by reason; each closed its "
                "connection.",
                {{"reason=\"protocol_version\"", Counter::kTlsFailProtocolVersion},
                 {"reason=\"no_shared_cipher\"", Counter::kTlsFailNoSharedCipher},
                 {"reason=\"certificate_rejected\"", Counter::kTlsFailCertificateRejected},
                 {"reason=\"malformed\"", Counter::kTlsFailMalformed},
                 {"reason=\"not_tls\"", Counter::kTlsFailNotTls},
                 {"reason=\"plaintext_http\"", Counter::kTlsFailPlaintextHttp},
                 {"reason=\"peer_closed\"", Counter::kTlsFailPeerClosed},
                 {"reason=\"timeout\"", Counter::kTlsFailTimeout},
                 {"reason=\"over_capacity\"", Counter::kTlsFailOverCapacity},
                 {"reason=\"other\"", Counter::kTlsFailOther}});
  const TlsGauges tls = m.Tls();
  w.Family("ttlogin_tls_handshakes_in_progress", "gauge",
           "TLS handshakes begun and not finished (MaxTlsHandshakes caps them).");
  w.Sample("ttlogin_tls_handshakes_in_progress", "", tls.handshakes_in_progress);
  if (tls.enabled) {
    w.Family("ttlogin_tls_certificate_expiry_timestamp_seconds", "gauge",
             "notAfter of the certificate new HTTPS handshakes use, as Unix time.");
    w.Sample("ttlogin_tls_certificate_expiry_timestamp_seconds", "", tls.certificate_not_after);
  }
}

}  // namespace

double UpdateRate::Sample(std::uint64_t total, std::chrono::steady_clock::time_point now) {
  if (last_time_ != std::chrono::steady_clock::time_point{}) {
    const double seconds = std::chrono::duration<double>(now - last_time_).count();
    if (seconds >= 0.5) {
      last_rate_ = static_cast<double>(total - last_total_) / seconds;
    } else {
      return last_rate_;  // scrapes too close together: keep the previous window's figure
    }
  }
  last_total_ = total;
  last_time_ = now;
  return last_rate_;
}

std::size_t Utf8SequenceLength(std::string_view s) {
  if (s.empty()) return 0;
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto tail = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  const unsigned char lead = b(0);
  if (lead < 0x80) return 1;
  if (lead < 0xC2) return 0;  // a continuation byte, or C0/C1: overlong forms of ASCII
  if (lead < 0xE0) return tail(1) ? 2 : 0;
  if (lead < 0xF0) {
    if (!tail(1) || !tail(2)) return 0;
    if (lead == 0xE0 && b(1) < 0xA0) return 0;   // overlong (below U+0800)
    if (lead == 0xED && b(1) >= 0xA0) return 0;  // UTF-16 surrogates U+D800..U+DFFF
    return 3;
  }
  if (lead < 0xF5) {
    if (!tail(1) || !tail(2) || !tail(3)) return 0;
    if (lead == 0xF0 && b(1) < 0x90) return 0;   // overlong (below U+10000)
    if (lead == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;  // F5..FF never start a sequence
}

std::string EscapeLabel(std::string_view value) {
  // The exposition format allows only three escapes in a label value (\\, \" and \n), so a
  // byte that must not appear raw is written as the visible text \xNN (a backslash on the wire
  // is doubled). Literal backslashes are shown the same way (\x5c), which keeps the mapping
  // reversible: two different host_names never become one series.
  constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size() + 8);
  const auto escape_byte = [&](unsigned char c) {
    out += "\\\\x";
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  };
  std::size_t i = 0;
  while (i < value.size()) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7F || c == '\\') {
        escape_byte(c);
      } else if (c == '"') {
        out += "\\\"";
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    const std::size_t n = Utf8SequenceLength(value.substr(i));
    if (n == 0) {
      escape_byte(c);  // not UTF-8: Prometheus would reject the whole scrape
      ++i;
      continue;
    }
    const bool c1_control = n == 2 && c == 0xC2 && static_cast<unsigned char>(value[i + 1]) < 0xA0;
    for (std::size_t k = 0; k < n; ++k) {
      if (c1_control) {
        escape_byte(static_cast<unsigned char>(value[i + k]));
      } else {
        out += value[i + k];
      }
    }
    i += n;
  }
  return out;
}

std::string RenderPrometheus(const Metrics& m, const registry::MsgServerRegistry& registry,
                             std::string_view version, double updates_per_second) {
  Writer w;
  w.Family("ttlogin_build_info", "gauge", "Build information; always 1.");
  w.Sample("ttlogin_build_info", fmt::format("version=\"{}\"", EscapeLabel(version)), 1);

  const auto servers = registry.Snapshot();
  std::size_t draining = 0;
  std::size_t eligible = 0;
  std::size_t warming = 0;
  std::uint64_t users = 0;
  std::uint64_t held = 0;
  std::size_t provisional = 0;
  for (const auto& s : servers) {
    users += s.info.cur_conn_cnt;
    held += s.held;
    if (s.provisional) ++provisional;
    if (s.warming) ++warming;
    if (s.draining) ++draining;
    if (!s.draining && s.info.cur_conn_cnt < s.info.max_conn_cnt) ++eligible;
  }
  w.Family("ttlogin_msg_servers", "gauge", "msg_servers registered, by state.");
  w.Sample("ttlogin_msg_servers", "state=\"registered\"", servers.size());
  w.Sample("ttlogin_msg_servers", "state=\"eligible\"", eligible);
  w.Sample("ttlogin_msg_servers", "state=\"draining\"", draining);
  w.Sample("ttlogin_msg_servers", "state=\"warming\"", warming);
  w.Sample("ttlogin_msg_servers", "state=\"provisional\"", provisional);
  w.Family("ttlogin_users", "gauge", "Users on all msg_servers, as they reported.");
  w.Sample("ttlogin_users", "", users);
  w.Family("ttlogin_assignment_holds", "gauge",
           "Logins handed out and not yet reported by their msg_server (AssignmentHold).");
  w.Sample("ttlogin_assignment_holds", "", held);
  w.Family("ttlogin_msg_server_users", "gauge", "Users per msg_server, as it reported.");
  for (const auto& s : servers) {
    w.Sample("ttlogin_msg_server_users",
             fmt::format("host=\"{}\",port=\"{}\"", EscapeLabel(s.info.host_name), s.info.port),
             s.info.cur_conn_cnt);
  }
  w.Family("ttlogin_msg_server_max_users", "gauge", "Capacity per msg_server (max_conn_cnt).");
  for (const auto& s : servers) {
    w.Sample("ttlogin_msg_server_max_users",
             fmt::format("host=\"{}\",port=\"{}\"", EscapeLabel(s.info.host_name), s.info.port),
             s.info.max_conn_cnt);
  }

  CounterFamily(w, m, "ttlogin_requests_total",
                "Answers to 'which msg_server?', by listener and result code (0 ok, 1 none "
                "registered, 2 all full).",
                {{"listener=\"http\",code=\"0\"", Counter::kHttpAnswerOk},
                 {"listener=\"http\",code=\"1\"", Counter::kHttpAnswerNoMsgServer},
                 {"listener=\"http\",code=\"2\"", Counter::kHttpAnswerAllFull},
                 {"listener=\"client\",code=\"0\"", Counter::kPduAnswerOk},
                 {"listener=\"client\",code=\"1\"", Counter::kPduAnswerNoMsgServer},
                 {"listener=\"client\",code=\"2\"", Counter::kPduAnswerAllFull}});
  // The HTTPS port's answers: written only when it runs, like the other HTTPS-only series.
  const bool https = m.Tls().enabled;
  if (https) {
    for (const Labelled& s :
         {Labelled{"listener=\"https\",code=\"0\"", Counter::kHttpsAnswerOk},
          Labelled{"listener=\"https\",code=\"1\"", Counter::kHttpsAnswerNoMsgServer},
          Labelled{"listener=\"https\",code=\"2\"", Counter::kHttpsAnswerAllFull}}) {
      w.Sample("ttlogin_requests_total", s.labels, m.Get(s.counter));
    }
  }
  CounterFamily(w, m, "ttlogin_http_errors_total",
                "HTTP error responses on the public port, by status.",
                {{"status=\"400\"", Counter::kHttp400},
                 {"status=\"404\"", Counter::kHttp404},
                 {"status=\"405\"", Counter::kHttp405},
                 {"status=\"408\"", Counter::kHttp408},
                 {"status=\"413\"", Counter::kHttp413},
                 {"status=\"431\"", Counter::kHttp431}});
  CounterFamily(w, m, "ttlogin_pdus_received_total", "PDUs received, by command.",
                {{"command=\"CID_OTHER_HEARTBEAT\"", Counter::kPduHeartbeat},
                 {"command=\"CID_OTHER_MSG_SERV_INFO\"", Counter::kPduMsgServInfo},
                 {"command=\"CID_OTHER_USER_CNT_UPDATE\"", Counter::kPduUserCntUpdate},
                 {"command=\"CID_LOGIN_REQ_MSGSERVER\"", Counter::kPduLoginReq},
                 {"command=\"other\"", Counter::kPduOther}});
  CounterFamily(w, m, "ttlogin_protocol_errors_total",
                "Protocol errors, by kind; each closed its connection.",
                {{"kind=\"bad_length\"", Counter::kErrorBadLength},
                 {"kind=\"bad_body\"", Counter::kErrorBadBody},
                 {"kind=\"http_malformed\"", Counter::kErrorHttpMalformed}});
  CounterFamily(w, m, "ttlogin_msg_server_events_total", "msg_server registry events.",
                {{"event=\"registered\"", Counter::kMsgServerRegistered},
                 {"event=\"replaced\"", Counter::kMsgServerReplaced},
                 {"event=\"removed\"", Counter::kMsgServerRemoved},
                 {"event=\"timed_out\"", Counter::kMsgServerTimedOut},
                 {"event=\"refused\"", Counter::kMsgServerRefused},
                 {"event=\"displaced\"", Counter::kMsgServerDisplaced}});
  CounterFamily(w, m, "ttlogin_msg_server_registrations_refused_total",
                "msg_server registrations refused, by reason; each closed its connection.",
                {{"reason=\"bad_port\"", Counter::kRegistrationBadPort},
                 {"reason=\"bad_host_name\"", Counter::kRegistrationBadHostName},
                 {"reason=\"bad_address\"", Counter::kRegistrationBadAddress},
                 {"reason=\"host_port_taken\"", Counter::kRegistrationNameTaken},
                 {"reason=\"registry_full\"", Counter::kMsgServerRefused}});
  CounterFamily(w, m, "ttlogin_msg_server_connections_refused_total",
                "MsgServer-port connections closed on arrival, by reason (MsgServerAllowFrom, "
                "MaxMsgServerConnectionsPerAddress).",
                {{"reason=\"not_allowed\"", Counter::kMsgServerPeerNotAllowed},
                 {"reason=\"per_address_limit\"", Counter::kMsgServerPeerOverAddressLimit}});
  CounterFamily(w, m, "ttlogin_update_anomalies_total",
                "User count updates that were not applied as sent.",
                {{"kind=\"clamped_at_zero\"", Counter::kUpdateClamped},
                 {"kind=\"before_registration\"", Counter::kUpdateBeforeRegistration},
                 {"kind=\"bad_action\"", Counter::kUpdateBadAction}});
  CounterFamily(w, m, "ttlogin_registry_updates_total", "User count updates applied.",
                {{"", Counter::kRegistryUpdates}});
  w.Family("ttlogin_registry_updates_per_second", "gauge",
           "Registry updates per second between the last two scrapes (prefer rate() on "
           "ttlogin_registry_updates_total).");
  w.Sample("ttlogin_registry_updates_per_second", "", updates_per_second);
  constexpr std::array<ListenerKind, 5> kListeners = {ListenerKind::kMsgServer,
                                                      ListenerKind::kClient, ListenerKind::kHttp,
                                                      ListenerKind::kAdmin, ListenerKind::kHttps};
  std::array<ConnectionCounts, kListeners.size()> connections;
  for (std::size_t i = 0; i < kListeners.size(); ++i)
    connections[i] = m.Connections(kListeners[i]);
  auto connection_family = [&](std::string_view name, std::string_view type, std::string_view help,
                               auto value) {
    w.Family(name, type, help);
    for (std::size_t i = 0; i < kListeners.size(); ++i) {
      w.Sample(name, fmt::format("listener=\"{}\"", ListenerName(kListeners[i])),
               value(connections[i]));
    }
  };
  connection_family("ttlogin_connections_accepted_total", "counter",
                    "Connections accepted, by listener.",
                    [](const ConnectionCounts& c) { return c.accepted; });
  connection_family("ttlogin_connections_refused_total", "counter",
                    "Connections refused at accept because the listener was at its limit.",
                    [](const ConnectionCounts& c) { return c.refused; });
  connection_family("ttlogin_connections_open", "gauge", "Open connections, by listener.",
                    [](const ConnectionCounts& c) { return c.open(); });
  ClosedFamily(w, m);
  TlsFamilies(w, m);
  CounterFamily(
      w, m, "ttlogin_reloads_total", "Config reloads, by result.",
      {{"result=\"ok\"", Counter::kReloads}, {"result=\"failed\"", Counter::kReloadFailures}});
  CounterFamily(w, m, "ttlogin_state_writes_total",
                "Warm start snapshots (StateFile) written, by result.",
                {{"result=\"ok\"", Counter::kStateWrites},
                 {"result=\"failed\"", Counter::kStateWriteFailures}});
  CounterFamily(
      w, m, "ttlogin_upgrades_total",
      "Live upgrades, by result: ok is counted by the new process when it takes over, "
      "failed by the process that serves on.",
      {{"result=\"ok\"", Counter::kUpgrades}, {"result=\"failed\"", Counter::kUpgradeFailures}});
  w.Family("ttlogin_handover_seconds", "gauge",
           "The last live upgrade's handover, from the old process's last accept to this "
           "process's first possible accept (0: this process did not take over).");
  w.Sample("ttlogin_handover_seconds", "", m.handover_seconds());
  w.Family("ttlogin_log_lines_suppressed_total", "counter",
           "Log lines a peer could trigger at will that the per-call-site rate limit dropped.");
  w.Sample("ttlogin_log_lines_suppressed_total", "", common::LogRateLimiter::TotalSuppressed());
  w.Family("ttlogin_answer_latency_seconds", "histogram",
           "Time from reading a request to queueing its answer, by listener.");
  LatencyHistogram(w, m, Histogram::kHttpAnswer, "http");
  LatencyHistogram(w, m, Histogram::kPduAnswer, "client");
  if (https) LatencyHistogram(w, m, Histogram::kHttpsAnswer, "https");
  return w.Take();
}

}  // namespace ttlogin::server::admin
