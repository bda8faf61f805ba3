#include "tools/load_replay/trace_generator.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "common/splitmix.h"
#include "tools/load_replay/choice_model.h"

namespace ttlogin::tools::replay {
namespace {

// msg_servers send a heartbeat after this much silence (docs/PROTOCOL.md, "Classic behaviours").
constexpr std::uint64_t kHeartbeatMs = 5000;

// Writes events and keeps a ChoiceModel of them, so logins can follow the rule.
class TraceBuilder {
 public:
  TraceBuilder(std::ostream& out, const GeneratorOptions& o, std::uint32_t servers)
      : out_(out),
        limit_(o.events),
        with_expect_(o.with_expect),
        rng_(o.seed),
        model_(servers),
        last_sent_(servers, 0),
        max_(servers, 0) {}

  common::SplitMix64& rng() { return rng_; }
  bool done() const { return emitted_ >= limit_; }
  // Progress through the trace in thousandths.
  std::uint64_t permille() const { return emitted_ * 1000 / limit_; }
  std::uint64_t emitted() const { return emitted_; }
  std::uint32_t size() const { return static_cast<std::uint32_t>(max_.size()); }
  const ModelServer& server(std::uint32_t i) const { return model_.servers()[i]; }
  ModelAnswer Expect() const { return model_.Expect(); }

  std::uint64_t Online() const {
    std::uint64_t n = 0;
    for (const ModelServer& s : model_.servers())
      n += s.registered ? s.info.cur : 0;
    return n;
  }

  // Moves time on; msg_servers silent for kHeartbeatMs send a heartbeat.
  void Advance(std::uint64_t dt) {
    t_ += dt;
    for (std::uint32_t i = 0; i < size() && !done(); ++i) {
      if (server(i).connected && t_ - last_sent_[i] >= kHeartbeatMs) Heartbeat(i);
    }
  }

  void Register(std::uint32_t i, std::uint32_t max, std::uint32_t cur) {
    if (done()) return;
    const std::string name = GeneratedName(i);
    ServerInfo info{fmt::format("10.0.{}.{}", i / 250, i % 250 + 1),
                    fmt::format("10.1.{}.{}", i / 250, i % 250 + 1),
                    8000 + i,
                    max,
                    cur,
                    "msg-" + name};
    Line(fmt::format(R"({{"t":{},"ms":"{}","ev":"register","ip1":"{}","ip2":"{}","port":{},)"
                     R"("max":{},"cur":{},"host":"{}"}})",
                     t_, name, info.ip1, info.ip2, info.port, max, cur, info.host));
    model_.Register(i, info);
    max_[i] = max;
    last_sent_[i] = t_;
  }
  void Update(std::uint32_t i, bool inc, std::uint32_t n) {
    if (done()) return;
    if (n == 1) {
      Line(fmt::format(R"({{"t":{},"ms":"{}","ev":"{}"}})", t_, GeneratedName(i),
                       inc ? "inc" : "dec"));
    } else {
      Line(fmt::format(R"({{"t":{},"ms":"{}","ev":"{}","n":{}}})", t_, GeneratedName(i),
                       inc ? "inc" : "dec", n));
    }
    model_.Adjust(i, inc ? std::int64_t{n} : -std::int64_t{n});
    last_sent_[i] = t_;
  }
  void Heartbeat(std::uint32_t i) {
    if (done()) return;
    Line(fmt::format(R"({{"t":{},"ms":"{}","ev":"heartbeat"}})", t_, GeneratedName(i)));
    model_.Touch(i);
    last_sent_[i] = t_;
  }
  void Close(std::uint32_t i) {
    if (done()) return;
    Line(fmt::format(R"({{"t":{},"ms":"{}","ev":"close"}})", t_, GeneratedName(i)));
    model_.Close(i);
  }
  void Query(QueryVia via) {
    if (done()) return;
    std::string line = fmt::format(R"({{"t":{},"ev":"query","via":"{}")", t_, QueryViaName(via));
    if (with_expect_) {
      const ModelAnswer a = model_.Expect();
      if (a.code != kCodeOk) {
        line += fmt::format(R"(,"expect":{{"code":{}}})", a.code);
      } else if (a.acceptable.size() == 1) {
        line += fmt::format(R"(,"expect":{{"code":0,"ms":"{}"}})", GeneratedName(a.acceptable[0]));
      } else {
        line += R"(,"expect":{"code":0,"ms":[)";
        for (std::size_t k = 0; k < a.acceptable.size(); ++k) {
          line += fmt::format(R"({}"{}")", k == 0 ? "" : ",", GeneratedName(a.acceptable[k]));
        }
        line += "]}";
      }
    }
    Line(line + "}");
  }

  QueryVia RandomVia() { return rng_.Chance(3, 4) ? QueryVia::kHttp : QueryVia::kPdu; }

  // A client asks (or, if `ask` is false, only the msg_server's report is in the trace) and logs
  // in to the msg_server the rule picks; ties are broken at random, as the server may. `n` users
  // arriving together land on the same server. Returns false when nobody could log in, after
  // recording the refused query.
  bool Login(bool ask, std::uint32_t n = 1) {
    const ModelAnswer a = model_.Expect();
    if (ask || a.code != kCodeOk) Query(RandomVia());
    if (a.code != kCodeOk) return false;
    Update(a.acceptable[rng_.Below(a.acceptable.size())], true, n);
    return true;
  }

  // A random online user leaves. Returns false when nobody is online.
  bool Logout() {
    const std::uint64_t online = Online();
    if (online == 0) return false;
    std::uint64_t pick = rng_.Below(online);
    for (std::uint32_t i = 0; i < size(); ++i) {
      if (!server(i).registered) continue;
      if (pick < server(i).info.cur) {
        Update(i, false, 1);
        return true;
      }
      pick -= server(i).info.cur;
    }
    return false;
  }

  // Logs in or out to move the online count towards `target`; `noise` in 100 goes the other way.
  void Steer(std::uint64_t target, std::uint64_t noise, std::uint64_t ask_in_3) {
    const bool up = Online() < target;
    const bool login = rng_.Chance(noise, 100) ? !up : up;
    if (!login && Logout()) return;
    Login(rng_.Chance(ask_in_3, 3));
  }

 private:
  void Line(const std::string& text) {
    out_ << text << '\n';
    ++emitted_;
  }

  std::ostream& out_;
  std::uint64_t limit_;
  bool with_expect_;
  common::SplitMix64 rng_;
  ChoiceModel model_;
  std::vector<std::uint64_t> last_sent_;
  std::vector<std::uint32_t> max_;
  std::uint64_t t_ = 0;
  std::uint64_t emitted_ = 0;
};

void RegisterAll(TraceBuilder& b, std::uint32_t max) {
  for (std::uint32_t i = 0; i < b.size(); ++i) {
    b.Register(i, max, 0);
    b.Advance(1);
  }
}

// Users online over a day, in percent of the peak, hour by hour: the night trough, the morning
// ramp, the evening peak of a consumer IM service.
constexpr std::array<std::uint64_t, 24> kDiurnalPercent = {30, 22, 16, 12,  10, 10, 14, 25,
                                                           45, 62, 72, 78,  80, 78, 76, 78,
                                                           82, 88, 95, 100, 98, 85, 65, 45};

// The online count follows kDiurnalPercent over the length of the trace (one "day"), with
// random logins and logouts around the curve.
void Diurnal(TraceBuilder& b, std::uint64_t events) {
  const std::uint64_t peak = std::max<std::uint64_t>(100, events / 8);
  RegisterAll(b, 1'000'000);
  while (!b.done()) {
    const std::uint64_t pos = b.permille() * 24;  // 0..24000: hour and thousandths of it
    const std::uint64_t h = pos / 1000 % 24;
    const std::uint64_t frac = pos % 1000;
    const std::uint64_t target =
        peak * (kDiurnalPercent[h] * (1000 - frac) + kDiurnalPercent[(h + 1) % 24] * frac) /
        100'000;
    b.Steer(target, 10, 1);
    b.Advance(b.rng().Below(8));
  }
}

// Quiet traffic, then a crowd arrives within moments (several users reported at once), then it
// drains away.
void FlashCrowd(TraceBuilder& b, std::uint64_t events) {
  const std::uint64_t base = 20ULL * b.size();
  RegisterAll(b, static_cast<std::uint32_t>(std::min<std::uint64_t>(events / 12 + 10, 1u << 30)));
  while (!b.done()) {
    const std::uint64_t p = b.permille();
    if (p < 250) {
      b.Steer(base, 20, 1);
      b.Advance(b.rng().Below(20));
    } else if (p < 550) {
      const std::uint32_t n =
          b.rng().Chance(1, 4) ? static_cast<std::uint32_t>(2 + b.rng().Below(4)) : 1;
      b.Login(b.rng().Chance(1, 4), n);
      b.Advance(b.rng().Below(2));
    } else {
      if (!(b.rng().Chance(7, 10) && b.Logout())) b.Login(b.rng().Chance(1, 3));
      b.Advance(b.rng().Below(6));
    }
  }
}

// Steady churn; now and then a msg_server crashes (its users log in again elsewhere, then it comes
// back empty on a new connection) or has a network blip (it reconnects still holding its users).
// Now and then a connected msg_server re-sends its info with a corrected count.
void CrashReconnect(TraceBuilder& b, std::uint64_t events) {
  const std::uint64_t target = std::max<std::uint64_t>(50, events / 20);
  const std::uint32_t max = 1'000'000;
  RegisterAll(b, max);
  const std::uint64_t crash_every = std::max<std::uint64_t>(events / 8, 100);
  const std::uint64_t down_for = std::max<std::uint64_t>(events / 40, 20);
  std::vector<std::uint64_t> back_at(b.size(), 0);  // event count at which a down server returns
  std::vector<std::uint32_t> held(b.size(), 0);     // users a blipped server still holds
  std::uint64_t next_crash = crash_every;
  std::uint64_t relogin = 0;
  bool blip = false;
  while (!b.done()) {
    for (std::uint32_t i = 0; i < b.size(); ++i) {
      if (back_at[i] == 0 || b.emitted() < back_at[i]) continue;
      back_at[i] = 0;
      if (b.rng().Chance(1, 2)) b.Heartbeat(i);  // connected, not registered yet
      b.Register(i, max, held[i]);
      held[i] = 0;
    }
    if (b.emitted() >= next_crash) {
      next_crash += crash_every;
      const std::uint32_t i = static_cast<std::uint32_t>(b.rng().Below(b.size()));
      if (b.server(i).registered) {
        const std::uint32_t users = b.server(i).info.cur;
        b.Close(i);
        back_at[i] = b.emitted() + down_for;
        if (blip) {
          held[i] = users;
        } else {
          relogin += users;
        }
        blip = !blip;
      }
    }
    if (relogin > 0) {
      if (b.Login(b.rng().Chance(1, 2))) --relogin;
      b.Advance(b.rng().Below(2));
      continue;
    }
    if (b.rng().Chance(1, 400)) {
      const std::uint32_t i = static_cast<std::uint32_t>(b.rng().Below(b.size()));
      if (b.server(i).registered) {
        const std::uint32_t cur = b.server(i).info.cur;
        b.Register(i, max, cur + static_cast<std::uint32_t>(b.rng().Below(5)));
      }
    }
    b.Steer(target, 25, 1);
    b.Advance(b.rng().Below(10));
  }
}

// msg_servers of very different sizes; logins outgrow the small ones, then everything, so the
// cur < max filter and code 2 are exercised; then the load recedes.
void MixedMax(TraceBuilder& b, std::uint64_t events) {
  constexpr std::array<std::uint64_t, 6> kRatio = {1, 2, 4, 8, 16, 32};
  const std::uint64_t unit = std::max<std::uint64_t>(1, events * 30 / 100 / 63);
  for (std::uint32_t i = 0; i < b.size(); ++i) {
    b.Register(
        i, static_cast<std::uint32_t>(std::min<std::uint64_t>(kRatio[i % 6] * unit, 1u << 30)), 0);
    b.Advance(1);
  }
  while (!b.done()) {
    const bool filling = b.permille() < 700;
    if (b.rng().Chance(filling ? 85 : 40, 100) || !b.Logout()) b.Login(b.rng().Chance(1, 3));
    b.Advance(b.rng().Below(5));
  }
}

// Cycles of: nobody registered (code 1), every msg_server filling up until all are full
// (code 2), a few users leaving (code 0 again), refilling, then the msg_servers closing one by one
// until none is left.
void FillUntilFull(TraceBuilder& b, std::uint64_t events) {
  const std::uint32_t max = static_cast<std::uint32_t>(
      std::clamp<std::uint64_t>(events / (3ULL * b.size()), 2, 1u << 30));
  while (!b.done()) {
    for (int k = 0; k < 3; ++k)
      b.Query(b.RandomVia());  // nobody there: code 1
    RegisterAll(b, max);
    while (!b.done() && b.Expect().code == kCodeOk) {
      b.Login(b.rng().Chance(1, 4));
      b.Advance(b.rng().Below(3));
    }
    for (int k = 0; k < 5; ++k)
      b.Query(b.RandomVia());  // all full: code 2
    for (int k = 0; k < 3 && !b.done(); ++k) {
      b.Logout();
      b.Query(b.RandomVia());
    }
    while (!b.done() && b.Expect().code == kCodeOk) {
      b.Login(b.rng().Chance(1, 2));
      b.Advance(1);
    }
    b.Query(b.RandomVia());
    for (std::uint32_t i = 0; i < b.size(); ++i) {
      b.Close(i);
      b.Query(b.RandomVia());
      b.Advance(b.rng().Below(50));
    }
    b.Advance(100);
  }
}

// Anything goes, in small numbers so ties are everywhere: registrations and re-registrations
// (max 0, cur above max), bursts, departures below zero, updates before registration, closes.
void RandomMix(TraceBuilder& b, std::uint64_t) {
  common::SplitMix64& r = b.rng();
  while (!b.done()) {
    const std::uint32_t i = static_cast<std::uint32_t>(r.Below(b.size()));
    const std::uint64_t roll = r.Below(100);
    if (roll < 6) {
      const std::uint32_t max = static_cast<std::uint32_t>(r.Below(31));
      b.Register(i, max, static_cast<std::uint32_t>(r.Below(max + 4)));
    } else if (roll < 32) {
      b.Update(i, true, static_cast<std::uint32_t>(1 + r.Below(4)));
    } else if (roll < 52) {
      b.Update(i, false, static_cast<std::uint32_t>(1 + r.Below(4)));
    } else if (roll < 57) {
      b.Heartbeat(i);
    } else if (roll < 61) {
      b.Close(i);
    } else {
      b.Query(b.RandomVia());
    }
    b.Advance(r.Below(4));
  }
}

using GeneratorFn = void (*)(TraceBuilder&, std::uint64_t);

struct KindEntry {
  GeneratorKind kind;
  GeneratorFn fn;
};

const std::vector<KindEntry>& Entries() {
  static const std::vector<KindEntry> entries = {
      {{"diurnal", "a day's login curve over N msg_servers", 8}, Diurnal},
      {{"flash-crowd", "quiet, then a crowd logs in at once, then drains", 6}, FlashCrowd},
      {{"crash-reconnect", "msg_servers crash or blip and reconnect; users log in again", 5},
       CrashReconnect},
      {{"mixed-max", "msg_servers with max from x1 to x32, filled past capacity", 6}, MixedMax},
      {{"fill-until-full", "cycles of no server (code 1), all full (code 2), drain, close", 4},
       FillUntilFull},
      {{"random", "random registrations, updates, closes and queries (seeded)", 10}, RandomMix},
  };
  return entries;
}

}  // namespace

std::string GeneratedName(std::uint32_t index) {
  if (index < 26) return std::string(1, static_cast<char>('a' + index));
  return "s" + std::to_string(index);
}

const std::vector<GeneratorKind>& GeneratorKinds() {
  static const std::vector<GeneratorKind> kinds = [] {
    std::vector<GeneratorKind> out;
    for (const KindEntry& e : Entries())
      out.push_back(e.kind);
    return out;
  }();
  return kinds;
}

std::string GenerateTrace(const GeneratorOptions& options, std::ostream& out) {
  for (const KindEntry& e : Entries()) {
    if (e.kind.name != options.kind) continue;
    const std::uint32_t servers = options.servers == 0 ? e.kind.default_servers : options.servers;
    if (servers > kMaxGeneratedServers) {
      return fmt::format("--servers must be at most {}", kMaxGeneratedServers);
    }
    if (options.events == 0) return "--events must be at least 1";
    TraceBuilder builder(out, options, servers);
    e.fn(builder, options.events);
    return out ? std::string() : std::string("cannot write the trace");
  }
  std::string known;
  for (const KindEntry& e : Entries())
    known += std::string(known.empty() ? "" : ", ") += e.kind.name;
  return "unknown generator \"" + options.kind + "\" (known: " + known + ")";
}

}  // namespace ttlogin::tools::replay
