// handover_peer: the other process of the cross-process handover tests. It adopts the socket
// named by TTLOGIN_HANDOVER_FD as a new login_server would, receives one message, writes its own
// name into every descriptor received (the test's pipes), and answers with a message that
// reports what it saw and hands every descriptor back. Exit status: 0 when all went well, 2 when
// the channel failed (the reason on stderr).
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "server/upgrade/child_process.h"
#include "server/upgrade/handover_channel.h"

int main() {
  using namespace ttlogin::server::upgrade;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  HandoverChannel ch;
  std::string error = AdoptInheritedHandoverChannel(ch);
  if (error.empty() && ch.fd() < 0) error = "started without a handover socket";
  HandoverMessage m;
  if (error.empty()) error = ch.Receive(m, deadline);
  if (!error.empty()) {
    std::fprintf(stderr, "handover_peer: %s\n", error.c_str());
    return 2;
  }
  const bool cloexec = (::fcntl(ch.fd(), F_GETFD) & FD_CLOEXEC) != 0;
  const bool env_gone = std::getenv(kHandoverFdEnv) == nullptr;
  std::vector<int> fds;
  int written = 0;
  for (const UniqueFd& fd : m.fds) {
    const std::string text = "from " + std::to_string(::getpid());
    if (::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size())) ++written;
    fds.push_back(fd.get());
  }
  const std::string reply = "got " + std::to_string(m.bytes.size()) + " bytes, " +
                            std::to_string(m.fds.size()) + " fds, wrote " +
                            std::to_string(written) + ", cloexec " + (cloexec ? "yes" : "no") +
                            ", variable " + (env_gone ? "removed" : "kept");
  error = ch.Send(reply, fds, deadline);
  if (!error.empty()) {
    std::fprintf(stderr, "handover_peer: %s\n", error.c_str());
    return 2;
  }
  // Wait for the parent to close its end, so the reply is read before this process is gone.
  error = ch.Receive(m, deadline);
  return error == HandoverChannel::kPeerClosed ? 0 : 2;
}
