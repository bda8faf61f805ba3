#include "server/warm_start.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "common/logging.h"
#include "server/registry/info_proto.h"
#include "server/registry/registration_check.h"

namespace ttlogin::server {
namespace {

std::string Seconds(std::int64_t ms) {
  return fmt::format("{:.1f}", static_cast<double>(ms) / 1000.0);
}

}  // namespace

state::StateSnapshot SnapshotOf(const registry::MsgServerRegistry& registry,
                                std::int64_t now_unix_ms, std::string_view writer_version) {
  state::StateSnapshot out;
  out.set_written_unix_ms(now_unix_ms);
  out.set_writer_version(std::string(writer_version));
  for (const registry::ServerSnapshot& s : registry.Snapshot()) {
    state::MsgServerEntry& e = *out.add_entries();
    registry::SetInfo(e, s.info);
    e.set_draining(s.draining);
    e.set_registered_unix_ms(s.meta.registered_ms);
    e.set_provisional(s.provisional);
    // A provisional entry's state is as old as the snapshot it came from (kept as its
    // last_heard_ms), so chained restarts cannot keep it alive past WarmStartMaxAge.
    e.set_known_unix_ms(s.provisional ? s.meta.last_heard_ms : now_unix_ms);
  }
  for (std::string& key : registry.DrainKeys())
    out.add_drain_keys(std::move(key));
  return out;
}

WarmStartResult WarmStart(registry::MsgServerRegistry& registry, const std::string& path,
                          std::chrono::seconds max_age, std::chrono::seconds grace,
                          std::int64_t now_unix_ms) {
  WarmStartResult out;
  if (const std::size_t n = common::RemoveStaleStateTemporaries(path, kStateTemporaryAge)) {
    spdlog::info("StateFile: removed {} temporary file(s) an interrupted write left next to {}", n,
                 path);
  }
  common::StateFileRead read = common::ReadStateFile(path);
  if (read.code == common::StateFileCode::kMissing) {
    out.message = "cold start: no snapshot at " + path + " yet (StateFile)";
    return out;
  }
  if (!read.ok()) {
    out.warning = true;
    out.message = fmt::format(
        "cold start: the snapshot {} is unusable ({}: {}); it is replaced "
        "by the next write",
        path, common::StateFileCodeName(read.code), read.detail);
    return out;
  }
  const state::StateSnapshot& snap = read.snapshot;
  const std::int64_t age_ms = now_unix_ms - snap.written_unix_ms();
  const std::int64_t max_age_ms = max_age.count() * 1000;
  if (age_ms < -std::chrono::milliseconds(kStateFutureTolerance).count()) {
    out.warning = true;
    out.message = fmt::format(
        "cold start: the snapshot {} was written {} s in the future (was the clock set back?)",
        path, Seconds(-age_ms));
    return out;
  }
  if (age_ms > max_age_ms) {
    out.message = fmt::format(
        "cold start: the snapshot {} was written {} s ago, older than WarmStartMaxAge ({} s)", path,
        Seconds(age_ms), max_age.count());
    return out;
  }
  std::vector<registry::ProvisionalEntry> entries;
  entries.reserve(static_cast<std::size_t>(snap.entries_size()));
  std::size_t stale = 0;
  std::size_t invalid = 0;
  for (const state::MsgServerEntry& e : snap.entries()) {
    const std::int64_t known = e.provisional() ? e.known_unix_ms() : snap.written_unix_ms();
    if (now_unix_ms - known > max_age_ms) {
      ++stale;
      continue;
    }
    registry::MsgServerInfo info = registry::InfoOf(e);
    // What a registration would be refused for is not restored either: the file is input too.
    if (registry::CheckRegistration(info)) {
      ++invalid;
      continue;
    }
    entries.push_back(registry::ProvisionalEntry{std::move(info), e.registered_unix_ms(), known});
  }
  std::vector<std::string> keys(snap.drain_keys().begin(), snap.drain_keys().end());
  out.drain_keys = keys.size();
  out.restored = registry.AddProvisional(entries, keys, std::chrono::milliseconds(grace).count());
  out.skipped = static_cast<std::size_t>(snap.entries_size()) - out.restored;
  out.warm = true;
  out.message = fmt::format(
      "warm start: {} provisional msg_servers from {} written {} s ago (writer {}), {} drain "
      "key(s); they are handed out until their msg_server registers again or WarmStartGrace "
      "({} s) ends",
      out.restored, path, Seconds(std::max<std::int64_t>(age_ms, 0)),
      common::EscapeForLog(snap.writer_version()), out.drain_keys, grace.count());
  if (out.skipped != 0) {
    out.message += fmt::format(
        "; {} entries left out ({} older than WarmStartMaxAge, {} invalid, the rest over "
        "MaxMsgServers or already registered)",
        out.skipped, stale, invalid);
  }
  return out;
}

StateWriter::StateWriter(std::string path, const registry::MsgServerRegistry& registry,
                         Metrics& metrics, std::string writer_version)
    : path_(std::move(path)),
      registry_(registry),
      metrics_(metrics),
      version_(std::move(writer_version)) {}

bool StateWriter::Tick(std::int64_t now_unix_ms) {
  std::lock_guard lock(mu_);
  if (closed_) return false;
  return WriteLocked(now_unix_ms, false);
}

bool StateWriter::Final(std::int64_t now_unix_ms) {
  std::lock_guard lock(mu_);
  if (closed_) return false;
  closed_ = true;
  return WriteLocked(now_unix_ms, true);
}

bool StateWriter::WriteLocked(std::int64_t now_unix_ms, bool force) {
  // Taken with no times first: an unchanged state serializes to the same bytes.
  state::StateSnapshot snap = SnapshotOf(registry_, 0, version_);
  std::string state;
  (void)snap.SerializeToString(&state);
  const bool refresh_due =
      now_unix_ms - last_write_ms_ >= std::chrono::milliseconds(kRefresh).count();
  if (!force && !refresh_due && state == last_state_) return false;
  snap.set_written_unix_ms(now_unix_ms);
  for (state::MsgServerEntry& e : *snap.mutable_entries()) {
    if (!e.provisional()) e.set_known_unix_ms(now_unix_ms);
  }
  const std::string bytes = common::EncodeStateFile(snap);
  std::string error;
  if (bytes.empty()) {
    error = fmt::format("{} entries are beyond what a snapshot holds ({} entries, {} drain keys)",
                        snap.entries_size(), common::kMaxStateEntries, common::kMaxStateDrainKeys);
  } else {
    error = common::WriteStateFileAtomically(path_, bytes);
  }
  if (!error.empty()) {
    metrics_.Add(Counter::kStateWriteFailures);
    ++failures_since_warning_;
    if (last_warning_ms_ == 0 ||
        now_unix_ms - last_warning_ms_ >= std::chrono::milliseconds(kWarnEvery).count()) {
      spdlog::warn(
          "StateFile: snapshot not written ({} failed write(s) since the last warning): "
          "{}; serving goes on (a restart now would find an older snapshot, or none)",
          failures_since_warning_, error);
      last_warning_ms_ = now_unix_ms;
      failures_since_warning_ = 0;
    }
    return false;
  }
  metrics_.Add(Counter::kStateWrites);
  last_state_ = std::move(state);
  last_write_ms_ = now_unix_ms;
  return true;
}

}  // namespace ttlogin::server
