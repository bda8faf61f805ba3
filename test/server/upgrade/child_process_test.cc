// SpawnChild, ChildExited, KillChild: starting the next binary with the handover socket as its
// one inherited descriptor, a clean signal state, and telling how it ended.
#include "server/upgrade/child_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "test/server/upgrade/upgrade_test_util.h"

namespace ttlogin::server::upgrade::testing {
namespace {

using std::chrono::milliseconds;

// Polls ChildExited until the child ends or the deadline passes.
std::optional<std::string> WaitExited(ChildProcess& child,
                                      Clock::time_point deadline = In(kPatience)) {
  for (;;) {
    if (auto status = ChildExited(child)) return status;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(2));
  }
}

// Reads one raw datagram (what a shell's printf writes) from a SEQPACKET socket.
std::string ReadRaw(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(milliseconds(kPatience).count())) != 1) return "<timeout>";
  char buf[256];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  return n < 0 ? "<error>" : std::string(buf, static_cast<std::size_t>(n));
}

// The signal set of one "Sig...:" line of /proc/<pid>/status (bit n-1 for signal n), or
// std::nullopt when the line is missing.
std::optional<std::uint64_t> SignalSetOf(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0)
      return std::stoull(line.substr(field.size() + 1), nullptr, 16);
  return std::nullopt;
}

constexpr std::uint64_t Bit(int sig) {
  return std::uint64_t{1} << (sig - 1);
}

// Sets an environment variable for one test and restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = ::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(ChildProcessTest, AMissingBinaryIsAnErrorNotAChild) {
  ChildProcess child;
  const std::string error = SpawnChild("/nonexistent/login_server", {}, -1, child);
  EXPECT_NE(error.find("cannot start /nonexistent/login_server: No such file or directory"),
            std::string::npos)
      << error;
  EXPECT_EQ(child.pid, -1);
}

TEST(ChildProcessTest, ANonExecutableFileIsAnError) {
  char path[] = "/tmp/child_process_test.XXXXXX";
  const int fd = ::mkstemp(path);  // mode 0600: no execute bit, even for root
  ASSERT_GE(fd, 0);
  ::close(fd);
  ChildProcess child;
  const std::string error = SpawnChild(path, {}, -1, child);
  ::unlink(path);
  EXPECT_EQ(error, std::string("cannot start ") + path + ": Permission denied");
  EXPECT_EQ(child.pid, -1);
}

TEST(ChildProcessTest, ExitStatusesAreReportedOnce) {
  ChildProcess child;
  ASSERT_EQ(SpawnChild("/bin/true", {}, -1, child), "");
  ASSERT_GT(child.pid, 0);
  EXPECT_EQ(WaitExited(child), "exited 0");
  EXPECT_EQ(child.pid, -1);  // reaped: never waited for or killed again
  EXPECT_EQ(ChildExited(child), "exited 0");

  ASSERT_EQ(SpawnChild("/bin/sh", {"-c", "exit 3"}, -1, child), "");
  EXPECT_EQ(WaitExited(child), "exited 3");

  ASSERT_EQ(SpawnChild("/bin/sh", {"-c", "kill -SEGV $$"}, -1, child), "");
  const auto status = WaitExited(child);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->rfind("killed by SIGSEGV", 0), 0u) << *status;
}

TEST(ChildProcessTest, TheChildWritesOnTheInheritedHandoverSocket) {
  HandoverChannel ours, theirs;
  ASSERT_EQ(HandoverChannel::Pair(ours, theirs), "");
  const int fd = theirs.fd();
  ASSERT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  // A stale value from our own environment must not reach the child.
  ScopedEnv stale(kHandoverFdEnv, "999");
  ChildProcess child;
  ASSERT_EQ(SpawnChild("/bin/sh",
                       {"-c", "printf 'fd %s' \"$TTLOGIN_HANDOVER_FD\" >&$TTLOGIN_HANDOVER_FD"}, fd,
                       child),
            "");
  EXPECT_EQ(ReadRaw(ours.fd()), "fd " + std::to_string(fd));
  EXPECT_EQ(WaitExited(child), "exited 0");
  // Ours stays close-on-exec: only that spawn inherited it.
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
}

TEST(ChildProcessTest, NoOtherDescriptorIsInherited) {
  HandoverChannel ours, theirs;
  ASSERT_EQ(HandoverChannel::Pair(ours, theirs), "");
  Pipe other = MakePipe();  // close-on-exec, as every descriptor of the server
  ASSERT_TRUE(other.read);
  const std::string script = "if [ -e /proc/self/fd/" + std::to_string(other.read.get()) +
                             " ]; then printf leaked; else printf clean; fi >&$TTLOGIN_HANDOVER_FD";
  ChildProcess child;
  ASSERT_EQ(SpawnChild("/bin/sh", {"-c", script}, theirs.fd(), child), "");
  EXPECT_EQ(ReadRaw(ours.fd()), "clean");
  EXPECT_EQ(WaitExited(child), "exited 0");
}

TEST(ChildProcessTest, WithoutAHandoverDescriptorTheVariableIsUnset) {
  HandoverChannel ours, theirs;
  ASSERT_EQ(HandoverChannel::Pair(ours, theirs), "");
  ScopedEnv stale(kHandoverFdEnv, "999");
  ChildProcess child;
  // The child cannot write on the socket it did not inherit; its exit status carries the answer.
  ASSERT_EQ(SpawnChild("/bin/sh", {"-c", "[ -z \"${TTLOGIN_HANDOVER_FD+set}\" ]"}, -1, child), "");
  EXPECT_EQ(WaitExited(child), "exited 0");
}

TEST(ChildProcessTest, TheChildStartsWithACleanSignalState) {
  // This thread blocks SIGTERM and SIGHUP and ignores SIGUSR1 and SIGPIPE, as a server's main
  // thread might.
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGHUP);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
  struct sigaction ignore {
  }, old_usr1{}, old_pipe{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGUSR1, &ignore, &old_usr1), 0);
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old_pipe), 0);

  ChildProcess child;
  const std::string error = SpawnChild("/bin/sleep", {"60"}, -1, child);

  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ::sigaction(SIGUSR1, &old_usr1, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ASSERT_EQ(error, "");
  // posix_spawn returns once the exec has happened: the status is the new program's. (glibc's
  // own real-time signals, 32 and 33, cannot be reset by anyone and are left out.)
  const auto blocked = SignalSetOf(child.pid, "SigBlk");
  const auto ignored = SignalSetOf(child.pid, "SigIgn");
  ASSERT_TRUE(blocked && ignored);
  EXPECT_EQ(*blocked, 0u);
  EXPECT_EQ(*ignored & (Bit(SIGUSR1) | Bit(SIGPIPE)), 0u) << std::hex << *ignored;
  KillChild(child);
  EXPECT_EQ(child.exit_status, "killed by SIGKILL");
}

TEST(ChildProcessTest, KillChildEndsAHangingChildQuickly) {
  ChildProcess child;
  ASSERT_EQ(SpawnChild("/bin/sleep", {"60"}, -1, child), "");
  const pid_t pid = child.pid;
  EXPECT_EQ(ChildExited(child), std::nullopt);  // still running
  const auto start = Clock::now();
  KillChild(child);
  EXPECT_LT(Clock::now() - start, milliseconds(1500));
  EXPECT_EQ(child.pid, -1);
  EXPECT_EQ(child.exit_status, "killed by SIGKILL");
  EXPECT_EQ(::kill(pid, 0), -1) << "the child is reaped, not a zombie";
  KillChild(child);  // a second kill of a reaped child does nothing
  EXPECT_EQ(ChildExited(child), "killed by SIGKILL");
}

TEST(ChildProcessTest, ArgumentsReachTheChildAsGiven) {
  HandoverChannel ours, theirs;
  ASSERT_EQ(HandoverChannel::Pair(ours, theirs), "");
  ChildProcess child;
  ASSERT_EQ(SpawnChild("/bin/sh",
                       {"-c", "printf '%s|%s|%s' \"$0\" \"$1\" \"$2\" >&$TTLOGIN_HANDOVER_FD",
                        "zero", "with space", "-c x"},
                       theirs.fd(), child),
            "");
  EXPECT_EQ(ReadRaw(ours.fd()), "zero|with space|-c x");
  EXPECT_EQ(WaitExited(child), "exited 0");
}

}  // namespace
}  // namespace ttlogin::server::upgrade::testing
