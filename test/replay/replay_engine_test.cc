// The replay engine with the in-process driver and with scripted drivers that answer wrongly,
// late, or not at all: mismatches must be found, late answers must be waited for, and every
// failure must name its trace line.
#include "tools/load_replay/replay_engine.h"

#include <functional>
#include <sstream>

#include <gtest/gtest.h>

#include "tools/load_replay/in_process_driver.h"
#include "tools/load_replay/trace_reader.h"

namespace ttlogin::tools::replay {
namespace {

Trace Read(const std::string& text) {
  ReadResult r = ReadTraceString(text);
  EXPECT_TRUE(r.ok()) << r.error->ToString();
  return std::move(r.trace);
}

std::string Register(const std::string& ms, int index, int max, int cur = 0, int t = 0) {
  return "{\"t\":" + std::to_string(t) + ",\"ms\":\"" + ms +
         "\",\"ev\":\"register\",\"ip1\":\"10.0.0." + std::to_string(index) +
         "\",\"ip2\":\"10.1.0." + std::to_string(index) +
         "\",\"port\":" + std::to_string(8000 + index) + ",\"max\":" + std::to_string(max) +
         ",\"cur\":" + std::to_string(cur) + "}\n";
}

// Exercises every rule: code 1, ties, least count, clamping, full, code 2, replace, close.
const std::string kRulesTrace =
    "{\"t\":0,\"ev\":\"query\",\"via\":\"http\",\"expect\":{\"code\":1}}\n"  // line 1
    + Register("a", 1, 3) + Register("b", 2, 3) +                            // lines 2-3
    "{\"t\":1,\"ev\":\"query\",\"via\":\"pdu\",\"expect\":{\"code\":0,\"ms\":[\"a\",\"b\"]}}\n"
    "{\"t\":2,\"ms\":\"a\",\"ev\":\"inc\",\"n\":2}\n"
    "{\"t\":3,\"ev\":\"query\",\"via\":\"http\",\"expect\":{\"code\":0,\"ms\":\"b\"}}\n"
    "{\"t\":4,\"ms\":\"b\",\"ev\":\"dec\",\"n\":4}\n"  // clamps at 0
    "{\"t\":4,\"ms\":\"b\",\"ev\":\"inc\",\"n\":3}\n"  // 3 = max: full
    "{\"t\":5,\"ev\":\"query\",\"via\":\"http\",\"expect\":{\"code\":0,\"ms\":\"a\"}}\n"
    "{\"t\":6,\"ms\":\"a\",\"ev\":\"inc\"}\n"
    "{\"t\":7,\"ev\":\"query\",\"via\":\"pdu\",\"expect\":{\"code\":2}}\n" +
    Register("b", 2, 10, 4, 8) +  // the same connection re-registers: replaced
    "{\"t\":9,\"ev\":\"query\",\"via\":\"http\",\"expect\":{\"code\":0,\"ms\":\"b\"}}\n"
    "{\"t\":10,\"ms\":\"b\",\"ev\":\"close\"}\n"
    "{\"t\":11,\"ev\":\"query\",\"via\":\"http\",\"expect\":{\"code\":2}}\n"
    "{\"t\":12,\"ms\":\"a\",\"ev\":\"heartbeat\"}\n"
    "{\"t\":12,\"ms\":\"a\",\"ev\":\"close\"}\n"
    "{\"t\":13,\"ev\":\"query\",\"via\":\"pdu\",\"expect\":{\"code\":1}}\n";

// A driver whose answers come from a function; everything else is recorded.
class ScriptedDriver : public ReplayDriver {
 public:
  using Answerer = std::function<void(int ask, ServerAnswer&)>;
  ScriptedDriver(Answerer answer, bool eventually)
      : answer_(std::move(answer)), eventually_(eventually) {}

  std::string Describe() const override { return "scripted"; }
  std::string Send(const Event& event, const ServerInfo*) override {
    if (fail_send_at_line != 0 && event.line == fail_send_at_line) return "connection reset";
    ++sent;
    return {};
  }
  std::string Flush() override {
    ++flushes;
    return {};
  }
  std::string Query(QueryVia, ServerAnswer& answer) override {
    answer_(asks++, answer);
    return {};
  }
  bool eventually_consistent() const override { return eventually_; }
  DriverNotes Finish(const ChoiceModel&, const Trace&) override { return {}; }

  int sent = 0;
  int asks = 0;
  int flushes = 0;
  std::uint32_t fail_send_at_line = 0;

 private:
  Answerer answer_;
  bool eventually_;
};

// Applies sends to an in-process registry only `lag` asks later, like updates still in flight on
// another connection while the query is answered.
class LaggingDriver : public ReplayDriver {
 public:
  explicit LaggingDriver(int lag) : lag_(lag) {}
  std::string Describe() const override { return "lagging"; }
  std::string Send(const Event& event, const ServerInfo* info) override {
    pending_.push_back({event, info ? *info : ServerInfo{}});
    return {};
  }
  std::string Flush() override { return {}; }
  std::string Query(QueryVia via, ServerAnswer& answer) override {
    if (++asks_since_send_ > lag_) {
      for (auto& [event, info] : pending_)
        inner_.Send(event, &info);
      pending_.clear();
      asks_since_send_ = 0;
    }
    return inner_.Query(via, answer);
  }
  bool eventually_consistent() const override { return true; }
  DriverNotes Finish(const ChoiceModel& m, const Trace& t) override { return inner_.Finish(m, t); }

 private:
  int lag_;
  int asks_since_send_ = 0;
  std::vector<std::pair<Event, ServerInfo>> pending_;
  InProcessDriver inner_;
};

ReplayOptions Fast(int retry_ms = 2000) {
  ReplayOptions o;
  o.fast = true;
  o.retry_bound = std::chrono::milliseconds(retry_ms);
  return o;
}

TEST(ReplayEngineTest, InProcessReplayOfEveryRuleMatches) {
  const Trace trace = Read(kRulesTrace);
  InProcessDriver driver;
  const ReplayReport r = ReplayEngine(trace, driver, Fast()).Run();
  EXPECT_EQ(r.queries, 8u);
  EXPECT_EQ(r.matches, 8u);
  EXPECT_TRUE(r.mismatches.empty());
  EXPECT_TRUE(r.contradictions.empty());
  EXPECT_TRUE(r.notes.failures.empty());
  EXPECT_EQ(r.events, trace.events.size());
  EXPECT_EQ(r.events_sent, trace.events.size() - 8);
  EXPECT_EQ(r.count_updates, 2u + 4 + 3 + 1);
  EXPECT_EQ(r.registers, 3u);
  EXPECT_EQ(r.closes, 2u);
  EXPECT_EQ(r.heartbeats, 1u);
  EXPECT_EQ(r.http_queries + r.pdu_queries, 8u);
  EXPECT_EQ(ExitCode(r), 0);
}

TEST(ReplayEngineTest, WrongAnswersAreMismatchesWithTheirLines) {
  const Trace trace = Read(kRulesTrace);
  // Always "no msg_server": right only on the first and the last query (lines 1 and 18).
  ScriptedDriver driver([](int, ServerAnswer& a) { a.code = kCodeNoMsgServer; }, false);
  const ReplayReport r = ReplayEngine(trace, driver, Fast()).Run();
  EXPECT_EQ(r.matches, 2u);
  ASSERT_EQ(r.mismatches.size(), 6u);
  EXPECT_EQ(r.mismatches[0].line, 4u);
  EXPECT_EQ(r.mismatches[0].expected.code, kCodeOk);
  EXPECT_EQ(r.mismatches[0].attempts, 1u);  // not eventually consistent: asked once
  EXPECT_EQ(r.mismatches[5].line, 15u);
  EXPECT_EQ(ExitCode(r), 1);
  std::ostringstream out;
  PrintReport(out, r, trace, "scripted");
  EXPECT_NE(out.str().find("mismatch line 4 (pdu): expected code 0 ms a,b; got code 1"),
            std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("result: MISMATCH"), std::string::npos);
}

TEST(ReplayEngineTest, AWrongServerIsNamed) {
  const Trace trace = Read(Register("a", 1, 10) + Register("b", 2, 10) +
                           "{\"t\":1,\"ms\":\"a\",\"ev\":\"inc\"}\n"
                           "{\"t\":2,\"ev\":\"query\",\"via\":\"http\"}\n");
  ScriptedDriver driver(
      [](int, ServerAnswer& a) {
        a.code = kCodeOk;
        a.ip1 = "10.0.0.1";  // a, which has one user more than b
        a.ip2 = "10.1.0.1";
        a.port = 8001;
      },
      false);
  const ReplayReport r = ReplayEngine(trace, driver, Fast()).Run();
  ASSERT_EQ(r.mismatches.size(), 1u);
  EXPECT_EQ(r.mismatches[0].got_names, std::vector<MsId>{trace.Find("a")});
  std::ostringstream out;
  PrintReport(out, r, trace, "scripted");
  EXPECT_NE(out.str().find("got code 0 10.0.0.1/10.1.0.1:8001 (ms a)"), std::string::npos)
      << out.str();
}

TEST(ReplayEngineTest, AnIpOrPortDifferenceIsAMismatch) {
  const Trace trace = Read(Register("a", 1, 10) + "{\"t\":2,\"ev\":\"query\",\"via\":\"http\"}\n");
  for (int variant = 0; variant < 3; ++variant) {
    ScriptedDriver driver(
        [variant](int, ServerAnswer& a) {
          a.code = kCodeOk;
          a.ip1 = variant == 0 ? "10.0.0.9" : "10.0.0.1";
          a.ip2 = variant == 1 ? "10.0.0.1" : "10.1.0.1";  // ip1 and ip2 swapped
          a.port = variant == 2 ? 8000 : 8001;
        },
        false);
    EXPECT_EQ(ReplayEngine(trace, driver, Fast()).Run().mismatches.size(), 1u) << variant;
  }
}

TEST(ReplayEngineTest, LateUpdatesAreWaitedFor) {
  const Trace trace = Read(kRulesTrace);
  LaggingDriver driver(2);  // every update becomes visible only on the third ask
  const ReplayReport r = ReplayEngine(trace, driver, Fast()).Run();
  EXPECT_TRUE(r.mismatches.empty());
  EXPECT_EQ(r.matches, 8u);
  EXPECT_GT(r.retried_queries, 0u);
  EXPECT_GT(r.attempts, r.queries);
  EXPECT_TRUE(r.notes.failures.empty());
}

TEST(ReplayEngineTest, TheRetryBoundTurnsAWrongAnswerIntoAMismatch) {
  const Trace trace = Read(Register("a", 1, 10) + "{\"t\":2,\"ev\":\"query\",\"via\":\"http\"}\n");
  ScriptedDriver driver([](int, ServerAnswer& a) { a.code = kCodeAllFull; }, true);
  const auto start = std::chrono::steady_clock::now();
  const ReplayReport r = ReplayEngine(trace, driver, Fast(60)).Run();
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.mismatches.size(), 1u);
  EXPECT_GT(r.mismatches[0].attempts, 2u);
  EXPECT_GE(took, std::chrono::milliseconds(40));
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST(ReplayEngineTest, ABrokenReplyIsNotRetried) {
  const Trace trace = Read(Register("a", 1, 10) + "{\"t\":2,\"ev\":\"query\",\"via\":\"http\"}\n");
  ScriptedDriver driver([](int, ServerAnswer& a) { a.problem = "port is not a string"; }, true);
  const ReplayReport r = ReplayEngine(trace, driver, Fast()).Run();
  ASSERT_EQ(r.mismatches.size(), 1u);
  EXPECT_EQ(r.mismatches[0].attempts, 1u);
  std::ostringstream out;
  PrintReport(out, r, trace, "scripted");
  EXPECT_NE(out.str().find("a broken reply: port is not a string"), std::string::npos);
}

TEST(ReplayEngineTest, ContradictingExpectationsAreReported) {
  const Trace trace = Read(Register("a", 1, 10) + Register("b", 2, 10) +
                           // line 3: a tie, naming one of the tied: fine
                           "{\"t\":1,\"ev\":\"query\",\"via\":\"http\",\"expect\":{\"code\":0,"
                           "\"ms\":\"b\"}}\n"
                           // line 4: wrong code
                           "{\"t\":1,\"ev\":\"query\",\"via\":\"http\",\"expect\":{\"code\":2}}\n"
                           // line 5: names a server nobody registered
                           "{\"t\":1,\"ev\":\"query\",\"via\":\"http\",\"expect\":{\"code\":0,"
                           "\"ms\":[\"a\",\"zz\"]}}\n"
                           // line 6: only pins the code
                           "{\"t\":1,\"ev\":\"query\",\"via\":\"http\",\"expect\":{\"code\":0}}\n");
  InProcessDriver driver;
  const ReplayReport r = ReplayEngine(trace, driver, Fast()).Run();
  EXPECT_EQ(r.matches, 4u);  // the server is right; the trace is not
  ASSERT_EQ(r.contradictions.size(), 2u);
  EXPECT_EQ(r.contradictions[0].line, 4u);
  EXPECT_EQ(r.contradictions[1].line, 5u);
  EXPECT_EQ(ExitCode(r), 1);
  std::ostringstream out;
  PrintReport(out, r, trace, "in-process");
  EXPECT_NE(out.str().find("contradiction line 4: trace expects code 2; the model says code 0 "
                           "ms a,b"),
            std::string::npos)
      << out.str();
}

TEST(ReplayEngineTest, ATransportFailureStopsWithExit2) {
  const Trace trace = Read(kRulesTrace);
  ScriptedDriver driver([](int, ServerAnswer& a) { a.code = kCodeNoMsgServer; }, false);
  driver.fail_send_at_line = 3;
  const ReplayReport r = ReplayEngine(trace, driver, Fast()).Run();
  EXPECT_EQ(r.transport_error, "connection reset");
  EXPECT_EQ(r.transport_error_line, 3u);
  EXPECT_EQ(r.events, 3u);  // stopped there
  EXPECT_EQ(ExitCode(r), 2);
}

TEST(ReplayEngineTest, MaxMismatchesStopsEarly) {
  const Trace trace = Read(kRulesTrace);
  ScriptedDriver driver([](int, ServerAnswer& a) { a.code = kCodeNoMsgServer; }, false);
  ReplayOptions o = Fast();
  o.max_mismatches = 2;
  const ReplayReport r = ReplayEngine(trace, driver, o).Run();
  EXPECT_EQ(r.mismatches.size(), 2u);
  EXPECT_TRUE(r.stopped_early);
  EXPECT_LT(r.events, trace.events.size());
}

TEST(ReplayEngineTest, RecordedTimingIsKeptAndScaled) {
  const Trace trace = Read(
      "{\"t\":0,\"ms\":\"a\",\"ev\":\"heartbeat\"}\n"
      "{\"t\":400,\"ms\":\"a\",\"ev\":\"heartbeat\"}\n");
  ScriptedDriver driver([](int, ServerAnswer&) {}, false);
  ReplayOptions o;
  o.speed = 4;  // 400 ms of trace in 100 ms
  const auto start = std::chrono::steady_clock::now();
  ReplayEngine(trace, driver, o).Run();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(95));
  EXPECT_LT(took, std::chrono::milliseconds(390));
  EXPECT_GE(driver.flushes, 1);  // buffered events go out before a pause

  ScriptedDriver fast_driver([](int, ServerAnswer&) {}, false);
  const auto fast_start = std::chrono::steady_clock::now();
  ReplayEngine(trace, fast_driver, Fast()).Run();
  EXPECT_LT(std::chrono::steady_clock::now() - fast_start, std::chrono::milliseconds(90));
}

TEST(ReplayEngineTest, InProcessDriverComparesTheWholeRegistryAtTheEnd) {
  const Trace trace =
      Read(Register("a", 1, 10) + "{\"t\":1,\"ms\":\"a\",\"ev\":\"inc\",\"n\":2}\n");
  InProcessDriver driver;
  ChoiceModel model(trace.names.size());
  for (const Event& e : trace.events) {
    model.Apply(e, trace);
    driver.Send(e, e.kind == EventKind::kRegister ? &trace.infos[e.payload] : nullptr);
  }
  // Corrupt the registry behind the model's back: the final comparison must notice.
  const auto snapshot = driver.registry().Snapshot();
  ASSERT_EQ(snapshot.size(), 1u);
  driver.registry().AdjustCount(snapshot[0].handle, 1);
  const DriverNotes notes = driver.Finish(model, trace);
  ASSERT_EQ(notes.failures.size(), 1u);
  EXPECT_NE(notes.failures[0].find("cur 3"), std::string::npos) << notes.failures[0];
}

TEST(ReplayEngineTest, ModelAnswersListEveryQuery) {
  const Trace trace = Read(kRulesTrace);
  const std::vector<ModelAnswer> answers = ModelAnswers(trace);
  ASSERT_EQ(answers.size(), 8u);
  EXPECT_EQ(answers[0].code, kCodeNoMsgServer);
  EXPECT_EQ(answers[1].acceptable, (std::vector<MsId>{trace.Find("a"), trace.Find("b")}));
  EXPECT_EQ(answers[4].code, kCodeAllFull);
  EXPECT_EQ(answers[7].code, kCodeNoMsgServer);
}

TEST(ReplayEngineTest, LoadSpread) {
  ChoiceModel m(4);
  for (MsId i = 0; i < 3; ++i) {
    m.Register(i, ServerInfo{"x", "y", i, 100, (i + 1) * 10, "h"});  // 10, 20, 30
  }
  m.Touch(3);  // connected but not registered: not part of the spread
  const LoadSpread s = ComputeSpread(m);
  EXPECT_EQ(s.servers, 3u);
  EXPECT_EQ(s.users, 60u);
  EXPECT_DOUBLE_EQ(s.mean, 20.0);
  EXPECT_EQ(s.max, 30u);
  EXPECT_DOUBLE_EQ(s.max_over_mean, 1.5);
  EXPECT_NEAR(s.cv, 0.40825, 1e-4);  // sqrt(200/3) / 20
}

}  // namespace
}  // namespace ttlogin::tools::replay
