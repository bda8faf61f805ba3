// The trace reader: the accepted format, and one test per kind of malformed line, each checking
// that the error names the right line.
#include "tools/load_replay/trace_reader.h"

#include <gtest/gtest.h>

namespace ttlogin::tools::replay {
namespace {

constexpr const char* kRegisterA =
    R"({"t":0,"ms":"a","ev":"register","ip1":"10.0.0.1","ip2":"10.0.1.1","port":8000,"max":1000,"cur":0,"host":"msg-a"})";

TEST(TraceReaderTest, ReadsEveryKindOfEvent) {
  const std::string text = std::string(kRegisterA) + "\n" +
                           R"({"t":5,"ms":"a","ev":"inc","n":3}
{"t":6,"ms":"a","ev":"dec"}
{"t":9,"ms":"a","ev":"heartbeat"}
{"t":12,"ev":"query","via":"http","expect":{"code":0,"ms":"a"}}
{"t":12,"ev":"query","via":"pdu","expect":{"code":0,"ms":["a","b"]}}
{"t":13,"ev":"query","via":"pdu"}
{"t":10000,"ms":"a","ev":"close"}
{"t":10001,"ev":"query","via":"http","expect":{"code":1}}
)";
  const ReadResult r = ReadTraceString(text);
  ASSERT_TRUE(r.ok()) << r.error->ToString();
  const Trace& t = r.trace;
  ASSERT_EQ(t.events.size(), 9u);
  EXPECT_EQ(t.lines, 9u);
  EXPECT_EQ(t.events[0].kind, EventKind::kRegister);
  const ServerInfo& info = t.infos[t.events[0].payload];
  EXPECT_EQ(info.ip1, "10.0.0.1");
  EXPECT_EQ(info.ip2, "10.0.1.1");
  EXPECT_EQ(info.port, 8000u);
  EXPECT_EQ(info.max, 1000u);
  EXPECT_EQ(info.cur, 0u);
  EXPECT_EQ(info.host, "msg-a");
  EXPECT_EQ(t.events[1].kind, EventKind::kInc);
  EXPECT_EQ(t.events[1].n, 3u);
  EXPECT_EQ(t.events[1].t_ms, 5u);
  EXPECT_EQ(t.events[2].kind, EventKind::kDec);
  EXPECT_EQ(t.events[2].n, 1u);  // the default
  EXPECT_EQ(t.events[3].kind, EventKind::kHeartbeat);
  EXPECT_EQ(t.events[4].kind, EventKind::kQuery);
  EXPECT_EQ(t.events[4].via, QueryVia::kHttp);
  ASSERT_NE(t.events[4].payload, kNone);
  EXPECT_EQ(t.expects[t.events[4].payload].ms, std::vector<MsId>{t.Find("a")});
  EXPECT_EQ(t.events[5].via, QueryVia::kPdu);
  EXPECT_EQ(t.expects[t.events[5].payload].ms.size(), 2u);
  EXPECT_NE(t.Find("b"), kNone);  // a name only an expectation mentions still gets an id
  EXPECT_EQ(t.events[6].payload, kNone);
  EXPECT_EQ(t.events[7].kind, EventKind::kClose);
  EXPECT_EQ(t.expects[t.events[8].payload].code, kCodeNoMsgServer);
  EXPECT_EQ(t.events[8].line, 9u);
}

TEST(TraceReaderTest, BlankLinesAreSkippedButCounted) {
  const ReadResult r = ReadTraceString("\n   \n" + std::string(kRegisterA) +
                                       "\r\n\t\n{\"t\":1,\"ev\":\"query\",\"via\":\"pdu\"}\n\n");
  ASSERT_TRUE(r.ok()) << r.error->ToString();
  ASSERT_EQ(r.trace.events.size(), 2u);
  EXPECT_EQ(r.trace.events[0].line, 3u);
  EXPECT_EQ(r.trace.events[1].line, 5u);
}

TEST(TraceReaderTest, UnknownFieldsAreIgnored) {
  const ReadResult r = ReadTraceString(
      R"({"t":0,"ms":"a","ev":"inc","note":"from the 3 am incident","extra":{"x":[1,2]}})"
      "\n"
      R"({"t":1,"ev":"query","via":"http","ms":"ignored","expect":{"code":2,"why":"full"}})");
  ASSERT_TRUE(r.ok()) << r.error->ToString();
  EXPECT_EQ(r.trace.events.size(), 2u);
}

TEST(TraceReaderTest, RegisterDefaultsCurToZeroAndHostToTheName) {
  const ReadResult r = ReadTraceString(
      R"({"t":0,"ms":"edge-7","ev":"register","ip1":"a","ip2":"b","port":1,"max":2})");
  ASSERT_TRUE(r.ok()) << r.error->ToString();
  EXPECT_EQ(r.trace.infos[0].cur, 0u);
  EXPECT_EQ(r.trace.infos[0].host, "edge-7");
}

TEST(TraceReaderTest, EqualTimesAreFine) {
  const ReadResult r = ReadTraceString(
      "{\"t\":7,\"ms\":\"a\",\"ev\":\"inc\"}\n{\"t\":7,\"ms\":\"a\",\"ev\":\"dec\"}\n");
  EXPECT_TRUE(r.ok());
}

TEST(TraceReaderTest, EmptyTraceIsValid) {
  const ReadResult r = ReadTraceString("");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.trace.events.empty());
}

TEST(TraceReaderTest, MissingFileIsAnError) {
  const ReadResult r = ReadTraceFile("/nonexistent/trace.jsonl");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->line, 0u);
  EXPECT_NE(r.error->message.find("cannot open"), std::string::npos);
}

struct BadLine {
  const char* name;
  const char* line;
  const char* reason;  // a piece of the expected message
};

class MalformedLineTest : public ::testing::TestWithParam<BadLine> {};

// Each bad line is placed third, after a good line and a blank line, so the number is checked.
TEST_P(MalformedLineTest, StopsWithTheLineNumber) {
  const BadLine& bad = GetParam();
  const std::string text =
      std::string(kRegisterA) + "\n\n" + bad.line + "\n{\"t\":99999,\"ms\":\"a\",\"ev\":\"inc\"}\n";
  const ReadResult r = ReadTraceString(text);
  ASSERT_FALSE(r.ok()) << bad.line;
  EXPECT_EQ(r.error->line, 3u);
  EXPECT_NE(r.error->message.find(bad.reason), std::string::npos)
      << "message: " << r.error->message;
  EXPECT_EQ(r.error->ToString().rfind("line 3: ", 0), 0u);
}

const BadLine kBadLines[] = {
    {"NotJson", R"({"t":1,"ms":"a","ev":"inc")", "not valid JSON"},
    {"TrailingGarbage", R"({"t":1,"ms":"a","ev":"inc"} x)", "not valid JSON"},
    {"NotAnObject", R"([1,2,3])", "must be a JSON object"},
    {"BareNumber", R"(42)", "must be a JSON object"},
    {"MissingT", R"({"ms":"a","ev":"inc"})", "missing \"t\""},
    {"NegativeT", R"({"t":-1,"ms":"a","ev":"inc"})", "must not be negative"},
    {"FractionalT", R"({"t":1.5,"ms":"a","ev":"inc"})", "whole number"},
    {"StringT", R"({"t":"1","ms":"a","ev":"inc"})", "must be a number"},
    {"MissingEv", R"({"t":1,"ms":"a"})", "missing \"ev\""},
    {"EvNotString", R"({"t":1,"ms":"a","ev":3})", "\"ev\" must be a string"},
    {"UnknownEv", R"({"t":1,"ms":"a","ev":"explode"})", "unknown event"},
    {"MissingMs", R"({"t":1,"ev":"inc"})", "needs \"ms\""},
    {"MsNotString", R"({"t":1,"ms":7,"ev":"inc"})", "\"ms\" must be a string"},
    {"EmptyMs", R"({"t":1,"ms":"","ev":"inc"})", "\"ms\" must have"},
    {"RegisterWithoutIp1", R"({"t":1,"ms":"b","ev":"register","ip2":"x","port":1,"max":1})",
     "needs \"ip1\""},
    {"RegisterWithoutIp2", R"({"t":1,"ms":"b","ev":"register","ip1":"x","port":1,"max":1})",
     "needs \"ip2\""},
    {"RegisterWithoutPort", R"({"t":1,"ms":"b","ev":"register","ip1":"x","ip2":"y","max":1})",
     "needs \"port\""},
    {"RegisterWithoutMax", R"({"t":1,"ms":"b","ev":"register","ip1":"x","ip2":"y","port":1})",
     "needs \"max\""},
    {"Ip1NotString", R"({"t":1,"ms":"b","ev":"register","ip1":1,"ip2":"y","port":1,"max":1})",
     "\"ip1\" must be a string"},
    {"PortTooLarge",
     R"({"t":1,"ms":"b","ev":"register","ip1":"x","ip2":"y","port":4294967296,"max":1})",
     "\"port\" must be between"},
    {"MaxNegative", R"({"t":1,"ms":"b","ev":"register","ip1":"x","ip2":"y","port":1,"max":-5})",
     "\"max\" must not be negative"},
    {"CurNotNumber",
     R"({"t":1,"ms":"b","ev":"register","ip1":"x","ip2":"y","port":1,"max":5,"cur":"3"})",
     "\"cur\" must be a number"},
    {"HostNotString",
     R"({"t":1,"ms":"b","ev":"register","ip1":"x","ip2":"y","port":1,"max":5,"host":false})",
     "\"host\" must be a string"},
    {"ZeroN", R"({"t":1,"ms":"a","ev":"inc","n":0})", "\"n\" must be between 1"},
    {"HugeN", R"({"t":1,"ms":"a","ev":"dec","n":1000001})", "\"n\" must be between 1"},
    {"FractionalN", R"({"t":1,"ms":"a","ev":"inc","n":2.5})", "whole number"},
    {"QueryWithoutVia", R"({"t":1,"ev":"query"})", "needs \"via\""},
    {"QueryBadVia", R"({"t":1,"ev":"query","via":"smoke-signal"})", "\"http\" or \"pdu\""},
    {"ExpectNotObject", R"({"t":1,"ev":"query","via":"http","expect":0})",
     "\"expect\" must be an object"},
    {"ExpectWithoutCode", R"({"t":1,"ev":"query","via":"http","expect":{"ms":"a"}})",
     "needs \"code\""},
    {"ExpectBadCode", R"({"t":1,"ev":"query","via":"http","expect":{"code":3}})",
     "must be between 0 and 2"},
    {"ExpectMsNotName", R"({"t":1,"ev":"query","via":"pdu","expect":{"code":0,"ms":5}})",
     "a name or a list of names"},
    {"ExpectMsListOfNumbers",
     R"({"t":1,"ev":"query","via":"pdu","expect":{"code":0,"ms":["a",5]}})",
     "a name or a list of names"},
    {"ExpectMsEmptyList", R"({"t":1,"ev":"query","via":"pdu","expect":{"code":0,"ms":[]}})",
     "empty list"},
    {"ExpectMsWithFailureCode", R"({"t":1,"ev":"query","via":"pdu","expect":{"code":2,"ms":"a"}})",
     "failure code"},
};

INSTANTIATE_TEST_SUITE_P(EveryCase, MalformedLineTest, ::testing::ValuesIn(kBadLines),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(TraceReaderTest, TimeGoingBackwardsIsAnError) {
  const ReadResult r = ReadTraceString(
      "{\"t\":10,\"ms\":\"a\",\"ev\":\"inc\"}\n\n{\"t\":9,\"ms\":\"a\",\"ev\":\"inc\"}\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->line, 3u);
  EXPECT_EQ(r.error->message, "\"t\" goes backwards: 9 after 10");
}

TEST(TraceReaderTest, FirstErrorSticks) {
  TraceReader reader;
  EXPECT_TRUE(reader.AddLine(R"({"t":5,"ms":"a","ev":"inc"})"));
  EXPECT_FALSE(reader.AddLine("nonsense"));
  EXPECT_FALSE(reader.AddLine(R"({"t":6,"ms":"a","ev":"inc"})"));
  ASSERT_TRUE(reader.error().has_value());
  EXPECT_EQ(reader.error()->line, 2u);
}

}  // namespace
}  // namespace ttlogin::tools::replay
