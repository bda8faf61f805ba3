// Generators: deterministic per seed, exactly the requested size, valid, and shaped as their
// names promise (checked through the model, not by trusting the generator).
#include "tools/load_replay/trace_generator.h"

#include <set>
#include <sstream>
#include <tuple>

#include <gtest/gtest.h>

#include "tools/load_replay/in_process_driver.h"
#include "tools/load_replay/replay_engine.h"
#include "tools/load_replay/trace_reader.h"

namespace ttlogin::tools::replay {
namespace {

std::string Generate(const std::string& kind, std::uint64_t seed, std::uint64_t events,
                     std::uint32_t servers = 0, bool with_expect = false) {
  GeneratorOptions o;
  o.kind = kind;
  o.seed = seed;
  o.events = events;
  o.servers = servers;
  o.with_expect = with_expect;
  std::ostringstream out;
  const std::string err = GenerateTrace(o, out);
  EXPECT_EQ(err, "");
  return out.str();
}

Trace Parse(const std::string& text) {
  ReadResult r = ReadTraceString(text);
  EXPECT_TRUE(r.ok()) << r.error->ToString();
  return std::move(r.trace);
}

class EveryKindTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryKindTest, SameSeedSameTraceOtherSeedOtherTrace) {
  const std::string a = Generate(GetParam(), 7, 3000);
  EXPECT_EQ(a, Generate(GetParam(), 7, 3000));
  EXPECT_NE(a, Generate(GetParam(), 8, 3000));
}

TEST_P(EveryKindTest, ExactSizeValidAndReplaysCleanly) {
  const Trace trace = Parse(Generate(GetParam(), 3, 5000));
  EXPECT_EQ(trace.events.size(), 5000u);
  EXPECT_EQ(trace.lines, 5000u);
  EXPECT_GT(trace.query_count(), 0u);
  InProcessDriver driver;
  ReplayOptions o;
  o.fast = true;
  const ReplayReport r = ReplayEngine(trace, driver, o).Run();
  EXPECT_EQ(ExitCode(r), 0);
  EXPECT_EQ(r.matches, trace.query_count());
}

TEST_P(EveryKindTest, EveryNameHasItsOwnAddress) {
  const Trace trace = Parse(Generate(GetParam(), 5, 4000, 30));
  std::map<MsId, std::tuple<std::string, std::string, std::uint32_t>> by_name;
  for (const Event& e : trace.events) {
    if (e.kind != EventKind::kRegister) continue;
    const ServerInfo& i = trace.infos[e.payload];
    const auto address = std::make_tuple(i.ip1, i.ip2, i.port);
    const auto [it, inserted] = by_name.emplace(e.ms, address);
    EXPECT_EQ(it->second, address) << "a name changed its address";
  }
  std::set<std::tuple<std::string, std::string, std::uint32_t>> distinct;
  for (const auto& [ms, address] : by_name)
    distinct.insert(address);
  EXPECT_EQ(distinct.size(), by_name.size()) << "two names share an address";
}

TEST_P(EveryKindTest, WithExpectAgreesWithTheModel) {
  const Trace trace = Parse(Generate(GetParam(), 11, 3000, 0, true));
  std::size_t with_expect = 0;
  for (const Event& e : trace.events) {
    if (e.kind == EventKind::kQuery) with_expect += e.payload != kNone ? 1 : 0;
  }
  EXPECT_EQ(with_expect, trace.query_count());
  InProcessDriver driver;
  ReplayOptions o;
  o.fast = true;
  const ReplayReport r = ReplayEngine(trace, driver, o).Run();
  EXPECT_TRUE(r.contradictions.empty());
  EXPECT_EQ(ExitCode(r), 0);
}

INSTANTIATE_TEST_SUITE_P(Kinds, EveryKindTest,
                         ::testing::Values("diurnal", "flash-crowd", "crash-reconnect", "mixed-max",
                                           "fill-until-full", "random"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             c = c == '-' ? '_' : c;
                           return name;
                         });

TEST(TraceGeneratorTest, KindsAreListed) {
  std::set<std::string> names;
  for (const GeneratorKind& k : GeneratorKinds())
    names.insert(std::string(k.name));
  EXPECT_EQ(names, (std::set<std::string>{"diurnal", "flash-crowd", "crash-reconnect", "mixed-max",
                                          "fill-until-full", "random"}));
}

TEST(TraceGeneratorTest, UnknownKindAndBadOptionsAreErrors) {
  std::ostringstream out;
  GeneratorOptions o;
  o.kind = "tsunami";
  EXPECT_NE(GenerateTrace(o, out).find("unknown generator"), std::string::npos);
  o.kind = "random";
  o.events = 0;
  EXPECT_FALSE(GenerateTrace(o, out).empty());
  o.events = 10;
  o.servers = kMaxGeneratedServers + 1;
  EXPECT_FALSE(GenerateTrace(o, out).empty());
}

// The model's answers over a whole trace, counted by code.
std::map<std::uint32_t, std::size_t> Codes(const Trace& trace) {
  std::map<std::uint32_t, std::size_t> codes;
  for (const ModelAnswer& a : ModelAnswers(trace))
    ++codes[a.code];
  return codes;
}

TEST(TraceGeneratorTest, FillUntilFullReachesEveryCode) {
  const auto codes = Codes(Parse(Generate("fill-until-full", 1, 10000)));
  EXPECT_GT(codes.count(kCodeOk) ? codes.at(kCodeOk) : 0, 0u);
  EXPECT_GT(codes.count(kCodeNoMsgServer) ? codes.at(kCodeNoMsgServer) : 0, 0u);
  EXPECT_GT(codes.count(kCodeAllFull) ? codes.at(kCodeAllFull) : 0, 0u);
}

TEST(TraceGeneratorTest, MixedMaxHasDifferentMaxAndFillsUp) {
  const Trace trace = Parse(Generate("mixed-max", 1, 10000));
  std::set<std::uint32_t> maxes;
  for (const ServerInfo& i : trace.infos)
    maxes.insert(i.max);
  EXPECT_GE(maxes.size(), 6u);
  const auto codes = Codes(trace);
  EXPECT_TRUE(codes.count(kCodeAllFull)) << "the load never outgrew every msg_server";
}

TEST(TraceGeneratorTest, CrashReconnectClosesAndComesBack) {
  const Trace trace = Parse(Generate("crash-reconnect", 1, 10000));
  std::size_t closes = 0;
  std::size_t re_registers = 0;
  std::set<MsId> closed;
  for (const Event& e : trace.events) {
    if (e.kind == EventKind::kClose) {
      ++closes;
      closed.insert(e.ms);
    }
    if (e.kind == EventKind::kRegister && closed.count(e.ms)) ++re_registers;
  }
  EXPECT_GE(closes, 3u);
  EXPECT_GE(re_registers, 3u);
}

TEST(TraceGeneratorTest, FlashCrowdBurstsAreDenserThanTheQuietStart) {
  const Trace trace = Parse(Generate("flash-crowd", 1, 10000));
  // Events per millisecond of trace time: quiet first quarter vs the crowd (30% to 50%).
  auto rate = [&](std::size_t from, std::size_t to) {
    const double span = static_cast<double>(trace.events[to].t_ms - trace.events[from].t_ms) + 1;
    return static_cast<double>(to - from) / span;
  };
  EXPECT_GT(rate(3000, 5000), 5 * rate(100, 2400));
}

TEST(TraceGeneratorTest, DiurnalFollowsADayCurve) {
  const Trace trace = Parse(Generate("diurnal", 1, 24000));
  // Online users replayed through the model at 4 am (trough) and 7 pm (peak) of the trace "day".
  ChoiceModel model(trace.names.size());
  std::uint64_t at_4 = 0;
  std::uint64_t at_19 = 0;
  for (std::size_t k = 0; k < trace.events.size(); ++k) {
    model.Apply(trace.events[k], trace);
    if (k == 4 * 1000 + 500 || k == 19 * 1000 + 500) {
      std::uint64_t online = 0;
      for (const ModelServer& s : model.servers())
        online += s.registered ? s.info.cur : 0;
      (k < 10000 ? at_4 : at_19) = online;
    }
  }
  EXPECT_GT(at_19, 4 * at_4) << "4 am: " << at_4 << ", 7 pm: " << at_19;
}

TEST(TraceGeneratorTest, RandomCoversTheOddCases) {
  const Trace trace = Parse(Generate("random", 1, 10000));
  bool over_max = false;
  bool zero_max = false;
  for (const ServerInfo& i : trace.infos) {
    over_max |= i.cur > i.max;
    zero_max |= i.max == 0;
  }
  EXPECT_TRUE(over_max);
  EXPECT_TRUE(zero_max);
  // Updates that the model ignores (not registered) and decrements that clamp both happen.
  ChoiceModel model(trace.names.size());
  std::size_t ignored = 0;
  std::size_t clamped = 0;
  std::size_t ties = 0;
  for (const Event& e : trace.events) {
    if (e.kind == EventKind::kQuery) {
      ties += model.Expect().acceptable.size() > 1 ? 1 : 0;
      continue;
    }
    if (e.kind == EventKind::kInc || e.kind == EventKind::kDec) {
      const ModelServer before =
          e.ms < model.servers().size() ? model.servers()[e.ms] : ModelServer{};
      if (!before.registered) ++ignored;
      if (before.registered && e.kind == EventKind::kDec && before.info.cur < e.n) ++clamped;
    }
    model.Apply(e, trace);
  }
  EXPECT_GT(ignored, 0u);
  EXPECT_GT(clamped, 0u);
  EXPECT_GT(ties, 0u);
}

}  // namespace
}  // namespace ttlogin::tools::replay
