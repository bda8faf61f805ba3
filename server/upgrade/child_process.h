// Starting the binary that takes over, and watching it.
//
// The child inherits exactly one descriptor of ours besides stdin, stdout and stderr: the
// handover socket, as descriptor 3, named in the environment (kHandoverFdEnv). Every other one
// is closed in the child whatever its close-on-exec flag (asio, for one, accepts sockets without
// it), so a listener or connection reaches the child only when handed over explicitly, and a
// connection closed by the old process is not held open by the new one. The child starts with an
// empty signal mask and default dispositions: the parent's choices (a blocked SIGHUP waiting for
// its signal_set, an ignored SIGPIPE) are its own.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "server/upgrade/handover_channel.h"

namespace ttlogin::server::upgrade {

inline constexpr char kHandoverFdEnv[] = "TTLOGIN_HANDOVER_FD";
// The handover socket's number in the child: the first after stdin, stdout and stderr.
inline constexpr int kChildHandoverFd = 3;

struct ChildProcess {
  pid_t pid = -1;           // -1 once reaped (so a reused pid is never waited for or killed)
  std::string exit_status;  // how it ended ("exited 2", "killed by SIGSEGV"); "" while it runs
};

// Starts `binary` (a path; PATH is not searched) with `args` (argv[1..]; argv[0] is `binary`), the
// environment of this process plus TTLOGIN_HANDOVER_FD=3 (replacing any inherited value), and
// `inherit_fd` open as descriptor 3 (kChildHandoverFd); descriptors 0-2 are inherited as they
// are, all others closed. inherit_fd < 0 starts it without a handover descriptor or variable.
// "" or the reason (a missing or non-executable binary is reported here, not as an exit).
[[nodiscard]] std::string SpawnChild(const std::string& binary,
                                     const std::vector<std::string>& args, int inherit_fd,
                                     ChildProcess& out);

// Non-blocking: how the child ended, once it has; std::nullopt while it runs. Reaps it.
std::optional<std::string> ChildExited(ChildProcess& child);

// SIGKILL, then reap, waiting at most about two seconds (a process stuck in the kernel may take
// longer to die; it then stays unreaped, and `child.pid` stays set).
void KillChild(ChildProcess& child);

// In the child: takes the handover socket named by TTLOGIN_HANDOVER_FD into `out`, makes it
// close-on-exec again (so no process this one starts inherits it) and removes the variable (so
// nothing started later mistakes it for its own). "" with `out` left without a socket when the
// variable is unset: an ordinary start. Otherwise "" or why the variable names no handover socket
// (not a number, no open descriptor, not a SEQPACKET socket). Call it early in main(), before
// other threads read the environment.
[[nodiscard]] std::string AdoptInheritedHandoverChannel(HandoverChannel& out);

}  // namespace ttlogin::server::upgrade
