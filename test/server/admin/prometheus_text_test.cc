#include "server/admin/prometheus_text.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace ttlogin::server::admin {
namespace {

// What a Prometheus parser does with a quoted label value (expfmt's text parser): only \\, \"
// and \n are valid escapes; a raw '"' would end the value and a raw newline ends the line.
std::optional<std::string> PrometheusUnescape(const std::string& wire) {
  std::string out;
  for (std::size_t i = 0; i < wire.size(); ++i) {
    const char c = wire[i];
    if (c == '"' || c == '\n') return std::nullopt;
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i == wire.size()) return std::nullopt;
    switch (wire[i]) {
      case '\\':
        out += '\\';
        break;
      case '"':
        out += '"';
        break;
      case 'n':
        out += '\n';
        break;
      default:
        return std::nullopt;
    }
  }
  return out;
}

// Decodes UTF-8 into code points the long way (bits, then the shortest-form and range rules), as
// a check independent of the server's table; nullopt on anything Go's utf8.ValidString rejects.
std::optional<std::vector<std::uint32_t>> DecodeUtf8(const std::string& s) {
  std::vector<std::uint32_t> out;
  for (std::size_t i = 0; i < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    int n = 0;
    std::uint32_t cp = 0;
    if (lead < 0x80) {
      n = 1, cp = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      n = 2, cp = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      n = 3, cp = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      n = 4, cp = lead & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + n > s.size()) return std::nullopt;
    for (int k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (b & 0x3F);
    }
    const std::uint32_t min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_length[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return std::nullopt;
    }
    out.push_back(cp);
    i += n;
  }
  return out;
}

bool IsControl(std::uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

// The label as Prometheus stores it, read back to the host_name bytes: \xNN is one byte, every
// other character stands for itself. Fails on a backslash that starts anything else.
std::optional<std::string> Unshow(const std::string& label) {
  std::string out;
  for (std::size_t i = 0; i < label.size(); ++i) {
    if (label[i] != '\\') {
      out += label[i];
      continue;
    }
    const std::string hex = "0123456789abcdef";
    if (i + 3 >= label.size() || label[i + 1] != 'x' || hex.find(label[i + 2]) == hex.npos ||
        hex.find(label[i + 3]) == hex.npos) {
      return std::nullopt;
    }
    out += static_cast<char>(hex.find(label[i + 2]) * 16 + hex.find(label[i + 3]));
    i += 3;
  }
  return out;
}

// Every property the exposition format and the scrape need, for one host_name.
void ExpectSafeAndReversible(const std::string& host_name) {
  SCOPED_TRACE(::testing::PrintToString(host_name));
  const std::string wire = EscapeLabel(host_name);
  const auto label = PrometheusUnescape(wire);
  ASSERT_TRUE(label) << "not a valid quoted label value: " << wire;
  const auto code_points = DecodeUtf8(*label);
  ASSERT_TRUE(code_points) << "not valid UTF-8: " << wire;
  for (const std::uint32_t cp : *code_points)
    EXPECT_FALSE(IsControl(cp)) << "control character U+" << std::hex << cp << " in " << wire;
  EXPECT_EQ(Unshow(*label), host_name) << wire;
}

TEST(EscapeLabelTest, PrintableAsciiAndUtf8PassThrough) {
  EXPECT_EQ(EscapeLabel("msg-a.example_1:8000"), "msg-a.example_1:8000");
  EXPECT_EQ(EscapeLabel("北京-1"), "北京-1");
  EXPECT_EQ(EscapeLabel("\xC2\xA0"), "\xC2\xA0");                  // U+00A0, first after C1
  EXPECT_EQ(EscapeLabel("\xED\x9F\xBF"), "\xED\x9F\xBF");          // U+D7FF, last before surrogates
  EXPECT_EQ(EscapeLabel("\xEE\x80\x80"), "\xEE\x80\x80");          // U+E000
  EXPECT_EQ(EscapeLabel("\xF0\x90\x80\x80"), "\xF0\x90\x80\x80");  // U+10000
  EXPECT_EQ(EscapeLabel("\xF4\x8F\xBF\xBF"), "\xF4\x8F\xBF\xBF");  // U+10FFFF
}

TEST(EscapeLabelTest, QuotesBackslashesAndControlsHaveOneSpelling) {
  EXPECT_EQ(EscapeLabel("a\"b"), "a\\\"b");
  EXPECT_EQ(EscapeLabel("a\\b"), "a\\\\x5cb");
  EXPECT_EQ(EscapeLabel("a\nb"), "a\\\\x0ab");
  EXPECT_EQ(EscapeLabel("a\rb"), "a\\\\x0db");
  EXPECT_EQ(EscapeLabel(std::string("a\0b", 3)), "a\\\\x00b");
  EXPECT_EQ(EscapeLabel("\x1b[31mred"), "\\\\x1b[31mred");
  EXPECT_EQ(EscapeLabel("del\x7f"), "del\\\\x7f");
  EXPECT_EQ(EscapeLabel("nel\xC2\x85"), "nel\\\\xc2\\\\x85");  // U+0085, a C1 control
  EXPECT_EQ(EscapeLabel("\xC2\x9F"), "\\\\xc2\\\\x9f");
}

TEST(EscapeLabelTest, MalformedUtf8IsEscapedByteByByte) {
  EXPECT_EQ(EscapeLabel("\xFF\xFE"), "\\\\xff\\\\xfe");
  EXPECT_EQ(EscapeLabel("x\x80y"), "x\\\\x80y");         // lone continuation
  EXPECT_EQ(EscapeLabel("\xE2\x82"), "\\\\xe2\\\\x82");  // truncated U+20AC
  EXPECT_EQ(EscapeLabel("\xE2\x82"
                        "A"),
            "\\\\xe2\\\\x82A");                                     // cut by ASCII
  EXPECT_EQ(EscapeLabel("\xC0\xAF"), "\\\\xc0\\\\xaf");             // overlong '/'
  EXPECT_EQ(EscapeLabel("\xE0\x80\xAF"), "\\\\xe0\\\\x80\\\\xaf");  // overlong, 3 bytes
  EXPECT_EQ(EscapeLabel("\xF0\x80\x80\xAF"), "\\\\xf0\\\\x80\\\\x80\\\\xaf");
  EXPECT_EQ(EscapeLabel("\xED\xA0\x80"), "\\\\xed\\\\xa0\\\\x80");             // surrogate U+D800
  EXPECT_EQ(EscapeLabel("\xED\xBF\xBF"), "\\\\xed\\\\xbf\\\\xbf");             // surrogate U+DFFF
  EXPECT_EQ(EscapeLabel("\xF4\x90\x80\x80"), "\\\\xf4\\\\x90\\\\x80\\\\x80");  // U+110000
  EXPECT_EQ(EscapeLabel("\xF5\x80\x80\x80"), "\\\\xf5\\\\x80\\\\x80\\\\x80");
  // A good sequence right after a bad byte survives.
  EXPECT_EQ(EscapeLabel("\xFF\xE2\x82\xAC"), "\\\\xff\xE2\x82\xAC");
}

TEST(EscapeLabelTest, EveryByteAloneIsSafeAndReversible) {
  for (int b = 0; b < 256; ++b) {
    const std::string s(1, static_cast<char>(b));
    ExpectSafeAndReversible(s);
    const bool printable = b >= 0x20 && b < 0x7F && b != '\\' && b != '"';
    EXPECT_EQ(EscapeLabel(s) == s, printable) << b;
  }
}

TEST(EscapeLabelTest, EveryBytePairIsSafeAndReversible) {
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      ExpectSafeAndReversible({static_cast<char>(a), static_cast<char>(b)});
      if (::testing::Test::HasFailure()) return;  // one failing pair is enough to read
    }
  }
}

TEST(EscapeLabelTest, EveryThreeAndFourByteLeadWithItsBoundaryTails) {
  const unsigned char tails[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
  for (int lead = 0xC0; lead < 0x100; ++lead) {
    for (const unsigned char t1 : tails) {
      for (const unsigned char t2 : tails) {
        for (const unsigned char t3 : tails) {
          ExpectSafeAndReversible({static_cast<char>(lead), static_cast<char>(t1),
                                   static_cast<char>(t2), static_cast<char>(t3)});
        }
      }
    }
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(EscapeLabelTest, KeepsExactlyTheSequencesAStrictDecoderAccepts) {
  // For every 1-4 byte string the escaper keeps verbatim, the independent decoder agrees it is
  // one well-formed, non-control character; and the other way round.
  const unsigned char tails[] = {0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF};
  for (int lead = 0x80; lead < 0x100; ++lead) {
    std::vector<std::string> candidates = {std::string(1, static_cast<char>(lead))};
    for (const unsigned char t1 : tails) {
      candidates.push_back({static_cast<char>(lead), static_cast<char>(t1)});
      for (const unsigned char t2 : tails) {
        candidates.push_back(
            {static_cast<char>(lead), static_cast<char>(t1), static_cast<char>(t2)});
        for (const unsigned char t3 : tails) {
          candidates.push_back({static_cast<char>(lead), static_cast<char>(t1),
                                static_cast<char>(t2), static_cast<char>(t3)});
        }
      }
    }
    for (const std::string& s : candidates) {
      const auto cps = DecodeUtf8(s);
      const bool good = cps && cps->size() == 1 && !IsControl((*cps)[0]);
      EXPECT_EQ(EscapeLabel(s) == s, good) << ::testing::PrintToString(s);
      EXPECT_EQ(Utf8SequenceLength(s) == s.size(), cps && cps->size() == 1)
          << ::testing::PrintToString(s);
    }
  }
}

TEST(EscapeLabelTest, RandomHostNamesAreSafeAndReversible) {
  std::mt19937 rng(18);
  std::uniform_int_distribution<int> len(0, 300);
  std::uniform_int_distribution<int> byte(0, 255);
  // Mostly high bytes and controls, where the interesting cases are.
  const char alphabet[] =
      "\x00\x1b\r\n\\\"a\x7f\xc2\x85\xa0\xe2\x82\xac\xed\xa0\xf0\x9f\x98\x80\xf4\x90\xff";
  std::uniform_int_distribution<std::size_t> pick(0, sizeof alphabet - 2);
  for (int n = 0; n < 5'000; ++n) {
    std::string s(static_cast<std::size_t>(len(rng)), '\0');
    for (char& c : s)
      c = n % 2 == 0 ? static_cast<char>(byte(rng)) : alphabet[pick(rng)];
    ExpectSafeAndReversible(s);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(EscapeLabelTest, DistinctHostNamesStayDistinctLabels) {
  // Would collide under a lossy rule (U+FFFD for every bad byte, or \ left as \).
  const std::vector<std::string> names = {"\xFF", "\xFE", "\\x5c", "\\", "\\xff", "a\nb", "a\\nb"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    for (std::size_t j = i + 1; j < names.size(); ++j)
      EXPECT_NE(EscapeLabel(names[i]), EscapeLabel(names[j])) << i << " " << j;
  }
}

// The listeners' connection counts are kept by the connection layer and read through the hook
// the wiring sets; the exported families keep their names, types and label order.
TEST(RenderPrometheusTest, ConnectionFamiliesReadTheListenersCounts) {
  Metrics metrics;
  metrics.set_connection_counts([](ListenerKind kind) {
    const auto k = static_cast<std::uint64_t>(kind) + 1;  // distinct per listener
    return ConnectionCounts{100 * k, 10 * k, 1000 * k, 1000 * k - k};
  });
  registry::MsgServerRegistry registry;
  const std::string text = RenderPrometheus(metrics, registry, "test", 0);
  const std::string expected =
      "# HELP ttlogin_connections_accepted_total Connections accepted, by listener.\n"
      "# TYPE ttlogin_connections_accepted_total counter\n"
      "ttlogin_connections_accepted_total{listener=\"msg_server\"} 100\n"
      "ttlogin_connections_accepted_total{listener=\"client\"} 200\n"
      "ttlogin_connections_accepted_total{listener=\"http\"} 300\n"
      "ttlogin_connections_accepted_total{listener=\"admin\"} 400\n"
      "ttlogin_connections_accepted_total{listener=\"https\"} 500\n"
      "# HELP ttlogin_connections_refused_total Connections refused at accept because the "
      "listener was at its limit.\n"
      "# TYPE ttlogin_connections_refused_total counter\n"
      "ttlogin_connections_refused_total{listener=\"msg_server\"} 10\n"
      "ttlogin_connections_refused_total{listener=\"client\"} 20\n"
      "ttlogin_connections_refused_total{listener=\"http\"} 30\n"
      "ttlogin_connections_refused_total{listener=\"admin\"} 40\n"
      "ttlogin_connections_refused_total{listener=\"https\"} 50\n"
      "# HELP ttlogin_connections_open Open connections, by listener.\n"
      "# TYPE ttlogin_connections_open gauge\n"
      "ttlogin_connections_open{listener=\"msg_server\"} 1\n"
      "ttlogin_connections_open{listener=\"client\"} 2\n"
      "ttlogin_connections_open{listener=\"http\"} 3\n"
      "ttlogin_connections_open{listener=\"admin\"} 4\n"
      "ttlogin_connections_open{listener=\"https\"} 5\n";
  EXPECT_NE(text.find(expected), std::string::npos) << text;
}

TEST(RenderPrometheusTest, TlsFamiliesReadTheCountersAndTheWiringsGauges) {
  Metrics metrics;
  registry::MsgServerRegistry registry;
  // Without an HTTPS listener there is no certificate to report.
  std::string text = RenderPrometheus(metrics, registry, "test", 0);
  EXPECT_EQ(text.find("ttlogin_tls_certificate_expiry_timestamp_seconds"), std::string::npos);
  EXPECT_NE(text.find("ttlogin_tls_handshakes_in_progress 0\n"), std::string::npos);
  metrics.set_tls_gauges([] { return TlsGauges{true, 3, 1798904422}; });
  metrics.Add(Counter::kTlsHandshakeFull, 7);
  metrics.Add(Counter::kTlsHandshakeResumed, 2);
  metrics.Add(Counter::kTlsFailTimeout);
  metrics.Add(Counter::kTlsFailOverCapacity, 4);
  text = RenderPrometheus(metrics, registry, "test", 0);
  for (const char* line : {
           "ttlogin_tls_handshakes_total{result=\"full\"} 7\n",
           "ttlogin_tls_handshakes_total{result=\"resumed\"} 2\n",
           "ttlogin_tls_handshake_failures_total{reason=\"timeout\"} 1\n",
           "ttlogin_tls_handshake_failures_total{reason=\"over_capacity\"} 4\n",
           "ttlogin_tls_handshake_failures_total{reason=\"protocol_version\"} 0\n",
           "ttlogin_tls_handshakes_in_progress 3\n",
           "# TYPE ttlogin_tls_certificate_expiry_timestamp_seconds gauge\n"
           "ttlogin_tls_certificate_expiry_timestamp_seconds 1798904422\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
}

TEST(RenderPrometheusTest, HttpsAnswersHaveTheirOwnListenerOnlyWhenHttpsRuns) {
  Metrics metrics;
  registry::MsgServerRegistry registry;
  metrics.Add(Counter::kHttpsAnswerOk, 5);
  metrics.Add(Counter::kHttpsAnswerAllFull, 2);
  metrics.Observe(Histogram::kHttpsAnswer, std::chrono::microseconds(30));
  std::string text = RenderPrometheus(metrics, registry, "test", 0);
  EXPECT_EQ(text.find("listener=\"https\",code="), std::string::npos) << text;
  EXPECT_EQ(text.find("ttlogin_answer_latency_seconds_count{listener=\"https\"}"),
            std::string::npos);
  metrics.set_tls_gauges([] { return TlsGauges{true, 0, 1798904422}; });
  text = RenderPrometheus(metrics, registry, "test", 0);
  for (const char* line : {
           "ttlogin_requests_total{listener=\"http\",code=\"0\"} 0\n",
           "ttlogin_requests_total{listener=\"https\",code=\"0\"} 5\n",
           "ttlogin_requests_total{listener=\"https\",code=\"1\"} 0\n",
           "ttlogin_requests_total{listener=\"https\",code=\"2\"} 2\n",
           "ttlogin_answer_latency_seconds_bucket{listener=\"https\",le=\"2.5e-05\"} 0\n",
           "ttlogin_answer_latency_seconds_bucket{listener=\"https\",le=\"5e-05\"} 1\n",
           "ttlogin_answer_latency_seconds_count{listener=\"https\"} 1\n",
           "ttlogin_answer_latency_seconds_count{listener=\"http\"} 0\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  // One family: the HTTPS samples follow the others under the same TYPE line.
  const std::size_t type = text.find("# TYPE ttlogin_requests_total counter\n");
  const std::size_t next_family = text.find("# HELP", type + 1);
  EXPECT_LT(text.find("listener=\"https\",code=\"2\""), next_family);
}

TEST(RenderPrometheusTest, ConnectionCountsAreZeroWithoutAConnectionLayer) {
  Metrics metrics;
  registry::MsgServerRegistry registry;
  const std::string text = RenderPrometheus(metrics, registry, "test", 0);
  EXPECT_NE(text.find("ttlogin_connections_accepted_total{listener=\"client\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("ttlogin_connections_open{listener=\"admin\"} 0\n"), std::string::npos);
}

// The value of the one sample line `series` ("name{labels}") in `text`, or nullopt.
std::optional<std::string> SampleValue(const std::string& text, const std::string& series) {
  const std::string start = series + " ";
  std::optional<std::string> value;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    const std::string line = text.substr(at, end - at);
    if (line.starts_with(start)) {
      if (value) return std::nullopt;  // one series, one line
      value = line.substr(start.size());
    }
    at = end + 1;
  }
  return value;
}

std::string ClosedSeries(std::string_view listener, common::CloseReason r) {
  return "ttlogin_connections_closed_total{listener=\"" + std::string(listener) + "\",reason=\"" +
         std::string(common::CloseReasonName(r)) + "\"}";
}

TEST(ConnectionsClosedTest, EachListenerAndReasonIsItsOwnSeries) {
  Metrics m;
  const registry::MsgServerRegistry registry;
  m.Closed(ListenerKind::kClient, common::CloseReason::kPduLengthBelowHeader);
  m.Closed(ListenerKind::kClient, common::CloseReason::kPduLengthAboveMax);
  m.Closed(ListenerKind::kClient, common::CloseReason::kPduLengthAboveMax);
  m.Closed(ListenerKind::kMsgServer, common::CloseReason::kPduLengthAboveMax);
  m.Closed(ListenerKind::kHttp, common::CloseReason::kHttpObsFold);
  m.Closed(ListenerKind::kAdmin, common::CloseReason::kTimeout);
  const std::string text = RenderPrometheus(m, registry, "test", 0);
  EXPECT_NE(text.find("# TYPE ttlogin_connections_closed_total counter\n"), std::string::npos);
  EXPECT_EQ(SampleValue(text, ClosedSeries("client", common::CloseReason::kPduLengthBelowHeader)),
            "1");
  EXPECT_EQ(SampleValue(text, ClosedSeries("client", common::CloseReason::kPduLengthAboveMax)),
            "2");
  EXPECT_EQ(SampleValue(text, ClosedSeries("msg_server", common::CloseReason::kPduLengthAboveMax)),
            "1");
  EXPECT_EQ(
      SampleValue(text, ClosedSeries("msg_server", common::CloseReason::kPduLengthBelowHeader)),
      "0");
  EXPECT_EQ(SampleValue(text, ClosedSeries("http", common::CloseReason::kHttpObsFold)), "1");
  EXPECT_EQ(SampleValue(text, ClosedSeries("admin", common::CloseReason::kHttpObsFold)), "0");
  EXPECT_EQ(SampleValue(text, ClosedSeries("admin", common::CloseReason::kTimeout)), "1");
  // A reason a listener cannot produce has no series.
  EXPECT_EQ(SampleValue(text, ClosedSeries("http", common::CloseReason::kRegistryFull)),
            std::nullopt);
  EXPECT_EQ(SampleValue(text, ClosedSeries("client", common::CloseReason::kNone)), std::nullopt);
}

// Every reason a session can give on a listener is written, so a rate() over it starts at 0.
TEST(ConnectionsClosedTest, EverySessionReasonOfAListenerIsWrittenFromTheStart) {
  const Metrics m;
  const registry::MsgServerRegistry registry;
  const std::string text = RenderPrometheus(m, registry, "test", 0);
  using common::CloseReason;
  for (const CloseReason r :
       {CloseReason::kTimeout, CloseReason::kPduLengthBelowHeader, CloseReason::kPduLengthAboveMax,
        CloseReason::kBadMsgServInfo, CloseReason::kBadUserCntUpdate,
        CloseReason::kRegistrationRefused, CloseReason::kRegistryFull, CloseReason::kHostPortTaken,
        CloseReason::kEntryTakenOver}) {
    EXPECT_EQ(SampleValue(text, ClosedSeries("msg_server", r)), "0") << CloseReasonName(r);
  }
  for (const CloseReason r :
       {CloseReason::kAnswered, CloseReason::kTimeout, CloseReason::kPduLengthBelowHeader,
        CloseReason::kPduLengthAboveMax, CloseReason::kBadLoginRequest}) {
    EXPECT_EQ(SampleValue(text, ClosedSeries("client", r)), "0") << CloseReasonName(r);
  }
  for (std::size_t i = static_cast<std::size_t>(CloseReason::kHttpMalformed);
       i <= static_cast<std::size_t>(CloseReason::kHttpRequestTimeout); ++i) {
    const auto r = static_cast<CloseReason>(i);
    EXPECT_EQ(SampleValue(text, ClosedSeries("http", r)), "0") << CloseReasonName(r);
    EXPECT_EQ(SampleValue(text, ClosedSeries("admin", r)), "0") << CloseReasonName(r);
  }
}

// Closes are counted per thread like every counter; threads beyond the single-writer blocks
// share the overflow block, and the sum stays exact.
TEST(ConnectionsClosedTest, CountsFromManyThreadsAddUpExactly) {
  Metrics m;
  constexpr int kThreads = static_cast<int>(Metrics::kBlocks) + 4;
  constexpr int kEach = 10'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      const auto reason = t % 2 == 0 ? common::CloseReason::kPduLengthAboveMax
                                     : common::CloseReason::kBadUserCntUpdate;
      for (int i = 0; i < kEach; ++i)
        m.Closed(ListenerKind::kMsgServer, reason);
    });
  }
  for (std::thread& t : threads)
    t.join();
  EXPECT_EQ(m.Closes(ListenerKind::kMsgServer, common::CloseReason::kPduLengthAboveMax),
            static_cast<std::uint64_t>(kThreads / 2) * kEach);
  EXPECT_EQ(m.Closes(ListenerKind::kMsgServer, common::CloseReason::kBadUserCntUpdate),
            static_cast<std::uint64_t>(kThreads / 2) * kEach);
  EXPECT_EQ(m.Closes(ListenerKind::kClient, common::CloseReason::kPduLengthAboveMax), 0u);
}

}  // namespace
}  // namespace ttlogin::server::admin
