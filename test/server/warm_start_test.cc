// Warm start in the wiring: the registry written by StateWriter and read back by WarmStart.
#include "server/warm_start.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace ttlogin::server {
namespace {

using namespace std::chrono_literals;
using registry::ClaimRule;
using registry::EntryMeta;
using registry::MsgServerInfo;
using registry::MsgServerRegistry;

constexpr std::int64_t kT0 = 1'700'000'000'000;  // Unix ms

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ttlogin-warm-test-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    EXPECT_NE(made, nullptr);
    path_ = made == nullptr ? "/tmp" : made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

registry::ServerHandle Register(MsgServerRegistry& r, const std::string& host, std::uint32_t cur,
                                const std::string& ip1) {
  const registry::ClaimResult c =
      r.Claim(MsgServerInfo{ip1, ip1, 8000, 1000, cur, host},
              EntryMeta{ip1 + ":4000", kT0, kT0, {}, 1}, ClaimRule{ip1, kT0, 10'000});
  EXPECT_EQ(c.code, registry::ClaimCode::kOk);
  return c.handle;
}

std::optional<registry::ServerSnapshot> Find(const MsgServerRegistry& r, const std::string& host) {
  for (const auto& s : r.Snapshot()) {
    if (s.info.host_name == host) return s;
  }
  return std::nullopt;
}

TEST(WarmStartTest, AWrittenRegistryComesBackProvisional) {
  TempDir dir;
  const std::string path = dir.File("state.bin");
  MsgServerRegistry before(4);
  Register(before, "msg-a", 30, "10.0.0.1");
  Register(before, "msg-b", 12, "10.0.0.2");
  ASSERT_EQ(before.Drain("msg-a:8000", true).matched, 1u);
  Metrics metrics;
  StateWriter writer(path, before, metrics, "9.9.9");
  ASSERT_TRUE(writer.Final(kT0));
  EXPECT_EQ(metrics.Get(Counter::kStateWrites), 1u);

  MsgServerRegistry after(4);
  const WarmStartResult r = WarmStart(after, path, 30s, 40s, kT0 + 2'500);
  EXPECT_TRUE(r.warm);
  EXPECT_FALSE(r.warning);
  EXPECT_EQ(r.restored, 2u);
  EXPECT_EQ(r.skipped, 0u);
  EXPECT_EQ(r.drain_keys, 1u);
  EXPECT_NE(
      r.message.find("warm start: 2 provisional msg_servers from " + path + " written 2.5 s ago"),
      std::string::npos)
      << r.message;
  const auto a = Find(after, "msg-a");
  const auto b = Find(after, "msg-b");
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->provisional && b->provisional);
  EXPECT_EQ(a->info.cur_conn_cnt, 30u);
  EXPECT_EQ(b->info.cur_conn_cnt, 12u);
  EXPECT_EQ(b->info.ip1, "10.0.0.2");
  EXPECT_TRUE(a->draining);
  EXPECT_EQ(a->meta.registered_ms, kT0);
  EXPECT_EQ(a->meta.last_heard_ms, kT0);  // when its state was last known
  EXPECT_EQ(after.Choose().ip1, "10.0.0.2");
}

TEST(WarmStartTest, ASnapshotOlderThanMaxAgeIsAColdStart) {
  TempDir dir;
  const std::string path = dir.File("state.bin");
  MsgServerRegistry before(4);
  Register(before, "msg-a", 1, "10.0.0.1");
  Metrics metrics;
  StateWriter writer(path, before, metrics, "v");
  ASSERT_TRUE(writer.Final(kT0));
  MsgServerRegistry after(4);
  const WarmStartResult old = WarmStart(after, path, 30s, 40s, kT0 + 30'001);
  EXPECT_FALSE(old.warm);
  EXPECT_FALSE(old.warning);  // an info line: nothing is wrong with the file
  EXPECT_NE(old.message.find("older than WarmStartMaxAge (30 s)"), std::string::npos)
      << old.message;
  EXPECT_EQ(after.Stats().registered, 0u);
  const WarmStartResult future = WarmStart(after, path, 30s, 40s, kT0 - 60'000);
  EXPECT_FALSE(future.warm);
  EXPECT_TRUE(future.warning);
  EXPECT_NE(future.message.find("in the future"), std::string::npos) << future.message;
  EXPECT_EQ(after.Stats().registered, 0u);
  EXPECT_TRUE(WarmStart(after, path, 30s, 40s, kT0 + 30'000).warm);
  // A clock a little behind the writer's (another host's, or NTP stepping) is no reason to
  // refuse, and the age is not shown below zero.
  MsgServerRegistry behind(4);
  const WarmStartResult close = WarmStart(behind, path, 30s, 40s, kT0 - 2'000);
  EXPECT_TRUE(close.warm);
  EXPECT_NE(close.message.find("written 0.0 s ago"), std::string::npos) << close.message;
}

TEST(WarmStartTest, UnusableFilesAreAWarningAndAColdStart) {
  TempDir dir;
  MsgServerRegistry r(4);
  const WarmStartResult missing = WarmStart(r, dir.File("none.bin"), 30s, 40s, kT0);
  EXPECT_FALSE(missing.warm);
  EXPECT_FALSE(missing.warning);  // a first start
  EXPECT_NE(missing.message.find("cold start: no snapshot"), std::string::npos);
  { std::ofstream(dir.File("garbage.bin")) << "TTLSTATE but not really"; }
  const WarmStartResult garbage = WarmStart(r, dir.File("garbage.bin"), 30s, 40s, kT0);
  EXPECT_FALSE(garbage.warm);
  EXPECT_TRUE(garbage.warning);
  EXPECT_NE(garbage.message.find("cold start: the snapshot"), std::string::npos) << garbage.message;
  const WarmStartResult directory = WarmStart(r, dir.File(""), 30s, 40s, kT0);
  EXPECT_TRUE(directory.warning);
  EXPECT_EQ(r.Stats().registered, 0u);
}

TEST(WarmStartTest, InvalidAndStaleEntriesAreLeftOut) {
  TempDir dir;
  const std::string path = dir.File("state.bin");
  state::StateSnapshot snap;
  snap.set_written_unix_ms(kT0);
  auto add = [&](const std::string& host, std::uint32_t port, bool provisional,
                 std::int64_t known) {
    state::MsgServerEntry& e = *snap.add_entries();
    e.set_ip1("10.0.0.1");
    e.set_ip2("10.0.0.1");
    e.set_port(port);
    e.set_max_conn_cnt(100);
    e.set_host_name(host);
    e.set_provisional(provisional);
    e.set_known_unix_ms(known);
  };
  add("good", 8000, false, 0);
  add("bad-port", 70000, false, 0);
  add("", 8000, false, 0);                             // no host name
  add("old-provisional", 8001, true, kT0 - 40'000);    // known 45 s before the start
  add("young-provisional", 8002, true, kT0 - 10'000);  // known 15 s before
  ASSERT_EQ(common::WriteStateFileAtomically(path, common::EncodeStateFile(snap)), "");
  MsgServerRegistry r(4);
  const WarmStartResult result = WarmStart(r, path, 30s, 40s, kT0 + 5'000);
  EXPECT_EQ(result.restored, 2u);
  EXPECT_EQ(result.skipped, 3u);
  EXPECT_NE(result.message.find("1 older than WarmStartMaxAge, 2 invalid"), std::string::npos)
      << result.message;
  EXPECT_TRUE(Find(r, "good").has_value());
  ASSERT_TRUE(Find(r, "young-provisional").has_value());
  // Its own known time stays, so a chain of restarts cannot keep it alive.
  EXPECT_EQ(Find(r, "young-provisional")->meta.last_heard_ms, kT0 - 10'000);
  // Written again (both are provisional now), each keeps the time its state was last known.
  Metrics metrics;
  StateWriter writer(dir.File("again.bin"), r, metrics, "v");
  ASSERT_TRUE(writer.Final(kT0 + 6'000));
  const common::StateFileRead again = common::ReadStateFile(dir.File("again.bin"));
  ASSERT_TRUE(again.ok());
  for (const auto& e : again.snapshot.entries()) {
    EXPECT_EQ(e.known_unix_ms(), e.host_name() == "good" ? kT0 : kT0 - 10'000) << e.host_name();
  }
}

TEST(WarmStartTest, TheWriterSkipsAnUnchangedStateUntilItsRefreshIsDue) {
  TempDir dir;
  const std::string path = dir.File("state.bin");
  MsgServerRegistry r(4);
  const auto a = Register(r, "msg-a", 1, "10.0.0.1");
  Metrics metrics;
  StateWriter writer(path, r, metrics, "v");
  EXPECT_TRUE(writer.Tick(kT0));
  EXPECT_FALSE(writer.Tick(kT0 + 2'000));  // nothing changed
  ASSERT_TRUE(r.AdjustCount(a, 1).has_value());
  EXPECT_TRUE(writer.Tick(kT0 + 4'000));
  EXPECT_FALSE(writer.Tick(kT0 + 6'000));
  const std::int64_t refresh = std::chrono::milliseconds(StateWriter::kRefresh).count();
  EXPECT_TRUE(writer.Tick(kT0 + 4'000 + refresh));  // unchanged, but its age must stay low
  EXPECT_EQ(metrics.Get(Counter::kStateWrites), 3u);
  const common::StateFileRead read = common::ReadStateFile(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read.snapshot.written_unix_ms(), kT0 + 4'000 + refresh);
  EXPECT_EQ(read.snapshot.entries(0).cur_conn_cnt(), 2u);
  EXPECT_EQ(read.snapshot.entries(0).known_unix_ms(), kT0 + 4'000 + refresh);
  // After Final, nothing more is written: the shutdown empties the registry next.
  EXPECT_TRUE(writer.Final(kT0 + 30'000));
  ASSERT_TRUE(r.Remove(a));
  EXPECT_FALSE(writer.Tick(kT0 + 60'000));
  EXPECT_FALSE(writer.Final(kT0 + 60'000));
  const common::StateFileRead last = common::ReadStateFile(path);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last.snapshot.entries_size(), 1);
  EXPECT_EQ(last.snapshot.written_unix_ms(), kT0 + 30'000);
}

TEST(WarmStartTest, AFailedWriteIsCountedAndNotFatal) {
  TempDir dir;
  MsgServerRegistry r(4);
  Register(r, "msg-a", 1, "10.0.0.1");
  Metrics metrics;
  StateWriter writer(dir.File("no/such/dir/state.bin"), r, metrics, "v");
  EXPECT_FALSE(writer.Tick(kT0));
  EXPECT_FALSE(writer.Tick(kT0 + 2'000));  // tried again: nothing was written
  EXPECT_EQ(metrics.Get(Counter::kStateWriteFailures), 2u);
  EXPECT_EQ(metrics.Get(Counter::kStateWrites), 0u);
  EXPECT_FALSE(writer.Final(kT0 + 4'000));
  EXPECT_EQ(metrics.Get(Counter::kStateWriteFailures), 3u);
}

}  // namespace
}  // namespace ttlogin::server
