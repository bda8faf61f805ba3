// The cluster simulation on small hand-made cluster traces whose outcome is known exactly, and the
// scenario generator's promises.
#include "tools/load_replay/cluster_sim.h"

#include <sstream>

#include <gtest/gtest.h>

#include "tools/load_replay/cluster_scenario.h"
#include "tools/load_replay/trace_reader.h"

namespace ttlogin::tools::replay {
namespace {

Trace Read(const std::string& text) {
  ReadResult r = ReadTraceString(text);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error->ToString());
  return std::move(r.trace);
}

std::string Login(std::uint64_t t, std::uint32_t ls) {
  return R"({"t":)" + std::to_string(t) + R"(,"ev":"query","via":"http","ls":)" +
         std::to_string(ls) + "}\n";
}

std::string Header(std::uint32_t login_servers, std::uint32_t latency, std::uint32_t delay) {
  return R"({"t":0,"ev":"cluster","login_servers":)" + std::to_string(login_servers) +
         R"(,"update_latency_ms":)" + std::to_string(latency) + R"(,"connect_delay_ms":)" +
         std::to_string(delay) + "}\n";
}

TEST(ClusterTraceTest, ClusterLineAndLoginServersAreRead) {
  const Trace t = Read(Header(3, 200, 20) + Login(5, 2));
  ASSERT_TRUE(t.cluster.has_value());
  EXPECT_EQ(t.cluster->login_servers, 3u);
  EXPECT_EQ(t.cluster->update_latency_ms, 200u);
  EXPECT_EQ(t.cluster->connect_delay_ms, 20u);
  ASSERT_EQ(t.events.size(), 1u);
  EXPECT_EQ(t.events[0].ls, 2u);
}

TEST(ClusterTraceTest, MalformedClusterLinesAreRejected) {
  auto error = [](const std::string& text) {
    const ReadResult r = ReadTraceString(text);
    return r.ok() ? std::string() : r.error->ToString();
  };
  EXPECT_EQ(error(Header(2, 0, 0) + Login(1, 2)), "line 2: \"ls\" must be between 0 and 1, not 2");
  EXPECT_EQ(error(Login(1, 0)), "line 1: \"ls\" needs a \"cluster\" line before it");
  EXPECT_EQ(error(Header(0, 0, 0)), "line 1: \"login_servers\" must be between 1 and 64, not 0");
  EXPECT_EQ(error(Header(1, 0, 0) + Header(1, 0, 0)), "line 2: a second \"cluster\" line");
  EXPECT_EQ(error(R"({"t":0,"ev":"cluster","login_servers":2,"connect_delay_ms":0})"),
            "line 1: \"cluster\" needs \"update_latency_ms\"");
  EXPECT_EQ(error(R"({"t":0,"ms":"a","ev":"heartbeat"})"
                  "\n" +
                  Header(1, 0, 0)),
            "line 2: the \"cluster\" line must come before every event");
}

// a: max 3, empty; b: max 1000 with 500 users. Five logins in one millisecond on one login server:
// least_count sends all five to a before any update arrives; a takes three and turns two away.
TEST(ClusterSimTest, AHerdOverfillsASmallServer) {
  std::string text = Header(1, 100, 10);
  text +=
      R"({"t":0,"ms":"a","ev":"register","ip1":"10.0.0.1","ip2":"10.1.0.1","port":8000,"max":3})"
      "\n";
  text +=
      R"({"t":0,"ms":"b","ev":"register","ip1":"10.0.0.2","ip2":"10.1.0.2","port":8001,"max":1000,"cur":500})"
      "\n";
  for (int i = 0; i < 5; ++i)
    text += Login(1000, 0);
  const SimResult r = SimulateCluster(Read(text), SimOptions{});
  EXPECT_EQ(r.violation_count, 0u) << (r.violations.empty() ? "" : r.violations[0]);
  EXPECT_EQ(r.logins, 5u);
  EXPECT_EQ(r.answered, 5u);
  EXPECT_EQ(r.connect_refused, 2u);
  EXPECT_EQ(r.filled, 1u);
  EXPECT_EQ(r.herd, 5u);
  EXPECT_EQ(r.herd_ms, "a");
  EXPECT_DOUBLE_EQ(r.peak_ratio, 1.0);
}

// Two equal msg_servers, ten logins within one update latency. With assignment holds every login
// server alternates between them, so neither gets more than five whatever breaks the first tie.
TEST(ClusterSimTest, HoldsSpreadABurstWithinOneUpdateInterval) {
  std::string text = Header(1, 100, 10);
  text +=
      R"({"t":0,"ms":"a","ev":"register","ip1":"10.0.0.1","ip2":"10.1.0.1","port":8000,"max":1000})"
      "\n";
  text +=
      R"({"t":0,"ms":"b","ev":"register","ip1":"10.0.0.2","ip2":"10.1.0.2","port":8001,"max":1000})"
      "\n";
  for (int i = 0; i < 10; ++i)
    text += Login(1000 + i, 0);
  SimOptions held;
  held.routing.assignment_hold_ms = 500;
  const SimResult r = SimulateCluster(Read(text), held);
  EXPECT_EQ(r.violation_count, 0u) << (r.violations.empty() ? "" : r.violations[0]);
  EXPECT_EQ(r.herd, 5u);
  EXPECT_DOUBLE_EQ(r.end.max, 0.005);
  EXPECT_DOUBLE_EQ(r.end.cv, 0.0);
}

// Three login servers, a decrement and a close among the logins, every policy with and without
// holds: every answer agrees with the model of its login server and every registry ends exact.
TEST(ClusterSimTest, EveryLoginServerEndsWithTheExactCounts) {
  std::string text = Header(3, 250, 30);
  for (int i = 0; i < 4; ++i) {
    text += R"({"t":0,"ms":"m)" + std::to_string(i) + R"(","ev":"register","ip1":"10.0.0.)" +
            std::to_string(i + 1) + R"(","ip2":"10.1.0.1","port":8000,"max":)" +
            std::to_string(50 * (i + 1)) + "}\n";
  }
  for (int i = 0; i < 300; ++i)
    text += Login(1000 + i * 3, static_cast<std::uint32_t>(i % 3));
  text += R"({"t":2000,"ms":"m1","ev":"dec","n":7})"
          "\n";
  text += R"({"t":2100,"ms":"m2","ev":"close"})"
          "\n";
  for (auto policy :
       {registry::Policy::kLeastCount, registry::Policy::kLeastRatio, registry::Policy::kP2c}) {
    for (std::int64_t hold : {0, 120}) {
      SimOptions o;
      o.routing.policy = policy;
      o.routing.assignment_hold_ms = hold;
      const SimResult r = SimulateCluster(Read(text), o);
      EXPECT_EQ(r.violation_count, 0u) << registry::PolicyName(policy) << " hold " << hold << ": "
                                       << (r.violations.empty() ? "" : r.violations[0]);
      EXPECT_EQ(r.answered + r.refused_full + r.refused_no_server, 300u);
      EXPECT_EQ(r.msg_servers, 3u);
    }
  }
}

TEST(ClusterSimTest, SameScenarioSameSeedSameResult) {
  ClusterScenarioOptions o;
  o.logins = 3000;
  o.seed = 9;
  std::stringstream a, b;
  ASSERT_EQ(WriteClusterScenario(o, a), "");
  ASSERT_EQ(WriteClusterScenario(o, b), "");
  ASSERT_EQ(a.str(), b.str());
  const Trace trace = Read(a.str());
  SimOptions s;
  s.routing.policy = registry::Policy::kP2c;
  s.routing.slow_start_ms = 2000;
  s.seed = 5;
  const SimResult r1 = SimulateCluster(trace, s);
  const SimResult r2 = SimulateCluster(trace, s);
  EXPECT_EQ(r1.violation_count, 0u);
  EXPECT_EQ(r1.herd, r2.herd);
  EXPECT_EQ(r1.end.cv, r2.end.cv);
  EXPECT_EQ(r1.connect_refused, r2.connect_refused);
}

TEST(ClusterScenarioTest, FlashCrowdHasTheShapeItPromises) {
  ClusterScenarioOptions o;
  o.logins = 2000;
  o.msg_servers = 20;
  o.late_joiners = 2;
  std::stringstream out;
  ASSERT_EQ(WriteClusterScenario(o, out), "");
  const Trace t = Read(out.str());
  ASSERT_TRUE(t.cluster.has_value());
  EXPECT_EQ(t.cluster->login_servers, 4u);
  EXPECT_EQ(t.names.size(), 20u);
  EXPECT_EQ(t.query_count(), 2000u);
  std::size_t late = 0;
  std::vector<std::size_t> per_ls(4);
  for (const Event& e : t.events) {
    if (e.kind == EventKind::kQuery) {
      EXPECT_GE(e.t_ms, kCrowdStartMs);
      EXPECT_LT(e.t_ms, kCrowdStartMs + o.crowd_ms);
      ++per_ls[e.ls];
    } else if (e.t_ms > 0) {
      ++late;
      EXPECT_EQ(t.infos[e.payload].cur, 0u);  // late joiners come up empty
    }
  }
  EXPECT_EQ(late, 2u);
  for (std::size_t n : per_ls)
    EXPECT_GT(n, 400u);  // about 500 each
  std::stringstream bad;
  o.late_joiners = 20;
  EXPECT_NE(WriteClusterScenario(o, bad), "");
}

}  // namespace
}  // namespace ttlogin::tools::replay
