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
#include <vector>

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
  EXPECT_EQ(ReadRaw(ours.fd()), "fd " + std::to_string(kChildHandoverFd));
  EXPECT_EQ(WaitExited(child), "exited 0");
  // Ours stays close-on-exec: only that spawn inherited it.
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
}

TEST(ChildProcessTest, NoOtherDescriptorIsInherited) {
  HandoverChannel ours, theirs;
  ASSERT_EQ(HandoverChannel::Pair(ours, theirs), "");
  Pipe cloexec = MakePipe();  // as the server opens its files and listeners
  Pipe plain = MakePipe();    // as asio accepts connections: no close-on-exec flag
  ASSERT_TRUE(cloexec.read && plain.read);
  ASSERT_EQ(::fcntl(plain.read.get(), F_SETFD, 0), 0);
  ASSERT_EQ(::fcntl(plain.write.get(), F_SETFD, 0), 0);
  // The child lists its descriptors in one datagram: stdin, stdout, stderr, the handover socket,
  // and at most the one the shell's listing opens itself (4 or higher, never one of ours).
  const std::string script =
      "cd /proc/self/fd && l=; for f in *; do l=\"$l$f \"; done; "
      "printf '%s' \"$l\" >&$TTLOGIN_HANDOVER_FD";
  ChildProcess child;
  ASSERT_EQ(SpawnChild("/bin/sh", {"-c", script}, theirs.fd(), child), "");
  const std::string listed = ReadRaw(ours.fd());
  EXPECT_EQ(WaitExited(child), "exited 0");
  EXPECT_EQ(listed.rfind("0 1 2 3 ", 0), 0u) << listed;
  for (int fd : {cloexec.read.get(), cloexec.write.get(), plain.read.get(), plain.write.get()}) {
    if (fd > kChildHandoverFd) {
      EXPECT_EQ(listed.find(" " + std::to_string(fd) + " "), std::string::npos)
          << "descriptor " << fd << " leaked into the child: " << listed;
    }
  }
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
  EXPECT_LT(Clock::now() - start, milliseconds(5000));
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

// The whole path across two processes: the child adopts the socket, receives a message with
// 300 pipe ends (two records), writes into each, and hands them all back.
TEST(ChildProcessTest, AChildAdoptsTheChannelAndTradesDescriptorsBothWays) {
  const int open_before = CountOpenFds();
  {
    HandoverChannel ours, theirs;
    ASSERT_EQ(HandoverChannel::Pair(ours, theirs), "");
    std::vector<Pipe> pipes(300);
    std::vector<int> write_ends;
    for (auto& p : pipes) {
      p = MakePipe();
      ASSERT_TRUE(p.write);
      write_ends.push_back(p.write.get());
    }
    ChildProcess child;
    ASSERT_EQ(SpawnChild(HANDOVER_PEER_BIN, {}, theirs.fd(), child), "");
    theirs = HandoverChannel();  // the child holds its own copy now
    const std::string state(100000, 's');
    ASSERT_EQ(ours.Send(state, write_ends, In(kPatience)), "");

    HandoverMessage reply;
    ASSERT_EQ(ours.Receive(reply, In(kPatience)), "");
    EXPECT_EQ(reply.bytes, "got 100000 bytes, 300 fds, wrote 300, cloexec yes, variable removed");
    ASSERT_EQ(reply.fds.size(), pipes.size());
    const std::string from = "from " + std::to_string(child.pid);
    for (std::size_t i = 0; i < pipes.size(); ++i) {
      std::string got(from.size(), '\0');
      ASSERT_EQ(::read(pipes[i].read.get(), got.data(), got.size()),
                static_cast<ssize_t>(got.size()));
      EXPECT_EQ(got, from) << "pipe " << i;
      // The descriptor handed back is the same pipe's write end once more.
      ASSERT_TRUE(
          PipeCarries(reply.fds[i].get(), pipes[i].read.get(), "back " + std::to_string(i)));
    }
    ours = HandoverChannel();  // the child waits for this close, then exits 0
    EXPECT_EQ(WaitExited(child), "exited 0");
  }
  EXPECT_EQ(CountOpenFds(), open_before);
}

TEST(ChildProcessTest, AChildWhoseParentClosesFirstSeesTheClose) {
  HandoverChannel ours, theirs;
  ASSERT_EQ(HandoverChannel::Pair(ours, theirs), "");
  ChildProcess child;
  ASSERT_EQ(SpawnChild(HANDOVER_PEER_BIN, {}, theirs.fd(), child), "");
  theirs = HandoverChannel();
  ours = HandoverChannel();  // nothing sent: the child's Receive reports the close, status 2
  EXPECT_EQ(WaitExited(child), "exited 2");
}

TEST(ChildProcessTest, AdoptingWithoutTheVariableIsAnOrdinaryStart) {
  ::unsetenv(kHandoverFdEnv);
  HandoverChannel ch;
  EXPECT_EQ(AdoptInheritedHandoverChannel(ch), "");
  EXPECT_EQ(ch.fd(), -1);
}

TEST(ChildProcessTest, AdoptingTakesTheSocketBackIntoCloseOnExec) {
  HandoverChannel parent, inherited;
  ASSERT_EQ(HandoverChannel::Pair(parent, inherited), "");
  // As the child finds it after the exec: open, not close-on-exec, named by the variable.
  const int fd = inherited.Release().release();
  ASSERT_EQ(::fcntl(fd, F_SETFD, 0), 0);
  ::setenv(kHandoverFdEnv, std::to_string(fd).c_str(), 1);
  HandoverChannel ch;
  ASSERT_EQ(AdoptInheritedHandoverChannel(ch), "");
  EXPECT_EQ(ch.fd(), fd);
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(::getenv(kHandoverFdEnv), nullptr);
  ASSERT_EQ(parent.Send("hello", {}, In(kPatience)), "");
  HandoverMessage m;
  ASSERT_EQ(ch.Receive(m, In(kPatience)), "");
  EXPECT_EQ(m.bytes, "hello");
}

TEST(ChildProcessTest, AdoptingRefusesAVariableThatNamesNoHandoverSocket) {
  Pipe pipe = MakePipe();
  int closed = -1;
  {
    Pipe gone = MakePipe();
    closed = gone.read.get();
  }
  const std::string not_a_socket = std::to_string(pipe.read.get());
  const std::string no_descriptor = std::to_string(closed);
  const std::pair<std::string, std::string> cases[] = {
      {"", "is not a descriptor number"},          {"3x", "is not a descriptor number"},
      {"-4", "is not a descriptor number"},        {"99999999999", "is not a descriptor number"},
      {no_descriptor, "names no open descriptor"}, {not_a_socket, "is not a SEQPACKET socket"},
  };
  for (const auto& [value, reason] : cases) {
    ScopedEnv env(kHandoverFdEnv, value.c_str());
    HandoverChannel ch;
    EXPECT_EQ(AdoptInheritedHandoverChannel(ch),
              std::string(kHandoverFdEnv) + "=" + value + " " + reason);
    EXPECT_EQ(ch.fd(), -1);
  }
}

}  // namespace
}  // namespace ttlogin::server::upgrade::testing
