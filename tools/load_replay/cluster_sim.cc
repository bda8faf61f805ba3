#include "tools/load_replay/cluster_sim.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>
#include <queue>

#include <fmt/format.h>

#include "tools/load_replay/choice_model.h"

namespace ttlogin::tools::replay {
namespace {

// Registry clocks start here, as in the in-process replay: trace ms 0 is not clock value 0.
constexpr std::int64_t kClockOrigin = 1'000'000'000;
constexpr std::size_t kMaxViolationsListed = 20;
// Windows over which a late joiner's share of the logins is reported.
constexpr std::int64_t kJoinerShort = 1000;
constexpr std::int64_t kJoinerLong = 3000;

enum class Kind : std::uint8_t { kDeliver, kConnect };

// Something that happens later than the trace event that caused it.
struct Pending {
  std::int64_t t = 0;
  std::uint64_t seq = 0;  // FIFO among equal times
  Kind kind = Kind::kDeliver;
  EventKind what = EventKind::kInc;  // kDeliver: the msg_server's event
  MsId ms = kNone;
  std::uint32_t ls = 0;
  std::int64_t delta = 0;         // kInc/kDec
  std::uint32_t payload = kNone;  // kRegister: Trace::infos index
  std::uint32_t generation = 0;   // kConnect: the registration the client was sent to
  bool operator>(const Pending& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

struct Truth {
  bool registered = false;
  std::uint32_t generation = 0;  // bumped by every register and close
  ServerInfo info;
  std::int64_t registered_ms = 0;
  std::vector<std::int64_t> assigned_at;  // logins handed out to it, in time order
};

struct LoginServer {
  std::unique_ptr<registry::MsgServerRegistry> registry;
  std::vector<registry::ServerHandle> handles;  // by MsId
  ChoiceModel model;
};

// The simulation runs Expire() every 100 ms, as the server does, so a hold that has run out may
// still count until then (or until its shard is touched); the model, exact in time, cannot follow
// that, so with holds it checks eligibility only (as for the random policies). The in-process
// replay expires at every step and checks holds exactly.
ModelRouting ToModel(const registry::RoutingOptions& r) {
  ModelRouting m;
  m.policy = r.policy == registry::Policy::kLeastRatio ? ModelPolicy::kLeastRatio
             : r.policy == registry::Policy::kP2c      ? ModelPolicy::kP2c
                                                       : ModelPolicy::kLeastCount;
  m.slow_start_ms = r.slow_start_ms;
  m.assignment_hold_ms = r.assignment_hold_ms;
  m.eligibility_only = r.assignment_hold_ms > 0;
  return m;
}

class Simulation {
 public:
  Simulation(const Trace& trace, const SimOptions& options)
      : trace_(trace), options_(options), truth_(trace.names.size()) {
    const ClusterParams& c = *trace.cluster;
    latency_ = c.update_latency_ms;
    delay_ = c.connect_delay_ms;
    registry::SeedThreadRandom(options.seed);
    for (std::uint32_t k = 0; k < c.login_servers; ++k) {
      LoginServer ls;
      ls.registry = std::make_unique<registry::MsgServerRegistry>(
          registry::MsgServerRegistry::kDefaultShardCount, 0, [this] { return clock_; });
      ls.registry->SetRouting(options.routing);
      ls.handles.resize(trace.names.size());
      ls.model = ChoiceModel(trace.names.size(), ToModel(options.routing));
      login_servers_.push_back(std::move(ls));
    }
    result_.login_servers = c.login_servers;
  }

  SimResult Run() {
    const auto started = std::chrono::steady_clock::now();
    if (options_.record) {
      *options_.record << fmt::format(
          R"({{"t":0,"ev":"cluster","login_servers":{},"update_latency_ms":{},"connect_delay_ms":{},"policy":"{}","slow_start_ms":{},"hold_ms":{},"seed":{}}})"
          "\n",
          login_servers_.size(), latency_, delay_, registry::PolicyName(options_.routing.policy),
          options_.routing.slow_start_ms, options_.routing.assignment_hold_ms, options_.seed);
    }
    for (const Event& e : trace_.events) {
      RunUntil(static_cast<std::int64_t>(e.t_ms), true);
      OnTraceEvent(e);
    }
    RunUntil(std::numeric_limits<std::int64_t>::max(), false);
    // Past every hold window, with one more Expire: nothing provisional may remain.
    SetNow(now_ + options_.routing.assignment_hold_ms + kSimTickMs);
    for (LoginServer& ls : login_servers_)
      ls.registry->Expire();
    CheckEnd();
    Summarise();
    result_.elapsed_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return std::move(result_);
  }

 private:
  void SetNow(std::int64_t t) {
    now_ = std::max(now_, t);
    clock_ = kClockOrigin + now_;
    for (LoginServer& ls : login_servers_)
      ls.model.SetNow(now_);
  }

  void Violation(std::string what) {
    if (result_.violations.size() < kMaxViolationsListed) result_.violations.push_back(what);
    ++result_.violation_count;
  }

  void Push(Pending p) {
    p.seq = next_seq_++;
    queue_.push(p);
  }

  // Handles every pending happening and timer tick due by `t` (inclusive, when `inclusive`).
  // With t = max, runs until nothing is pending any more.
  void RunUntil(std::int64_t t, bool inclusive) {
    const bool drain = t == std::numeric_limits<std::int64_t>::max();
    while (true) {
      if (drain && queue_.empty()) return;
      const std::int64_t pending_t =
          queue_.empty() ? std::numeric_limits<std::int64_t>::max() : queue_.top().t;
      const std::int64_t next = std::min(pending_t, next_tick_);
      if (next > t || (!inclusive && next == t)) return;
      if (next_tick_ <= pending_t) {
        Tick();
        continue;
      }
      const Pending p = queue_.top();
      queue_.pop();
      SetNow(p.t);
      if (p.kind == Kind::kConnect) {
        OnConnect(p);
      } else {
        Deliver(p);
      }
    }
  }

  void Tick() {
    SetNow(next_tick_);
    next_tick_ += kSimTickMs;
    for (LoginServer& ls : login_servers_)
      ls.registry->Expire();
    if (first_login_ < 0) return;  // the spread is reported from the crowd on
    samples_.emplace_back(now_, Spread());
  }

  RatioSpread Spread() const {
    std::vector<double> ratios;
    for (const Truth& s : truth_) {
      if (s.registered && s.info.max > 0) ratios.push_back(double(s.info.cur) / s.info.max);
    }
    return ComputeRatioSpread(ratios);
  }

  void OnTraceEvent(const Event& e) {
    SetNow(static_cast<std::int64_t>(e.t_ms));
    if (e.kind == EventKind::kQuery) {
      Login(e);
      return;
    }
    Truth& s = truth_[e.ms];
    std::int64_t delta = 0;
    switch (e.kind) {
      case EventKind::kRegister:
        s.registered = true;
        ++s.generation;
        s.info = trace_.infos[e.payload];
        s.registered_ms = now_;
        Record(fmt::format(
            R"({{"t":{},"ms":"{}","ev":"register","ip1":"{}","ip2":"{}","port":{},"max":{},"cur":{}}})",
            now_, trace_.names[e.ms], s.info.ip1, s.info.ip2, s.info.port, s.info.max, s.info.cur));
        break;
      case EventKind::kInc:
      case EventKind::kDec:
        if (!s.registered) return;
        delta = e.kind == EventKind::kInc ? std::int64_t{e.n} : -std::int64_t{e.n};
        s.info.cur = static_cast<std::uint32_t>(
            std::clamp<std::int64_t>(std::int64_t{s.info.cur} + delta, 0, 0xffffffffLL));
        Record(fmt::format(R"({{"t":{},"ms":"{}","ev":"{}","n":{}}})", now_, trace_.names[e.ms],
                           EventKindName(e.kind), e.n));
        break;
      case EventKind::kClose:
        s.registered = false;
        ++s.generation;
        s.info = ServerInfo{};
        Record(fmt::format(R"({{"t":{},"ms":"{}","ev":"close"}})", now_, trace_.names[e.ms]));
        break;
      case EventKind::kHeartbeat:
      case EventKind::kQuery:
        return;
    }
    for (std::uint32_t k = 0; k < login_servers_.size(); ++k) {
      Pending p;
      p.t = now_ + latency_;
      p.what = e.kind;
      p.ms = e.ms;
      p.ls = k;
      p.delta = delta;
      p.payload = e.payload;
      Push(p);
    }
  }

  // A msg_server's event reaches login server p.ls.
  void Deliver(const Pending& p) {
    LoginServer& ls = login_servers_[p.ls];
    registry::ServerHandle& h = ls.handles[p.ms];
    switch (p.what) {
      case EventKind::kRegister: {
        const ServerInfo& i = trace_.infos[p.payload];
        registry::MsgServerInfo info{i.ip1, i.ip2, i.port, i.max, i.cur, i.host};
        if (h.valid()) {
          ls.registry->Replace(h, std::move(info));
        } else {
          h = ls.registry->Register(std::move(info));
        }
        ls.model.Register(p.ms, i);
        break;
      }
      case EventKind::kInc:
      case EventKind::kDec:
        if (h.valid()) ls.registry->AdjustCount(h, p.delta);
        ls.model.Adjust(p.ms, p.delta);
        break;
      case EventKind::kClose:
        if (h.valid()) ls.registry->Remove(h);
        h = {};
        ls.model.Close(p.ms);
        break;
      case EventKind::kHeartbeat:
      case EventKind::kQuery:
        break;
    }
  }

  void Login(const Event& e) {
    ++result_.logins;
    if (first_login_ < 0) {
      first_login_ = now_;
      result_.start = Spread();
      for (const Truth& s : truth_) {
        if (s.registered && s.info.max > 0) {
          result_.peak_ratio = std::max(result_.peak_ratio, double(s.info.cur) / s.info.max);
        }
      }
    }
    last_login_ = now_;
    LoginServer& ls = login_servers_[e.ls];
    const ModelAnswer expected = ls.model.Expect();
    const registry::Choice choice = ls.registry->Choose(registry::ChooseOptions{0, true});
    ServerAnswer got;
    got.code = static_cast<std::uint32_t>(choice.code);
    got.ip1 = choice.ip1;
    got.ip2 = choice.ip2;
    got.port = choice.port;
    ++result_.model_checked;
    if (!AnswerMatches(expected, got, ls.model)) {
      Violation(
          fmt::format("t {} login server {}: the model expects {}, the registry answered "
                      "code {} {}:{}",
                      now_, e.ls, DescribeAnswer(expected, trace_), got.code, got.ip1, got.port));
    }
    if (got.code != kCodeOk) {
      ++(got.code == kCodeNoMsgServer ? result_.refused_no_server : result_.refused_full);
      Record(fmt::format(R"({{"t":{},"ev":"query","via":"http","ls":{},"got":{{"code":{}}}}})",
                         now_, e.ls, got.code));
      return;
    }
    ++result_.answered;
    MsId ms = kNone;
    for (MsId id : ls.model.NamesWithAddress(got.ip1, got.ip2, got.port)) {
      if (ms == kNone ||
          std::binary_search(expected.acceptable.begin(), expected.acceptable.end(), id)) {
        ms = id;
      }
    }
    if (ms == kNone) {
      Violation(fmt::format("t {}: the registry answered {}:{}, which login server {} never saw",
                            now_, got.ip1, got.port, e.ls));
      return;
    }
    ls.model.Assign(ms);
    truth_[ms].assigned_at.push_back(now_);
    all_assigned_.push_back(now_);
    Record(
        fmt::format(R"({{"t":{},"ev":"query","via":"http","ls":{},"got":{{"code":0,"ms":"{}"}}}})",
                    now_, e.ls, trace_.names[ms]));
    Pending p;
    p.t = now_ + delay_;
    p.kind = Kind::kConnect;
    p.ms = ms;
    p.generation = truth_[ms].generation;
    Push(p);
  }

  // The client reaches the msg_server it was given.
  void OnConnect(const Pending& p) {
    Truth& s = truth_[p.ms];
    if (!s.registered || s.generation != p.generation || s.info.cur >= s.info.max) {
      ++result_.connect_refused;
      return;
    }
    ++s.info.cur;
    if (s.info.cur == s.info.max) ++result_.filled;
    result_.peak_ratio = std::max(result_.peak_ratio, double(s.info.cur) / s.info.max);
    Record(fmt::format(R"({{"t":{},"ms":"{}","ev":"inc"}})", now_, trace_.names[p.ms]));
    for (std::uint32_t k = 0; k < login_servers_.size(); ++k) {
      Pending d;
      d.t = now_ + latency_;
      d.what = EventKind::kInc;
      d.ms = p.ms;
      d.ls = k;
      d.delta = 1;
      Push(d);
    }
  }

  void Record(const std::string& line) {
    if (options_.record) *options_.record << line << '\n';
  }

  void CheckEnd() {
    if (result_.answered + result_.refused_no_server + result_.refused_full != result_.logins) {
      Violation("answers and refusals do not add up to the logins");
    }
    std::uint64_t users = 0;
    for (const Truth& s : truth_)
      users += s.registered ? s.info.cur : 0;
    for (std::uint32_t k = 0; k < login_servers_.size(); ++k) {
      LoginServer& ls = login_servers_[k];
      const registry::RegistryStats stats = ls.registry->Stats();
      if (stats.users != users || stats.held != 0) {
        Violation(
            fmt::format("login server {} ends with {} users and {} held, the msg_servers "
                        "with {} users",
                        k, stats.users, stats.held, users));
      }
      for (const registry::ServerSnapshot& snap : ls.registry->Snapshot()) {
        const auto names = ls.model.NamesWithAddress(snap.info.ip1, snap.info.ip2, snap.info.port);
        if (names.size() != 1 || !truth_[names[0]].registered ||
            truth_[names[0]].info.cur != snap.info.cur_conn_cnt) {
          Violation(
              fmt::format("login server {} ends with {}:{} at {} users, unlike its msg_server", k,
                          snap.info.ip1, snap.info.port, snap.info.cur_conn_cnt));
        }
        if (snap.held != 0) {
          Violation(fmt::format("login server {}: {}:{} still holds {} assignments at the end", k,
                                snap.info.ip1, snap.info.port, snap.held));
        }
      }
      if (stats.registered !=
          static_cast<std::size_t>(std::count_if(truth_.begin(), truth_.end(),
                                                 [](const Truth& s) { return s.registered; }))) {
        Violation(fmt::format("login server {} ends with {} msg_servers registered", k,
                              stats.registered));
      }
    }
  }

  void Summarise() {
    std::vector<double> ratios;
    for (const Truth& s : truth_) {
      if (!s.registered) continue;
      ++result_.msg_servers;
      if (s.info.max > 0) ratios.push_back(double(s.info.cur) / s.info.max);
    }
    result_.end = ComputeRatioSpread(ratios);
    if (first_login_ >= 0) {
      result_.crowd_ms = static_cast<std::uint64_t>(last_login_ - first_login_ + 1);
      const std::int64_t mid = first_login_ + (last_login_ - first_login_) / 2;
      for (const auto& [t, spread] : samples_) {
        if (t <= mid) result_.mid = spread;
      }
    }

    // The herd: most logins one msg_server got within one update latency (the time a login
    // server goes on seeing the same counts).
    const std::int64_t window = std::max<std::int64_t>(latency_, 1);
    for (MsId id = 0; id < truth_.size(); ++id) {
      const auto& at = truth_[id].assigned_at;
      std::size_t lo = 0;
      for (std::size_t hi = 0; hi < at.size(); ++hi) {
        while (at[hi] - at[lo] >= window)
          ++lo;
        if (hi - lo + 1 > result_.herd) {
          result_.herd = hi - lo + 1;
          result_.herd_ms = trace_.names[id];
        }
      }
    }
    std::uint32_t eligible_at_start = 0;
    for (const Truth& s : truth_)
      eligible_at_start += s.registered && (first_login_ < 0 || s.registered_ms < first_login_);
    if (result_.crowd_ms > 0 && eligible_at_start > 0) {
      result_.herd_fair = double(result_.answered) * double(window) / double(result_.crowd_ms) /
                          double(eligible_at_start);
    }

    // Late joiners: registered after the crowd began.
    for (MsId id = 0; id < truth_.size(); ++id) {
      const Truth& s = truth_[id];
      if (first_login_ < 0 || !s.registered || s.registered_ms <= first_login_) continue;
      SimJoiner j;
      j.name = trace_.names[id];
      j.visible_ms = s.registered_ms + latency_;
      j.max = s.info.max;
      auto count = [](const std::vector<std::int64_t>& at, std::int64_t from, std::int64_t to) {
        return static_cast<std::uint64_t>(std::lower_bound(at.begin(), at.end(), to) -
                                          std::lower_bound(at.begin(), at.end(), from));
      };
      j.first_1s = count(s.assigned_at, j.visible_ms, j.visible_ms + kJoinerShort);
      j.first_3s = count(s.assigned_at, j.visible_ms, j.visible_ms + kJoinerLong);
      const std::uint64_t all_1s = count(all_assigned_, j.visible_ms, j.visible_ms + kJoinerShort);
      const std::uint64_t all_3s = count(all_assigned_, j.visible_ms, j.visible_ms + kJoinerLong);
      j.share_1s = all_1s > 0 ? double(j.first_1s) / double(all_1s) : 0;
      j.share_3s = all_3s > 0 ? double(j.first_3s) / double(all_3s) : 0;
      j.visible_ms -= first_login_;
      result_.joiners.push_back(j);
    }
  }

  const Trace& trace_;
  const SimOptions& options_;
  std::int64_t latency_ = 0;
  std::int64_t delay_ = 0;
  std::int64_t now_ = 0;
  std::int64_t clock_ = kClockOrigin;  // read by every registry
  std::int64_t next_tick_ = 0;
  std::int64_t first_login_ = -1;
  std::int64_t last_login_ = 0;
  std::uint64_t next_seq_ = 0;
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> queue_;
  std::vector<LoginServer> login_servers_;
  std::vector<Truth> truth_;
  std::vector<std::int64_t> all_assigned_;
  std::vector<std::pair<std::int64_t, RatioSpread>> samples_;  // every tick from the crowd on
  SimResult result_;
};

}  // namespace

SimResult SimulateCluster(const Trace& trace, const SimOptions& options) {
  if (!trace.cluster) {
    SimResult r;
    r.violations.push_back("not a cluster trace (no \"cluster\" line)");
    r.violation_count = 1;
    return r;
  }
  Simulation sim(trace, options);
  return sim.Run();
}

void PrintSimResult(std::ostream& out, const SimResult& r, const SimOptions& o) {
  out << fmt::format(
      "simulation: {} login servers, {} msg_servers at the end; policy {}, slow start {} s "
      "(min share {}%), assignment hold {} ms, seed {}\n",
      r.login_servers, r.msg_servers, registry::PolicyName(o.routing.policy),
      o.routing.slow_start_ms / 1000.0, o.routing.slow_start_min_percent,
      o.routing.assignment_hold_ms, o.seed);
  out << fmt::format(
      "logins: {} over {:.1f} s; answered {}; refused: no msg_server {}, all full {}; clients "
      "refused by a full msg_server {}\n",
      r.logins, r.crowd_ms / 1000.0, r.answered, r.refused_no_server, r.refused_full,
      r.connect_refused);
  for (const auto& [when, s] : {std::pair<const char*, const RatioSpread&>{"at the start", r.start},
                                {"mid-crowd", r.mid},
                                {"at the end", r.end}}) {
    out << fmt::format(
        "spread {} (cur/max over msg_servers): mean {:.3f}, max {:.3f}, max/mean {:.3f}, "
        "coefficient of variation {:.3f}\n",
        when, s.mean, s.max, s.max_over_mean, s.cv);
  }
  out << fmt::format("peak cur/max of any msg_server: {:.3f}; msg_servers filled to max: {}\n",
                     r.peak_ratio, r.filled);
  out << fmt::format(
      "herd: {} logins to msg_server {} within one update latency (an even spread: {:.1f})\n",
      r.herd, r.herd_ms.empty() ? "-" : r.herd_ms, r.herd_fair);
  for (const SimJoiner& j : r.joiners) {
    out << fmt::format(
        "late joiner {} (max {}, known at {:.1f} s): first second {} logins ({:.1f}% of all), "
        "first "
        "3 s {} ({:.1f}%)\n",
        j.name, j.max, j.visible_ms / 1000.0, j.first_1s, 100 * j.share_1s, j.first_3s,
        100 * j.share_3s);
  }
  out << fmt::format("answers checked against the model: {}; invariant violations: {}\n",
                     r.model_checked, r.violation_count);
  for (const std::string& v : r.violations)
    out << "  violation: " << v << "\n";
  out << fmt::format("simulated in {:.2f} s\n", r.elapsed_s);
  out << "result: " << (r.violation_count == 0 ? "OK" : "VIOLATIONS") << "\n";
}

std::string SimMarkdownHeader() {
  return "| routing | mid-crowd max/mean | mid-crowd CV | end max/mean | end CV | filled | herd | "
         "late joiners' 1st s | refused |\n"
         "|---|---|---|---|---|---|---|---|---|";
}

std::string SimMarkdownRow(const std::string& label, const SimResult& r) {
  double share = 0;
  for (const SimJoiner& j : r.joiners)
    share += j.share_1s;
  const std::string joiners =
      r.joiners.empty()
          ? "-"
          : fmt::format("{:.1f}%", 100 * share / static_cast<double>(r.joiners.size()));
  return fmt::format("| {} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {} | {} | {} | {} |", label,
                     r.mid.max_over_mean, r.mid.cv, r.end.max_over_mean, r.end.cv, r.filled, r.herd,
                     joiners, r.refused_no_server + r.refused_full + r.connect_refused);
}

}  // namespace ttlogin::tools::replay
