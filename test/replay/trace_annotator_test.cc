// --annotate: the model's expectations are written in, everything else survives unchanged.
#include "tools/load_replay/trace_annotator.h"

#include <sstream>

#include <gtest/gtest.h>

#include "tools/load_replay/in_process_driver.h"
#include "tools/load_replay/replay_engine.h"
#include "tools/load_replay/trace_reader.h"

namespace ttlogin::tools::replay {
namespace {

TEST(TraceAnnotatorTest, FillsInTheModelsExpectations) {
  const std::string text =
      R"({"t":0,"ev":"query","via":"http"})"
      "\n\n"
      R"({"t":1,"ms":"a","ev":"register","ip1":"1","ip2":"2","port":3,"max":5,"note":"kept"})"
      "\n"
      R"({"t":1,"ms":"b","ev":"register","ip1":"4","ip2":"5","port":6,"max":5})"
      "\n"
      R"({"t":2,"via":"pdu","ev":"query","expect":{"code":2},"why":"wrong on purpose"})"
      "\n"
      R"({"t":3,"ms":"a","ev":"inc","n":5})"
      "\n"
      R"({"t":4,"ev":"query","via":"http"})"
      "\n"
      R"({"t":5,"ms":"b","ev":"inc","n":5})"
      "\n"
      R"({"t":6,"ev":"query","via":"http"})"
      "\n";
  const ReadResult read = ReadTraceString(text);
  ASSERT_TRUE(read.ok());
  std::istringstream in(text);
  std::ostringstream out;
  ASSERT_EQ(WriteAnnotated(in, read.trace, out), "");

  std::vector<std::string> lines;
  std::istringstream split(out.str());
  for (std::string l; std::getline(split, l);)
    lines.push_back(l);
  ASSERT_EQ(lines.size(), 9u);
  EXPECT_EQ(lines[0], R"({"t":0,"ev":"query","via":"http","expect":{"code":1}})");
  EXPECT_EQ(lines[1], "");
  EXPECT_EQ(
      lines[2],
      R"({"t":1,"ms":"a","ev":"register","ip1":"1","ip2":"2","port":3,"max":5,"note":"kept"})");
  // The wrong expectation is replaced; field order and unknown fields stay.
  EXPECT_EQ(
      lines[4],
      R"({"t":2,"via":"pdu","ev":"query","expect":{"code":0,"ms":["a","b"]},"why":"wrong on purpose"})");
  EXPECT_EQ(lines[6], R"({"t":4,"ev":"query","via":"http","expect":{"code":0,"ms":"b"}})");
  EXPECT_EQ(lines[8], R"({"t":6,"ev":"query","via":"http","expect":{"code":2}})");

  // The annotated trace is valid, and replaying it contradicts nothing.
  const ReadResult again = ReadTraceString(out.str());
  ASSERT_TRUE(again.ok()) << again.error->ToString();
  InProcessDriver driver;
  ReplayOptions o;
  o.fast = true;
  const ReplayReport r = ReplayEngine(again.trace, driver, o).Run();
  EXPECT_TRUE(r.contradictions.empty());
  EXPECT_EQ(ExitCode(r), 0);
}

}  // namespace
}  // namespace ttlogin::tools::replay
