// Fuzz target: the routing API of MsgServerRegistry, driven directly from the input
// and checked after every step against a reference model written here, sharing no code with the
// registry.
//
// The input picks a shard count (1-4), a registration bound, an initial clock and a random seed,
// then a sequence of operations: Register, Replace, Remove, AdjustCount (+-1 up to +-2^63),
// Touch, SetDraining, set_max_servers, Choose (assign or not, 0-10 extra candidates, or a burst
// of them), SetRouting (any policy, slow start and holds on or off, any window), moving the fake
// clock, Expire, and the server's registration path: Claim and Reclaim (one live entry per
// host_name:port, displaced only from the holder's own address or after its silence) and the
// operator's Drain (a repeated drain of an absent name stays remembered, a first one does not). The
// model keeps, per entry, its info, drain and warming state and the time of every assignment hold
// not yet settled; per shard, every hold record not yet ended.
//
// The rules the model follows (server/registry/msg_server_registry.cc):
//  - A hold is placed by an assigning Choose when holds are on and the chosen shard keeps fewer
//    than kMaxHoldsPerShard hold records. An increment of d settles min(d, held) holds, oldest
//    first. A hold record ends hold_ms after its Choose (the current hold_ms), but only when its
//    shard is next touched: AdjustCount on a live entry of it, a Choose that finds an eligible
//    entry there, SetRouting, Expire. Ending the record of a settled hold changes nothing else.
//  - An entry registering with cur 0 while slow start is on warms for slow_start_ms, ending at the
//    same lazy touches; switching slow start off ends every window, switching holds off every hold.
//  - Eligible: cur < max and not draining. least_count orders by cur + held, least_ratio and p2c by
//    (cur + held) / max, compared exactly by cross-multiplication while cur + held < max; at or
//    over max (holds overfill) above all those, by (cur + held - max) / max in steps of 2^-16.
// With one shard every touch is known, so the model is exact. With several, a Choose touches
// shards the model cannot predict: either the harness calls Expire() first (then every check
// applies), or it does not and only the order-free checks apply, after which Expire() brings model
// and registry to the same state again.
//
// Checked after every step: Snapshot() entry by entry (info, meta, draining, warming, held),
// Stats(), AnyEligible(), Get() of every handle ever issued, and each operation's own answer.
// Every Choose answer is eligible; without warming entries under least_count/least_ratio its key
// is the model's minimum; a warming answer has the least key among warming entries, a warm one
// among warm entries. Candidates: min(extra, 8, eligible - 1) of them, distinct, eligible, never
// the chosen one, and their keys are, in order, the smallest keys of the other eligible entries.
//
// REGISTRY_ROUTING_FUZZ_TOLERATE (environment, for exploring past a known finding only; the
// corpus replay never sets it): "overload" treats every ratio of 1 or more as equal, "int64"
// leaves out the deltas +-2^63.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/registry/msg_server_registry.h"
#include "test/fuzz/fuzz_input.h"

namespace ttlogin::fuzz {
namespace {

using registry::Choice;
using registry::ChooseCode;
using registry::ClaimCode;
using registry::ClaimResult;
using registry::ClaimRule;
using registry::EntryMeta;
using registry::MsgServerInfo;
using registry::MsgServerRegistry;
using registry::Policy;
using registry::RoutingOptions;
using registry::ServerHandle;

using Wide = unsigned __int128;

constexpr std::size_t kMaxSteps = 400;
constexpr std::size_t kMaxLive = 16;
constexpr std::size_t kMaxIssued = 48;
constexpr std::size_t kMaxCandidates = MsgServerRegistry::kMaxExtraCandidates;
constexpr std::size_t kHoldCap = MsgServerRegistry::kMaxHoldsPerShard;

std::int64_t g_now = 0;  // the registry's clock

struct Tolerate {
  bool overload = false;
  bool int64 = false;
};

Tolerate ReadTolerate() {
  Tolerate t;
  if (const char* env = std::getenv("REGISTRY_ROUTING_FUZZ_TOLERATE")) {
    const std::string_view v(env);
    t.overload = v.find("overload") != std::string_view::npos;
    t.int64 = v.find("int64") != std::string_view::npos;
  }
  return t;
}

const Tolerate& tolerate() {
  static const Tolerate t = ReadTolerate();
  return t;
}

struct Entry {
  ServerHandle handle;
  MsgServerInfo info;
  EntryMeta meta;
  bool draining = false;
  bool warming = false;
  std::int64_t warm_since = 0;
  std::deque<std::int64_t> holds;  // unsettled holds, oldest first: the time of their Choose

  bool Eligible() const { return info.cur_conn_cnt < info.max_conn_cnt && !draining; }
  std::uint64_t Load() const { return std::uint64_t{info.cur_conn_cnt} + holds.size(); }
};

std::string KeyOf(std::string_view host, std::uint32_t port) {
  return std::string(host) + ":" + std::to_string(port);
}

class Model {
 public:
  explicit Model(std::size_t shards) : records_(shards) {}

  std::vector<Entry> live;
  std::vector<std::string> drain_keys;
  // "host_name:port" -> the entry holding the name: the first plain Register of a free name, or
  // a Claim/Reclaim; a name is freed when its holder leaves or is renamed.
  std::map<std::string, ServerHandle> names;

  void Name(const MsgServerInfo& info, ServerHandle h) {
    names.emplace(KeyOf(info.host_name, info.port), h);
  }
  void Unname(const MsgServerInfo& info, ServerHandle h) {
    const auto it = names.find(KeyOf(info.host_name, info.port));
    if (it != names.end() && it->second == h) names.erase(it);
  }
  RoutingOptions routing;
  std::size_t next_shard = 0;

  std::size_t shards() const { return records_.size(); }
  std::size_t records(std::size_t shard) const { return records_[shard].size(); }

  Entry* Find(ServerHandle h) {
    if (!h.valid()) return nullptr;
    for (Entry& e : live) {
      if (e.handle == h) return &e;
    }
    return nullptr;
  }

  bool Drained(const MsgServerInfo& info) const {
    for (const std::string& k : drain_keys) {
      if (k == KeyOf(info.host_name, info.port) || k == KeyOf(info.ip1, info.port)) return true;
    }
    return false;
  }

  // Ends what ran out in `shard` by now; true if anything observable changed.
  bool Touch(std::size_t shard) {
    bool changed = false;
    const std::int64_t hold_ms = routing.assignment_hold_ms;
    std::deque<std::int64_t>& recs = records_[shard];
    while (!recs.empty() && recs.front() + hold_ms <= g_now)
      recs.pop_front();
    for (Entry& e : live) {
      if (e.handle.shard != shard) continue;
      while (!e.holds.empty() && e.holds.front() + hold_ms <= g_now) {
        e.holds.pop_front();
        changed = true;
      }
      if (e.warming && e.warm_since + routing.slow_start_ms <= g_now) {
        e.warming = false;
        changed = true;
      }
    }
    return changed;
  }
  bool TouchAll() {
    bool changed = false;
    for (std::size_t s = 0; s < shards(); ++s)
      changed = Touch(s) || changed;
    return changed;
  }

  void PlaceHold(Entry& e) {
    if (routing.assignment_hold_ms <= 0) return;
    std::deque<std::int64_t>& recs = records_[e.handle.shard];
    if (recs.size() >= kHoldCap) return;
    recs.push_back(g_now);
    e.holds.push_back(g_now);
  }

  void SetRouting(const RoutingOptions& o) {
    routing = o;
    if (o.assignment_hold_ms <= 0) {
      for (auto& r : records_)
        r.clear();
      for (Entry& e : live)
        e.holds.clear();
    }
    if (o.slow_start_ms <= 0) {
      for (Entry& e : live)
        e.warming = false;
    }
    TouchAll();
  }

  // An overfilled entry's excess (load - max) / max in steps of 2^-16 (max > 0 here: load >= max
  // with an eligible entry means cur < max <= load), capped as the registry caps its key.
  static std::uint64_t Overfill(const Entry& e) {
    const std::uint64_t max = e.info.max_conn_cnt;
    if (max == 0) return 0xfffffffeULL;
    const std::uint64_t steps = ((e.Load() - max) << 16) / max;
    return std::min<std::uint64_t>(steps, 0xfffffffeULL);
  }

  // -1, 0, 1: how a compares with b under the current policy.
  int Compare(const Entry& a, const Entry& b) const {
    if (routing.policy == Policy::kLeastCount) {
      return a.Load() < b.Load() ? -1 : (a.Load() > b.Load() ? 1 : 0);
    }
    const bool over_a = a.Load() >= a.info.max_conn_cnt;
    const bool over_b = b.Load() >= b.info.max_conn_cnt;
    if (over_a != over_b) return over_a ? 1 : -1;
    if (over_a) {
      // Both overfilled by holds: the documented order, (load - max) / max in steps of 2^-16.
      const std::uint64_t qa = Overfill(a);
      const std::uint64_t qb = Overfill(b);
      if (tolerate().overload) return 0;
      return qa < qb ? -1 : (qa > qb ? 1 : 0);
    }
    const Wide x = Wide{a.Load()} * b.info.max_conn_cnt;
    const Wide y = Wide{b.Load()} * a.info.max_conn_cnt;
    return x < y ? -1 : (x > y ? 1 : 0);
  }

  std::vector<const Entry*> Eligible() const {
    std::vector<const Entry*> out;
    for (const Entry& e : live) {
      if (e.Eligible()) out.push_back(&e);
    }
    return out;
  }

 private:
  std::vector<std::deque<std::int64_t>> records_;  // hold records per shard, in order of expiry
};

std::uint32_t Count(FuzzInput& in) {
  switch (in.U8() % 10) {
    case 0:
      return 0;
    case 1:
      return 1;
    case 2:
      return 2;
    case 3:
      return 3 + in.U8() % 8;
    case 4:
      return in.U8();
    case 5:
      return std::numeric_limits<std::uint32_t>::max();
    case 6:
      return std::numeric_limits<std::uint32_t>::max() - 1 - in.U8() % 2;
    case 7:
      return in.U32();
    default:
      return in.U8() % 6;
  }
}

MsgServerInfo MakeInfo(FuzzInput& in) {
  static constexpr const char* kIps[] = {"10.0.0.1", "10.0.0.2", "", "fe80::1"};
  static constexpr const char* kHosts[] = {"a", "b", "", "10.0.0.1"};
  MsgServerInfo info;
  const std::uint8_t names = in.U8();
  info.ip1 = kIps[names % 4];
  info.ip2 = kIps[(names >> 2) % 4];
  info.host_name = kHosts[(names >> 4) % 4];
  info.port = (names >> 6) % 3;
  info.max_conn_cnt = Count(in);
  info.cur_conn_cnt = Count(in);
  return info;
}

std::string DrainKey(FuzzInput& in) {
  static constexpr const char* kNames[] = {"a", "b", "", "10.0.0.1", "10.0.0.2", "fe80::1"};
  const std::uint8_t b = in.U8();
  if (b == 0xff) return in.String(8);
  return KeyOf(kNames[b % 6], (b >> 3) % 3);
}

std::int64_t Delta(FuzzInput& in) {
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  const std::uint8_t b = in.U8();
  switch (b % 14) {
    case 0:
    case 1:
      return 1;
    case 2:
      return -1;
    case 3:
      return 1 + in.U8();
    case 4:
      return -1 - static_cast<std::int64_t>(in.U8());
    case 5:
      return std::int64_t{1} << 32;
    case 6:
      return -(std::int64_t{1} << 32);
    case 7:
      return static_cast<std::int64_t>(std::numeric_limits<std::uint32_t>::max());
    case 8:
      return tolerate().int64 ? kMax / 2 : kMax;
    case 9:
      return tolerate().int64 ? kMin / 2 : kMin;
    case 10:
      return 0;
    case 11:
      return 2;
    case 12:
      return static_cast<std::int64_t>(in.U32()) - (std::int64_t{1} << 31);
    default:
      return -2;
  }
}

RoutingOptions MakeRouting(FuzzInput& in) {
  static constexpr std::int64_t kWindows[] = {0, 0, 1, 10, 100, 1000, 5, 0};
  static constexpr std::uint32_t kPercents[] = {10, 0, 1, 50, 99, 100, 150, 10};
  RoutingOptions o;
  const std::uint8_t a = in.U8();
  const std::uint8_t b = in.U8();
  o.policy = static_cast<Policy>(a % 3);
  o.slow_start_ms = kWindows[(a >> 2) % 8];
  o.assignment_hold_ms = kWindows[(a >> 5) % 8];
  o.slow_start_min_percent = kPercents[b % 8];
  if ((b >> 3) % 8 == 7) o.assignment_hold_ms = in.U16();
  if ((b >> 6) == 3) o.slow_start_ms = in.U16();
  return o;
}

class Harness {
 public:
  Harness(std::size_t shards, std::size_t bound)
      : model_(shards), registry_(shards, bound, [] { return g_now; }), bound_(bound) {}

  void Run(FuzzInput& in) {
    registry_.SetRouting(MakeRouting(in));
    model_.SetRouting(registry_.routing());
    Check();
    for (std::size_t step = 0; step < kMaxSteps && !in.empty(); ++step) {
      Step(in);
      Check();
    }
    // Remove everything: the registry must end empty.
    for (const Entry& e : std::vector<Entry>(model_.live))
      FUZZ_CHECK(registry_.Remove(e.handle));
    model_.live.clear();
    model_.names.clear();
    Check();
    FUZZ_CHECK(registry_.Choose().code == ChooseCode::kNoMsgServer);
  }

 private:
  ServerHandle PickHandle(FuzzInput& in) {
    const std::uint8_t b = in.U8();
    if (b >= 0xf0 || issued_.empty()) {
      // A handle the registry never issued (or the empty one).
      if (b == 0xff) return ServerHandle{};
      return ServerHandle{static_cast<std::uint32_t>(in.U8() % model_.shards()), in.U8() % 8U,
                          in.U8() % 8U};
    }
    if (b & 1 && !model_.live.empty()) return model_.live[(b >> 1) % model_.live.size()].handle;
    return issued_[(b >> 1) % issued_.size()];
  }

  void Step(FuzzInput& in) {
    switch (in.U8() % 16) {
      case 0:
        return DoRegister(in);
      case 1:
        return DoClaim(in);
      case 2:
        return in.Bool() ? DoReplace(in) : DoReclaim(in);
      case 3:
        return DoRemove(in);
      case 4:
      case 5:
      case 6:
        return DoAdjust(in);
      case 7:
        return DoDrain(in);
      case 8:
      case 9:
        return DoChoose(in, in.Bool(), in.U8() % 11);
      case 10: {
        const std::size_t n = 1 + in.U8() % 32;
        const bool assign = in.Bool();
        for (std::size_t i = 0; i < n; ++i) {
          DoChoose(in, assign, i % 3);
          Check();
        }
        return;
      }
      case 11:
        return DoSetRouting(in);
      case 12:
      case 13:
        return DoAdvance(in);
      case 14:
        registry_.Expire();
        model_.TouchAll();
        return;
      default:
        return DoMisc(in);
    }
  }

  void DoRegister(FuzzInput& in) {
    MsgServerInfo info = MakeInfo(in);
    EntryMeta meta{"peer" + std::to_string(in.U8() % 4), in.U8(), 0, ""};
    const ServerHandle h = registry_.Register(info, meta);
    FUZZ_CHECK(h.valid() == (bound_ == 0 || model_.live.size() < bound_));
    if (!h.valid()) return;
    if (model_.live.size() >= kMaxLive) {
      // Over the harness's own size limit: take it out again at once.
      FUZZ_CHECK(h.shard == model_.next_shard++ % model_.shards());
      FUZZ_CHECK(registry_.Remove(h));
      return;
    }
    FUZZ_CHECK(h.shard == model_.next_shard % model_.shards());  // round-robin
    ++model_.next_shard;
    FUZZ_CHECK(model_.Find(h) == nullptr);
    for (const ServerHandle& old : issued_)
      FUZZ_CHECK(!(old == h));  // never the handle of an earlier registration
    AddLive(h, std::move(info), std::move(meta));
  }

  // The model's side of a new entry (a registration or a claim): its name, its drain and warming
  // state, and its handle kept for later picks.
  void AddLive(const ServerHandle& h, MsgServerInfo info, EntryMeta meta) {
    model_.Name(info, h);
    Entry e;
    e.handle = h;
    e.draining = model_.Drained(info);
    e.info = std::move(info);
    e.meta = std::move(meta);
    if (model_.routing.slow_start_ms > 0 && e.info.cur_conn_cnt == 0) {
      e.warming = true;
      e.warm_since = g_now;
    }
    model_.live.push_back(std::move(e));
    if (issued_.size() < kMaxIssued) issued_.push_back(h);
  }

  // The address part of a peer, read independently of PeerAddressOf.
  static std::string AddressOf(const std::string& peer) {
    if (!peer.empty() && peer[0] == '[') return peer.substr(1, peer.find(']') - 1);
    const auto colon = peer.rfind(':');
    return colon == std::string::npos ? peer : peer.substr(0, colon);
  }

  ClaimRule MakeRule(FuzzInput& in) {
    static constexpr const char* kAddresses[] = {"10.0.0.1", "10.0.0.2", "peer0", "::1"};
    return ClaimRule{kAddresses[in.U8() % 4], in.U8(), in.U8() % 64};
  }

  // The live holder of `info`'s name other than `self`, and whether `rule` lets it go.
  Entry* Holder(const MsgServerInfo& info, ServerHandle self, const ClaimRule& rule,
                bool& may_displace) {
    const auto it = model_.names.find(KeyOf(info.host_name, info.port));
    if (it == model_.names.end() || it->second == self) return nullptr;
    Entry* holder = model_.Find(it->second);
    FUZZ_CHECK(holder != nullptr);  // a name is freed when its holder leaves
    may_displace = AddressOf(holder->meta.peer) == rule.peer_address ||
                   rule.now_unix_ms - holder->meta.last_heard_ms >= rule.silence_ms;
    return holder;
  }

  void Forget(Entry* e) {
    model_.Unname(e->info, e->handle);
    model_.live.erase(model_.live.begin() + (e - model_.live.data()));
  }

  void DoClaim(FuzzInput& in) {
    static constexpr const char* kPeers[] = {"10.0.0.1:1", "10.0.0.1:2", "10.0.0.2:1", "[::1]:7"};
    MsgServerInfo info = MakeInfo(in);
    EntryMeta meta{kPeers[in.U8() % 4], in.U8(), in.U8(), ""};
    const ClaimRule rule = MakeRule(in);
    const ClaimResult r = registry_.Claim(info, meta, rule);
    bool may_displace = false;
    Entry* holder = Holder(info, ServerHandle{}, rule, may_displace);
    if (holder != nullptr && !may_displace) {
      FUZZ_CHECK(r.code == ClaimCode::kTaken && !r.handle.valid());
      FUZZ_CHECK(r.holder_peer == holder->meta.peer);
      return;
    }
    FUZZ_CHECK(r.displaced == (holder != nullptr));
    if (holder != nullptr) {
      FUZZ_CHECK(r.holder_peer == holder->meta.peer);
      Forget(holder);
    }
    FUZZ_CHECK(r.code ==
               ((bound_ == 0 || model_.live.size() < bound_) ? ClaimCode::kOk : ClaimCode::kFull));
    if (r.code != ClaimCode::kOk) return;
    const ServerHandle h = r.handle;
    FUZZ_CHECK(h.shard == model_.next_shard++ % model_.shards());  // round-robin
    if (model_.live.size() >= kMaxLive) {
      FUZZ_CHECK(registry_.Remove(h));
      return;
    }
    AddLive(h, std::move(info), std::move(meta));
  }

  void DoReclaim(FuzzInput& in) {
    const ServerHandle h = PickHandle(in);
    MsgServerInfo info = MakeInfo(in);
    const ClaimRule rule = MakeRule(in);
    const ClaimResult r = registry_.Reclaim(h, info, "", rule);
    if (model_.Find(h) == nullptr) {
      FUZZ_CHECK(r.code == ClaimCode::kGone);
      return;
    }
    bool may_displace = false;
    Entry* holder = Holder(info, h, rule, may_displace);
    if (holder != nullptr && !may_displace) {
      FUZZ_CHECK(r.code == ClaimCode::kTaken);
      return;
    }
    FUZZ_CHECK(r.code == ClaimCode::kOk && r.handle == h);
    FUZZ_CHECK(r.displaced == (holder != nullptr));
    if (holder != nullptr) Forget(holder);
    Entry* e = model_.Find(h);
    if (KeyOf(e->info.host_name, e->info.port) != KeyOf(info.host_name, info.port)) {
      model_.Unname(e->info, h);
      model_.Name(info, h);
    }
    e->draining = model_.Drained(info);
    e->info = std::move(info);
    e->meta.warning.clear();
  }

  void DoReplace(FuzzInput& in) {
    const ServerHandle h = PickHandle(in);
    MsgServerInfo info = MakeInfo(in);
    std::string warning = in.Bool() ? "loopback" : "";
    const bool ok = registry_.Replace(h, info, warning);
    Entry* e = model_.Find(h);
    FUZZ_CHECK(ok == (e != nullptr));
    if (e == nullptr) return;
    if (KeyOf(e->info.host_name, e->info.port) != KeyOf(info.host_name, info.port)) {
      model_.Unname(e->info, h);
      model_.Name(info, h);
    }
    e->draining = model_.Drained(info);
    e->info = std::move(info);
    e->meta.warning = std::move(warning);
  }

  void DoRemove(FuzzInput& in) {
    const ServerHandle h = PickHandle(in);
    const bool ok = registry_.Remove(h);
    Entry* e = model_.Find(h);
    FUZZ_CHECK(ok == (e != nullptr));
    FUZZ_CHECK(registry_.Live(h) == false);
    if (e == nullptr) return;
    Forget(e);
  }

  void DoAdjust(FuzzInput& in) {
    const ServerHandle h = PickHandle(in);
    const std::int64_t delta = Delta(in);
    const auto change = registry_.AdjustCount(h, delta);
    Entry* e = model_.Find(h);
    FUZZ_CHECK(change.has_value() == (e != nullptr));
    if (e == nullptr) return;
    model_.Touch(h.shard);
    const __int128 wanted = static_cast<__int128>(e->info.cur_conn_cnt) + delta;
    const __int128 top = std::numeric_limits<std::uint32_t>::max();
    const bool clamped = wanted < 0 || wanted > top;
    const auto count = static_cast<std::uint32_t>(wanted < 0 ? 0 : (wanted > top ? top : wanted));
    FUZZ_CHECK(change->clamped == clamped);
    FUZZ_CHECK(change->count == count);
    e->info.cur_conn_cnt = count;
    if (delta > 0) {
      const auto settle =
          std::min<std::uint64_t>(static_cast<std::uint64_t>(delta), e->holds.size());
      e->holds.erase(e->holds.begin(), e->holds.begin() + static_cast<std::ptrdiff_t>(settle));
    }
  }

  void DoDrain(FuzzInput& in) {
    const std::string key = DrainKey(in);
    const std::uint8_t mode = in.U8();
    const bool draining = (mode & 1) != 0;
    const bool operator_drain = (mode & 2) != 0;  // Drain(): the admin endpoint's call
    auto& keys = model_.drain_keys;
    const bool was = std::find(keys.begin(), keys.end(), key) != keys.end();
    std::size_t matched = 0;
    MsgServerRegistry::DrainOutcome outcome;
    if (operator_drain) {
      outcome = registry_.Drain(key, draining);
      matched = outcome.matched;
    } else {
      matched = registry_.SetDraining(key, draining);
    }
    const auto forget = [&keys](const std::string& k) {
      keys.erase(std::remove(keys.begin(), keys.end(), k), keys.end());
    };
    forget(key);
    std::size_t expected = 0;
    for (const Entry& e : model_.live) {
      if (KeyOf(e.info.host_name, e.info.port) != key && KeyOf(e.info.ip1, e.info.port) != key) {
        continue;
      }
      ++expected;
      if (!draining) {  // undraining by one name lifts both names of the msg_server
        forget(KeyOf(e.info.host_name, e.info.port));
        forget(KeyOf(e.info.ip1, e.info.port));
      }
    }
    // The operator's first drain of a name nobody has is a typo: not remembered.
    const bool keep = draining && !(operator_drain && expected == 0 && !was);
    if (keep) keys.push_back(key);
    for (Entry& e : model_.live)
      e.draining = model_.Drained(e.info);
    FUZZ_CHECK(matched == expected);
    FUZZ_CHECK(registry_.IsDrainKey(key) == keep);
    if (operator_drain) {
      FUZZ_CHECK(outcome.was_remembered == was);
      FUZZ_CHECK(outcome.remembered == keep);
    }
  }

  void DoSetRouting(FuzzInput& in) {
    const RoutingOptions o = MakeRouting(in);
    registry_.SetRouting(o);
    model_.SetRouting(o);
    FUZZ_CHECK(registry_.routing() == o);
  }

  void DoAdvance(FuzzInput& in) {
    static constexpr std::int64_t kSteps[] = {0, 1, 2, 5, 9, 10, 11, 50, 99, 100, 101, 999, 1000};
    const std::uint8_t b = in.U8();
    g_now += b < 13 * 19 ? kSteps[b % 13] : in.U16();
  }

  void DoMisc(FuzzInput& in) {
    switch (in.U8() % 3) {
      case 0: {
        const ServerHandle h = PickHandle(in);
        const std::int64_t ms = in.U32();
        const bool ok = registry_.Touch(h, ms);
        Entry* e = model_.Find(h);
        FUZZ_CHECK(ok == (e != nullptr));
        if (e != nullptr) e->meta.last_heard_ms = ms;
        return;
      }
      case 1:
        bound_ = in.U8() % 6;
        registry_.set_max_servers(bound_);
        return;
      default:
        FUZZ_CHECK(registry_.AnyEligible() == !model_.Eligible().empty());
        return;
    }
  }

  void DoChoose(FuzzInput& in, bool assign, std::size_t extra) {
    // With several shards, either every shard is brought up to date first (exact checks) or not
    // (order-free checks only; see the top of the file).
    const bool exact = model_.shards() == 1 || in.Bool();
    if (model_.shards() > 1 && exact) {
      registry_.Expire();
      model_.TouchAll();
    }
    const bool any = !model_.Eligible().empty();
    // One shard: the Choose touches it when it finds an eligible entry. A touch that changed
    // something came after the lock-free reading of the shard's minimum.
    bool stale = false;
    if (model_.shards() == 1 && any) stale = model_.Touch(0);

    const Choice c = registry_.Choose({.extra = extra, .assign = assign});
    if (!any) {
      FUZZ_CHECK(c.code == (model_.live.empty() ? ChooseCode::kNoMsgServer : ChooseCode::kAllFull));
      FUZZ_CHECK(c.candidates.empty());
      FUZZ_CHECK(!c.handle.valid());
      return;
    }
    FUZZ_CHECK(c.code == ChooseCode::kOk);
    Entry* chosen = model_.Find(c.handle);
    FUZZ_CHECK(chosen != nullptr);
    FUZZ_CHECK(chosen->Eligible());
    FUZZ_CHECK(c.ip1 == chosen->info.ip1 && c.ip2 == chosen->info.ip2);
    FUZZ_CHECK(c.port == chosen->info.port);
    if (exact && model_.routing.policy != Policy::kP2c) CheckLeast(*chosen, stale);

    if (!exact) model_.Touch(c.handle.shard);
    if (assign) model_.PlaceHold(*chosen);
    if (!exact) {
      registry_.Expire();
      model_.TouchAll();
    }

    const std::vector<const Entry*> eligible = model_.Eligible();
    const std::size_t want = std::min({extra, kMaxCandidates, eligible.size() - 1});
    FUZZ_CHECK(c.candidates.size() == want);
    std::vector<const Entry*> rest;
    for (const Entry* e : eligible) {
      if (!(e->handle == c.handle)) rest.push_back(e);
    }
    std::stable_sort(rest.begin(), rest.end(),
                     [this](const Entry* a, const Entry* b) { return model_.Compare(*a, *b) < 0; });
    const Entry* previous = nullptr;
    for (std::size_t i = 0; i < c.candidates.size(); ++i) {
      const registry::Candidate& cand = c.candidates[i];
      const Entry* e = model_.Find(cand.handle);
      FUZZ_CHECK(e != nullptr);
      FUZZ_CHECK(e->Eligible());
      FUZZ_CHECK(!(cand.handle == c.handle));
      for (std::size_t j = 0; j < i; ++j)
        FUZZ_CHECK(!(c.candidates[j].handle == cand.handle));
      FUZZ_CHECK(cand.ip1 == e->info.ip1 && cand.ip2 == e->info.ip2 && cand.port == e->info.port);
      if (!exact) continue;
      if (previous != nullptr) FUZZ_CHECK(model_.Compare(*previous, *e) <= 0);  // best first
      FUZZ_CHECK(model_.Compare(*e, *rest[i]) == 0);  // and the best of the rest
      previous = e;
    }
  }

  // least_count / least_ratio: the answer is the least loaded, the warming ones apart.
  void CheckLeast(const Entry& chosen, bool stale) const {
    const Entry* best_warm = nullptr;
    const Entry* best_warming = nullptr;
    for (const Entry* e : model_.Eligible()) {
      const Entry*& best = e->warming ? best_warming : best_warm;
      if (best == nullptr || model_.Compare(*e, *best) < 0) best = e;
    }
    const Entry* best = best_warm;
    if (best == nullptr || (best_warming != nullptr && model_.Compare(*best_warming, *best) < 0)) {
      best = best_warming;
    }
    if (best_warming == nullptr) {
      FUZZ_CHECK(model_.Compare(chosen, *best) == 0);
      return;
    }
    // Slow start: a warming entry is taken only when it alone would win, and then only by chance;
    // otherwise the best warm one.
    FUZZ_CHECK(model_.Compare(chosen, chosen.warming ? *best_warming : *best_warm) == 0);
    if (stale) return;
    if (chosen.warming && best_warm != nullptr) {
      // (Tolerating "overload", ratios of 1 or more compare equal here but not in the registry.)
      const int order = model_.Compare(*best_warming, *best_warm);
      FUZZ_CHECK(order < 0 || (order == 0 && tolerate().overload));
    }
    if (model_.routing.slow_start_min_percent >= 100) {
      FUZZ_CHECK(model_.Compare(chosen, *best) == 0);  // a chance of 100%: no slow start at all
    }
  }

  void Check() {
    const auto snapshot = registry_.Snapshot();
    const auto stats = registry_.Stats();
    FUZZ_CHECK(snapshot.size() == model_.live.size());
    std::size_t eligible = 0;
    std::size_t draining = 0;
    std::size_t warming = 0;
    std::uint64_t users = 0;
    std::uint64_t held = 0;
    for (const registry::ServerSnapshot& s : snapshot) {
      const Entry* e = model_.Find(s.handle);
      FUZZ_CHECK(e != nullptr);
      FUZZ_CHECK(s.info.ip1 == e->info.ip1 && s.info.ip2 == e->info.ip2);
      FUZZ_CHECK(s.info.host_name == e->info.host_name && s.info.port == e->info.port);
      FUZZ_CHECK(s.info.cur_conn_cnt == e->info.cur_conn_cnt);
      FUZZ_CHECK(s.info.max_conn_cnt == e->info.max_conn_cnt);
      FUZZ_CHECK(s.meta.peer == e->meta.peer);
      FUZZ_CHECK(s.meta.registered_ms == e->meta.registered_ms);
      FUZZ_CHECK(s.meta.last_heard_ms == e->meta.last_heard_ms);
      FUZZ_CHECK(s.meta.warning == e->meta.warning);
      FUZZ_CHECK(s.draining == e->draining);
      FUZZ_CHECK(s.warming == e->warming);
      FUZZ_CHECK(s.held == e->holds.size());
      // Windows: nothing warms without slow start, no hold without holds, none past its window
      // in a shard the model saw touched since.
      FUZZ_CHECK(!s.warming || model_.routing.slow_start_ms > 0);
      FUZZ_CHECK(s.held == 0 || model_.routing.assignment_hold_ms > 0);
      eligible += e->Eligible();
      draining += e->draining;
      warming += e->warming;
      users += e->info.cur_conn_cnt;
      held += e->holds.size();
    }
    FUZZ_CHECK(stats.registered == model_.live.size());
    FUZZ_CHECK(stats.eligible == eligible);
    FUZZ_CHECK(stats.draining == draining);
    FUZZ_CHECK(stats.warming == warming);
    FUZZ_CHECK(stats.users == users);
    FUZZ_CHECK(stats.held == held);
    FUZZ_CHECK(registry_.AnyEligible() == (eligible != 0));
    for (const ServerHandle& h : issued_) {
      const auto got = registry_.Get(h);
      const Entry* e = model_.Find(h);
      FUZZ_CHECK(got.has_value() == (e != nullptr));
      if (e == nullptr) continue;
      FUZZ_CHECK(got->cur_conn_cnt == e->info.cur_conn_cnt);
      FUZZ_CHECK(got->max_conn_cnt == e->info.max_conn_cnt);
      FUZZ_CHECK(got->ip1 == e->info.ip1 && got->host_name == e->info.host_name);
    }
  }

  Model model_;
  MsgServerRegistry registry_;
  std::size_t bound_;
  std::vector<ServerHandle> issued_;
};

}  // namespace
}  // namespace ttlogin::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ttlogin::fuzz;
  FuzzInput in(data, size);
  const std::size_t shards = 1 + in.U8() % 4;
  const std::uint8_t b = in.U8();
  const std::size_t bound = b < 192 ? 0 : b % 8;
  g_now = in.U16();
  ttlogin::registry::SeedThreadRandom(in.U32());
  Harness harness(shards, bound);
  harness.Run(in);
  return 0;
}
