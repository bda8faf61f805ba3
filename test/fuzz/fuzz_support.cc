#include "test/fuzz/fuzz_support.h"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <map>
#include <memory>

namespace ttlogin::fuzz {

void UseSilentLogger() {
  static const bool done = [] {
    auto logger =
        std::make_shared<spdlog::logger>("fuzz", std::make_shared<spdlog::sinks::null_sink_st>());
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
    return true;
  }();
  (void)done;
}

server::LiveConfig& SharedLiveConfig(std::uint32_t max_pdu_size) {
  // Targets run on one thread; the map only grows (a handful of sizes).
  static std::map<std::uint32_t, std::unique_ptr<server::LiveConfig>> configs;
  auto& slot = configs[max_pdu_size];
  if (!slot) {
    common::LoginServerConfig config;
    config.max_pdu_size = max_pdu_size;
    // Listening beyond loopback turns on the check of advertised loopback addresses.
    for (auto* l : {&config.client, &config.http, &config.msg_server})
      l->addresses = {"0.0.0.0"};
    config.msfs = "http://127.0.0.1:8700/";
    config.discovery = "http://127.0.0.1/api/discovery";
    slot = std::make_unique<server::LiveConfig>(std::move(config));
  }
  return *slot;
}

void RegisterFromInput(FuzzInput& in, registry::MsgServerRegistry& registry) {
  const int n = in.U8() % 5;
  for (int i = 0; i < n; ++i) {
    registry::MsgServerInfo info;
    info.ip1 = in.String(24);
    info.ip2 = in.String(24);
    info.port = in.U16();
    info.max_conn_cnt = in.U8();
    info.cur_conn_cnt = in.U8();
    info.host_name = in.String(16);
    registry.Register(std::move(info));
  }
}

}  // namespace ttlogin::fuzz
