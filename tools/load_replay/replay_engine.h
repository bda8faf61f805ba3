// ReplayEngine: plays a trace through a driver, keeps the model in step, checks every query.
//
// Order is the trace's order: each event is applied to the model and handed to the driver before
// the next one. A query compares the driver's answer with the model's; on a driver whose queries
// can overtake updates (the network one), a disagreeing answer is asked again with a short
// backoff until it agrees or the retry bound passes, and only then counts as a mismatch. Events
// are held back while a query settles, so the server's state can only converge towards the model.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "tools/load_replay/choice_model.h"
#include "tools/load_replay/replay_driver.h"
#include "tools/load_replay/trace_event.h"

namespace ttlogin::tools::replay {

inline constexpr std::chrono::milliseconds kDefaultRetryBound{2000};

struct ReplayOptions {
  bool fast = false;   // ignore t: as fast as the driver goes, order kept
  double speed = 1.0;  // recorded timing scaled: 2 plays twice as fast
  std::chrono::milliseconds retry_bound = kDefaultRetryBound;
  std::uint64_t max_mismatches = 0;  // stop after this many; 0 = never stop early
  ModelRouting routing;              // the routing the server under test was configured with
  std::size_t candidates = 0;  // further candidates asked for (checked where a reply has them)
  // Before each query, wait until the server has applied every update (ReplayDriver::Sync), so
  // that a disagreeing answer is a real one. Always done with holds.
  bool sync_before_query = false;
};

struct Mismatch {
  std::uint32_t line = 0;
  QueryVia via = QueryVia::kHttp;
  ModelAnswer expected;
  ServerAnswer got;
  std::vector<MsId> got_names;  // trace names advertising the answered address
  std::uint32_t attempts = 0;
};

struct Contradiction {
  std::uint32_t line = 0;
  Expectation trace_expect;
  ModelAnswer model;
};

struct ReplayReport {
  std::uint64_t events = 0;       // trace events handled (queries included)
  std::uint64_t events_sent = 0;  // non-query events delivered
  std::uint64_t registers = 0;
  std::uint64_t count_updates = 0;  // IMUserCntUpdate PDUs (an inc with n=3 is 3)
  std::uint64_t heartbeats = 0;
  std::uint64_t closes = 0;
  std::uint64_t queries = 0;
  std::uint64_t http_queries = 0;
  std::uint64_t pdu_queries = 0;
  std::uint64_t matches = 0;
  std::uint64_t retried_queries = 0;  // matched, but not on the first ask
  std::uint64_t attempts = 0;         // asks in total
  double max_settle_ms = 0;           // longest wait for a retried query to agree
  std::vector<Mismatch> mismatches;
  std::vector<Contradiction> contradictions;
  std::uint64_t candidate_lists = 0;            // replies whose candidates were checked
  std::vector<std::string> candidate_failures;  // "line N: what is wrong"
  std::uint64_t assignments = 0;                // answers placed as holds in the model
  DriverNotes notes;
  std::string transport_error;  // non-empty: the replay stopped (exit 2)
  std::uint32_t transport_error_line = 0;
  bool stopped_early = false;  // --max-mismatches reached
  double elapsed_s = 0;
  ChoiceModel final_model;

  bool failed() const {
    return !mismatches.empty() || !contradictions.empty() || !notes.failures.empty() ||
           !candidate_failures.empty();
  }
};

// 0: everything matched; 1: mismatches or contradictions; 2: the replay could not run.
int ExitCode(const ReplayReport& report);

// True when `got` is one of the answers `expected` allows.
bool AnswerMatches(const ModelAnswer& expected, const ServerAnswer& got, const ChoiceModel& model);

// Whether an explicit expectation disagrees with the model: another code, or a name the model
// does not accept. Naming fewer of the tied servers is not a contradiction.
bool Contradicts(const Expectation& trace_expect, const ModelAnswer& model);

class ReplayEngine {
 public:
  ReplayEngine(const Trace& trace, ReplayDriver& driver, ReplayOptions options)
      : trace_(trace), driver_(driver), options_(options) {}

  ReplayReport Run();

 private:
  void RunQuery(const Event& event, ChoiceModel& model, ReplayReport& report);
  void CheckCandidates(const Event& event, const ServerAnswer& got, MsId chosen,
                       const ChoiceModel& model, ReplayReport& report);

  const Trace& trace_;
  ReplayDriver& driver_;
  ReplayOptions options_;
};

// The model's answer to every query of the trace, in order, without replaying anything. Needs a
// routing whose answers do not depend on what a server answered before (no holds).
std::vector<ModelAnswer> ModelAnswers(const Trace& trace, const ModelRouting& routing = {});

// Summary for people: counts, mismatches with their lines, the end state and the load spread.
void PrintReport(std::ostream& out, const ReplayReport& report, const Trace& trace,
                 const std::string& target, std::size_t max_listed = 20);

struct LoadSpread {
  std::size_t servers = 0;  // registered at the end
  std::uint64_t users = 0;
  double mean = 0;
  std::uint32_t max = 0;
  double max_over_mean = 0;  // 1 = perfectly even
  double cv = 0;             // coefficient of variation: population stddev / mean
};
LoadSpread ComputeSpread(const ChoiceModel& model);

// The same over utilisation (cur/max) of the registered msg_servers with max > 0: the spread that
// matters when msg_servers differ in size.
struct RatioSpread {
  std::size_t servers = 0;
  double mean = 0;           // mean of cur/max
  double max = 0;            // largest cur/max
  double max_over_mean = 0;  // 1 = perfectly even
  double cv = 0;
};
RatioSpread ComputeRatioSpread(const std::vector<double>& ratios);

std::string DescribeAnswer(const ModelAnswer& answer, const Trace& trace);

}  // namespace ttlogin::tools::replay
