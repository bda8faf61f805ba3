#include "test/tier/restartable_server.h"

#include "test/support/fake_peers.h"

namespace ttlogin::test {

RestartableServer::RestartableServer(std::string extra_config)
    : extra_config_("AdminPort=0\n" + std::move(extra_config)) {
  process_.emplace(extra_config_);
  if (process_->started()) ports_ = process_->ports();
}

int RestartableServer::Stop(int signo, std::chrono::milliseconds timeout) {
  if (!process_) return -1;
  return process_->Stop(signo, timeout);
}

bool RestartableServer::Start(std::string* why) {
  // The old process's folder (config, log) goes with it.
  process_.reset();
  process_.emplace(extra_config_ + "ClientPort=" + std::to_string(ports_.client) +
                   "\nHttpPort=" + std::to_string(ports_.http) +
                   "\nMsgServerPort=" + std::to_string(ports_.msg_server) +
                   "\nAdminPort=" + std::to_string(ports_.admin) + "\n");
  if (!process_->started() && why != nullptr) *why = process_->log();
  return process_->started();
}

int RestartableServer::Readyz() const {
  const auto r =
      HttpRequest(ports_.admin, "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  return r ? r->status : 0;
}

bool RestartableServer::WaitReady(std::chrono::milliseconds timeout) const {
  return Eventually([this] { return Readyz() == 200; }, timeout);
}

}  // namespace ttlogin::test
