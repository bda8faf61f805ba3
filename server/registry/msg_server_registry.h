// MsgServerRegistry: every registered msg_server and its load, and the least-loaded choice.
//
// Knows neither bytes nor sockets, so it is unit-tested, fuzzed and benchmarked on its own.
//
// Design (see docs/ARCHITECTURE.md):
//  - Entries live in a fixed number of shards, each with its own mutex. A msg_server is placed in
//    a shard once, at registration (round-robin), and every later update of it touches only that
//    shard, so updates arriving on different io threads rarely meet on one lock.
//  - Inside a shard, the eligible entries (cur < max) are kept in buckets keyed by count, each
//    bucket an intrusive list. A count moves by one at a time, so an update moves an entry to the
//    neighbouring bucket: O(1), whatever the number of entries. Empty bucket nodes are recycled
//    with map node handles, so a steady stream of updates does not allocate.
//  - Each shard publishes its minimum (count, slot) in one atomic word. Choose() reads the shard
//    words (a fixed number, independent of how many msg_servers exist), then locks the one shard
//    that holds the minimum. Cost: O(shards), never O(msg_servers).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
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

struct Choice {
  ChooseCode code = ChooseCode::kNoMsgServer;
  std::string ip1;
  std::string ip2;
  std::uint32_t port = 0;
  ServerHandle handle;
};

struct CountChange {
  std::uint32_t count = 0;  // the count after the change
  bool clamped = false;     // the change would have gone below 0 or above 2^32-1
};

struct RegistryStats {
  std::size_t registered = 0;
  std::size_t eligible = 0;  // cur < max and not draining
  std::size_t draining = 0;
  std::uint64_t users = 0;  // sum of cur over all entries
};

struct ServerSnapshot {
  ServerHandle handle;
  MsgServerInfo info;
  EntryMeta meta;
  bool draining = false;
};

class MsgServerRegistry {
 public:
  static constexpr std::size_t kDefaultShardCount = 32;

  // `max_servers` bounds the number of registrations (0 = no bound): a flood of fake
  // registrations must not grow memory without limit.
  explicit MsgServerRegistry(std::size_t shard_count = kDefaultShardCount,
                             std::size_t max_servers = 0);
  ~MsgServerRegistry();
  MsgServerRegistry(const MsgServerRegistry&) = delete;
  MsgServerRegistry& operator=(const MsgServerRegistry&) = delete;

  // Returns an invalid handle when the registry already holds max_servers entries.
  ServerHandle Register(MsgServerInfo info, EntryMeta meta = {});
  // Replaces the info of a live entry (a second IMMsgServInfo). False if the handle is stale.
  bool Replace(ServerHandle handle, MsgServerInfo info, std::string warning = {});
  // Records that the entry's connection was heard from at `unix_ms`.
  void Touch(ServerHandle handle, std::int64_t unix_ms);
  // Removes the entry and all its users. False if the handle is stale.
  bool Remove(ServerHandle handle);
  // Moves the entry's count by `delta`, clamped to [0, 2^32-1]. nullopt if the handle is stale.
  std::optional<CountChange> AdjustCount(ServerHandle handle, std::int64_t delta);

  // The least-loaded msg_server with cur < max; ties go to any of the tied entries.
  Choice Choose() const;

  // Draining: a draining entry keeps its users but is never chosen. `key` is "host_name:port" or
  // "ip1:port"; it is remembered, so a msg_server that reconnects while drained stays drained.
  // Returns how many live entries match.
  std::size_t SetDraining(std::string_view key, bool draining);
  bool IsDrainKey(std::string_view key) const;

  void set_max_servers(std::size_t n) { max_servers_.store(n, std::memory_order_relaxed); }

  std::optional<MsgServerInfo> Get(ServerHandle handle) const;
  RegistryStats Stats() const;
  std::vector<ServerSnapshot> Snapshot() const;
  std::size_t shard_count() const { return shard_count_; }

 private:
  struct Shard;
  Shard& ShardOf(ServerHandle handle) const;

  bool MatchesDrainKeyLocked(const MsgServerInfo& info) const;

  std::size_t shard_count_;
  std::atomic<std::size_t> max_servers_;
  mutable std::mutex drain_mu_;
  std::set<std::string, std::less<>> drain_keys_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<std::size_t> next_shard_{0};
  std::atomic<std::size_t> registered_{0};
};

}  // namespace ttlogin::registry
