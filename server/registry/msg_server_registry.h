// MsgServerRegistry: every registered msg_server and its load, and the choice of one for a login.
//
// Knows neither bytes nor sockets, so it is unit-tested, fuzzed and benchmarked on its own.
//
// The facade over the registry's parts (see docs/ARCHITECTURE.md and docs/ROUTING.md):
//  - load_key.h: the order of eligible entries under each policy, as pure functions.
//  - registry_shard.h: entries live in a fixed number of shards, each with its own mutex, its
//    indexed heaps of eligible entries and its FIFOs of assignment holds and slow start windows.
//    A msg_server is placed in a shard once, at registration (round-robin), and every later update
//    of it touches only that shard, so updates arriving on different io threads rarely meet on one
//    lock.
//  - choice.h: least_count, least_ratio and p2c over the shards' published minimums, in
//    O(shards), never O(msg_servers).
// The registry itself owns the shards, the index of names (one live entry per host_name:port)
// and the remembered drain keys, and clamps counts to [0, kMaxCount].
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

#include "server/registry/registry_types.h"

namespace ttlogin::registry {

struct RegistryShard;

struct ChooseOptions {
  std::size_t extra = 0;  // how many more candidates to list (bounded by kMaxExtraCandidates)
  bool assign = true;     // a real login: places an assignment hold when holds are on
};

struct CountChange {
  std::uint32_t count = 0;  // the count after the change
  bool clamped = false;     // the change would have gone below 0 or above kMaxCount
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
  std::uint64_t link = 0;        // the claimant's EntryMeta::link (0: unknown)
};

enum class ClaimCode : std::uint8_t {
  kOk,     // registered (or replaced)
  kFull,   // the registry holds max_servers entries
  kTaken,  // a live entry from another address, heard from recently, holds the name
  kGone,   // Reclaim only: the handle's entry is no longer live (it was displaced)
  // A link accepted later from the same address holds the name: the claimant is the msg_server's
  // old link, whose bytes were read late (another io thread), and must not take the name back.
  kSuperseded,
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

// One entry as a live upgrade carries it to the new process (registry_state.cc): what the
// msg_server reported, the operator's metadata, and the timed state, as ages, so that it goes on
// where it stood whatever the new registry's clock.
struct RegistryEntryState {
  ServerHandle handle;  // in the exporting registry (ExportState only)
  MsgServerInfo info;   // with the counts as they are
  EntryMeta meta;
  std::uint32_t held = 0;                  // provisional users
  std::uint32_t settled = 0;               // holds settled whose records have not expired yet
  std::vector<std::int64_t> hold_ages_ms;  // one per live hold record, oldest first
  bool warming = false;
  std::int64_t warming_age_ms = 0;  // how long it has been warming
};

struct RegistryState {
  std::vector<std::string> drain_keys;
  std::vector<RegistryEntryState> entries;
};

class MsgServerRegistry {
 public:
  static constexpr std::size_t kDefaultShardCount = 32;
  static constexpr std::size_t kMaxExtraCandidates = registry::kMaxExtraCandidates;
  static constexpr std::size_t kMaxHoldsPerShard = registry::kMaxHoldsPerShard;
  using Clock = registry::Clock;

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
  // Moves the entry's count by `delta`, clamped to [0, kMaxCount]. nullopt if the handle is stale.
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

  // Live upgrade (registry_state.cc). Every entry with its timed state, and the drain keys.
  RegistryState ExportState() const;
  // Adds the carried entries (beyond MaxMsgServers if need be: the old process had accepted them)
  // and drain keys; returns each entry's new handle, in order. Holds and slow start windows go on
  // from their ages under this registry's routing options (dropped where those are off).
  std::vector<ServerHandle> ImportState(const RegistryState& state);

 private:
  RegistryShard& ShardOf(ServerHandle handle) const;
  ChooseCode RefusalCode() const;

  bool MatchesDrainKeyLocked(const MsgServerInfo& info) const;
  std::size_t SetDrainingLocked(std::string_view key, bool draining);
  // The bodies of Register, Replace and Remove; drain_mu_ held.
  ServerHandle InsertLocked(MsgServerInfo info, EntryMeta meta);
  bool ReplaceLocked(ServerHandle handle, MsgServerInfo info, std::string warning);
  bool RemoveLocked(ServerHandle handle);
  // The live entry holding `name_key` other than `self`, and whether `rule` lets it be displaced.
  std::optional<ServerHandle> HolderLocked(const std::string& name_key, ServerHandle self,
                                           const ClaimRule& rule, bool& may_displace,
                                           bool& superseded, std::string& holder_peer) const;

  std::size_t shard_count_;
  std::atomic<std::size_t> max_servers_;
  Clock clock_;
  // Guards the remembered drain keys and the name index; taken before any shard's mu.
  mutable std::mutex drain_mu_;
  std::set<std::string, std::less<>> drain_keys_;
  // "host_name:port" -> the entry that holds it (Claim keeps one per name; plain Register only
  // indexes a name nobody holds).
  std::unordered_map<std::string, ServerHandle> names_;
  std::unique_ptr<RegistryShard[]> shards_;
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
