#include "tools/load_replay/replay_engine.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include <fmt/format.h>

namespace ttlogin::tools::replay {
namespace {

using Clock = std::chrono::steady_clock;

// Backoff between asks of a disagreeing query: the first re-ask is almost immediate (the update
// is usually a few microseconds behind), later ones back off so a real mismatch does not spin.
constexpr std::chrono::microseconds kFirstBackoff{50};
constexpr std::chrono::microseconds kMaxBackoff{20'000};

std::string Names(const std::vector<MsId>& ids, const Trace& trace) {
  std::string out;
  for (MsId id : ids) {
    if (!out.empty()) out += ",";
    out += id < trace.names.size() ? trace.names[id] : "?";
  }
  return out;
}

std::string DescribeGot(const Mismatch& m, const Trace& trace) {
  if (!m.got.problem.empty()) return "a broken reply: " + m.got.problem;
  if (m.got.code != kCodeOk) return fmt::format("code {}", m.got.code);
  std::string who = m.got_names.empty() ? "no msg_server of the trace advertises it"
                                        : "ms " + Names(m.got_names, trace);
  return fmt::format("code 0 {}/{}:{} ({})", m.got.ip1, m.got.ip2, m.got.port, who);
}

std::string DescribeExpect(const Expectation& x, const Trace& trace) {
  if (x.code != kCodeOk || x.ms.empty()) return fmt::format("code {}", x.code);
  return "code 0 ms " + Names(x.ms, trace);
}

}  // namespace

int ExitCode(const ReplayReport& report) {
  if (!report.transport_error.empty()) return 2;
  return report.failed() ? 1 : 0;
}

bool AnswerMatches(const ModelAnswer& expected, const ServerAnswer& got, const ChoiceModel& model) {
  if (!got.problem.empty() || got.code != expected.code) return false;
  if (expected.code != kCodeOk) return true;
  for (MsId id : expected.acceptable) {
    const ServerInfo& info = model.servers()[id].info;
    if (info.port == got.port && info.ip1 == got.ip1 && info.ip2 == got.ip2) return true;
  }
  return false;
}

bool Contradicts(const Expectation& trace_expect, const ModelAnswer& model) {
  if (trace_expect.code != model.code) return true;
  for (MsId id : trace_expect.ms) {
    if (!std::binary_search(model.acceptable.begin(), model.acceptable.end(), id)) return true;
  }
  return false;
}

std::string DescribeAnswer(const ModelAnswer& answer, const Trace& trace) {
  if (answer.code != kCodeOk) return fmt::format("code {}", answer.code);
  return "code 0 ms " + Names(answer.acceptable, trace);
}

ReplayReport ReplayEngine::Run() {
  ReplayReport report;
  ChoiceModel model(trace_.names.size(), options_.routing);
  const auto start = Clock::now();
  for (const Event& event : trace_.events) {
    model.SetNow(static_cast<std::int64_t>(event.t_ms));
    driver_.SetTime(static_cast<std::int64_t>(event.t_ms));
    if (!options_.fast) {
      const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double, std::milli>(
                                       static_cast<double>(event.t_ms) / options_.speed));
      if (Clock::now() < due) {
        // Whatever is buffered belongs to earlier instants: it must not wait out the pause.
        if (std::string err = driver_.Flush(); !err.empty()) {
          report.transport_error = err;
          report.transport_error_line = event.line;
          break;
        }
        std::this_thread::sleep_until(due);
      }
    }
    ++report.events;
    if (event.kind == EventKind::kQuery) {
      RunQuery(event, model, report);
      if (!report.transport_error.empty()) break;
      if (options_.max_mismatches != 0 && report.mismatches.size() >= options_.max_mismatches) {
        report.stopped_early = true;
        break;
      }
      continue;
    }
    model.Apply(event, trace_);
    const ServerInfo* info =
        event.kind == EventKind::kRegister ? &trace_.infos[event.payload] : nullptr;
    if (std::string err = driver_.Send(event, info); !err.empty()) {
      report.transport_error = err;
      report.transport_error_line = event.line;
      break;
    }
    ++report.events_sent;
    switch (event.kind) {
      case EventKind::kRegister:
        ++report.registers;
        break;
      case EventKind::kInc:
      case EventKind::kDec:
        report.count_updates += event.n;
        break;
      case EventKind::kHeartbeat:
        ++report.heartbeats;
        break;
      case EventKind::kClose:
        ++report.closes;
        break;
      case EventKind::kQuery:
        break;
    }
  }
  if (report.transport_error.empty()) {
    if (std::string err = driver_.Flush(); !err.empty()) report.transport_error = err;
  }
  report.notes = driver_.Finish(model, trace_);
  report.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  report.final_model = std::move(model);
  return report;
}

void ReplayEngine::RunQuery(const Event& event, ChoiceModel& model, ReplayReport& report) {
  ++report.queries;
  ++(event.via == QueryVia::kHttp ? report.http_queries : report.pdu_queries);
  const ModelAnswer expected = model.Expect();
  if (event.payload != kNone) {
    const Expectation& x = trace_.expects[event.payload];
    if (Contradicts(x, expected)) report.contradictions.push_back({event.line, x, expected});
  }
  if (std::string err = driver_.Flush(); !err.empty()) {
    report.transport_error = err;
    report.transport_error_line = event.line;
    return;
  }
  // With holds, every answer changes what the next one must be, so the server must have applied
  // every update before it is asked: an answer to a stale state would place a hold the model
  // cannot place at the same moment.
  const bool holds = options_.routing.assignment_hold_ms > 0;
  if (holds || options_.sync_before_query) {
    if (std::string err = driver_.Sync(model); !err.empty()) {
      report.transport_error = err;
      report.transport_error_line = event.line;
      return;
    }
  }
  const auto first_ask = Clock::now();
  const auto deadline = first_ask + options_.retry_bound;
  auto backoff = kFirstBackoff;
  ServerAnswer got;
  for (std::uint32_t attempt = 1;; ++attempt) {
    ++report.attempts;
    got = ServerAnswer{};
    if (std::string err = driver_.Query(event.via, got); !err.empty()) {
      report.transport_error = err;
      report.transport_error_line = event.line;
      return;
    }
    const bool matches = AnswerMatches(expected, got, model);
    if (got.code == kCodeOk && got.problem.empty()) {
      // The server placed a hold on whatever it answered, right or wrong; so does the model. An
      // answer is mapped to the acceptable name with its address, else to any name with it.
      MsId answered = kNone;
      for (MsId id : model.NamesWithAddress(got.ip1, got.ip2, got.port)) {
        if (answered == kNone ||
            std::binary_search(expected.acceptable.begin(), expected.acceptable.end(), id)) {
          answered = id;
        }
      }
      if (matches && options_.candidates > 0 && got.has_candidates) {
        CheckCandidates(event, got, answered, model, report);
      }
      if (holds && answered != kNone) {
        model.Assign(answered);
        ++report.assignments;
      }
    }
    if (matches) {
      ++report.matches;
      if (attempt > 1) {
        ++report.retried_queries;
        const double settle =
            std::chrono::duration<double, std::milli>(Clock::now() - first_ask).count();
        report.max_settle_ms = std::max(report.max_settle_ms, settle);
      }
      return;
    }
    const bool retry =
        driver_.eventually_consistent() && got.problem.empty() && Clock::now() + backoff < deadline;
    if (!retry) {
      Mismatch m{event.line, event.via, expected, got, {}, attempt};
      if (got.code == kCodeOk) m.got_names = model.NamesWithAddress(got.ip1, got.ip2, got.port);
      report.mismatches.push_back(std::move(m));
      return;
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

void ReplayEngine::CheckCandidates(const Event& event, const ServerAnswer& got, MsId chosen,
                                   const ChoiceModel& model, ReplayReport& report) {
  ++report.candidate_lists;
  std::vector<MsId> ids;
  for (const AnswerAddress& c : got.candidates) {
    const std::vector<MsId> names = model.NamesWithAddress(c.ip1, c.ip2, c.port);
    if (names.empty()) {
      report.candidate_failures.push_back(
          fmt::format("line {}: candidate {}/{}:{} is no registered msg_server of the trace",
                      event.line, c.ip1, c.ip2, c.port));
      return;
    }
    ids.push_back(names.front());
  }
  if (std::string why = model.CheckCandidates(chosen, ids, options_.candidates); !why.empty()) {
    report.candidate_failures.push_back(fmt::format("line {}: {}", event.line, why));
  }
}

std::vector<ModelAnswer> ModelAnswers(const Trace& trace, const ModelRouting& routing) {
  std::vector<ModelAnswer> answers;
  ChoiceModel model(trace.names.size(), routing);
  for (const Event& event : trace.events) {
    model.SetNow(static_cast<std::int64_t>(event.t_ms));
    if (event.kind == EventKind::kQuery) {
      answers.push_back(model.Expect());
    } else {
      model.Apply(event, trace);
    }
  }
  return answers;
}

LoadSpread ComputeSpread(const ChoiceModel& model) {
  LoadSpread s;
  for (const ModelServer& server : model.servers()) {
    if (!server.registered) continue;
    ++s.servers;
    s.users += server.info.cur;
    s.max = std::max(s.max, server.info.cur);
  }
  if (s.servers == 0) return s;
  s.mean = static_cast<double>(s.users) / static_cast<double>(s.servers);
  if (s.mean <= 0) return s;
  double sum_sq = 0;
  for (const ModelServer& server : model.servers()) {
    if (!server.registered) continue;
    const double d = server.info.cur - s.mean;
    sum_sq += d * d;
  }
  s.max_over_mean = s.max / s.mean;
  s.cv = std::sqrt(sum_sq / static_cast<double>(s.servers)) / s.mean;
  return s;
}

RatioSpread ComputeRatioSpread(const std::vector<double>& ratios) {
  RatioSpread s;
  s.servers = ratios.size();
  if (ratios.empty()) return s;
  double sum = 0;
  for (double r : ratios) {
    sum += r;
    s.max = std::max(s.max, r);
  }
  s.mean = sum / static_cast<double>(ratios.size());
  if (s.mean <= 0) return s;
  double sum_sq = 0;
  for (double r : ratios)
    sum_sq += (r - s.mean) * (r - s.mean);
  s.max_over_mean = s.max / s.mean;
  s.cv = std::sqrt(sum_sq / static_cast<double>(ratios.size())) / s.mean;
  return s;
}

void PrintReport(std::ostream& out, const ReplayReport& r, const Trace& trace,
                 const std::string& target, std::size_t max_listed) {
  out << fmt::format("replay against {}: {} of {} events in {:.3f} s ({:.0f} events/s)\n", target,
                     r.events, trace.events.size(), r.elapsed_s,
                     r.elapsed_s > 0 ? static_cast<double>(r.events) / r.elapsed_s : 0.0);
  out << fmt::format(
      "events sent: {} (register {}, user count updates {}, heartbeat {}, close {})\n",
      r.events_sent, r.registers, r.count_updates, r.heartbeats, r.closes);
  out << fmt::format(
      "queries: {} (http {}, pdu {}); matches: {}; mismatches: {}; contradicting expects: {}\n",
      r.queries, r.http_queries, r.pdu_queries, r.matches, r.mismatches.size(),
      r.contradictions.size());
  if (r.candidate_lists > 0 || !r.candidate_failures.empty()) {
    out << fmt::format("candidate lists checked: {}; wrong: {}\n", r.candidate_lists,
                       r.candidate_failures.size());
  }
  if (r.assignments > 0) out << fmt::format("assignment holds placed: {}\n", r.assignments);
  if (r.retried_queries > 0) {
    out << fmt::format(
        "  {} queries matched only after re-asking ({} asks in all; longest wait {:.1f} ms)\n",
        r.retried_queries, r.attempts, r.max_settle_ms);
  }
  std::size_t listed = 0;
  for (const Mismatch& m : r.mismatches) {
    if (listed++ == max_listed) {
      out << fmt::format("  ... {} more mismatches\n", r.mismatches.size() - max_listed);
      break;
    }
    out << fmt::format("  mismatch line {} ({}): expected {}; got {} (after {} asks)\n", m.line,
                       QueryViaName(m.via), DescribeAnswer(m.expected, trace),
                       DescribeGot(m, trace), m.attempts);
  }
  listed = 0;
  for (const Contradiction& c : r.contradictions) {
    if (listed++ == max_listed) {
      out << fmt::format("  ... {} more contradicting expects\n",
                         r.contradictions.size() - max_listed);
      break;
    }
    out << fmt::format("  contradiction line {}: trace expects {}; the model says {}\n", c.line,
                       DescribeExpect(c.trace_expect, trace), DescribeAnswer(c.model, trace));
  }
  listed = 0;
  for (const std::string& f : r.candidate_failures) {
    if (listed++ == max_listed) {
      out << fmt::format("  ... {} more wrong candidate lists\n",
                         r.candidate_failures.size() - max_listed);
      break;
    }
    out << "  candidates wrong at " << f << "\n";
  }
  for (const std::string& f : r.notes.failures)
    out << "  failure: " << f << "\n";
  for (const std::string& w : r.notes.warnings)
    out << "  warning: " << w << "\n";
  if (r.stopped_early) out << "stopped early: --max-mismatches reached\n";
  if (!r.transport_error.empty()) {
    out << "replay stopped";
    if (r.transport_error_line != 0) out << " at line " << r.transport_error_line;
    out << ": " << r.transport_error << "\n";
  }

  out << "msg_servers at the end:";
  const auto& servers = r.final_model.servers();
  std::size_t shown = 0;
  for (MsId id = 0; id < servers.size(); ++id) {
    if (!servers[id].registered) continue;
    out << fmt::format("{}{} {}/{}", shown++ == 0 ? " " : ", ", trace.names[id],
                       servers[id].info.cur, servers[id].info.max);
  }
  if (shown == 0) out << " none";
  out << "\n";
  const LoadSpread s = ComputeSpread(r.final_model);
  if (s.servers > 0 && s.mean > 0) {
    out << fmt::format(
        "load spread: {} users over {} msg_servers; mean {:.1f}, max {}, max/mean {:.3f}, "
        "coefficient of variation {:.3f}\n",
        s.users, s.servers, s.mean, s.max, s.max_over_mean, s.cv);
  } else {
    out << fmt::format("load spread: {} users over {} msg_servers\n", s.users, s.servers);
  }
  out << "result: " << (ExitCode(r) == 0 ? "OK" : ExitCode(r) == 1 ? "MISMATCH" : "ERROR") << "\n";
}

}  // namespace ttlogin::tools::replay
