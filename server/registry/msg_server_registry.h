// MsgServerRegistry: every registered msg_server and its load, and the choice of one for a login.
//
// Knows neither bytes nor sockets, so it is unit-tested, fuzzed and benchmarked on its own.
//
// Design (see docs/ARCHITECTURE.md and docs/ROUTING.md):
//  - Entries live in a fixed number of shards, each with its own mutex. A msg_server is placed in
//    a shard once, at registration (round-robin), and every later update of it touches only that
//    shard, so updates arriving on different io threads rarely meet on one lock.
//  - Inside a shard, what updates and choices touch (counts, flags, heap position) lives in a
//    compact "hot" array; strings and operator metadata live apart, so a large registry still
//    keeps its working set in cache.
//  - The eligible entries of a shard (cur < max, not draining) sit in an indexed binary min-heap
//    keyed by the policy's load key: the count (least_count) or the ratio load/max as a 64-bit
//    fixed-point fraction (least_ratio, p2c), where load counts provisional users (below). The
//    ratio is exact while load < max; at or beyond max (holds can overfill an entry) the order is
//    by (load - max) / max in steps of 2^-16, above every entry below max. A
//    +-1 update moves an entry a level or two at most in practice; the heap array doubles as the
//    dense list p2c samples from.
//  - Each shard publishes its minimum key in an atomic word. Choose() reads the shard words (a
//    fixed number, independent of how many msg_servers exist), then locks the one shard that
//    holds the minimum. Cost: O(shards), never O(msg_servers).
//  - Slow start: an entry registered while SlowStart is on sits in a second per-shard heap for the
//    window. When it would win, it is taken only with probability f (growing linearly from the
//    configured minimum to 1 over the window), otherwise the best warm entry is; so its share of
//    new logins ramps up instead of it taking every login until it catches up.
//  - Assignment holds: each login handed out may count as a provisional user of the chosen entry
//    until that entry's next increment arrives or the hold window passes, so a burst between two
//    count updates spreads out. Holds change the order, never eligibility (which stays cur < max,
//    as the msg_server reported it).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ttlogin::registry {

struct MsgServerInfo {
  std::string ip1;
  std::string ip2;
  std::uint32_t port = 0;
  std::uint32_t max_conn_cnt = 0;
  std::uint32_t cur_conn_cnt = 0;
  std::string host_name;
};

// What the registry keeps about an entry besides what the msg_server reported: for operators.
struct EntryMeta {
  std::string peer;                // "ip:port" of the msg_server's connection
  std::int64_t registered_ms = 0;  // Unix time of the registration, in ms
  std::int64_t last_heard_ms = 0;  // Unix time the connection last sent something (coarse)
  std::string warning;             // e.g. a loopback address advertised; empty when none
};

// Identifies one registration. The generation makes a handle to a removed entry harmless even
// after its slot is reused.
struct ServerHandle {
  std::uint32_t shard = 0;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;  // 0 = no entry
  bool valid() const { return generation != 0; }
  friend bool operator==(const ServerHandle&, const ServerHandle&) = default;
};

enum class ChooseCode : std::uint32_t {
  kOk = 0,           // REFUSE_REASON_NONE
  kNoMsgServer = 1,  // REFUSE_REASON_NO_MSG_SERVER
  kAllFull = 2,      // REFUSE_REASON_MSG_SERVER_FULL
};

// How Choose() ranks eligible msg_servers (config key Policy).
enum class Policy : std::uint8_t {
  kLeastCount,  // least_count: smallest cur (the classic rule, the default)
  kLeastRatio,  // least_ratio: smallest cur/max, for msg_servers of different sizes
  kP2c,         // p2c: two eligible entries drawn at random, the one with the smaller cur/max
};
std::string_view PolicyName(Policy policy);
std::optional<Policy> ParsePolicy(std::string_view name);

struct RoutingOptions {
  Policy policy = Policy::kLeastCount;
  // Slow start window, ms (0 = off): how long the share of a msg_server that registered empty
  // (cur 0) ramps up. One registering with users (e.g. after this server restarted) does not warm.
  std::int64_t slow_start_ms = 0;
  // Its share at the start of the window, percent of what the policy alone would give it (1-100).
  std::uint32_t slow_start_min_percent = 10;
  // Assignment hold, ms (0 = off): how long a handed-out login counts as a provisional user of
  // the chosen msg_server when no increment from it arrives first.
  std::int64_t assignment_hold_ms = 0;
  friend bool operator==(const RoutingOptions&, const RoutingOptions&) = default;
};

// One acceptable msg_server in a choice.
struct Candidate {
  std::string ip1;
  std::string ip2;
  std::uint32_t port = 0;
  ServerHandle handle;
};

struct Choice {
  ChooseCode code = ChooseCode::kNoMsgServer;
  std::string ip1;
  std::string ip2;
  std::uint32_t port = 0;
  ServerHandle handle;
  // More acceptable msg_servers, best first, without the chosen one (ChooseOptions::extra).
  std::vector<Candidate> candidates;
};

struct ChooseOptions {
  std::size_t extra = 0;  // how many more candidates to list (bounded by kMaxExtraCandidates)
  bool assign = true;     // a real login: places an assignment hold when holds are on
};

struct CountChange {
  std::uint32_t count = 0;  // the count after the change
  bool clamped = false;     // the change would have gone below 0 or above 2^32-1
};

// Who may register a host_name:port that a live entry already holds (Claim, Reclaim). A name has
// one live entry at a time, so a peer that claims another msg_server's name cannot take its
// logins (and /metrics has one series per name); but a msg_server that reconnects, from the same
// address, or after its old connection went silent, replaces its stale entry at once instead of
// waiting for MsgServerTimeout.
struct ClaimRule {
  std::string peer_address;      // the claimant's address, without port (PeerAddressOf)
  std::int64_t now_unix_ms = 0;  // compared with the holder's EntryMeta::last_heard_ms
  std::int64_t silence_ms = 0;   // a holder from another address silent this long is displaced
};

enum class ClaimCode : std::uint8_t {
  kOk,     // registered (or replaced)
  kFull,   // the registry holds max_servers entries
  kTaken,  // a live entry from another address, heard from recently, holds the name
  kGone,   // Reclaim only: the handle's entry is no longer live (it was displaced)
};

struct ClaimResult {
  ClaimCode code = ClaimCode::kOk;
  ServerHandle handle;      // the entry (kOk)
  bool displaced = false;   // another entry of the same host_name:port was removed for it
  std::string holder_peer;  // EntryMeta::peer of the entry that holds (kTaken) or held the name
};

// The address part of an EntryMeta::peer ("1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1").
std::string_view PeerAddressOf(std::string_view peer);

struct RegistryStats {
  std::size_t registered = 0;
  std::size_t eligible = 0;  // cur < max and not draining
  std::size_t draining = 0;
  std::size_t warming = 0;  // still inside their slow start window
  std::uint64_t users = 0;  // sum of cur over all entries
  std::uint64_t held = 0;   // provisional users (assignment holds) over all entries
};

struct ServerSnapshot {
  ServerHandle handle;
  MsgServerInfo info;
  EntryMeta meta;
  bool draining = false;
  bool warming = false;
  std::uint32_t held = 0;  // provisional users
};

class MsgServerRegistry {
 public:
  static constexpr std::size_t kDefaultShardCount = 32;
  static constexpr std::size_t kMaxExtraCandidates = 8;
  // Assignment holds alive at once per shard (16 bytes each): beyond it a login is handed out
  // without a hold, so a flood with a long hold window cannot grow memory without bound.
  static constexpr std::size_t kMaxHoldsPerShard = 65536;
  // A monotonic clock in ms; slow start and holds read it. Injected by tests and simulations.
  using Clock = std::function<std::int64_t()>;

  // `max_servers` bounds the number of registrations (0 = no bound): a flood of fake
  // registrations must not grow memory without limit. An empty clock means steady_clock.
  explicit MsgServerRegistry(std::size_t shard_count = kDefaultShardCount,
                             std::size_t max_servers = 0, Clock clock = {});
  ~MsgServerRegistry();
  MsgServerRegistry(const MsgServerRegistry&) = delete;
  MsgServerRegistry& operator=(const MsgServerRegistry&) = delete;

  // Returns an invalid handle when the registry already holds max_servers entries. Does not look
  // at other entries of the same host_name:port (simulations and tools model many processes this
  // way); the server registers through Claim().
  ServerHandle Register(MsgServerInfo info, EntryMeta meta = {});
  // Replaces the info of a live entry (a second IMMsgServInfo). False if the handle is stale.
  bool Replace(ServerHandle handle, MsgServerInfo info, std::string warning = {});
  // Register, keeping one live entry per host_name:port: when another live entry holds the name,
  // it is displaced (removed, with its users) if it came from rule.peer_address or has not been
  // heard from for rule.silence_ms; otherwise the claim is refused with kTaken.
  ClaimResult Claim(MsgServerInfo info, EntryMeta meta, const ClaimRule& rule);
  // Replace under the same rule, for a second IMMsgServInfo that may carry a new name.
  ClaimResult Reclaim(ServerHandle handle, MsgServerInfo info, std::string warning,
                      const ClaimRule& rule);
  // Whether the handle's entry is still registered (not removed or displaced).
  bool Live(ServerHandle handle) const;
  // Records that the entry's connection was heard from at `unix_ms`. False if the handle is stale.
  bool Touch(ServerHandle handle, std::int64_t unix_ms);
  // Removes the entry and all its users. False if the handle is stale.
  bool Remove(ServerHandle handle);
  // Moves the entry's count by `delta`, clamped to [0, 2^32-1]. nullopt if the handle is stale.
  // An increment first settles that many of the entry's assignment holds.
  std::optional<CountChange> AdjustCount(ServerHandle handle, std::int64_t delta);
  // The same for a run of updates summed into `delta` that held `increments` increments (e.g.
  // "+1 -1" is delta 0 with 1 increment): settles up to `increments` holds, as applying the run
  // one update at a time would.
  std::optional<CountChange> AdjustCount(ServerHandle handle, std::int64_t delta,
                                         std::uint64_t increments);

  // The msg_server a login should go to under the routing options (ties: any tied entry), and
  // optionally more acceptable ones. Eligible: cur < max and not draining.
  Choice Choose(const ChooseOptions& options = {});
  // Whether Choose() would find an eligible entry now (no side effect).
  bool AnyEligible() const;

  // Applies new routing options (reload). Re-keys every entry; entries warming under a slow start
  // window that is switched off become warm at once.
  void SetRouting(const RoutingOptions& options);
  RoutingOptions routing() const;
  // Ends assignment holds and slow start windows that have run out. Both also end lazily when
  // the shard is next touched; call this periodically (e.g. every 100 ms) so idle shards do too.
  void Expire();

  // Draining: a draining entry keeps its users but is never chosen. `key` is "host_name:port" or
  // "ip1:port"; it is remembered, so a msg_server that reconnects while drained stays drained. An
  // entry drains exactly while some remembered key matches it (a Replace() is judged by its new
  // info). Undraining forgets `key` and both names of every entry it matches, so a msg_server
  // drained by host name can be undrained by address and stays undrained when it reconnects.
  // Returns how many live entries match `key`.
  std::size_t SetDraining(std::string_view key, bool draining);
  bool IsDrainKey(std::string_view key) const;
  // The operator's drain: as SetDraining, except that a drain matching no live entry is
  // remembered only when `key` already was (a repeated drain of a msg_server that is away keeps
  // its drain; a first drain of a name nobody has is a typo, not remembered).
  struct DrainOutcome {
    std::size_t matched = 0;      // live entries matching `key`
    bool was_remembered = false;  // `key` was a remembered drain key before the call
    bool remembered = false;      // and after it
  };
  DrainOutcome Drain(std::string_view key, bool draining);

  void set_max_servers(std::size_t n) { max_servers_.store(n, std::memory_order_relaxed); }

  std::optional<MsgServerInfo> Get(ServerHandle handle) const;
  RegistryStats Stats() const;
  std::vector<ServerSnapshot> Snapshot() const;
  std::size_t shard_count() const { return shard_count_; }

 private:
  struct Shard;
  struct Sample;
  Shard& ShardOf(ServerHandle handle) const;
  std::int64_t Now() const;
  ChooseCode RefusalCode() const;
  bool ChooseByKey(Choice& choice, bool assign);
  bool ChooseP2c(Choice& choice, bool assign);
  void TakeLocked(Shard& shard, std::size_t shard_index, std::uint32_t slot, bool assign,
                  Choice& choice);
  void ListCandidates(Choice& choice, std::size_t extra) const;

  bool MatchesDrainKeyLocked(const MsgServerInfo& info) const;
  std::size_t SetDrainingLocked(std::string_view key, bool draining);
  // The bodies of Register, Replace and Remove; drain_mu_ held.
  ServerHandle InsertLocked(MsgServerInfo info, EntryMeta meta);
  bool ReplaceLocked(ServerHandle handle, MsgServerInfo info, std::string warning);
  bool RemoveLocked(ServerHandle handle);
  // The live entry holding `name_key` other than `self`, and whether `rule` lets it be displaced.
  std::optional<ServerHandle> HolderLocked(const std::string& name_key, ServerHandle self,
                                           const ClaimRule& rule, bool& may_displace,
                                           std::string& holder_peer) const;

  std::size_t shard_count_;
  std::atomic<std::size_t> max_servers_;
  Clock clock_;
  // Guards the remembered drain keys and the name index; taken before any shard's mu.
  mutable std::mutex drain_mu_;
  std::set<std::string, std::less<>> drain_keys_;
  // "host_name:port" -> the entry that holds it (Claim keeps one per name; plain Register only
  // indexes a name nobody holds).
  std::unordered_map<std::string, ServerHandle> names_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<std::size_t> next_shard_{0};
  std::atomic<std::size_t> registered_{0};
  // Routing options: written under every shard lock by SetRouting; each shard keeps a copy read
  // under its own lock, these atomics serve the lock-free part of Choose().
  mutable std::mutex routing_mu_;
  RoutingOptions routing_;
  std::atomic<Policy> policy_{Policy::kLeastCount};
  std::atomic<bool> slow_start_on_{false};
};

// Seeds this thread's random source (p2c draws, slow start): simulations and tests that must be
// reproducible call it first; otherwise each thread seeds itself from std::random_device.
void SeedThreadRandom(std::uint64_t seed);

}  // namespace ttlogin::registry
