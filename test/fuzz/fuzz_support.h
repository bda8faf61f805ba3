// What the fuzz targets of the server's sessions share: the server context built as
// login_server builds it, and a logger that formats every line but writes nothing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "server/session/live_config.h"
#include "server/session/metrics.h"
#include "server/registry/msg_server_registry.h"
#include "server/session/server_context.h"
#include "test/fuzz/fuzz_input.h"

namespace ttlogin::fuzz {

// Routes spdlog to a sink that drops lines at the most verbose level, so every log statement's
// formatting (with peer-supplied text in it) runs under the sanitizers without filling a disk.
void UseSilentLogger();

// A login server's shared state for one input. LiveConfig caches its snapshot per thread keyed by
// its own address, so LiveConfigs are made once per distinct config and kept for the process;
// the registry and metrics are fresh per input.
server::LiveConfig& SharedLiveConfig(std::uint32_t max_pdu_size);

struct Harness {
  explicit Harness(std::uint32_t max_pdu_size, std::size_t shards = 4, std::size_t max_servers = 0)
      : registry(shards, max_servers), context{SharedLiveConfig(max_pdu_size), registry, metrics} {}
  registry::MsgServerRegistry registry;
  server::Metrics metrics;
  server::ServerContext context;
};

// Registers up to four msg_servers described by the input (for the targets that ask for a
// choice): their strings and counts are fuzzer-chosen, so replies carry hostile text.
void RegisterFromInput(FuzzInput& in, registry::MsgServerRegistry& registry);

}  // namespace ttlogin::fuzz
