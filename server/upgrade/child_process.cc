#include "server/upgrade/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string_view>

extern char** environ;

namespace ttlogin::server::upgrade {
namespace {

constexpr std::chrono::milliseconds kKillReapBound{2000};
constexpr std::chrono::milliseconds kKillReapPoll{2};

std::string SignalName(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::string StatusText(int status) {
  if (WIFEXITED(status)) return "exited " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "killed by " + SignalName(WTERMSIG(status)) +
           (WCOREDUMP(status) ? " (core dumped)" : "");
  return "ended with wait status " + std::to_string(status);
}

// Frees the spawn attributes and file actions on every path.
struct SpawnSetup {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  bool attr_ok = false;
  bool actions_ok = false;
  ~SpawnSetup() {
    if (attr_ok) posix_spawnattr_destroy(&attr);
    if (actions_ok) posix_spawn_file_actions_destroy(&actions);
  }
};

}  // namespace

std::string SpawnChild(const std::string& binary, const std::vector<std::string>& args,
                       int inherit_fd, ChildProcess& out) {
  out = ChildProcess{};
  // Everything the child needs is built before the spawn: between clone and exec nothing may
  // allocate.
  std::vector<char*> argv;
  argv.reserve(args.size() + 2);
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  constexpr std::string_view prefix = kHandoverFdEnv;
  std::string handover_var;
  std::vector<char*> envp;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (entry.size() > prefix.size() && entry.starts_with(prefix) && entry[prefix.size()] == '=')
      continue;
    envp.push_back(*e);
  }
  if (inherit_fd >= 0) {
    handover_var = std::string(kHandoverFdEnv) + "=" + std::to_string(kChildHandoverFd);
    envp.push_back(handover_var.data());
  }
  envp.push_back(nullptr);

  SpawnSetup s;
  int rc = posix_spawnattr_init(&s.attr);
  if (rc != 0) return "cannot start " + binary + ": " + std::strerror(rc);
  s.attr_ok = true;
  rc = posix_spawn_file_actions_init(&s.actions);
  if (rc != 0) return "cannot start " + binary + ": " + std::strerror(rc);
  s.actions_ok = true;

  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  rc = posix_spawnattr_setsigmask(&s.attr, &none);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&s.attr, &all);
  if (rc == 0)
    rc = posix_spawnattr_setflags(&s.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  // The child's copy made by dup2 has no close-on-exec flag (glibc 2.29 and later clear it even
  // when inherit_fd is 3 already, as POSIX.1-2024 asks); ours keeps it, so no other spawn or fork
  // can leak the socket. Then everything above goes, close-on-exec or not (glibc 2.34's closefrom
  // action).
  if (rc == 0 && inherit_fd >= 0)
    rc = posix_spawn_file_actions_adddup2(&s.actions, inherit_fd, kChildHandoverFd);
  if (rc == 0)
    rc = posix_spawn_file_actions_addclosefrom_np(
        &s.actions, inherit_fd >= 0 ? kChildHandoverFd + 1 : kChildHandoverFd);
  if (rc != 0) return "cannot start " + binary + ": " + std::strerror(rc);

  pid_t pid = -1;
  rc = posix_spawn(&pid, binary.c_str(), &s.actions, &s.attr, argv.data(), envp.data());
  if (rc != 0) return "cannot start " + binary + ": " + std::strerror(rc);
  out.pid = pid;
  return "";
}

std::optional<std::string> ChildExited(ChildProcess& child) {
  if (child.pid < 0) {
    if (child.exit_status.empty()) child.exit_status = "not started";
    return child.exit_status;
  }
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(child.pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return std::nullopt;
  // ECHILD: someone else reaped it (SIGCHLD ignored, or a waitpid(-1) elsewhere); it is gone
  // either way, only how it ended is lost.
  child.exit_status = r > 0 ? StatusText(status) : "exited (status not available)";
  child.pid = -1;
  return child.exit_status;
}

void KillChild(ChildProcess& child) {
  if (child.pid < 0) return;
  ::kill(child.pid, SIGKILL);
  const auto deadline = std::chrono::steady_clock::now() + kKillReapBound;
  while (!ChildExited(child)) {
    if (std::chrono::steady_clock::now() >= deadline) return;
    ::poll(nullptr, 0, static_cast<int>(kKillReapPoll.count()));
  }
}

std::string AdoptInheritedHandoverChannel(HandoverChannel& out) {
  out = HandoverChannel();
  const char* value = std::getenv(kHandoverFdEnv);
  if (value == nullptr) return "";
  const std::string text = std::string(kHandoverFdEnv) + "=" + value;
  const std::string_view digits(value);
  int fd = -1;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), fd);
  if (ec != std::errc() || end != digits.data() + digits.size() || fd < 0)
    return text + " is not a descriptor number";
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0) return text + " names no open descriptor";
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET)
    return text + " is not a SEQPACKET socket";
  if (::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0)
    return text + ": cannot make it close-on-exec: " + std::strerror(errno);
  ::unsetenv(kHandoverFdEnv);
  out = HandoverChannel(UniqueFd(fd));
  return "";
}

}  // namespace ttlogin::server::upgrade
