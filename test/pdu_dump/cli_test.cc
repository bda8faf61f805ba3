// The pdu_dump binary: inputs, output forms, options and the documented exit codes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test/pdu_dump/decode_helpers.h"
#include "test/pdu_dump/fixtures.h"
#include "test/pdu_dump/tool_process.h"

namespace ttlogin::tools::pdu_dump {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

std::string ScenarioFile(const std::string& name = "scenario.pcap") {
  const Scenario s = LoginTierScenario(kLinkTypeEthernet, false);
  return WriteTempFile(name, MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, s.frames));
}

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += digits[b >> 4];
    out += digits[b & 15];
    out += ' ';
  }
  return out;
}

std::size_t CountLines(const std::string& s) {
  return std::count(s.begin(), s.end(), '\n');
}

TEST(Cli, HelpDocumentsEveryExitCode) {
  const ToolRun r = RunPduDump({"--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* needle :
       {"Exit codes:", "\n  0 ", "\n  1 ", "\n  2 ", "\n  3 ", "\n  4 ", "--json", "--filter",
        "--stats", "--trace", "--proxy", "--raw", "--hex", "-i IFACE", "--port", "--buffer-size"}) {
    EXPECT_NE(r.out.find(needle), std::string::npos) << needle;
  }
}

TEST(Cli, UsageErrorsExitWith2) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{},
                                               {"--bogus"},
                                               {"--filter", "colour=red", "x.pcap"},
                                               {"--raw", "-", "--filter", "port=1"},
                                               {"--proxy", "nonsense"},
                                               {"--port", "0", "x"},
                                               {"--raw", "-", "--hex", "-"},
                                               {"--count", "zero", "x.pcap"},
                                               {"-B", "255", "-i", "lo"},
                                               {"--buffer-size", "4194305", "-i", "lo"},
                                               {"-B", "64M", "-i", "lo"}}) {
    const ToolRun r = RunPduDump(args);
    EXPECT_EQ(r.code, 2) << ::testing::PrintToString(args) << r.err;
    EXPECT_NE(r.err.find("pdu_dump: "), std::string::npos);
  }
}

TEST(Cli, InputsThatCannotBeOpenedExitWith3) {
  EXPECT_EQ(RunPduDump({"/nonexistent/capture.pcap"}).code, 3);
  const std::string text = WriteTempFile("not_a_capture.txt", "hello, I am text\n");
  const ToolRun r = RunPduDump({text});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("not a readable pcap/pcapng capture"), std::string::npos) << r.err;
  EXPECT_EQ(RunPduDump({"--raw", "/nonexistent/raw.bin"}).code, 3);
  EXPECT_EQ(RunPduDump({"--trace", "/nonexistent/dir/trace.jsonl", ScenarioFile()}).code, 3);
  EXPECT_EQ(RunPduDump({"-i", "no-such-interface0"}).code, 3);
}

TEST(Cli, CleanCaptureExitsWith0AndPrintsOneLinePerPdu) {
  const std::string path = ScenarioFile();
  const ToolRun text = RunPduDump({path});
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_EQ(CountLines(text.out), 10u);
  EXPECT_NE(text.out.find("IM.Server.IMUserCntUpdate { user_action: 1 user_id: 5001 }"),
            std::string::npos);
  const ToolRun json = RunPduDump({"--json", path});
  EXPECT_EQ(json.code, 0);
  EXPECT_EQ(CommandSeqs(ParseLines(json.out)),
            LoginTierScenario(kLinkTypeEthernet, false).expected);
}

TEST(Cli, StatsSummariseCommandsBytesStreamsAndErrors) {
  const ToolRun r = RunPduDump({"--stats", "-q", ScenarioFile()});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(r.out.empty()) << "-q prints no PDU lines";
  for (const char* needle : {"PDUs decoded                10", "streams                     4",
                             "connections                 2", "stream errors               0",
                             "CID_OTHER_USER_CNT_UPDATE", "CID_LOGIN_RES_MSGSERVER"}) {
    EXPECT_NE(r.err.find(needle), std::string::npos) << needle << "\n" << r.err;
  }
  // 5 updates of 21 bytes.
  EXPECT_NE(r.err.find("0x0007  0x070b  CID_OTHER_USER_CNT_UPDATE                5           105"),
            std::string::npos)
      << r.err;
}

TEST(Cli, BrokenStreamExitsWith1AndTheOtherPdusStillPrint) {
  Conversation a(kLinkTypeEthernet, V4("10.0.0.5", 40000), V4("10.0.0.1", 8100));
  std::vector<std::string> frames = a.Handshake();
  frames.push_back(a.Data(Side::kClient, UserCnt(1, 1, 9) + RawPdu(2, 7, 1, 1, "")));
  frames.push_back(a.Data(Side::kClient, UserCnt(2, 1, 9)));
  const std::string path =
      WriteTempFile("bad_len.pcap", MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, frames));
  const ToolRun r = RunPduDump({path});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("10.0.0.5:40000 -> 10.0.0.1:8100 ERROR at stream offset 20: PDU length 2"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(CountLines(r.out), 3u);
  EXPECT_NE(r.err.find("1 error(s)"), std::string::npos);
}

TEST(Cli, TruncatedCaptureExitsWith1AndNamesTheOffset) {
  const std::string full = MakeCapture(CaptureFormat::kPcapng, kLinkTypeLinuxSll,
                                       LoginTierScenario(kLinkTypeLinuxSll, false).frames);
  const std::string path = WriteTempFile("cut.pcapng", full.substr(0, full.size() - 7));
  const ToolRun r = RunPduDump({"--json", path});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("file offset"), std::string::npos) << r.err;
  EXPECT_GE(ParseLines(r.out).size(), 8u);
}

TEST(Cli, AMissingFileAmongSeveralStillDecodesTheOthers) {
  const ToolRun r = RunPduDump({"/nonexistent.pcap", ScenarioFile()});
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(CountLines(r.out), 10u);
}

TEST(Cli, ReadsACaptureFromStdin) {
  const Scenario s = LoginTierScenario(kLinkTypeLinuxSll2, true);
  const ToolRun r = RunPduDump({"--json", "-"},
                               MakeCapture(CaptureFormat::kPcapng, kLinkTypeLinuxSll2, s.frames));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(CommandSeqs(ParseLines(r.out)), s.expected);
}

TEST(Cli, RawAndHexInputs) {
  const std::string stream =
      ServInfo(1, "a", "b", 1, 2, 3, "h") + UserCnt(2, 1, 5001) + Heartbeat(3);
  const std::string raw_path = WriteTempFile("stream.bin", stream);
  const ToolRun raw = RunPduDump({"--json", "--raw", raw_path});
  EXPECT_EQ(raw.code, 0) << raw.err;
  const auto lines = ParseLines(raw.out);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(lines[0]["ts"].is_null());
  EXPECT_EQ(lines[1]["offset"], 31);  // after a 15-byte body and its header
  EXPECT_EQ(lines[1]["body"]["user_id"], 5001);

  const ToolRun from_stdin = RunPduDump({"--raw", "-"}, stream);
  EXPECT_EQ(from_stdin.code, 0);
  EXPECT_NE(from_stdin.out.find("stdin offset=31 len=21"), std::string::npos) << from_stdin.out;

  const ToolRun hex = RunPduDump({"--json", "--hex", "-"}, Hex(stream) + "\n");
  EXPECT_EQ(hex.code, 0) << hex.err;
  EXPECT_EQ(ParseLines(hex.out).size(), 3u);

  const ToolRun bad_hex = RunPduDump({"--hex", "-"}, Hex(UserCnt(1, 1, 1)) + "zz");
  EXPECT_EQ(bad_hex.code, 1);
  EXPECT_NE(bad_hex.err.find("invalid hex character 'z' at text offset 60"), std::string::npos)
      << bad_hex.err;
  EXPECT_EQ(CountLines(bad_hex.out), 1u) << "the PDU before the bad text is decoded";

  const ToolRun odd_hex = RunPduDump({"--hex", "-"}, "0");
  EXPECT_EQ(odd_hex.code, 1);
  EXPECT_NE(odd_hex.err.find("odd number of hex digits"), std::string::npos);
}

TEST(Cli, CountStopsEarlyAndFilterSelects) {
  const std::string path = ScenarioFile();
  EXPECT_EQ(CountLines(RunPduDump({"-c", "2", path}).out), 2u);
  const ToolRun r = RunPduDump({"--json", "--filter", "command=CID_OTHER_HEARTBEAT", path});
  EXPECT_EQ(CommandSeqs(ParseLines(r.out)), (std::vector<std::string>{"701@1", "701@4"}));
  const ToolRun port = RunPduDump({"--json", "--port", "8008", path});
  EXPECT_EQ(CommandSeqs(ParseLines(port.out)), (std::vector<std::string>{"101@7", "102@7"}));
  const ToolRun plus = RunPduDump({"--json", "--port", "+9999", path});
  EXPECT_EQ(ParseLines(plus.out).size(), 10u);
}

TEST(Cli, TraceFileHoldsTheLoadReports) {
  const std::string trace = WriteTempFile("trace.jsonl", "");
  const ToolRun r = RunPduDump({"-q", "--trace", trace, ScenarioFile()});
  EXPECT_EQ(r.code, 0);
  std::ifstream in(trace);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto events = ParseLines(ss.str());
  // register, 5 updates (3 inc; the dec of seq 5 is in the stream twice), 1 msg_server
  // heartbeat, 1 query, 1 close.
  ASSERT_EQ(events.size(), 9u) << ss.str();
  EXPECT_EQ(events[0]["ev"], "register");
  EXPECT_EQ(events[0]["host"], "msg-a");
  int incs = 0;
  int decs = 0;
  for (const auto& e : events) {
    incs += e["ev"] == "inc";
    decs += e["ev"] == "dec";
  }
  EXPECT_EQ(incs, 3);
  EXPECT_EQ(decs, 2);
  EXPECT_EQ(events.back()["ev"], "close");
}

}  // namespace
}  // namespace ttlogin::tools::pdu_dump
