// Starting the binary that takes over, and watching it.
//
// The child inherits exactly one descriptor of ours, the handover socket, and learns its number
// from the environment (kHandoverFdEnv); everything else the server opens is close-on-exec, so a
// listener or connection reaches the child only when handed over explicitly. The child starts
// with an empty signal mask and default dispositions: the parent's choices (a blocked SIGHUP
// waiting for its signal_set, an ignored SIGPIPE) are its own.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace ttlogin::server::upgrade {

inline constexpr char kHandoverFdEnv[] = "TTLOGIN_HANDOVER_FD";

struct ChildProcess {
  pid_t pid = -1;           // -1 once reaped (so a reused pid is never waited for or killed)
  std::string exit_status;  // how it ended ("exited 2", "killed by SIGSEGV"); "" while it runs
};

// Starts `binary` with `args` (argv[1..]; argv[0] is `binary`), the environment of this process
// plus TTLOGIN_HANDOVER_FD=<inherit_fd> (replacing any inherited value), and `inherit_fd` open
// under the same number. inherit_fd < 0 starts it without a handover descriptor or variable.
// "" or the reason (a missing or non-executable binary is reported here, not as an exit).
[[nodiscard]] std::string SpawnChild(const std::string& binary,
                                     const std::vector<std::string>& args, int inherit_fd,
                                     ChildProcess& out);

// Non-blocking: how the child ended, once it has; std::nullopt while it runs. Reaps it.
std::optional<std::string> ChildExited(ChildProcess& child);

// SIGKILL, then reap, waiting at most about a second (a process stuck in the kernel may take
// longer to die; it then stays unreaped, and `child.pid` stays set).
void KillChild(ChildProcess& child);

}  // namespace ttlogin::server::upgrade
