// Fuzz target: the warm start snapshot reader (common/state_file.h), and the registry fed with
// what it accepts.
//
// Input: the bytes of a StateFile. Each input is read twice: as the whole file, which mostly
// exercises the frame (magic, version, length, checksum), and as a body wrapped in a correct
// frame, so that mutations reach the protobuf body, the entry and drain key caps, and the
// registry behind them instead of dying at the checksum. Checks: any input gets a code, never a
// crash or a hang; a refusal carries a reason and no entries; an accepted file is exactly its
// header's length, within the caps, and encodes back to a file that reads the same; its valid
// entries become provisional entries of a registry bounded by max_servers, and all of them are
// gone once the grace has passed.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/state_file.h"
#include "server/registry/msg_server_registry.h"
#include "server/registry/registration_check.h"
#include "test/fuzz/fuzz_input.h"

namespace ttlogin::fuzz {
namespace {

constexpr std::size_t kMaxServers = 64;
constexpr std::int64_t kGraceMs = 1'000;

std::string Frame(std::string_view body) {
  std::string out(common::kStateFileMagic);
  for (const std::uint32_t v :
       {common::kStateFileVersion, static_cast<std::uint32_t>(body.size()), common::Crc32(body)}) {
    out += static_cast<char>(v >> 24);
    out += static_cast<char>(v >> 16);
    out += static_cast<char>(v >> 8);
    out += static_cast<char>(v);
  }
  out += body;
  return out;
}

void Check(std::string_view file) {
  const common::StateFileRead read = common::DecodeStateFile(file);
  if (!read.ok()) {
    FUZZ_CHECK(!read.detail.empty());
    FUZZ_CHECK(read.snapshot.entries_size() == 0 && read.snapshot.drain_keys_size() == 0);
    return;
  }
  const auto* p = reinterpret_cast<const std::uint8_t*>(file.data());
  FUZZ_CHECK(file.size() >= common::kStateFileHeaderSize);
  FUZZ_CHECK(file.size() == common::kStateFileHeaderSize + Be32(p + 12));
  FUZZ_CHECK(Be32(p + 8) >= 1 && Be32(p + 8) <= common::kStateFileVersion);
  const state::StateSnapshot& snap = read.snapshot;
  FUZZ_CHECK(static_cast<std::size_t>(snap.entries_size()) <= common::kMaxStateEntries);
  FUZZ_CHECK(static_cast<std::size_t>(snap.drain_keys_size()) <= common::kMaxStateDrainKeys);

  const std::string again = common::EncodeStateFile(snap);
  FUZZ_CHECK(!again.empty());
  const common::StateFileRead reread = common::DecodeStateFile(again);
  FUZZ_CHECK(reread.ok());
  FUZZ_CHECK(reread.snapshot.SerializeAsString() == snap.SerializeAsString());

  // What the warm start would restore (server/warm_start.cc keeps only what a registration may
  // hold), into a registry on a clock the target moves.
  auto now = std::make_shared<std::int64_t>(0);
  registry::MsgServerRegistry registry(4, kMaxServers, [now] { return *now; });
  std::vector<registry::ProvisionalEntry> entries;
  for (const state::MsgServerEntry& e : snap.entries()) {
    registry::MsgServerInfo info{e.ip1(),          e.ip2(),          e.port(),
                                 e.max_conn_cnt(), e.cur_conn_cnt(), e.host_name()};
    if (registry::CheckRegistration(info)) continue;
    entries.push_back({std::move(info), e.registered_unix_ms(), e.known_unix_ms()});
  }
  const std::vector<std::string> keys(snap.drain_keys().begin(), snap.drain_keys().end());
  const std::size_t added = registry.AddProvisional(entries, keys, kGraceMs);
  FUZZ_CHECK(added <= entries.size() && added <= kMaxServers);
  FUZZ_CHECK(registry.provisional_count() == added);
  FUZZ_CHECK(registry.Stats().registered == added);
  const registry::Choice choice = registry.Choose();
  FUZZ_CHECK((choice.code == registry::ChooseCode::kOk) == registry.AnyEligible());
  *now += kGraceMs - 1;
  FUZZ_CHECK(registry.EndProvisional() == 0);
  *now += 1;
  FUZZ_CHECK(registry.EndProvisional() == added);
  FUZZ_CHECK(registry.Stats().registered == 0 && registry.provisional_count() == 0);
}

}  // namespace
}  // namespace ttlogin::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  ttlogin::fuzz::Check(bytes);
  ttlogin::fuzz::Check(ttlogin::fuzz::Frame(bytes));
  return 0;
}
