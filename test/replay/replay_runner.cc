// replay_runner: runs the load_replay binary for one ctest case, optionally against a fresh real
// login_server, and checks its exit code and output.
//
//   replay_runner [--server] [--dead-server] [--server-config LINE]... [--expect-exit N]
//                 [--expect-output TEXT]... [--timeout SECONDS]
//                 [--policy P] [--hold MS] [--slow-start S] [--candidates N] [--admin]
//                 -- LOAD_REPLAY_ARGS...
//
// --server starts login_server on ephemeral 127.0.0.1 ports (ServerProcess, always cleaned up)
// and appends --http/--client/--msg-server to the arguments; --dead-server appends addresses on
// which nothing listens. load_replay's output is echoed; on failure the server's log tail too.
// The routing options configure both sides alike: the server (Policy, AssignmentHold, SlowStart,
// Candidates) and load_replay's model (--policy, --hold, --slow-start, --candidates); --hold,
// --candidates and --admin also open the server's admin port and pass it as --admin (every query
// then waits until the server has applied every update).
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "test/support/server_process.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Result {
  int exit_code = -1;  // -1: killed after the timeout
  std::string output;
};

// Runs `args` with stdout and stderr captured, killing it after `timeout`.
Result RunCaptured(const std::vector<std::string>& args, std::chrono::seconds timeout) {
  Result result;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return result;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    std::vector<char*> argv;
    std::vector<std::string> copy = args;
    for (auto& a : copy)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  const auto deadline = Clock::now() + timeout;
  char buf[4096];
  bool timed_out = false;
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;  // EOF: the child closed its output (exited)
    result.output.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!timed_out && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

// A loopback port nothing listens on: bound, then released (nobody else takes it in between on a
// test machine, and if someone did the replay would fail loudly, not pass).
std::uint16_t DeadPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool Alive(pid_t pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return false;
  char state = 'Z';
  const int got = std::fscanf(f, "%*d (%*[^)]) %c", &state);
  std::fclose(f);
  return got == 1 && state != 'Z' && state != 'X';
}

std::string Tail(const std::string& text, std::size_t lines) {
  std::size_t pos = text.size();
  for (std::size_t n = 0; n <= lines && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos + 1);
}

}  // namespace

int main(int argc, char** argv) {
  bool server = false;
  bool dead_server = false;
  std::string server_config = "LogLevel=warn\n";  // debug logging of every update slows replays
  int expect_exit = 0;
  std::vector<std::string> expect_output;
  std::chrono::seconds timeout{120};
  std::vector<std::string> args{LOAD_REPLAY_BIN};
  std::vector<std::string> routing_args;
  bool admin = false;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    const bool has_value = i + 1 < argc;
    if (arg == "--server") {
      server = true;
    } else if (arg == "--dead-server") {
      dead_server = true;
    } else if (arg == "--server-config" && has_value) {
      server_config += std::string(argv[++i]) + "\n";
    } else if (arg == "--expect-exit" && has_value) {
      expect_exit = std::atoi(argv[++i]);
    } else if (arg == "--expect-output" && has_value) {
      expect_output.push_back(argv[++i]);
    } else if (arg == "--timeout" && has_value) {
      timeout = std::chrono::seconds(std::atoi(argv[++i]));
    } else if ((arg == "--policy" || arg == "--hold" || arg == "--slow-start" ||
                arg == "--candidates") &&
               has_value) {
      const std::string value = argv[++i];
      const char* key = arg == "--policy"       ? "Policy"
                        : arg == "--hold"       ? "AssignmentHold"
                        : arg == "--slow-start" ? "SlowStart"
                                                : "Candidates";
      server_config += std::string(key) + "=" + value + "\n";
      routing_args.push_back(arg);
      routing_args.push_back(value);
      admin = admin || arg == "--hold" || arg == "--candidates";
    } else if (arg == "--admin") {
      admin = true;
    } else {
      std::cerr << "replay_runner: bad argument " << arg << "\n";
      return 2;
    }
  }
  for (; i < argc; ++i)
    args.push_back(argv[i]);
  // Before the trace (the last argument) is fine: load_replay takes options in any order.
  args.insert(args.begin() + 1, routing_args.begin(), routing_args.end());
  if (admin) server_config += "AdminPort=0\n";
  // A replay sends a msg_server's heartbeats when its trace does, and a --fast replay on a busy
  // machine can take longer than the default MsgServerTimeout (30 s) of wall time between two of
  // them: the server would rightly drop a msg_server the trace never let go silent. Tests of
  // the timeout set their own.
  if (server_config.find("\nMsgServerTimeout=") == std::string::npos) {
    server_config += "MsgServerTimeout=3600\n";
  }

  std::unique_ptr<ttlogin::test::ServerProcess> process;
  if (server) {
    process = std::make_unique<ttlogin::test::ServerProcess>(server_config);
    if (!process->started()) {
      std::cerr << "replay_runner: login_server did not start\n" << process->log();
      return 2;
    }
    const auto& p = process->ports();
    for (const auto& [flag, port] : {std::pair{"--http", p.http}, std::pair{"--client", p.client},
                                     std::pair{"--msg-server", p.msg_server}}) {
      args.push_back(flag);
      args.push_back("127.0.0.1:" + std::to_string(port));
    }
    if (admin) {
      if (p.admin == 0) {
        std::cerr << "replay_runner: login_server reported no admin port\n";
        return 2;
      }
      args.push_back("--admin");
      args.push_back("127.0.0.1:" + std::to_string(p.admin));
    }
  } else if (dead_server) {
    for (const char* flag : {"--http", "--client", "--msg-server"}) {
      args.push_back(flag);
      args.push_back("127.0.0.1:" + std::to_string(DeadPort()));
    }
  }

  std::cout << "running:";
  for (const auto& a : args)
    std::cout << " " << a;
  std::cout << "\n" << std::flush;
  const Result result = RunCaptured(args, timeout);
  std::cout << result.output;

  bool ok = true;
  if (result.exit_code != expect_exit) {
    std::cout << "replay_runner: load_replay "
              << (result.exit_code < 0 ? "timed out (killed)"
                                       : "exited " + std::to_string(result.exit_code))
              << ", expected exit " << expect_exit << "\n";
    ok = false;
  }
  for (const std::string& text : expect_output) {
    if (result.output.find(text) == std::string::npos) {
      std::cout << "replay_runner: the output lacks \"" << text << "\"\n";
      ok = false;
    }
  }
  if (process && !process->started()) ok = false;
  if (process) {
    // The server must have survived the replay (a dead child lingers as a zombie until reaped,
    // so look at its state rather than signalling it).
    if (!Alive(process->pid())) {
      std::cout << "replay_runner: login_server is gone after the replay\n";
      ok = false;
    }
    if (!ok) std::cout << "--- login_server log (tail) ---\n" << Tail(process->log(), 40);
  }
  std::cout << (ok ? "replay_runner: PASS\n" : "replay_runner: FAIL\n");
  return ok ? 0 : 1;
}
