// HaproxyProcess: the Debian haproxy binary in front of login servers, for the tier tests.
//
// It runs in the foreground as a child of the test, with a config generated into a temporary
// folder: one HTTP frontend on a loopback listening socket the test opened on an ephemeral port
// (handed over as fd 3, so no port is guessed), one backend of the given login servers, and an
// admin stats socket in the same folder through which the test reads each server's state. The
// destructor stops it (SIGTERM, then SIGKILL after a bounded wait) and removes the folder.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ttlogin::test {

struct TierBackend {
  std::uint16_t http_port = 0;   // where client requests go
  std::uint16_t admin_port = 0;  // where /readyz is asked
};

class HaproxyProcess {
 public:
  // With `health_checks`, each server is checked with GET /readyz on its admin port every
  // kCheckInterval: two failed checks take it out, two passed ones bring it back. With
  // `classic_refusal`, the 503 HAProxy answers when no server is up is replaced by the login
  // server's own refusal (200, {"code":1,...}), as docs/DEPLOYMENT.md shows.
  HaproxyProcess(const std::vector<TierBackend>& servers, bool health_checks,
                 bool classic_refusal = false);
  ~HaproxyProcess();
  HaproxyProcess(const HaproxyProcess&) = delete;
  HaproxyProcess& operator=(const HaproxyProcess&) = delete;

  static constexpr std::chrono::milliseconds kCheckInterval{100};

  // Empty when haproxy runs and answers on its stats socket; otherwise why not.
  const std::string& error() const { return error_; }
  std::uint16_t port() const { return port_; }
  const std::string& config() const { return config_; }
  std::string log() const;

  // The state HAProxy gives server `index` ("UP", "DOWN", "UP 1/2", "no check", ...), or nullopt
  // when the stats socket does not answer.
  std::optional<std::string> ServerStatus(std::size_t index) const;
  // Polls ServerStatus(index) until it is exactly `expected` or `timeout` passes.
  bool WaitStatus(std::size_t index, const std::string& expected,
                  std::chrono::milliseconds timeout) const;

  // The server's name in the config: "ls<index>".
  static std::string ServerName(std::size_t index) { return "ls" + std::to_string(index); }

 private:
  std::string Command(const std::string& command) const;

  std::string dir_;
  std::string config_;
  std::string error_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

// The classic refusal as a whole HTTP response, for HAProxy's errorfile.
std::string ClassicRefusalResponse();

// The haproxy binary: $HAPROXY, else /usr/sbin/haproxy, else /usr/local/sbin/haproxy; empty when
// none is there.
std::string HaproxyBinary();

}  // namespace ttlogin::test
